"""Each example's --quick mode runs end to end in its own process and
writes what it promises."""

import json
import os
import subprocess
import sys

from tests.conftest import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *arguments):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", name), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "KERAS_BACKEND": BACKEND,
            # The checkout's package, installed or not.
            "PYTHONPATH": os.pathsep.join(
                [ROOT, os.environ.get("PYTHONPATH", "")]
            ),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_date_translation_quick(tmp_path):
    stdout = run_example(
        "date_translation.py", "--quick", "--out", str(tmp_path)
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["backend"] == BACKEND
    for key in ("greedy_exact_match", "beam_exact_match"):
        assert 0.0 <= results[key] <= 1.0
    assert results["final_val_loss"] > 0
    assert (tmp_path / "attention.png").stat().st_size > 5000
    assert (tmp_path / "model.keras").stat().st_size > 1000
    assert "exact match on held-out dates" in stdout
