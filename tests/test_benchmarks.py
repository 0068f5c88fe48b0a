"""The benchmark scripts keep working (smoke runs; no time is asserted)."""

import os
import re
import runpy
import subprocess
import sys

from tests.testing import BACKEND
from tests.testing import ROOT
from tests.testing import backend_free


def smoke_run(script, tmp_path, *arguments):
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", script),
            "--smoke",
            *arguments,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": BACKEND},
    )
    assert done.returncode == 0, done.stderr[-3000:]


# One layer of each kind the script times (Keras' own baselines, a gated
# cell of each family, a linear one, torch.nn raw and inside Keras where
# PyTorch is): the whole classic suite took twice as long to say the same.
SMOKE_LAYERS = (
    "keras.LSTM",
    "PeepholeLSTM",
    "keras.GRU",
    "GRU",
    "MinGRU sequential",
    "torch.nn.GRU",
    "torch.nn.GRU in Keras",
)


def test_benchmark_smoke_run_writes_table_and_chart(tmp_path):
    smoke_run(
        "run.py", tmp_path, "--backends", BACKEND, "--layers", *SMOKE_LAYERS
    )
    report = (tmp_path / "results.md").read_text()
    for row in ("keras.LSTM", "PeepholeLSTM", "GRU", "MinGRU", "floor"):
        assert f"| {row}" in report
    assert ("| torch.nn.GRU in Keras" in report) == (BACKEND == "torch")
    assert f"**{BACKEND}**" in report
    assert "1.00x" in report  # the baselines' own ratio
    assert (tmp_path / "ratios.png").stat().st_size > 1000


# CI smoke-runs the benchmarks: run.py, whose memory accounting is each
# backend's own, on every backend; the CRF's and the decoders', which time
# the library's code (tested on every backend in tests/layers and
# tests/models), once.
@backend_free
def test_crf_benchmark_smoke_run_writes_its_table(tmp_path):
    smoke_run("crf.py", tmp_path)
    report = (tmp_path / "crf.md").read_text()
    assert f"**{BACKEND}**" in report and "| keras_recur.CRF |" in report
    # pytorch-crf, the reference, runs beside it on PyTorch.
    assert ("| pytorch-crf | " in report) == (BACKEND == "torch")


@backend_free
def test_decoding_benchmark_smoke_run_writes_its_table(tmp_path):
    smoke_run("decoding.py", tmp_path)
    report = (tmp_path / "decoding.md").read_text()
    for decoder in ("greedy", "sample", "beam search (width 4)", "4 best"):
        assert decoder in report
    assert "| greedy | " in report and "| 1.00x |" in report


@backend_free
def test_generation_benchmark_smoke_run_writes_its_table(tmp_path):
    smoke_run("generation.py", tmp_path)
    report = (tmp_path / "generation.md").read_text()
    # Stepped and re-run generation agree on the tokens, for each layer.
    for layer in ("GRU", "keras.LSTM"):
        assert re.search(rf"\| {re.escape(layer)} \| .* \| yes \|", report)


# The canon suite's equal weight counts and its table are the script's own
# arithmetic (its timing is run.py's, smoke-run above on every backend):
# once, in this process.
@backend_free
def test_same_weights_gives_each_layer_the_lstm_weight_count():
    run = runpy.run_path(os.path.join(ROOT, "benchmarks", "run.py"))
    weight_count, matched_units = run["weight_count"], run["matched_units"]
    # Keras' LSTM, 8 units on 3 features: 4 (8 (3 + 8) + 8) = 384 weights.
    assert weight_count("keras.LSTM", 8, 3) == 384
    # SimpleRNN: u^2 + 4u, closest at 18 units (396; 17 make 357).
    assert matched_units("keras.SimpleRNN", 384, 3) == 18
    # The Clockwork RNN closest has 17 units, a prime, so one module of
    # period 1: 17 x 3 input weights, 17 biases, 17^2 recurrent ones. (16
    # units make 8 modules of 2: 208 weights; 19 make 437.) Its count is
    # not monotonic in the units: the bisection's neighbours find it.
    assert matched_units("ClockworkRNN", 384, 3) == 17
    assert weight_count("ClockworkRNN", 17, 3) == 357
    measured = {
        "keras.LSTM": {"train": [2.0], "infer": [1.0], "memory_mb": 4.0},
        "ClockworkRNN": {"train": [3.0], "infer": [1.5], "memory_mb": 2.0},
    }
    measured["keras.LSTM"].update(units=8, weights=384)
    measured["ClockworkRNN"].update(units=17, weights=357)
    text, ratios = run["table"]("jax", measured, 5, same_weights=True)
    assert "with Keras' LSTM's weight count" in text
    # Seconds in, milliseconds out.
    row = "| ClockworkRNN (17 units, 357 weights) | 3000.0 (3000.0-3000.0) |"
    assert row + " 1.50x" in text
    # Every ratio is to the LSTM, whatever the layer's family.
    assert ratios[("ClockworkRNN", "train")] == 1.5
    assert ratios[("ClockworkRNN", "memory")] == 0.5


# The training methods' steps are tested on every backend in
# tests/training; their timing script once.
@backend_free
def test_training_benchmark_smoke_run_writes_its_table(tmp_path):
    smoke_run("training.py", tmp_path)
    report = (tmp_path / "training.md").read_text()
    for method in ("Adam", "+ regulariser", "Hessian-free"):
        assert f"| {method} | " in report
    assert "| Adam | " in report and " 1.0x |" in report
