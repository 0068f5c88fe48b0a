"""Shared helpers. The backend is fixed by KERAS_BACKEND before import; tox
runs this whole suite once per backend, each in its own process."""

import os

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference

BACKEND = keras.backend.backend()
# The checkout: examples/ and benchmarks/ are run from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def once_on(backend, why):
    """Runs a test in one backend's session only: for what does not depend
    on the backend, so that the suite does not repeat it three times."""
    return pytest.mark.skipif(
        BACKEND != backend, reason=f"runs once, on {backend}: {why}"
    )


# name -> (layer class, extra layer arguments, NumPy step builder)
VARIANTS = {
    "peephole": (keras_recur.PeepholeLSTM, {}),
    "coupled": (keras_recur.CoupledLSTM, {}),
    "coupled_peepholes": (keras_recur.CoupledLSTM, {"use_peepholes": True}),
    "gru": (keras_recur.GRU, {}),
    "gru_reset_before": (keras_recur.GRU, {"reset_after": False}),
    "layer_norm": (keras_recur.LayerNormLSTM, {}),
    # Fully connected, so that a 5-unit reservoir has no zero weights.
    "esn": (keras_recur.EchoStateNetwork, {"connectivity": 1.0}),
}
# The variants with trainable weights and dropout (the echo state network's
# reservoir has neither; tests/layers/rnn/test_esn.py covers what it has).
TRAINED_VARIANTS = sorted(set(VARIANTS) - {"esn"})
# "coupled_peepholes" and "gru_reset_before" differ from "coupled" and "gru"
# only in their step's equations, which the equation, gradient, dropout and
# engine tests check for every variant; how Keras uses a layer (models,
# Bidirectional, masks, stateful, precision, fit) is the shared wrapper's,
# tested on one variant of each cell.
USAGE_VARIANTS = sorted(
    set(VARIANTS) - {"coupled_peepholes", "gru_reset_before"}
)

# Every argument the recurrent layers share with keras.layers.LSTM/GRU, away
# from its default.
CHANGED_ARGUMENTS = dict(
    activation="relu",
    recurrent_activation="hard_sigmoid",
    use_bias=False,
    kernel_initializer="he_normal",
    recurrent_initializer="glorot_normal",
    bias_initializer="ones",
    kernel_regularizer="l1",
    recurrent_regularizer="l2",
    bias_regularizer="l1",
    activity_regularizer="l2",
    kernel_constraint="non_neg",
    recurrent_constraint="unit_norm",
    bias_constraint="max_norm",
    dropout=0.25,
    recurrent_dropout=0.5,
    seed=3,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
    stateful=True,
    unroll=True,
    use_cudnn=False,
)


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def randomize(layer, rng, scale=0.5):
    """Gives every weight of a built layer random normal values."""
    layer.set_weights(
        [
            rng.normal(0.0, scale, w.shape).astype("float32")
            for w in layer.weights
        ]
    )


def reference_step(variant, weight_values, recurrent_mask=1.0):
    """The NumPy step of `variant` with these weights (in layer order)."""
    values = [np.asarray(w, np.float64) for w in weight_values]
    names = ["kernel", "recurrent_kernel", "bias"]
    if variant == "esn":
        weights = dict(zip(["recurrent_kernel", "kernel", "bias"], values))
        return lambda x, h: reference.esn_step(x, h, weights, leaky=1.0)
    if variant == "layer_norm":
        names += [f"{n}_{p}" for n in "krs" for p in ("gamma", "beta")]
        weights = dict(zip(names, values))
        return lambda x, h, c: reference.layer_norm_lstm_step(
            x, h, c, weights, recurrent_mask
        )
    if variant == "peephole":
        names += ["p_i", "p_f", "p_o"]
    elif variant == "coupled_peepholes":
        names += ["p_f", "p_o"]
    weights = dict(zip(names, values))
    if variant.startswith("gru"):
        reset_after = variant == "gru"
        return lambda x, h: reference.gru_step(
            x, h, weights, reset_after, recurrent_mask
        )
    kind = "peephole" if variant == "peephole" else "coupled"
    return reference.lstm_family(kind, weights, recurrent_mask)


def make_layer(variant, units, input_shape, rng=None, **kwargs):
    layer_class, extra = VARIANTS[variant]
    layer = layer_class(units, **extra, **kwargs)
    layer.build(input_shape)
    if rng is not None:
        randomize(layer, rng)
    return layer


def state_count(variant):
    return VARIANTS[variant][0].cell_class.state_count


def numeric_gradient(loss, values, index, eps=1e-6):
    """Central differences of `loss(values)` w.r.t. `values[index]`."""
    grad = np.zeros_like(values[index])
    for position in np.ndindex(grad.shape):
        shifted = [v.copy() for v in values]
        shifted[index][position] += eps
        up = loss(shifted)
        shifted[index][position] -= 2 * eps
        grad[position] = (up - loss(shifted)) / (2 * eps)
    return grad


def gradients(loss_fn, variables):
    """d loss_fn() / d variables, with the backend's own autodiff."""
    if not variables:  # a fixed reservoir: nothing to differentiate
        return []
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        return [to_numpy(g) for g in tape.gradient(loss, variables)]
    if BACKEND == "torch":
        for v in variables:
            v.value.grad = None
        loss_fn().backward()
        return [to_numpy(v.value.grad) for v in variables]
    if BACKEND == "jax":
        import jax

        originals = [v.value for v in variables]

        def pure(values):
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values))
            ):
                return loss_fn()

        grads = jax.grad(pure)(originals)
        return [to_numpy(g) for g in grads]
    raise NotImplementedError(BACKEND)


def assert_gradients_match(loss_fn, reference_loss, layer, atol=2e-4):
    """Autodiff of `loss_fn()` w.r.t. each of `layer`'s trainable weights
    against central differences of `reference_loss(values)` (NumPy, the
    weights' float64 values in the same order)."""
    values = [np.asarray(w, np.float64) for w in layer.get_weights()]
    for index, got in enumerate(gradients(loss_fn, layer.trainable_variables)):
        want = numeric_gradient(reference_loss, values, index)
        np.testing.assert_allclose(
            got,
            want,
            atol=atol,
            rtol=1e-3,
            err_msg=f"gradient of {layer.weights[index].name}",
        )
