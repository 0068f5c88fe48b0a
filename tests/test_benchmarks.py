"""The benchmark script keeps working (a smoke run; no time is asserted)."""

import os
import subprocess
import sys

from tests.conftest import BACKEND
from tests.conftest import ROOT


def test_benchmark_smoke_run_writes_table_and_chart(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "run.py"),
            "--smoke",
            "--backends",
            BACKEND,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "results.md").read_text()
    for row in ("keras.LSTM", "PeepholeLSTM", "CoupledLSTM", "GRU", "floor"):
        assert f"| {row}" in report
    assert f"**{BACKEND}**" in report
    assert "1.00x" in report  # the baselines' own ratio
    assert (tmp_path / "ratios.png").stat().st_size > 1000


def test_crf_benchmark_smoke_run_writes_its_table(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "crf.py"),
            "--smoke",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "crf.md").read_text()
    assert f"**{BACKEND}**" in report and "| keras_recur.CRF |" in report
    # pytorch-crf, the reference, runs beside it on PyTorch.
    assert ("| pytorch-crf | " in report) == (BACKEND == "torch")
