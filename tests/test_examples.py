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


def check_outputs(folder, tables, plots):
    """The tables have a header, a rule and rows; the plots are PNGs with
    something drawn."""
    for name in tables:
        lines = (folder / name).read_text().splitlines()
        assert len(lines) >= 3 and set(lines[1]) <= set("|-"), name
    for name in plots:
        data = (folder / name).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 10000, name
    results = json.loads((folder / "results.json").read_text())
    assert results["backend"] == BACKEND
    return results


def test_date_translation_quick(tmp_path):
    stdout = run_example(
        "date_translation.py", "--quick", "--out", str(tmp_path)
    )
    results = check_outputs(
        tmp_path, ["trials.md"], ["attention.png", "trials.png"]
    )
    for key in ("greedy_exact_match", "beam_exact_match"):
        assert 0.0 <= results[key] <= 1.0
    assert 0 < results["best_val_loss"] < 5
    assert (tmp_path / "model.keras").stat().st_size > 1000
    assert "exact match on held-out dates" in stdout
    assert "Search: Running Trial #2" in stdout


def test_forecasting_quick(tmp_path):
    stdout = run_example("forecasting.py", "--quick", "--out", str(tmp_path))
    results = check_outputs(
        tmp_path,
        ["trials.md", "errors.md"],
        ["forecast.png", "horizon_error.png", "trials.png"],
    )
    errors = results["errors"]
    assert set(errors) == {
        f"tuned {results['best_trial']['cell']}",
        "seasonal naive",
        "SARIMAX",
    }
    # Mauna Loa CO2 in ppm: a seasonal swing of about 6 ppm; SARIMAX is
    # well under a ppm, and even two epochs of training beat wild guesses.
    assert 0.05 < errors["SARIMAX"]["mae"] < 1.0
    assert 0.5 < errors["seasonal naive"]["mae"] < 3.0
    for name, scores in errors.items():
        assert 0 < scores["mae"] <= scores["rmse"] < 20, name
        assert len(scores["mae_by_horizon"]) == results["horizon"]
    assert (tmp_path / "best_model.keras").stat().st_size > 1000
    assert "Held-out errors" in stdout and "Epoch 2/2" in stdout


def test_cell_comparison_quick(tmp_path):
    run_example(
        "cell_comparison.py",
        "--quick",
        "--variants",
        "CoupledLSTM+peepholes,GRU",
        "--out",
        str(tmp_path),
    )
    results = check_outputs(
        tmp_path,
        ["variants.md", "trials_GRU.md", "trials_CoupledLSTM_peepholes.md"],
        ["accuracy.png", "trials_GRU.png"],
    )
    accuracy = results["test_accuracy"]
    assert set(accuracy) == {"CoupledLSTM+peepholes", "GRU"}
    for scores in accuracy.values():
        # Ten classes: chance is 0.1.
        assert all(0.0 <= score <= 1.0 for score in scores)


def test_timing_quick(tmp_path):
    run_example(
        "timing.py",
        "--quick",
        *("--steps", "30", "--min-delay", "5", "--max-delay", "20"),
        *("--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["timing.md", "trials_PeepholeLSTM.md"],
        ["error_by_delay.png", "trials_LSTM_Keras.png"],
    )
    for scores in results["scores"].values():
        # Delays of 5 to 20 steps, targets scaled by 20: even an untrained
        # network's output near zero errs by 12.5 steps on average.
        assert 0 < scores["mae"] < 20 and 0 <= scores["exact"] <= 1
