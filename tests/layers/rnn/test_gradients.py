"""Autodiff gradients of every layer against central finite differences of
the NumPy equations (float64), on a tiny case with a mask."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import gradients
from tests.testing import numeric_gradient
from tests.testing import to_numpy
from tests.variants import TRAINED_VARIANTS
from tests.variants import make_layer
from tests.variants import reference_step
from tests.variants import state_count


@pytest.mark.parametrize("variant", TRAINED_VARIANTS)
def test_autodiff_matches_finite_differences(variant):
    rng = np.random.default_rng(4)
    batch, steps, features, units = 2, 3, 2, 2
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    mask = np.array([[True, True, True], [True, True, False]])
    readout = rng.normal(size=(batch, steps, units)).astype("float32")
    layer = make_layer(variant, units, x.shape, rng, return_sequences=True)
    zeros = [np.zeros((batch, units))] * state_count(variant)

    def reference_loss(values):
        step = reference_step(variant, values)
        outputs, _ = reference.run(step, x, zeros, mask)
        return float(np.sum(outputs * readout))

    def loss_fn():
        outputs = layer(x, mask=mask)
        return keras.ops.sum(outputs * keras.ops.convert_to_tensor(readout))

    values = [np.asarray(w, np.float64) for w in layer.get_weights()]
    autodiff = gradients(loss_fn, layer.trainable_variables)
    for index, got in enumerate(autodiff):
        want = numeric_gradient(reference_loss, values, index)
        np.testing.assert_allclose(
            got,
            want,
            atol=2e-4,
            rtol=1e-3,
            err_msg=f"gradient of {layer.weights[index].name}",
        )


def test_layer_norm_lstm_over_an_all_zero_window_has_finite_gradients():
    # An all-zero window (zero padding without a mask, input dropout on one
    # feature) leaves h = c = 0, so every norm sees a row with no spread,
    # where LN's slope is gamma / sqrt(epsilon) (about 32): compounded over
    # 64 steps, it overflowed to NaN. Such a row now passes no gradient to
    # its input: h_T = sigmoid(z_o) * tanh(LN_state(c)) with z_o = 0 and
    # LN_state(c) = state_norm_beta = 0, so the shift of the state norm
    # alone moves the loss, by batch * sigmoid(0) * readout.
    batch, steps, units = 2, 64, 8
    readout = np.random.default_rng(5).normal(size=units).astype("float32")
    layer = keras_recur.LayerNormLSTM(units)
    x = np.zeros((batch, steps, 1), "float32")
    layer.build(x.shape)

    def loss_fn():
        return keras.ops.sum(layer(x) * keras.ops.convert_to_tensor(readout))

    autodiff = gradients(loss_fn, layer.trainable_variables)
    for variable, got in zip(layer.trainable_variables, autodiff):
        want = np.zeros(variable.shape)
        if variable.path.endswith("state_norm_beta"):
            want = batch * 0.5 * readout
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-6)
