"""`.keras` saving, and loading under each backend after a bare import."""

import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import CHANGED_ARGUMENTS
from tests.testing import ROOT
from tests.testing import to_numpy

# Run once per backend, the three processes side by side: saves every model
# of ACROSS_BACKENDS under this process's backend, with its inputs and
# predictions, into FOLDER/BACKEND/NAME/; waits until every backend has
# saved; then loads each saved model (its own too) and writes its
# predictions next to it as BACKEND.npy. One process per backend, not one
# to save and one to load: each process imports its framework once.
# Loading needs no custom_objects: importing keras_recur registers the
# layers. The checkout is appended to sys.path for `tests` only, so
# keras_recur is the installed one.
SAVE_THEN_LOAD = textwrap.dedent(
    """
    import os
    import sys
    import time
    sys.path.append(sys.argv[1])
    import keras
    import numpy as np
    from tests import test_saving

    folder, backends = sys.argv[2], sys.argv[3:]
    this = keras.backend.backend()
    for name in test_saving.ACROSS_BACKENDS:
        make_model, make_inputs = test_saving.MODELS[name]
        saved = os.path.join(folder, this, name)
        os.makedirs(saved)
        model, inputs = make_model(), make_inputs()
        model.save(os.path.join(saved, "model.keras"))
        np.savez(os.path.join(saved, "inputs.npz"), *inputs)
        want = test_saving.outputs_of(name, model, inputs)
        np.save(os.path.join(saved, "want.npy"), want)
    open(os.path.join(folder, this, "done"), "w").close()

    deadline = time.monotonic() + 300
    done = [os.path.join(folder, backend, "done") for backend in backends]
    while not all(os.path.exists(path) for path in done):
        if time.monotonic() > deadline:
            sys.exit("the other backends' processes saved nothing in 300 s")
        time.sleep(0.2)
    for backend in backends:
        for name in test_saving.ACROSS_BACKENDS:
            saved = os.path.join(folder, backend, name)
            model = keras.saving.load_model(os.path.join(saved, "model.keras"))
            arrays = np.load(os.path.join(saved, "inputs.npz"))
            inputs = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
            outputs = test_saving.outputs_of(name, model, inputs)
            np.save(os.path.join(saved, this + ".npy"), outputs)
    """
)

BACKENDS = ("tensorflow", "jax", "torch")


def require_every_backend():
    """Skips where a backend is missing (the single-backend environments);
    fails instead where KERAS_RECUR_ALL_BACKENDS=1, which tox's
    cross-backend environment sets."""
    missing = [b for b in BACKENDS if importlib.util.find_spec(b) is None]
    if not missing:
        return
    if os.environ.get("KERAS_RECUR_ALL_BACKENDS") == "1":
        pytest.fail(f"KERAS_RECUR_ALL_BACKENDS=1 but {missing} not installed")
    pytest.skip(
        f"{missing} not installed; tox's cross-backend environment runs this"
    )


