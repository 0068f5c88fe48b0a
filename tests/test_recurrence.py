"""The recurrence engine against Keras' generic per-step loop, and each fused
path against the general path: same outputs and gradients, and proof of
which path ran."""

import keras
import numpy as np
import pytest

from keras_recur.layers import recurrence
from tests.conftest import BACKEND
from tests.conftest import VARIANTS
from tests.conftest import gradients
from tests.conftest import make_layer
from tests.conftest import to_numpy

SHAPE = (3, 6, 4)
UNITS = 5


def expected_path(variant, masked, unroll):
    # ATen's GRU serves the configurations it computes exactly, unroll or not.
    if BACKEND == "torch" and variant == "gru" and not masked:
        return "torch_fused_gru"
    return "unrolled" if unroll else "scan"


def outputs_and_gradients(layer, x, mask, training=False):
    readout = keras.ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=(*SHAPE[:2], UNITS)), "float32"
    )

    def loss():
        return keras.ops.sum(layer(x, mask=mask, training=training) * readout)

    return to_numpy(layer(x, mask=mask)), gradients(
        loss, layer.trainable_variables
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("unroll", [False, True])
def test_engine_equals_keras_generic_loop(variant, masked, unroll):
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype("float32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], bool)
    mask = mask if masked else None
    ours = make_layer(
        variant, UNITS, SHAPE, rng, return_sequences=True, unroll=unroll
    )
    # Keras' own loop, calling the cell at every step.
    keras_loop = keras.layers.RNN(
        ours.cell.__class__.from_config(ours.cell.get_config()),
        return_sequences=True,
        unroll=unroll,
    )
    keras_loop.build(SHAPE)
    keras_loop.set_weights(ours.get_weights())

    got, got_grads = outputs_and_gradients(ours, x, mask)
    assert ours.recurrence_path == expected_path(variant, masked, unroll)
    want, want_grads = outputs_and_gradients(keras_loop, x, mask)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got_grad, want_grad in zip(got_grads, want_grads):
        np.testing.assert_allclose(got_grad, want_grad, atol=1e-4)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_path_equals_general_path(variant, go_backwards):
    rng = np.random.default_rng(2)
    x = rng.normal(size=SHAPE).astype("float32")
    layer = make_layer(
        variant,
        UNITS,
        SHAPE,
        rng,
        return_sequences=True,
        go_backwards=go_backwards,
        dropout=0.3,
        seed=5,
    )
    fast, fast_grads = outputs_and_gradients(layer, x, None)
    fast_path = layer.recurrence_path
    assert fast_path == expected_path(variant, False, False)
    with recurrence.fast_paths(False):
        general, general_grads = outputs_and_gradients(layer, x, None)
    assert layer.recurrence_path == "scan"
    np.testing.assert_allclose(fast, general, atol=1e-5)
    for fast_grad, general_grad in zip(fast_grads, general_grads):
        np.testing.assert_allclose(fast_grad, general_grad, atol=1e-4)


def test_fused_gru_declines_what_it_does_not_compute():
    rng = np.random.default_rng(3)
    x = rng.normal(size=SHAPE).astype("float32")
    for arguments in (
        dict(reset_after=False),
        dict(activation="relu"),
        dict(recurrent_activation="hard_sigmoid"),
    ):
        layer = make_layer("gru", UNITS, SHAPE, rng, **arguments)
        layer(x)
        assert layer.recurrence_path == "scan", arguments
    layer = make_layer("gru", UNITS, SHAPE, rng, recurrent_dropout=0.5)
    layer(x, training=True)
    assert layer.recurrence_path == "scan"
    layer(x, training=False)
    assert layer.recurrence_path == expected_path("gru", False, False)
