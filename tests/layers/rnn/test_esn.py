"""The echo state network: its reservoir (sparsity, spectral radius, fixed
weights), its leaky equations against NumPy, TF-Addons' published values,
input gradients against finite differences, and a readout that learns.
What it shares with the other cells (masks, Bidirectional, stateful,
unroll, mixed precision, saving) runs in the files that test them all."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import backend_free
from tests.testing import gradients
from tests.testing import numeric_gradient
from tests.testing import randomize
from tests.testing import to_numpy


def reservoir(**arguments):
    cell = keras_recur.ESNCell(**arguments)
    cell.build((None, 3))
    return to_numpy(cell.recurrent_kernel).astype("float64")


@pytest.mark.parametrize(
    "units, connectivity, spectral_radius",
    [(40, 0.1, 0.9), (100, 0.05, 0.5), (8, 1.0, 1.2)],
)
def test_reservoir_has_the_spectral_radius_asked_for(
    units, connectivity, spectral_radius
):
    matrix = reservoir(
        units=units,
        connectivity=connectivity,
        spectral_radius=spectral_radius,
        seed=3,
    )
    largest = np.abs(np.linalg.eigvals(matrix)).max()
    np.testing.assert_allclose(largest, spectral_radius, rtol=1e-5)


def test_use_norm2_scales_the_frobenius_norm_which_bounds_the_radius():
    matrix = reservoir(units=50, connectivity=0.2, use_norm2=True, seed=4)
    np.testing.assert_allclose(np.linalg.norm(matrix), 0.9, rtol=1e-5)
    assert np.abs(np.linalg.eigvals(matrix)).max() < 0.9


@backend_free
def test_connectivity_and_seed():
    # `seed` draws the connections; a seeded initializer their values.
    values = keras.initializers.RandomNormal(seed=1)
    dense = reservoir(
        units=300, connectivity=0.3, seed=5, recurrent_initializer=values
    )
    np.testing.assert_allclose(np.mean(dense != 0), 0.3, atol=0.01)
    again = reservoir(
        units=300, connectivity=0.3, seed=5, recurrent_initializer=values
    )
    np.testing.assert_array_equal(dense, again)
    other = reservoir(units=300, connectivity=0.3, seed=6)
    assert not np.array_equal(dense != 0, other != 0)


def test_a_reservoir_without_cycles_is_drawn_again_or_refused():
    # 3 units at 10%: most draws have no cycle; one that has is kept.
    matrix = reservoir(units=3, connectivity=0.1, spectral_radius=0.5, seed=0)
    np.testing.assert_allclose(
        np.abs(np.linalg.eigvals(matrix)).max(), 0.5, rtol=1e-5
    )
    with pytest.raises(ValueError, match="units=4, connectivity=0.5"):
        reservoir(units=4, connectivity=0.5, recurrent_initializer="zeros")


def test_tf_addons_published_values():
    # tfa.rnn.ESNCell's test: weights 0.5, connectivity 1, norm-2 scaling
    # (U = 0.5 * 0.9 / 1.5 = 0.3), no activation, state 0.3.
    half = keras.initializers.Constant(0.5)
    cell = keras_recur.ESNCell(
        3,
        connectivity=1,
        spectral_radius=0.9,
        use_norm2=True,
        activation=None,
        kernel_initializer=half,
        recurrent_initializer=half,
        bias_initializer=half,
    )
    inputs = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4], "float32")
    cell.build(inputs.shape)
    output, (state,) = cell(inputs, [np.full((3, 3), 0.3, "float32")])
    expected = np.array([[2.77] * 3, [4.77] * 3, [6.77] * 3])
    np.testing.assert_allclose(to_numpy(output), expected, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(state), expected, rtol=1e-5)
    assert [w.name for w in cell.weights] == [
        "recurrent_kernel",
        "kernel",
        "bias",
    ]


@pytest.mark.parametrize("leaky", [1.0, 0.3])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_leaky_equations_with_masks(leaky, go_backwards):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    h0 = rng.normal(0, 0.5, (3, 7)).astype("float32")
    mask = np.arange(6)[None] < np.array([[6], [4], [1]])
    layer = keras_recur.EchoStateNetwork(
        7,
        leaky=leaky,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    layer.build(x.shape)
    randomize(layer, rng)
    w = dict(zip(["recurrent_kernel", "kernel", "bias"], layer.get_weights()))
    want, (want_h,) = reference.run(
        lambda x_t, h: reference.esn_step(x_t, h, w, leaky),
        x,
        [h0],
        mask,
        go_backwards,
    )
    got, got_h = layer(x, initial_state=[h0], mask=mask)
    np.testing.assert_allclose(to_numpy(got), want, atol=2e-5)
    np.testing.assert_allclose(to_numpy(got_h), want_h, atol=2e-5)


def test_input_gradients_match_finite_differences():
    # The reservoir has no trainable weight, but layers before it learn
    # through it: the gradient with respect to its inputs.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 2))
    mask = np.array([[True, True, True], [True, True, False]])
    readout = rng.normal(size=(2, 3, 4))
    layer = keras_recur.EchoStateNetwork(4, 1.0, 0.5, return_sequences=True)
    layer.build(x.shape)
    randomize(layer, rng)
    w = dict(zip(["recurrent_kernel", "kernel", "bias"], layer.get_weights()))
    w = {k: v.astype("float64") for k, v in w.items()}

    def reference_loss(values):
        step = lambda x_t, h: reference.esn_step(x_t, h, w, 0.5)  # noqa: E731
        outputs, _ = reference.run(step, values[0], [np.zeros((2, 4))], mask)
        return float(np.sum(outputs * readout))

    inputs = keras.Variable(x.astype("float32"))

    def loss_fn():
        outputs = layer(inputs.value, mask=mask)
        return keras.ops.sum(outputs * keras.ops.cast(readout, "float32"))

    (got,) = gradients(loss_fn, [inputs])
    want = numeric_gradient(reference_loss, [x], 0)
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-3)


def test_only_the_readout_learns():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 12, 1)).astype("float32")
    y = x[:, -3:, 0].sum(axis=1, keepdims=True)  # a sum of the last steps
    esn = keras_recur.EchoStateNetwork(60, 0.2, 0.7, seed=1)
    model = keras.Sequential([keras.Input((12, 1)), esn, keras.layers.Dense(1)])
    assert esn.trainable_weights == [] and len(esn.non_trainable_weights) == 3
    fixed = [to_numpy(w).copy() for w in esn.weights]
    model.compile(keras.optimizers.Adam(0.05), "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.3 * before
    for weight, old in zip(esn.weights, fixed):
        np.testing.assert_array_equal(to_numpy(weight), old)


@backend_free
def test_arguments_are_checked_and_tf_addons_order_binds():
    layer = keras_recur.EchoStateNetwork(10, 0.5, 0.3, 0.7, True, False)
    assert (layer.connectivity, layer.leaky, layer.spectral_radius) == (
        0.5,
        0.3,
        0.7,
    )
    assert layer.use_norm2 and not layer.use_bias
    for arguments, message in [
        ({"connectivity": 0.0}, "connectivity=0.0"),
        ({"connectivity": 1.5}, "connectivity=1.5"),
        ({"leaky": 0}, "leaky=0"),
        ({"leaky": 2.0}, "leaky=2.0"),
        ({"spectral_radius": -1.0}, "spectral_radius=-1.0"),
        ({"spectral_radius": float("inf")}, "spectral_radius=inf"),
        ({"use_norm2": 1}, "use_norm2=1"),
    ]:
        for cls in (keras_recur.ESNCell, keras_recur.EchoStateNetwork):
            with pytest.raises(ValueError, match=message):
                cls(4, **arguments)
    # What a trained cell takes and a fixed reservoir has no use for.
    for name in ("dropout", "recurrent_activation", "kernel_regularizer"):
        for cls in (keras_recur.ESNCell, keras_recur.EchoStateNetwork):
            # Not among its arguments: Keras' own error names it.
            with pytest.raises(ValueError, match=f"Unrecognized.*'{name}'"):
                cls(4, **{name: 0.1})
        assert name not in keras_recur.EchoStateNetwork(4).get_config()