def run_on_every_backend(script, logs_folder, *arguments, timeout=600):
    """Runs `script` with `arguments` in one process per backend, side by
    side, each logging to LOGS_FOLDER/BACKEND.log; fails with the log of a
    process that fails (the others are stopped)."""
    processes, logs = {}, {}
    for backend in BACKENDS:
        logs[backend] = open(logs_folder / f"{backend}.log", "w")
        processes[backend] = subprocess.Popen(
            [sys.executable, "-c", script, *map(str, arguments)],
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=logs[backend],
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    stopped = []
    try:
        while time.monotonic() < deadline:
            codes = [process.poll() for process in processes.values()]
            if all(code == 0 for code in codes) or any(codes):
                break
            time.sleep(0.5)
    finally:
        for backend, process in processes.items():
            if process.poll() is None:
                process.kill()
                stopped.append(backend)
            process.wait()
        for log in logs.values():
            log.close()
    for backend, process in processes.items():
        output = (logs_folder / f"{backend}.log").read_text()
        if backend not in stopped:
            assert process.returncode == 0, f"{backend}: {output[-3000:]}"
    assert not stopped, f"stopped after {timeout} s or a failure: {stopped}"


SERIALIZERS = {
    "activation": keras.activations,
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}


def build_model():
    inputs = keras.Input((None, 3))
    x = keras.layers.Masking(0.0)(inputs)
    x = keras_recur.PeepholeLSTM(6, return_sequences=True, dropout=0.1)(x)
    x = keras.layers.Bidirectional(
        keras_recur.CoupledLSTM(4, use_peepholes=True, return_sequences=True)
    )(x)
    x = keras.layers.Bidirectional(
        keras_recur.EchoStateNetwork(6, 0.5, 0.5, return_sequences=True)
    )(x)
    x = keras_recur.LayerNormLSTM(4, return_sequences=True, dropout=0.1)(x)
    x = keras_recur.MinGRU(4, return_sequences=True, dropout=0.1)(x)
    x = keras.layers.Bidirectional(
        keras_recur.MinLSTM(3, log_space=True, return_sequences=True)
    )(x)
    x = keras_recur.LRU(4, state_dim=3, r_min=0.5, return_sequences=True)(x)
    x = keras_recur.ClockworkRNN(4, periods=[1, 2], return_sequences=True)(x)
    x = keras.layers.Bidirectional(
        keras_recur.DepthGatedLSTM(
            3, use_peepholes=True, input_depth_gate=True, return_sequences=True
        )
    )(x)
    x = keras.layers.Bidirectional(
        keras_recur.GridLSTM(3, tied=True, return_sequences=True)
    )(x)
    x = keras_recur.layers.GridLSTM1D(4, depth=3)(x)
    x = keras_recur.GRU(5, reset_after=False, recurrent_dropout=0.1)(x)
    rnn = keras.layers.RNN(
        [keras_recur.GRUCell(3), keras_recur.CoupledLSTMCell(2)]
    )(inputs)
    outputs = keras.layers.Concatenate()([x, rnn])
    return keras.Model(inputs, keras.layers.Dense(2)(outputs))


def test_layer_configs_round_trip():
    layers = [
        layer
        for layer in build_model()._flatten_layers(include_self=False)
        if type(layer).__module__.startswith("keras_recur")
    ]
    assert len(layers) == 35  # 17 layers (Bidirectionals hold 2), 18 cells
    for layer in layers:
        config = layer.get_config()
        clone = layer.__class__.from_config(config)
        assert clone.get_config() == config


def attention_model():
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None, 3))
    memory = keras.layers.Embedding(9, 4, mask_zero=True)(source)
    memory = keras_recur.GRU(4, return_sequences=True)(memory)
    decoded = keras_recur.AttentionDecoder(
        keras_recur.PeepholeLSTMCell(5),
        keras_recur.BahdanauAttention(3, normalize=True),
    )(target, memory)
    return keras.Model([source, target], keras.layers.Dense(2)(decoded))


def luong_model():
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None, 3))
    memory = keras.layers.Embedding(9, 4, mask_zero=True)(source)
    decoded = keras_recur.AttentionDecoder(
        keras_recur.LayerNormLSTMCell(5),
        keras_recur.LuongAttention(scale=True),
        attention_layer_size=4,
    )(target, memory)
    return keras.Model([source, target], keras.layers.Dense(2)(decoded))


def recurrent_inputs():
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    x[1, 4:] = 0.0
    return [x]


def attention_inputs():
    rng = np.random.default_rng(1)
    source = rng.integers(1, 9, size=(4, 6)).astype("int32")
    source[1, 4:] = 0
    return [source, rng.normal(size=(4, 5, 3)).astype("float32")]


def crf_model():
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(9, 4, mask_zero=True)(tokens)
    x = keras.layers.Bidirectional(keras_recur.GRU(3, return_sequences=True))(x)
    scores = keras.layers.Dense(4)(x)
    crf = keras_recur.CRF(4, transitions_initializer="random_normal")
    return keras.Model(tokens, crf(scores))


