"""`.keras` saving, and loading under each backend after a bare import."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_recur
from tests.conftest import CHANGED_ARGUMENTS
from tests.conftest import ROOT
from tests.conftest import to_numpy

# Saves one of this file's models under the backend of its process, with
# its inputs and predictions. The checkout is appended to sys.path for
# `tests` only, so keras_recur is the installed one.
SAVE = textwrap.dedent(
    """
    import sys
    sys.path.append(sys.argv[1])
    import numpy as np
    from tests import test_saving

    make_model, make_inputs = test_saving.MODELS[sys.argv[2]]
    model, inputs = make_model(), make_inputs()
    model.save(sys.argv[3] + "/model.keras")
    np.savez(sys.argv[3] + "/inputs.npz", *inputs)
    feed = inputs[0] if len(inputs) == 1 else inputs
    np.save(sys.argv[3] + "/want.npy", model.predict(feed, verbose=0))
    """
)

# Loads a model after a bare `import keras_recur` and predicts.
LOAD_AND_PREDICT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import keras_recur  # registers the layers: no custom_objects needed

    model = keras.saving.load_model(sys.argv[1])
    arrays = np.load(sys.argv[2])  # the model's inputs, in order
    inputs = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    np.save(sys.argv[3], model.predict(inputs, verbose=0))
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


def run_python(backend, script, *arguments):
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, arguments)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{backend}: {result.stderr[-3000:]}"


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
    assert len(layers) == 10  # 4 layers (Bidirectional holds 2), 6 cells
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


def recurrent_inputs():
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    x[1, 4:] = 0.0
    return [x]


def attention_inputs():
    rng = np.random.default_rng(1)
    source = rng.integers(1, 9, size=(4, 6)).astype("int32")
    source[1, 4:] = 0
    return [source, rng.normal(size=(4, 5, 3)).astype("float32")]


MODELS = {
    "recurrent_layers": (build_model, recurrent_inputs),
    "attention_decoder": (attention_model, attention_inputs),
}


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load(tmp_path, name):
    make_model, make_inputs = MODELS[name]
    model = make_model()
    inputs = make_inputs()
    feed = inputs[0] if len(inputs) == 1 else inputs
    want = model.predict(feed, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)

    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(feed, verbose=0), want, atol=1e-6)
    for original, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(to_numpy(original), to_numpy(restored))


@pytest.mark.parametrize("saved_on", BACKENDS)
@pytest.mark.parametrize("name", MODELS)
def test_a_model_saved_on_one_backend_loads_on_every_backend(
    tmp_path, name, saved_on
):
    require_every_backend()
    run_python(saved_on, SAVE, ROOT, name, tmp_path)
    want = np.load(tmp_path / "want.npy")
    for backend in BACKENDS:
        out = tmp_path / f"{backend}.npy"
        run_python(
            backend,
            LOAD_AND_PREDICT,
            tmp_path / "model.keras",
            tmp_path / "inputs.npz",
            out,
        )
        np.testing.assert_allclose(
            np.load(out), want, atol=1e-5, err_msg=f"{saved_on} -> {backend}"
        )


@pytest.mark.parametrize(
    "layer",
    [keras_recur.PeepholeLSTM, keras_recur.CoupledLSTM, keras_recur.GRU],
)
def test_every_argument_survives_the_config(layer):
    arguments = dict(units=3, **CHANGED_ARGUMENTS)
    if layer is keras_recur.GRU:
        arguments["reset_after"] = False
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
