"""VanishingGradientRegularization against a NumPy transcription of
Pascanu et al.'s Omega (its error signals by backpropagation through time
written out, its gradient by central differences), and against Keras' own
`fit` where it must add nothing."""

import keras
import numpy as np
import pytest

from keras_recur.training import VanishingGradientRegularization
from tests import testing

STEPS, FEATURES, UNITS, BATCH = 5, 2, 3, 4


def tanh_network(every_step):
    inputs = keras.Input((STEPS, FEATURES))
    states = keras.layers.SimpleRNN(UNITS, return_sequences=True)(inputs)
    head = keras.layers.Dense(1)
    outputs = head(states) if every_step else head(states[:, -1])
    return keras.Model(inputs, outputs)


def numpy_omega(weights, x, y, every_step, recurrent=None):
    """Omega of the network above in float64, with `recurrent` in place of
    the recurrent kernel inside Omega's step Jacobians (the states and the
    error signals computed with the network's own)."""
    kernel, recurrent_kernel, bias, dense, dense_bias = weights
    recurrent = recurrent_kernel if recurrent is None else recurrent
    states, h = [np.zeros((x.shape[0], UNITS))], np.zeros((x.shape[0], UNITS))
    for t in range(STEPS):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)
        states.append(h)
    outputs = np.stack(states[1:], 1) @ dense + dense_bias
    # Keras' mean squared error: the mean over everything predicted.
    if every_step:
        direct = 2 * (outputs - y) / outputs.size
    else:
        direct = np.zeros_like(outputs)
        direct[:, -1] = 2 * (outputs[:, -1] - y) / y.size
    direct = direct @ dense.T  # dE/dh_k through the head alone
    signals = [None] * (STEPS + 1)
    signal = np.zeros((x.shape[0], UNITS))
    for k in range(STEPS, 0, -1):
        carried = (
            0
            if k == STEPS
            else (signals[k + 1] * (1 - states[k + 1] ** 2))
            @ recurrent_kernel.T
        )
        signal = direct[:, k - 1] + carried
        signals[k] = signal
    terms = []
    for k in range(1, STEPS + 1):
        new = np.tanh(x[:, k - 1] @ kernel + states[k - 1] @ recurrent + bias)
        carried = (signals[k] * (1 - new**2)) @ recurrent.T
        ratio = np.linalg.norm(carried, axis=1) / np.linalg.norm(
            signals[k], axis=1
        )
        terms.append((ratio - 1) ** 2)
    return np.mean(terms)


@pytest.mark.parametrize("every_step", [True, False])
def test_omega_and_its_gradient_against_numpy(every_step):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, STEPS, 1) if every_step else (BATCH, 1))
    y = y.astype("float32")
    model = tanh_network(every_step)
    trainer = VanishingGradientRegularization(model)
    trainer.compile(optimizer="sgd", loss="mse")
    weights = [np.asarray(w, np.float64) for w in model.get_weights()]
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    omega, (gradient,) = trainer.omega(x, y)
    np.testing.assert_allclose(
        float(omega), numpy_omega(weights, x64, y64, every_step), rtol=1e-4
    )
    # Central differences in the recurrent kernel inside Omega alone.
    want = np.zeros((UNITS, UNITS))
    for i in range(UNITS):
        for j in range(UNITS):
            step = np.zeros((UNITS, UNITS))
            step[i, j] = 1e-6
            want[i, j] = (
                numpy_omega(weights, x64, y64, every_step, weights[1] + step)
                - numpy_omega(weights, x64, y64, every_step, weights[1] - step)
            ) / 2e-6
    np.testing.assert_allclose(gradient, want, rtol=2e-3, atol=1e-5)


def test_the_regulariser_adds_to_the_recurrent_kernel_alone():
    # One SGD step: the regularised weights are Keras' own fit's, but for
    # the recurrent kernel, which moves by -rate * strength * dOmega/dU.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, 1)).astype("float32")
    plain = tanh_network(every_step=False)
    regularised = tanh_network(every_step=False)
    regularised.set_weights(plain.get_weights())
    rate, strength = 0.1, 3.0
    trainer = VanishingGradientRegularization(regularised, strength=strength)
    trainer.compile(optimizer=keras.optimizers.SGD(rate), loss="mse")
    _, (omega_gradient,) = trainer.omega(x, y)
    plain.compile(optimizer=keras.optimizers.SGD(rate), loss="mse")
    plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    history = trainer.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "omega"]
    for index, (got, want) in enumerate(
        zip(regularised.get_weights(), plain.get_weights())
    ):
        if index == 1:  # SimpleRNN's recurrent kernel
            want = want - rate * strength * np.asarray(omega_gradient)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@testing.backend_free
def test_bad_arguments_and_layers_are_named():
    model = tanh_network(every_step=False)
    with pytest.raises(ValueError, match="Received: strength=-1"):
        VanishingGradientRegularization(model, strength=-1)
    with pytest.raises(ValueError, match="Received: gradient_floor=nan"):
        VanishingGradientRegularization(model, gradient_floor=float("nan"))
    dense = model.layers[-1].name
    with pytest.raises(ValueError, match=f"'{dense}': it is not a keras"):
        VanishingGradientRegularization(model, recurrent_layers=[dense])
    inputs = keras.Input((3, 2))
    minimal = keras.layers.RNN(
        keras.layers.SimpleRNNCell(2), go_backwards=True
    )(inputs)
    backwards = keras.Model(inputs, minimal)
    with pytest.raises(ValueError, match="runs backwards"):
        VanishingGradientRegularization(backwards)
    flat = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="has no keras.layers.RNN"):
        VanishingGradientRegularization(flat)