def crf_inputs():
    tokens = np.random.default_rng(2).integers(1, 9, size=(4, 7))
    tokens[1, :3] = 0  # left padding
    tokens[2, 5:] = 0
    return [tokens.astype("int32")]


def vrnn_model():
    model = keras_recur.models.VRNN(
        keras_recur.GridLSTMCell(3, tied=True),
        latent_dim=2,
        feature_units=3,
        hidden_units=5,
        seed=4,
    )
    model.build((None, None, 3))
    return model


def vrnn_inputs():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    # The latent draws, fixed: each backend's random numbers differ.
    return [x, rng.normal(size=(4, 6, 2)).astype("float32")]


MODELS = {
    "recurrent_layers": (build_model, recurrent_inputs),
    "attention_decoder": (attention_model, attention_inputs),
    "luong_decoder": (luong_model, attention_inputs),
    # Its output is the Viterbi tags, which must come out the same.
    "crf": (crf_model, crf_inputs),
    # Its output is its ELBO per sequence, at given latent draws.
    "vrnn": (vrnn_model, vrnn_inputs),
}
# What moves between backends: every recurrent layer, the decoder (Luong's
# differs from Bahdanau's in its mechanism's weights only, saved and loaded
# on each backend by test_save_and_load), the CRF and the VRNN.
ACROSS_BACKENDS = ("recurrent_layers", "attention_decoder", "crf", "vrnn")


def outputs_of(name, model, inputs):
    """What a model of MODELS computes on its inputs, as NumPy: its
    predictions, or the VRNN's ELBO at the inputs' latent draws."""
    if name == "vrnn":
        x, noise = inputs
        return to_numpy(model.elbo(x, noise=noise))
    feed = inputs[0] if len(inputs) == 1 else inputs
    return model.predict(feed, verbose=0)


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load(tmp_path, name):
    make_model, make_inputs = MODELS[name]
    model = make_model()
    inputs = make_inputs()
    want = outputs_of(name, model, inputs)
    path = str(tmp_path / "model.keras")
    model.save(path)

    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        outputs_of(name, loaded, inputs), want, atol=1e-6
    )
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(to_numpy(original), to_numpy(restored))


def test_models_saved_on_each_backend_load_on_every_backend(tmp_path):
    # Each (saved on, loaded on) pair: every backend saves, then loads what
    # every backend saved.
    require_every_backend()
    run_on_every_backend(SAVE_THEN_LOAD, tmp_path, ROOT, tmp_path, *BACKENDS)
    for saved_on in BACKENDS:
        for name in ACROSS_BACKENDS:
            folder = tmp_path / saved_on / name
            want = np.load(folder / "want.npy")
            for loaded_on in BACKENDS:
                np.testing.assert_allclose(
                    np.load(folder / f"{loaded_on}.npy"),
                    want,
                    atol=1e-5,
                    err_msg=f"{name} saved on {saved_on}, loaded on "
                    f"{loaded_on}",
                )


