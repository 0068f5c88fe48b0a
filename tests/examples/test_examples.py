"""Each example's --quick mode runs end to end and writes what it
promises: the README's main pipeline in its own process, as a user runs it;
the others in the test's process, as their command line does, which saves
each of them the seconds of importing the libraries anew."""

import contextlib
import io
import json
import math
import os
import re
import runpy
import subprocess
import sys
import types
import warnings

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import BACKEND
from tests.testing import ROOT
from tests.testing import backend_free
from tests.testing import environment


def run_example_process(name, *arguments):
    """Runs examples/NAME with the arguments in a new process, as a user
    does; it must succeed quietly. Returns its standard output."""
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", name), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_quiet(done.stdout + done.stderr)
    return done.stdout


def run_example(name, *arguments):
    """Runs examples/NAME with the arguments in this process, as its
    command line does (`run_in_this_process`); it must succeed quietly: no
    warning that a new process would show (Python's default filters), no
    warning line in its output. Returns its standard output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        # A new process's filters (pytest's show every warning).
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings(
            "default", category=DeprecationWarning, module="__main__"
        )
        run_in_this_process(patch, name, *arguments)
    shown = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not shown, "\n".join(shown)
    assert_quiet(stdout.getvalue() + stderr.getvalue())
    return stdout.getvalue()


def assert_quiet(output):
    """A correct run prints no warning (loading the best trial's checkpoint
    restores its optimizer state, keras-tuner's deprecations are filtered)
    and TensorFlow's start-up banner at most once."""
    assert output.count("oneDNN custom operations are on") <= 1, output
    warnings = [
        line
        for line in output.splitlines()
        # Python's warnings, Keras' and keras-tuner's; TensorFlow's C++
        # log lines (W0000 ..., E0000 ...).
        if re.search(r"warn|^[WE]\d{4} ", line, re.IGNORECASE)
        # The first line of TensorFlow's banner.
        and "before absl::InitializeLog() is called" not in line
    ]
    assert not warnings, "\n".join(warnings)


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


def on_backends(*backends):
    """An example's quick run on these backends only."""
    return pytest.mark.skipif(
        BACKEND not in backends,
        reason=f"this example's quick run is on {' and '.join(backends)}",
    )


# Each example's quick run is a keras-tuner search over layers tested on
# every backend (tests/layers, tests/models, tests/tuning, where each
# backend also runs a one-trial search): it runs once, in the environment of
# the backend-free tests (PyTorch, the quickest), except the README's main
# pipeline, which runs where the README runs it, on TensorFlow. Each run
# still has only its own backend installed.
ONCE = backend_free


@ONCE
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
    assert "too little to learn the task" in stdout  # says why it scores 0
    assert "Search: Running Trial #2" in stdout


# The README's main pipeline command runs it on TensorFlow.
@on_backends("tensorflow")
def test_forecasting_quick(tmp_path, monkeypatch):
    cells = "GRU,EchoStateNetwork,MinGRU"
    stdout = run_example_process(
        "forecasting.py", "--quick", "--cells", cells, "--out", str(tmp_path)
    )
    results = check_outputs(
        tmp_path,
        ["trials.md", "errors.md", "cells.md"],
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
    assert "Held-out errors" in stdout and "Epoch 2/2" in stdout
    # best_model.keras is what forecast: raw windows in ppm in, the
    # horizon in ppm out (its shift, scaling and networks inside it).
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    example = runpy.run_path(os.path.join(ROOT, "examples", "forecasting.py"))
    load, _, _, _, window, horizon, _, _ = example["DATASETS"]["co2"]
    series = load().to_numpy("float64")
    windows, truth = keras_recur.tuning.make_windows(
        series[-2 * horizon - window :], window, horizon
    )
    forecaster = keras.saving.load_model(tmp_path / "best_model.keras")
    forecasts = forecaster.predict(windows, verbose=0)
    np.testing.assert_allclose(
        np.abs(forecasts - truth).mean(),
        errors[f"tuned {results['best_trial']['cell']}"]["mae"],
        rtol=1e-5,
    )
    # One budget for every cell: only the reservoir's readout trains.
    one_budget = results["one_budget"]["cells"]
    assert list(one_budget) == cells.split(",")
    for cell, row in one_budget.items():
        assert 0 < row["mae"] <= row["rmse"] < 20, cell
        assert row["fit_seconds"] > 0
    readout = 8 * results["horizon"] + results["horizon"]  # Dense(8 -> h)
    assert one_budget["EchoStateNetwork"]["trainable_weights"] == readout
    assert one_budget["GRU"]["trainable_weights"] > readout


@ONCE
def test_tagging_quick(tmp_path):
    stdout = run_example(
        "tagging.py", "--quick", "--trials", "1", "--out", str(tmp_path)
    )
    results = check_outputs(
        tmp_path,
        ["variants.md", "trials_GRU_crf_BIO.md", "trials_GRU_softmax.md"],
        ["f1.png", "decoded.png", "trials_GRU_crf_BIO.png"],
    )
    f1 = results["test_span_f1"]
    assert set(f1) == {"GRU+crf+BIO", "GRU+softmax"}
    # Two epochs on 300 sentences find some of the spans, not all.
    for score in f1.values():
        assert 0.05 < score < 1.0
    # The CRF held to BIO's transitions never breaks it; the softmax does
    # (it has not learned the constraints in two epochs).
    breaking = results["sentences_breaking_bio"]
    assert breaking["GRU+crf+BIO"] == 0.0 < breaking["GRU+softmax"]
    assert results["best"] in f1
    assert (tmp_path / "best_tagger.keras").stat().st_size > 1000
    assert "sentences breaking BIO" in stdout and "Epoch 2/2" in stdout


@ONCE
def test_cell_comparison_quick(tmp_path):
    run_example(
        "cell_comparison.py",
        "--quick",
        "--trials",
        "1",
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


# The measuring task's quick run; the generating task differs only in its
# targets and answers (a per-step regressor, which tests/tuning searches),
# checked in this process below.
@ONCE
@pytest.mark.parametrize(
    "task, steps, min_delay, max_delay", [("measure", 30, 5, 20)]
)
def test_timing_quick(task, steps, min_delay, max_delay, tmp_path):
    run_example(
        "timing.py",
        "--quick",
        "--trials",
        "1",
        *("--task", task, "--steps", str(steps)),
        *("--min-delay", str(min_delay), "--max-delay", str(max_delay)),
        *("--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["timing.md", "trials_PeepholeLSTM.md"],
        ["error_by_delay.png", "trials_LSTM_Keras.png"],
    )
    assert results["task"] == task
    assert results["delays"] == [min_delay, max_delay]
    assert set(results["scores"]) == {
        "PeepholeLSTM",
        "CoupledLSTM+peepholes",
        "CoupledLSTM",
        "LSTM (Keras)",
    }
    for scores in results["scores"].values():
        # measure: targets are scaled by the longest delay, so even an
        # untrained network's output near zero errs by 12.5 steps on
        # average; generate: the answer is a step after the second spike,
        # so it errs by less than the sequence's length.
        assert 0 <= scores["mae"] < steps and 0 <= scores["exact"] <= 1


@ONCE
@pytest.mark.parametrize(
    "task, cells", [("adding", "MinGRU,LRU"), ("copying", "MinLSTM,GRU")]
)
def test_long_range_quick(task, cells, tmp_path):
    stdout = run_example(
        "long_range.py",
        "--quick",
        *("--task", task, "--cells", cells, "--out", str(tmp_path)),
    )
    names = cells.split(",")
    results = check_outputs(
        tmp_path,
        ["long_range.md", *(f"trials_{cell}.md" for cell in names)],
        ["tradeoff.png", *(f"trials_{cell}.png" for cell in names)],
    )
    assert results["task"] == task and set(results["scores"]) == set(names)
    for scores in results["scores"].values():
        # The grid: clipnorm 0 and 1, each scored.
        assert set(scores["val_loss_by_clipnorm"]) == {"0.0", "1.0"}
        assert scores["clipnorm"] in (0.0, 1.0) and scores["fit_seconds"] > 0
        if task == "copying":
            assert 0.0 <= scores["test_error"] <= 1.0
        else:
            assert scores["test_error"] > 0.0
    assert "Search: Running Trial #2" in stdout


ARGUMENT_CHECKS = backend_free


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "arguments, message",
    [
        (("--cells", "GRU,RNN"), "Received: 'RNN'"),
        (("--learning-rate", "2"), "--learning-rate=2.0"),
        (("--task", "copying", "--steps", "4"), "--tokens=8, --steps=4"),
        (("--steps", "1"), "--steps=1"),
        (("--samples", "3"), "--samples=3"),
    ],
)
def test_long_range_rejects_bad_arguments(
    arguments, message, monkeypatch, tmp_path
):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_in_this_process(
            monkeypatch,
            "long_range.py",
            *arguments,
            *("--out", str(tmp_path / "never")),
        )
    assert not (tmp_path / "never").exists()


def run_in_this_process(monkeypatch, name, *arguments):
    """Runs examples/NAME as its command line does (`__main__`, its folder
    on sys.path, the arguments in sys.argv) in the test's own process: an
    argument check fails before any work, and a new process would spend
    its time importing the libraries."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    monkeypatch.setattr(sys, "argv", [name, *arguments])
    runpy.run_path(os.path.join(ROOT, "examples", name), run_name="__main__")


@backend_free
@pytest.mark.parametrize("terminal", [True, False])
def test_searches_draw_progress_bars_on_a_terminal_only(monkeypatch, terminal):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import common

    searched = {}

    class Tuner:
        oracle = types.SimpleNamespace(
            objective=types.SimpleNamespace(name="val_loss", direction="min")
        )

        def search(self, *arguments, **keywords):
            searched.update(keywords)

    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    for quick in (False, True):
        args = types.SimpleNamespace(tuner="random", epochs=5, quick=quick)
        common.search(Tuner(), args)
        assert searched["verbose"] == (1 if terminal and not quick else 2)


@ARGUMENT_CHECKS
def test_timing_rejects_delays_that_do_not_fit(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="--task generate needs") as error:
        run_in_this_process(
            monkeypatch,
            "timing.py",
            *("--task", "generate", "--steps", "30", "--max-delay", "15"),
            *("--out", str(tmp_path / "never")),
        )
    assert "--max-delay=15, --steps=30" in str(error.value)
    assert not (tmp_path / "never").exists()


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "name, option, value",
    [
        ("tagging.py", "--cells", "GRU,RNN"),
        ("classification.py", "--datasets", "JapaneseVowels,RNN"),
        ("mackey_glass.py", "--cells", "GRU,RNN"),
        ("waveform.py", "--cells", "SimpleRNN,RNN"),
    ],
)
def test_unknown_names_are_refused(name, option, value, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=f"{option} must be among") as error:
        run_in_this_process(
            monkeypatch,
            name,
            *(option, value, "--out", str(tmp_path / "never")),
        )
    assert "Received: 'RNN'" in str(error.value)
    assert not (tmp_path / "never").exists()


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "name, option",
    [
        ("forecasting.py", "--window"),
        ("cell_comparison.py", "--seeds"),
        ("date_translation.py", "--beam-width"),
        ("timing.py", "--trials"),
        ("tagging.py", "--epochs"),
        ("long_range.py", "--units"),
        ("mackey_glass.py", "--origins"),
        ("waveform.py", "--updates"),
        ("deep_stacks.py", "--units"),
        ("parity.py", "--stack-depth"),
        ("vrnn_digits.py", "--samples"),
        ("char_lm.py", "--characters"),
        ("char_lm.py", "--sample-length"),
        ("chorales.py", "--chorales"),
        ("captioning.py", "--images"),
    ],
)
def test_sizes_below_one_are_refused_by_name(
    name, option, monkeypatch, capsys, tmp_path
):
    with pytest.raises(SystemExit) as exit:
        run_in_this_process(
            monkeypatch, name, option, "0", "--out", str(tmp_path / "never")
        )
    assert exit.value.code == 2
    message = f"argument {option}: must be at least 1. Received: 0"
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


@backend_free
def test_waveform_is_the_four_sines(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import waveform

    # 320 samples hold whole cycles of periods 8, 32, 80 and 160: the
    # spectrum is the mean and those four frequencies, nothing else.
    wave = waveform.waveform(320, np.random.default_rng(0))
    power = np.abs(np.fft.rfft(wave))
    assert set(np.flatnonzero(power > 1e-3)) == {0, 2, 4, 10, 40}
    assert wave.min() == -1.0 and wave.max() == 1.0


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "name, option, value, message",
    [
        ("waveform.py", "--learning-rates", "0.01,x", "in (0, 1)"),
        ("waveform.py", "--learning-rates", "0.01,1.5", "in (0, 1)"),
        ("deep_stacks.py", "--learning-rates", "", "in (0, 1)"),
        ("deep_stacks.py", "--depths", "2,0", "integers of at least 1"),
        ("deep_stacks.py", "--depths", "two", "integers of at least 1"),
        ("deep_stacks.py", "--steps", "5", "--steps must divide 64"),
        ("parity.py", "--solved", "0.5", "--solved=0.5"),
        ("parity.py", "--max-bits", "10", "--max-bits=10"),
        ("vrnn_digits.py", "--latent-dims", "0", "integers of at least 1"),
        ("char_lm.py", "--temperatures", "0.5,0", "positive numbers"),
        ("chorales.py", "--temperature", "0", "positive number"),
        ("captioning.py", "--penalties", "0,-1", "numbers of at least 0"),
    ],
)
def test_lists_and_steps_are_checked_by_name(
    name, option, value, message, monkeypatch, tmp_path
):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        run_in_this_process(
            monkeypatch, name, option, value, "--out", str(tmp_path / "never")
        )
    assert f"Received: {option}={value}" in str(error.value)
    assert not (tmp_path / "never").exists()


# Its networks are tested on every backend in tests/layers.
@ONCE
def test_waveform_quick(tmp_path):
    names = ["ClockworkRNN", "SimpleRNN"]
    stdout = run_example(
        "waveform.py",
        "--quick",
        *("--cells", ",".join(names), "--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["waveform.md", *(f"trials_{name}.md" for name in names)],
        ["generated.png", "trials_SimpleRNN.png"],
    )
    scores = results["scores"]
    assert list(scores) == names
    # The paper's count for 16 units in 8 modules of 2: input and bias
    # weights, k^2 g (g + 1) / 2 recurrent ones, and the linear output.
    assert scores["ClockworkRNN"]["weights"] == 2 * 16 + 4 * 36 + 17
    assert results["weights"] == scores["ClockworkRNN"]["weights"]
    # Keras' SimpleRNN of u units has u^2 + 3u + 1 weights with its output:
    # the example picks the u closest to the Clockwork RNN's count.
    counts = {u: u * u + 3 * u + 1 for u in range(1, 30)}
    closest = min(counts, key=lambda u: abs(counts[u] - results["weights"]))
    assert scores["SimpleRNN"]["units"] == closest
    assert scores["SimpleRNN"]["weights"] == counts[closest]
    for name, row in scores.items():
        assert 0 < row["nmse"] < 5 and row["fit_seconds"] > 0, name
        assert row["learning_rate"] in (0.001, 0.003), name
    assert "Search: Running Trial #2" in stdout


@ONCE
def test_deep_stacks_quick(tmp_path):
    run_example(
        "deep_stacks.py",
        "--quick",
        *("--depths", "2", "--trials", "1", "--out", str(tmp_path)),
    )
    names = ["LSTM x2", "DepthGatedLSTM depth=2"]
    results = check_outputs(
        tmp_path,
        ["deep_stacks.md", "trials_LSTM_x2.md"],
        ["accuracy.png", "trials_DepthGatedLSTM_depth_2.png"],
    )
    scores = results["scores"]
    assert list(scores) == names and results["depths"] == [2]
    # Two LSTM layers of 8 units on 4 pixels a step, and the softmax:
    # 4 (8 (4 + 8) + 8) + 4 (8 (8 + 8) + 8) + 90. The depth gate adds, on
    # the second layer, its input weights and bias (8 x 8 + 8) and its two
    # diagonal weights (2 x 8).
    lstm = 4 * (8 * 12 + 8) + 4 * (8 * 16 + 8) + 90
    assert scores["LSTM x2"]["weights"] == lstm
    assert scores["DepthGatedLSTM depth=2"]["weights"] == lstm + 72 + 16
    for row in scores.values():
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["fit_seconds"] > 0


@ARGUMENT_CHECKS
def test_parity_refuses_a_distributed_search_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_IP=127.0.0.1"):
        run_in_this_process(
            monkeypatch, "parity.py", "--out", str(tmp_path / "never")
        )
    assert not (tmp_path / "never").exists()


@backend_free
def test_timing_generate_targets_and_reads_the_spike_after_the_second(
    monkeypatch,
):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import timing

    inputs, delays, second = timing.spike_pairs(
        50, 30, 4, 12, timing.Generate.room, np.random.default_rng(0)
    )
    # Two spikes a delay apart, room for one more delay after the second.
    for row, delay, last in zip(inputs[:, :, 0], delays, second):
        spikes = np.flatnonzero(row)
        assert list(spikes) == [last - delay, last] and last + delay < 30
    task = timing.Generate(None)
    targets = task.targets(inputs, delays, second)
    assert targets.shape == inputs.shape
    assert list(np.flatnonzero(targets.sum(axis=(0, 2)))) == sorted(
        set(second + delays)
    )
    np.testing.assert_array_equal(targets.sum(axis=(1, 2)), 1.0)
    # The answer is the strongest output after the second spike, even
    # where an earlier step is stronger.
    outputs = targets * 0.6
    outputs[:, 0, 0] = 5.0
    answer, truth = task.answers(outputs, delays, second)
    np.testing.assert_array_equal(answer, truth)
    np.testing.assert_array_equal(truth, second + delays)


@ONCE
def test_parity_quick(tmp_path):
    run_example(
        "parity.py",
        "--quick",
        *("--start", "2", "--step", "2", "--trials", "1", "--epochs", "4"),
        *("--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["parity.md", "trials_GridLSTM1D_2.md", "trials_LSTM_stack_2.md"],
        ["parity.png", "trials_GridLSTM1D_4.png"],
    )
    grid, stack = (results["results"][n] for n in ("GridLSTM1D", "LSTM stack"))
    # XOR (2 bits) within 4 x 512 fresh strings; then each network goes on
    # until its first failure, and no further.
    assert grid[0]["solved"] and 0 < grid[0]["strings"] <= 4 * 512
    for rows in (grid, stack):
        outcomes = [row["solved"] for row in rows]
        assert [row["bits"] for row in rows] == [2, 4][: len(rows)]
        assert False not in outcomes[:-1]
        assert outcomes[-1] is False or len(rows) == 2
        for row in rows:
            assert 0.0 <= row["best_accuracy"] <= 1.0
    # The grid: I (k x 8), one tied block (8 x 32 and 32), the output (9).
    assert grid[0]["weights"] == 2 * 8 + 8 * 32 + 32 + 9 == 313
    # The stack of 3 LSTMs: 3 units bring it closest (244; 4 give 405).
    assert (stack[0]["units"], stack[0]["weights"]) == (3, 244)
    assert results["largest_solved"]["GridLSTM1D"] >= 2


@ONCE
def test_vrnn_digits_quick(tmp_path):
    run_example(
        "vrnn_digits.py",
        "--quick",
        *("--latent-dims", "4", "--learning-rates", "0.003"),
        *("--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["vrnn_digits.md", "trials_VRNN.md", "trials_GRU.md"],
        ["samples.png", "trials_VRNN.png"],
    )
    scores = results["scores"]
    assert list(scores) == ["VRNN", "GRU"]
    assert scores["VRNN"]["latent_dim"] == 4
    # The baseline is a GRU: (8 (8 + 8) + 2 x 8) x 3 weights, and the
    # output's 8 x 8 + 8.
    assert scores["GRU"]["weights"] == 3 * (8 * 16 + 16) + 72
    table = (tmp_path / "trials_GRU.md").read_text()
    assert "| GRU |" in table and "LSTM" not in table
    # 64 binary pixels: a model that had learned nothing would pay 64 log 2
    # = 44.4 nats; two epochs on 200 images already do somewhat better or
    # about as well, and no model pays more than a few times that.
    for row in scores.values():
        assert 10 < row["nats_per_image"] < 150 and row["fit_seconds"] > 0


@ONCE
def test_char_lm_quick(tmp_path):
    stdout = run_example(
        "char_lm.py",
        "--quick",
        *("--cells", "GRU,MinGRU", "--learning-rates", "0.01"),
        *("--temperatures", "0.5,1.0", "--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path, ["char_lm.md", "trials.md"], ["trials.png"]
    )
    scores = results["scores"]
    assert list(scores) == ["GRU", "MinGRU"]
    # An embedding of 99 x 32, the GRU's 3 (16 (32 + 16) + 2 x 16) weights
    # (Keras' reset_after biases), and the softmax's 16 x 99 + 99.
    assert scores["GRU"]["weights"] == 99 * 32 + 3 * (16 * 48 + 32) + 17 * 99
    # Two epochs on 24,000 characters already beat the uniform guess over
    # the 99 tokens (6.63 bits) and fall short of the best models'.
    for row in scores.values():
        assert 2.0 < row["test_bits_per_character"] < 6.63
    samples = results["samples"]
    assert list(samples) == ["greedy", "temperature 0.5", "temperature 1"]
    prompts = ["def ", "import os\n", "class Parser:\n    def "]
    for name, texts in samples.items():
        # Each prompt, then --sample-length (20) characters, none padding.
        for text, prompt in zip(texts, prompts):
            assert text.startswith(prompt), name
            assert len(text) == len(prompt) + 20, name
    assert "### temperature 0.5" in (tmp_path / "samples.md").read_text()
    assert "Search: Running Trial #2" in stdout


@ONCE
def test_chorales_quick(tmp_path):
    run_example(
        "chorales.py",
        "--quick",
        *("--cells", "GRU,MinGRU", "--learning-rates", "0.01"),
        *("--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path, ["chorales.md", "trials.md"], ["sampled.png", "trials.png"]
    )
    assert (tmp_path / "sampled.mid").read_bytes()[:4] == b"MThd"
    scores, tokens = results["scores"], results["tokens"]
    assert list(scores) == ["GRU", "MinGRU"] and results["chorales"] == 30
    # The embedding (tokens x 32), the GRU's 3 (16 (32 + 16) + 2 x 16)
    # weights, the softmax's 17 x tokens.
    assert scores["GRU"]["weights"] == 32 * tokens + 2400 + 17 * tokens
    # Two epochs on 24 chorales: near the uniform guess, not far above.
    for row in scores.values():
        assert 1.0 < row["test_nats_per_note"] < 1.1 * math.log(tokens)
    # The sampled melody: (pitch or rest, duration) pairs of the corpus's
    # range, at most 128 notes.
    sampled = results["sampled"]
    assert 0 < len(sampled) <= 128
    assert all(p == -1 or 40 <= p <= 90 for p, _ in sampled)
    assert all(0 < duration <= 16 for _, duration in sampled)


@ONCE
def test_captioning_quick(tmp_path):
    run_example(
        "captioning.py",
        "--quick",
        *("--cells", "GRU", "--penalties", "0,0.5", "--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["captioning.md", "trials.md"],
        ["attention.png", "trials.png"],
    )
    trials = results["trials"]
    assert sorted(t["doubly_stochastic"] for t in trials) == [0.0, 0.5]
    for trial in trials:
        assert trial["cell"] == "GRU"
        for name in ("exact greedy", "exact beam 4", "BLEU-4 greedy"):
            assert 0.0 <= trial[name] <= 1.0, name
        # 3-5 digits: an even spread puts between 1/5 and 1/3 on each.
        assert 0.2 <= trial["even attention"] <= 1 / 3
    # The doubly stochastic penalty is part of the trained loss: with the
    # same seed and data, the penalised trial's validation loss (which
    # adds it) differs.
    losses = {t["doubly_stochastic"]: t["validation_loss"] for t in trials}
    assert losses[0.0] != losses[0.5]


@backend_free
def test_mackey_glass_series_solves_its_equation(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import mackey_glass

    # Sampled at every integration step (0.01): the central difference of
    # the series against the delay equation's right-hand side.
    dt, tau = 0.01, 17.0
    x = mackey_glass.mackey_glass(20000, dt=dt, sample_every=dt, noise=0.0)
    lag = int(round(tau / dt))
    t = np.arange(lag + 1, len(x) - 1)
    slope = (x[t + 1] - x[t - 1]) / (2 * dt)
    delayed = x[t - lag]
    equation = 0.2 * delayed / (1 + delayed**10) - 0.1 * x[t]
    np.testing.assert_allclose(slope, equation, atol=1e-6)
    # The example's step (0.1) converges to the fine one, on a stretch
    # shorter than chaos needs to part them.
    coarse = mackey_glass.mackey_glass(150, noise=0.0)
    np.testing.assert_allclose(coarse, x[: 150 * 100 : 100], atol=1e-4)
    assert 0.2 < coarse.min() and coarse.max() < 1.5


@ONCE
def test_mackey_glass_quick(tmp_path):
    run_example(
        "mackey_glass.py",
        "--quick",
        "--out",
        str(tmp_path),
    )
    results = check_outputs(tmp_path, ["mackey_glass.md"], ["prediction.png"])
    nrmse = results["nrmse84"]
    reservoir = "EchoStateNetwork (100) + RidgeReadout"
    assert set(nrmse) == {reservoir, "GRU", "MinGRU"}
    # A 100-unit reservoir fitted in one solve already tracks the chaos
    # for 84 steps (0.2 here, 1 is no better than the mean); two epochs of
    # gradient descent do not.
    assert nrmse[reservoir] < 0.6
    assert min(nrmse["GRU"], nrmse["MinGRU"]) > nrmse[reservoir]


# Real data; its ridge readout and masked layers are tested on every
# backend in tests/layers.
@ONCE
def test_classification_quick(tmp_path):
    run_example(
        "classification.py",
        "--quick",
        "--trials",
        "1",
        "--cells",
        "GRU,EchoStateNetwork",
        "--out",
        str(tmp_path),
    )
    results = check_outputs(
        tmp_path,
        ["classification.md", "trials_JapaneseVowels_EchoStateNetwork.md"],
        ["accuracy.png", "trials_BasicMotions_GRU.png"],
    )
    accuracy = results["test_accuracy"]
    assert set(accuracy) == {"JapaneseVowels", "BasicMotions"}
    for scores in accuracy.values():
        assert set(scores) == {"GRU", "EchoStateNetwork"}
        assert all(0.0 <= score <= 1.0 for score in scores.values())
    # A 50-unit reservoir and one ridge solve already beat 1-NN with
    # Euclidean distance (0.924) on the 370 test utterances; chance is 1/9.
    assert accuracy["JapaneseVowels"]["EchoStateNetwork"] > 0.9
    assert accuracy["BasicMotions"]["EchoStateNetwork"] > 0.4  # chance 0.25
    assert results["published"]["JapaneseVowels"]


@ONCE
def test_pathological_quick(tmp_path):
    run_example(
        "pathological.py",
        "--quick",
        *("--tasks", "addition,temporal_order", "--lengths", "10"),
        *("--seeds", "1", "--out", str(tmp_path)),
    )
    results = check_outputs(
        tmp_path,
        ["pathological.md", "trials_addition_10.md"],
        ["solved.png", "trials_temporal_order_10.png"],
    )
    shares = results["solved_share"]
    assert list(shares) == ["addition", "temporal_order"]
    methods = ["adam", "sgd_clipping", "sgd_clipping_regularizer"]
    methods.append("hessian_free")
    table = (tmp_path / "pathological.md").read_text()
    for task, by_length in shares.items():
        assert list(by_length) == ["10"] and list(by_length["10"]) == methods
        cells = []
        for share in by_length["10"].values():
            # One seed, scored on 500 fresh sequences: a count of them.
            # (What a trial learns in its seconds varies with the machine.)
            assert len(share) == 1 and 0.0 <= share[0] <= 1.0
            assert abs(share[0] * 500 - round(share[0] * 500)) < 1e-3
            solved = int(share[0] >= 0.99)
            cells.append(f"{solved}/1 ({share[0]:.1%})")
        assert f"| {task} | 10 | {' | '.join(cells)} |  |" in table
