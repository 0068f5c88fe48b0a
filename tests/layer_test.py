"""`run_layer_test`: what every public layer must do, in the spirit of Keras'
own `testing.TestCase.run_layer_test`."""

import copy
import json

import keras
import numpy as np

from tests.conftest import to_numpy


def _tensors(value):
    return value if isinstance(value, (list, tuple)) else [value]


def _close(got, want, atol):
    for g, w in zip(_tensors(got), _tensors(want)):
        np.testing.assert_allclose(
            to_numpy(g).astype("float64"),
            to_numpy(w).astype("float64"),
            atol=atol,
        )


def run_layer_test(
    make_layer, inputs, tmp_path, as_list=False, mixed_precision_atol=1e-2
):
    """Checks, for the layer that `make_layer()` builds, called on the
    NumPy arrays `inputs` (one positional argument each, or with `as_list`
    one list argument, as attention layers take `[query, value]`):

    - config round trip: `from_config(get_config())` gives the same config,
      and the config is JSON;
    - a symbolic call gives the shapes and dtypes of the eager call, and a
      functional model around it computes the eager numbers;
    - one training step of that model changes every trainable weight;
    - under mixed_float16 the outputs are float16, the weights float32, and
      the numbers those of float32 within `mixed_precision_atol`;
    - the model saved as `.keras` and loaded predicts the same.
    """

    def call(layer, tensors):
        return layer(list(tensors)) if as_list else layer(*tensors)

    layer = make_layer()
    config = layer.get_config()
    json.dumps(config)
    # (keras.layers.RNN.from_config takes the cell out of its argument.)
    clone = type(layer).from_config(copy.deepcopy(config))
    assert clone.get_config() == config

    eager = call(layer, inputs)
    symbolic_inputs = [
        keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in inputs
    ]
    symbolic = call(make_layer(), symbolic_inputs)
    for s, e in zip(_tensors(symbolic), _tensors(eager)):
        assert tuple(s.shape[1:]) == tuple(e.shape[1:])
        assert keras.backend.standardize_dtype(s.dtype) == (
            keras.backend.standardize_dtype(e.dtype)
        )
    model = keras.Model(symbolic_inputs, symbolic)
    model.set_weights(layer.get_weights())
    _close(model(inputs), eager, atol=1e-5)

    # One step of training moves every trainable weight.
    outputs = _tensors(symbolic)
    head = keras.layers.Add()(
        [keras.ops.mean(o, axis=-1, keepdims=True)[..., :1] for o in outputs]
    )
    trainer = keras.Model(symbolic_inputs, head)
    trainer.compile(keras.optimizers.SGD(0.5), "mse")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    target = np.ones(tuple(head.shape[1:]), "float32")[None]
    target = np.repeat(target, len(inputs[0]), axis=0)
    trainer.fit(inputs, target, epochs=1, batch_size=len(inputs[0]), verbose=0)
    for weight, old in zip(model.trainable_weights, before):
        assert not np.allclose(to_numpy(weight), old), weight.path

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    _close(
        loaded.predict(inputs, verbose=0),
        model.predict(inputs, verbose=0),
        1e-6,
    )

    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = make_layer()
        call(mixed, inputs)
        mixed.set_weights(model.get_weights())
        mixed_outputs = call(mixed, inputs)
        assert all(w.dtype == "float32" for w in mixed.weights)
        for output in _tensors(mixed_outputs):
            assert keras.backend.standardize_dtype(output.dtype) == "float16"
        _close(mixed_outputs, model(inputs), mixed_precision_atol)
    finally:
        keras.config.set_dtype_policy("float32")
