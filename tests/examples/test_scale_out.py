"""Scaling a search out: keras-tuner's chief and workers on this machine, a
search resumed after its process is killed, and data-parallel training on
two virtual JAX devices. Each runs real processes, with bounded time."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.testing import BACKEND
from tests.testing import ROOT
from tests.testing import backend_free
from tests.testing import environment

# The examples' shared search driver on a small problem (see its docstring).
SEARCH = os.path.join(ROOT, "tests", "examples", "scale_out_search.py")


def start(arguments, log, **extra):
    return subprocess.Popen(
        [sys.executable, SEARCH, "--quick", *arguments],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment(**extra),
        start_new_session=True,
    )


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def trials(folder):
    """trial id -> trial.json of the search's project in `folder`."""
    project = folder / "tuner" / "search"
    return {
        path.parent.name: json.loads(path.read_text())
        for path in project.glob("trial_*/trial.json")
    }


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@backend_free
def test_chief_and_two_workers(tmp_path):
    port = str(free_port())
    common = ["--trials", "4", "--out", str(tmp_path)]
    logs = {
        name: open(tmp_path / f"{name}.log", "w")
        for name in ("chief", "tuner0", "tuner1")
    }
    processes = []
    try:
        for name, log in logs.items():
            processes.append(
                start(
                    common,
                    log,
                    KERASTUNER_TUNER_ID=name,
                    KERASTUNER_ORACLE_IP="127.0.0.1",
                    KERASTUNER_ORACLE_PORT=port,
                )
            )
        deadline = time.monotonic() + 600
        for process in processes:
            process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        stop_all(processes)
        for log in logs.values():
            log.close()
    outputs = {name: (tmp_path / f"{name}.log").read_text() for name in logs}
    for process, (name, output) in zip(processes, outputs.items()):
        assert process.returncode == 0, f"{name}:\n{output[-3000:]}"
    # Every trial ran on a worker, exactly once, and both workers had some.
    runs = {
        name: outputs[name].count("Epoch 1/") for name in ("tuner0", "tuner1")
    }
    assert all(count >= 1 for count in runs.values()), runs
    assert sum(runs.values()) == 4
    assert outputs["chief"].count("Epoch 1/") == 0
    recorded = trials(tmp_path)
    assert len(recorded) == 4
    assert {t["status"] for t in recorded.values()} == {"COMPLETED"}
    assert len({t["trial_id"] for t in recorded.values()}) == 4
    # The chief wrote the results of the whole search.
    table = (tmp_path / "trials.md").read_text().splitlines()
    assert len(table) == 2 + 4
    assert "Worker tuner0 done." in outputs["tuner0"]


@backend_free
def test_killed_search_resumes_without_rerunning_finished_trials(tmp_path):
    arguments = ["--trials", "4", "--out", str(tmp_path)]
    # Killed as its third trial starts: two finished, one cut off.
    first = subprocess.run(
        [sys.executable, SEARCH, "--quick", "--kill-in-trial", "3", *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(),
    )
    assert first.returncode == -signal.SIGKILL, first.stdout[-3000:]
    finished = {
        trial_id: trial
        for trial_id, trial in trials(tmp_path).items()
        if trial["status"] == "COMPLETED"
    }
    assert len(finished) == 2
    assert len(trials(tmp_path)) == 3

    second = subprocess.run(
        [sys.executable, SEARCH, "--quick", "--resume", *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(),
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    assert "Reloading Tuner" in second.stdout
    # Only the unfinished trials ran again.
    assert second.stdout.count("Epoch 1/") == 2
    after = trials(tmp_path)
    assert len(after) == 4
    assert {t["status"] for t in after.values()} == {"COMPLETED"}
    for trial_id, trial in finished.items():
        assert after[trial_id] == trial
    assert len((tmp_path / "trials.md").read_text().splitlines()) == 2 + 4


DATA_PARALLEL = textwrap.dedent(
    """
    import json, sys
    import keras, keras_tuner, numpy as np
    from keras_recur import tuning

    distribution = None
    if sys.argv[1] == "parallel":
        devices = keras.distribution.list_devices()
        assert len(devices) == 2, devices
        distribution = keras.distribution.DataParallel(devices=devices)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 3)).astype("float32")
    y = x[:, :, :2].mean(axis=1)
    tuner = keras_tuner.RandomSearch(
        tuning.SequenceRegressor(
            (8, 3), outputs=2, cell="PeepholeLSTM", units=8, depth=1,
            bidirectional=False, dropout=0.0, recurrent_dropout=0.0,
            learning_rate=0.01, seed=5, distribution=distribution,
        ),
        "val_loss", max_trials=1, directory=sys.argv[2], seed=1,
    )
    tuner.search(x, y, validation_data=(x[:32], y[:32]), epochs=3,
                 batch_size=16, shuffle=False, verbose=0)
    model = tuner.get_best_models(1)[0]
    kernel = model.layers[1].cell.kernel
    # The data really is split: each device holds half of a batch.
    seen = []
    if distribution is not None:
        layout = distribution.get_data_layout((16, 8, 3))
        batch = keras.distribution.distribute_tensor(x[:16], layout)
        seen = [shard.data.shape[0] for shard in batch.addressable_shards]
    print(json.dumps({
        "score": tuner.oracle.get_best_trials(1)[0].score,
        "kernel": keras.ops.convert_to_numpy(kernel).tolist(),
        "devices": len(kernel.value.sharding.device_set),
        "batch_shards": seen,
    }))
    """
)


@pytest.mark.skipif(
    BACKEND != "jax", reason="keras.distribution.DataParallel is JAX-only"
)
def test_data_parallel_trial_matches_one_device(tmp_path, monkeypatch, capsys):
    # One device: the script in this process (its one CPU device). Two
    # devices need XLA's flag before JAX starts: a new process, compiling
    # with this one's XLA flags (tox.ini says why they are set).
    monkeypatch.setattr(sys, "argv", ["-c", "single", str(tmp_path / "one")])
    exec(DATA_PARALLEL, {"__name__": "__main__"})
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    flags = os.environ.get("XLA_FLAGS", "")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DATA_PARALLEL,
            "parallel",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(
            XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count=2"
        ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parallel = json.loads(done.stdout.strip().splitlines()[-1])
    assert single["devices"] == 1
    assert parallel["devices"] == 2
    assert parallel["batch_shards"] == [8, 8]
    assert parallel["score"] == pytest.approx(single["score"], rel=1e-4)
    np.testing.assert_allclose(
        parallel["kernel"], single["kernel"], rtol=1e-4, atol=1e-5
    )
