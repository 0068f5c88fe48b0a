"""GridLSTM and GridLSTM1D against NumPy transcriptions of the paper's
section 3 (Kalchbrenner et al. 2015: the blocks' LSTM, priority, tied
weights, the 1-D grid), against Keras' own LSTM where a dimension of the
grid is one (the first block's time dimension; a 1-D block with the usual
hidden vector is keras.layers.LSTMCell with no recurrent input), and their
gradients against central finite differences. The generic equation,
gradient, usage and saving tests run on the 2-D layer's variants
(tests/variants.py: "grid", and "grid_tied_time" for tied weights, the time
dimension first and the usual hidden vector)."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import assert_gradients_match
from tests.testing import backend_free
from tests.testing import randomize
from tests.testing import to_numpy
from tests.variants import grid_gates
from tests.variants import grid_reference

UNITS, FEATURES = 4, 3


def grid_1d(rng, **kwargs):
    layer = keras_recur.layers.GridLSTM1D(UNITS, **kwargs)
    layer.build((None, FEATURES))
    randomize(layer, rng)
    return layer


def papers_1d(layer, values=None):
    """The layer's weights as the transcription's: I and each block's
    per-gate matrices (bottom up)."""
    if values is None:
        values = [np.asarray(w, np.float64) for w in layer.get_weights()]
    blocks = [
        grid_gates(values[n], values[n + 1]) for n in range(1, len(values), 2)
    ]
    if layer.tied:
        blocks *= layer.depth
    return values[0], blocks


@pytest.mark.parametrize(
    "options",
    [
        dict(depth=3),
        dict(depth=4, tied=True),
        dict(depth=2, hidden_form="lstm"),
    ],
    ids=["untied", "tied", "lstm-form"],
)
def test_1d_grid_matches_the_papers_section_3(options):
    rng = np.random.default_rng(0)
    layer = grid_1d(rng, **options)
    x = rng.normal(size=(5, FEATURES)).astype("float32")
    projection, blocks = papers_1d(layer)
    want = reference.grid_lstm_1d(x, projection, blocks, layer.hidden_form)
    np.testing.assert_allclose(to_numpy(layer(x)), want, atol=1e-5)
    # Any leading axes, as Dense: each position on its own.
    sequences = rng.normal(size=(2, 3, FEATURES)).astype("float32")
    want = reference.grid_lstm_1d(
        sequences, projection, blocks, layer.hidden_form
    )
    np.testing.assert_allclose(to_numpy(layer(sequences)), want, atol=1e-5)


def test_1d_grid_with_the_usual_hidden_vector_is_a_chain_of_keras_cells():
    # Each block: keras.layers.LSTMCell on the hidden vector from below,
    # its recurrent kernel zero (the 1-D block reads only H = h_{l-1}), the
    # memory handed up as the cell state.
    rng = np.random.default_rng(1)
    layer = grid_1d(rng, depth=3, hidden_form="lstm")
    x = rng.normal(size=(5, FEATURES)).astype("float32")
    values = layer.get_weights()
    hidden = keras.ops.convert_to_tensor(x @ values[0])
    memory = keras.ops.zeros_like(hidden)
    for n in range(3):
        cell = keras.layers.LSTMCell(UNITS)
        cell.build((None, UNITS))
        kernel, bias = values[1 + 2 * n], values[2 + 2 * n]
        cell.set_weights([kernel, np.zeros_like(kernel), bias])
        hidden, (_, memory) = cell(
            hidden, [keras.ops.zeros_like(hidden), memory]
        )
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(hidden), atol=1e-5)


def test_1d_grid_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    layer = grid_1d(rng, depth=3)
    x = rng.normal(size=(4, FEATURES)).astype("float32")

    def reference_loss(values):
        projection, blocks = papers_1d(layer, values)
        return np.sum(reference.grid_lstm_1d(x, projection, blocks) ** 2)

    assert_gradients_match(
        lambda: keras.ops.sum(layer(x) ** 2), reference_loss, layer
    )


def test_first_blocks_time_dimension_is_keras_lstm_on_the_projected_input():
    # With depth prioritised, block 1's time LSTM reads [h^t(t-1); x_t I]:
    # Keras' LSTM on x I, its kernel reading x I and its recurrent kernel
    # h^t, once the hidden vector is the usual LSTM's.
    rng = np.random.default_rng(3)
    layer = keras_recur.GridLSTM(
        UNITS, depth=2, hidden_form="lstm", return_state=True
    )
    layer.build((None, None, FEATURES))
    randomize(layer, rng)
    x = rng.normal(size=(2, 6, FEATURES)).astype("float32")
    mask = np.arange(6)[None] < np.array([[6], [4]])
    cell = layer.cell
    lstm = keras.layers.LSTM(UNITS, return_state=True)
    lstm.build((None, None, UNITS))
    lstm.set_weights([to_numpy(w) for w in cell.blocks[0]["time"]])
    projected = x @ to_numpy(cell.input_kernel)
    _, h, c = lstm(projected, mask=mask)
    *_, time_h, time_m = layer(x, mask=mask)
    np.testing.assert_allclose(to_numpy(time_h), to_numpy(h), atol=1e-5)
    np.testing.assert_allclose(to_numpy(time_m), to_numpy(c), atol=1e-5)


def test_no_priority_computes_both_dimensions_from_the_incoming_vectors():
    # Section 3.1 without 3.2: both LSTMs of a block read the same H.
    rng = np.random.default_rng(6)
    layer = keras_recur.GridLSTM(
        UNITS, depth=2, priority=None, return_sequences=True, return_state=True
    )
    layer.build((None, None, FEATURES))
    randomize(layer, rng)
    x = rng.normal(size=(3, 5, FEATURES)).astype("float32")
    mask = np.arange(5)[None] < np.array([[5], [3], [1]])
    states = [
        rng.normal(0, 0.5, (3, UNITS)).astype("float32") for _ in range(5)
    ]
    got = layer(x, initial_state=states, mask=mask)
    step = grid_reference(priority=None)(
        [np.asarray(w, np.float64) for w in layer.get_weights()]
    )
    outputs, final = reference.run(step, x, states, mask)
    np.testing.assert_allclose(to_numpy(got[0]), outputs, atol=2e-5)
    for got_state, want in zip(got[1:], final):
        np.testing.assert_allclose(to_numpy(got_state), want, atol=2e-5)


def test_tied_weights_are_one_block_repeated():
    rng = np.random.default_rng(4)
    tied = keras_recur.GridLSTM(UNITS, depth=3, tied=True)
    untied = keras_recur.GridLSTM(UNITS, depth=3)
    for layer in (tied, untied):
        layer.build((None, None, FEATURES))
    randomize(tied, rng)
    values = tied.get_weights()
    untied.set_weights(values[:1] + values[1:] * 3)
    x = rng.normal(size=(2, 5, FEATURES)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(tied(x)), to_numpy(untied(x)), atol=1e-6
    )


@backend_free
@pytest.mark.parametrize("depth", [1, 3])
def test_weight_counts_follow_the_grid(depth):
    # I, then per dimension a (2 units, 4 units) W and a bias, per block
    # (untied) or once (tied).
    per_dimension = 2 * UNITS * 4 * UNITS + 4 * UNITS
    for tied, blocks in ((False, depth), (True, 1)):
        layer = keras_recur.GridLSTM(UNITS, depth=depth, tied=tied)
        layer.build((None, None, FEATURES))
        assert layer.count_params() == (
            FEATURES * UNITS + blocks * 2 * per_dimension
        )
        flat = keras_recur.layers.GridLSTM1D(UNITS, depth=depth, tied=tied)
        flat.build((None, FEATURES))
        assert flat.count_params() == FEATURES * UNITS + blocks * (
            UNITS * 4 * UNITS + 4 * UNITS
        )


@backend_free
def test_unit_forget_bias_starts_every_forget_gate_at_one():
    layer = keras_recur.GridLSTM(UNITS, depth=2)
    layer.build((None, None, FEATURES))
    flat = keras_recur.layers.GridLSTM1D(UNITS, depth=2)
    flat.build((None, FEATURES))
    biases = [w for w in layer.weights + flat.weights if "bias" in w.name]
    assert len(biases) == 4 + 2
    for bias in biases:
        want = np.zeros((4, UNITS))
        want[1] = 1.0  # [i, f, c, o]
        np.testing.assert_array_equal(to_numpy(bias).reshape(4, UNITS), want)


def test_1d_grid_passes_the_mask_on_and_computes_in_mixed_precision():
    rng = np.random.default_rng(5)
    layer = grid_1d(rng, depth=2)
    x = rng.normal(size=(2, 5, FEATURES)).astype("float32")
    mask = np.arange(5)[None] < np.array([[5], [2]])
    assert np.array_equal(to_numpy(layer.compute_mask(x, mask)), mask)
    half = keras_recur.layers.GridLSTM1D(UNITS, depth=2, dtype="mixed_float16")
    half.build((None, FEATURES))
    half.set_weights(layer.get_weights())
    got = half(x)
    assert keras.backend.standardize_dtype(got.dtype) == "float16"
    assert all(w.dtype == "float32" for w in half.weights)
    np.testing.assert_allclose(
        to_numpy(got).astype("float32"), to_numpy(layer(x)), atol=1e-2
    )


@backend_free
def test_options_round_trip_through_the_config():
    layer = keras_recur.GridLSTM(
        UNITS, depth=4, tied=True, priority=None, hidden_form="lstm"
    )
    config = layer.get_config()
    again = keras_recur.GridLSTM.from_config(config)
    assert again.get_config() == config
    assert (again.depth, again.tied, again.priority) == (4, True, None)
    assert again.hidden_form == "lstm"
    assert len(again.cell.state_size) == 9
    flat = keras_recur.layers.GridLSTM1D(
        UNITS, depth=5, tied=True, kernel_regularizer="l2"
    )
    config = flat.get_config()
    assert keras_recur.layers.GridLSTM1D.from_config(config).get_config() == (
        config
    )


@backend_free
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"depth": 0}, "depth=0"),
        ({"tied": "yes"}, "tied='yes'"),
        ({"priority": "width"}, "priority='width'"),
        ({"hidden_form": "highway"}, "hidden_form='highway'"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    for make in (keras_recur.GridLSTM, keras_recur.layers.GridLSTM1D):
        if make is keras_recur.layers.GridLSTM1D and "priority" in arguments:
            continue
        with pytest.raises((ValueError, TypeError), match=message):
            make(UNITS, **arguments)
    with pytest.raises(ValueError, match="units=0"):
        keras_recur.layers.GridLSTM1D(0)
