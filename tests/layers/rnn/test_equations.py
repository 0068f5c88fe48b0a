"""The layers against references nobody here wrote: NumPy transcriptions of
the equations, Keras' own LSTM/GRU, torch.nn.GRU and published values."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import BACKEND
from tests.testing import randomize
from tests.testing import to_numpy
from tests.variants import VARIANTS
from tests.variants import make_layer
from tests.variants import reference_step
from tests.variants import state_count

BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5


def right_padded_mask(rng):
    lengths = np.array([STEPS, 4, 1])
    return np.arange(STEPS)[None, :] < lengths[:, None]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy_equations(variant, go_backwards, masked):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    states = [
        rng.normal(0, 0.5, (BATCH, UNITS)).astype("float32")
        for _ in range(state_count(variant))
    ]
    mask = right_padded_mask(rng) if masked else None
    layer = make_layer(
        variant,
        UNITS,
        x.shape,
        rng,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    got = layer(x, initial_state=states, mask=mask)
    want_outputs, want_states = reference.run(
        reference_step(variant, layer.get_weights()),
        x,
        states,
        mask,
        go_backwards,
    )
    # Keras' own loops disagree here (zeros on TensorFlow and torch, the
    # initial h on JAX, for masked steps before the first real one); the
    # layers carry h on every backend.
    np.testing.assert_allclose(to_numpy(got[0]), want_outputs, atol=2e-5)
    for got_state, want_state in zip(got[1:], want_states):
        np.testing.assert_allclose(to_numpy(got_state), want_state, atol=2e-5)


# JAX warns that it makes float64 float32.
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_float64_layer_computes_in_float64(variant):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    mask = right_padded_mask(rng)
    layer = make_layer(
        variant, UNITS, x.shape, return_sequences=True, dtype="float64"
    )
    if BACKEND == "jax":
        # JAX has no float64 without jax_enable_x64: the weights hold
        # float32 values and the layer computes in float32, as
        # keras.layers.GRU(dtype="float64") does there (the recurrent
        # layers guide says so).
        assert {str(w.value.dtype) for w in layer.weights} == {"float32"}
        got = layer(x, mask=mask)
        assert keras.backend.standardize_dtype(got.dtype) == "float32"
        return
    weights = [rng.normal(0.0, 0.5, w.shape) for w in layer.weights]
    layer.set_weights(weights)
    got = layer(x, mask=mask)
    assert keras.backend.standardize_dtype(got.dtype) == "float64"
    states = [np.zeros((BATCH, UNITS))] * state_count(variant)
    want, _ = reference.run(
        reference_step(variant, layer.get_weights()), x, states, mask
    )
    # float32 arithmetic anywhere would be off by ~1e-7.
    np.testing.assert_allclose(to_numpy(got), want, rtol=0, atol=1e-12)


def test_tf_addons_published_peephole_values():
    # tfa.rnn.PeepholeLSTMCell's test: kernel (and so peepholes) all ones.
    cell = keras_recur.PeepholeLSTMCell(
        5, kernel_initializer="ones", peephole_initializer="ones"
    )
    # one_hot([1, 2, 3, 4], 4): index 4 is out of range, so the row is zero.
    inputs = np.zeros((4, 4), "float32")
    inputs[[0, 1, 2], [1, 2, 3]] = 1.0
    cell.build(inputs.shape)
    output, _ = cell(inputs, cell.get_initial_state(batch_size=4))
    expected = np.array([[0.417551] * 5] * 3 + [[0.0] * 5])
    np.testing.assert_allclose(to_numpy(output), expected, atol=1e-6)


def test_tf_contrib_published_coupled_values():
    # tf.contrib.rnn.CoupledInputForgetGateLSTMCell's test: every weight 0.5,
    # bias 0 plus forget bias 1, h = c = 0.1.
    cell = keras_recur.CoupledLSTMCell(
        2,
        kernel_initializer=keras.initializers.Constant(0.5),
        recurrent_initializer=keras.initializers.Constant(0.5),
    )
    inputs = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4], "float32")
    cell.build(inputs.shape)
    state = np.full((3, 2), 0.1, "float32")
    h, (_, c) = cell(inputs, [state, state])
    np.testing.assert_allclose(
        to_numpy(h)[:, 0], [0.121753, 0.103349, 0.100178], atol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(c)[:, 0], [0.137523, 0.105450, 0.100742], atol=1e-6
    )
    np.testing.assert_allclose(to_numpy(h)[:, 0], to_numpy(h)[:, 1])


def test_tf_addons_published_layer_norm_values():
    # tfa.rnn.LayerNormLSTMCell's test: every weight 0.5, epsilon 1e-12,
    # inputs of ones, h = (0.2, 0.3), c = (0, 0.1).
    half = keras.initializers.Constant(0.5)
    cell = keras_recur.LayerNormLSTMCell(
        2,
        kernel_initializer=half,
        recurrent_initializer=half,
        bias_initializer=half,
        norm_epsilon=1e-12,
    )
    inputs = np.ones((1, 3), "float32")
    cell.build(inputs.shape)
    h, (_, c) = cell(inputs, [np.array([[0.2, 0.3]]), np.array([[0.0, 0.1]])])
    np.testing.assert_allclose(
        to_numpy(h), [[-0.47406167, 0.47406143]], atol=1e-5
    )
    np.testing.assert_allclose(to_numpy(c), [[-1.0, 1.0]], atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_peephole_with_zero_peepholes_equals_keras_lstm(go_backwards):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    mask = right_padded_mask(rng)
    options = dict(return_sequences=True, go_backwards=go_backwards)
    lstm = keras.layers.LSTM(UNITS, **options)
    lstm.build(x.shape)
    randomize(lstm, rng)
    ours = keras_recur.PeepholeLSTM(UNITS, **options)
    ours.build(x.shape)
    zeros = [np.zeros(UNITS, "float32")] * 3
    ours.set_weights(lstm.get_weights() + zeros)
    for m in (None, mask):
        np.testing.assert_allclose(
            to_numpy(ours(x, mask=m)), to_numpy(lstm(x, mask=m)), atol=1e-5
        )


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_equals_keras_gru(reset_after, go_backwards):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    mask = right_padded_mask(rng)
    options = dict(
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        reset_after=reset_after,
    )
    theirs = keras.layers.GRU(UNITS, **options)
    theirs.build(x.shape)
    randomize(theirs, rng)
    ours = keras_recur.GRU(UNITS, **options)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    for m in (None, mask):
        for got, want in zip(ours(x, mask=m), theirs(x, mask=m)):
            np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


def test_gru_equals_torch_nn_gru():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    h0 = rng.normal(size=(BATCH, UNITS)).astype("float32")
    ours = keras_recur.GRU(UNITS, return_sequences=True, return_state=True)
    ours.build(x.shape)
    randomize(ours, rng)
    kernel, recurrent_kernel, bias = ours.get_weights()

    def torch_order(blocks):  # Keras [z, r, h] -> torch [r, z, n]
        z, r, h = np.split(blocks, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)

    gru = torch.nn.GRU(FEATURES, UNITS, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(torch_order(kernel).T.copy()))
        gru.weight_hh_l0.copy_(
            torch.from_numpy(torch_order(recurrent_kernel).T.copy())
        )
        gru.bias_ih_l0.copy_(torch.from_numpy(torch_order(bias[0])))
        gru.bias_hh_l0.copy_(torch.from_numpy(torch_order(bias[1])))
        want_seq, want_h = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    got_seq, got_h = ours(x, initial_state=[h0])
    np.testing.assert_allclose(to_numpy(got_seq), want_seq.numpy(), atol=1e-5)
    np.testing.assert_allclose(to_numpy(got_h), want_h[0].numpy(), atol=1e-5)