@pytest.mark.parametrize(
    "layer",
    [
        keras_recur.PeepholeLSTM,
        keras_recur.CoupledLSTM,
        keras_recur.GRU,
        keras_recur.LayerNormLSTM,
    ],
)
def test_every_argument_survives_the_config(layer):
    arguments = dict(units=3, **CHANGED_ARGUMENTS)
    if layer is keras_recur.GRU:
        arguments["reset_after"] = False
    elif layer is keras_recur.LayerNormLSTM:
        arguments.update(
            unit_forget_bias=False,
            norm_gamma_initializer="random_normal",
            norm_beta_initializer="ones",
            norm_epsilon=1e-5,
        )
    else:
        arguments.update(
            unit_forget_bias=False,
            peephole_initializer="zeros",
            peephole_regularizer="l2",
            peephole_constraint="non_neg",
        )
    if layer is keras_recur.CoupledLSTM:
        arguments["use_peepholes"] = True
    config = layer(**arguments).get_config()
    for name, value in arguments.items():
        module = SERIALIZERS.get(name.rsplit("_", 1)[-1])
        if module is not None:
            value = module.serialize(module.get(value))
        assert config[name] == value, name
    assert layer.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "layer, arguments",
    [
        (
            keras_recur.MinGRU,
            dict(
                use_bias=False,
                kernel_initializer="he_normal",
                bias_initializer="ones",
                kernel_regularizer="l1",
                bias_regularizer="l2",
                activity_regularizer="l2",
                kernel_constraint="non_neg",
                bias_constraint="max_norm",
                dropout=0.25,
                seed=3,
                log_space=True,
                scan="parallel",
            ),
        ),
        (keras_recur.MinLSTM, dict(scan="sequential", use_cudnn=False)),
        (
            keras_recur.LRU,
            dict(
                state_dim=7,
                r_min=0.4,
                r_max=0.9,
                max_phase=3.0,
                dropout=0.5,
                seed=2,
                scan="parallel",
            ),
        ),
    ],
)
def test_every_argument_of_the_linear_layers_survives_the_config(
    layer, arguments
):
    layer_arguments = dict(
        units=3,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
        stateful=True,
        unroll=True,
        **arguments,
    )
    config = layer(**layer_arguments).get_config()
    for name, value in layer_arguments.items():
        module = SERIALIZERS.get(name.rsplit("_", 1)[-1])
        if module is not None:
            value = module.serialize(module.get(value))
        assert config[name] == value, name
    assert layer.from_config(config).get_config() == config


# `.keras` files saved by main at 28785c7, before the cells' arguments were
# written literally and their bases cut: every model MODELS had then, saved
# on PyTorch with its inputs and predictions (see SAVE_THEN_LOAD).
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "saved_by_28785c7")


@pytest.mark.parametrize("name", sorted(os.listdir(FIXTURES)))
def test_files_saved_by_an_earlier_version_load_and_predict_the_same(name):
    folder = os.path.join(FIXTURES, name)
    loaded = keras.saving.load_model(os.path.join(folder, "model.keras"))
    arrays = np.load(os.path.join(folder, "inputs.npz"))
    inputs = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    feed = inputs[0] if len(inputs) == 1 else inputs
    np.testing.assert_allclose(
        loaded.predict(feed, verbose=0),
        np.load(os.path.join(folder, "want.npy")),
        atol=1e-5,
    )
    # Today's code writes back the config the earlier version wrote, plus
    # the arguments added since, at their defaults.
    with zipfile.ZipFile(os.path.join(folder, "model.keras")) as archive:
        saved = json.loads(archive.read("config.json"))["config"]
    today = json.loads(json.dumps(loaded.get_config()))
    assert without_new_defaults(today, without_ids(saved)) == without_ids(saved)


def without_new_defaults(today, saved):
    """`today`'s config less each argument that `saved` lacks and that
    today holds at its default (read from the class's `__init__`)."""
    if isinstance(today, list) and isinstance(saved, list):
        return [without_new_defaults(t, s) for t, s in zip(today, saved)]
    if not (isinstance(today, dict) and isinstance(saved, dict)):
        return today
    config, saved_config = today.get("config"), saved.get("config")
    cls = None
    if "class_name" in today and isinstance(config, dict):
        name = today.get("registered_name") or today["class_name"]
        cls = keras.saving.get_registered_object(name)
        if cls is None and today.get("module"):
            module = importlib.import_module(today["module"])
            cls = getattr(module, today["class_name"], None)
    if cls is not None and isinstance(saved_config, dict):
        parameters = inspect.signature(cls.__init__).parameters
        today = {
            **today,
            "config": {
                key: value
                for key, value in config.items()
                if key in saved_config
                or key not in parameters
                or value != parameters[key].default
            },
        }
    return {
        key: without_new_defaults(value, saved.get(key))
        for key, value in today.items()
    }


def without_ids(config):
    """A saved config less the ids that saving gives shared objects."""
    if isinstance(config, dict):
        return {
            k: without_ids(v)
            for k, v in config.items()
            if k != "shared_object_id"
        }
    if isinstance(config, list):
        return [without_ids(v) for v in config]
    return config
