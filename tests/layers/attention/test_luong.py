"""LuongAttention and Luong's decoding in AttentionDecoder against NumPy
transcriptions of Luong, Pham & Manning (2015), finite-difference
gradients, masks, the Keras layer checks and bad arguments."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import BATCH
from tests.testing import DECODER_MASK
from tests.testing import DIM
from tests.testing import FEATURES
from tests.testing import MEMORY_MASK
from tests.testing import TX
from tests.testing import TY
from tests.testing import assert_gradients_match
from tests.testing import backend_free
from tests.testing import data
from tests.testing import randomize
from tests.testing import reference_cell_step
from tests.testing import run_layer_test
from tests.testing import to_numpy

QUERY_DIM = 5


def make_attention(rng, scale):
    layer = keras_recur.LuongAttention(scale=scale)
    layer.build([(None, QUERY_DIM), (None, TX, DIM)])
    randomize(layer, rng, scale=0.7)
    return layer


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_numpy_equations(scale, masked):
    rng = np.random.default_rng(0)
    layer = make_attention(rng, scale)
    query, value = data(rng, BATCH, QUERY_DIM), data(rng, BATCH, TX, DIM)
    value_mask = MEMORY_MASK if masked else None
    context, weights = layer(
        [query, value],
        mask=[None, value_mask],
        return_attention_scores=True,
    )
    kernel, *g = [np.asarray(w, np.float64) for w in layer.get_weights()]
    want_context, want_weights = reference.general_attention(
        query, value, kernel, value_mask, scale=g[0] if scale else 1.0
    )
    np.testing.assert_allclose(to_numpy(context), want_context, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)


def test_weight_order_and_units():
    # TF-Addons lists attention_g first: tests/layers/test_tf_addons.py.
    layer = keras_recur.LuongAttention(QUERY_DIM, scale=True)
    layer.build([(None, QUERY_DIM), (None, TX, DIM)])
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("memory_kernel", (DIM, QUERY_DIM)),
        ("attention_g", ()),
    ]
    np.testing.assert_array_equal(to_numpy(layer.attention_g), 1.0)
    with pytest.raises(ValueError, match="query's size, 5. Received: units=4"):
        keras_recur.LuongAttention(4).build([(None, 5), (None, TX, DIM)])


def test_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    layer = make_attention(rng, scale=True)
    query, value = data(rng, BATCH, QUERY_DIM), data(rng, BATCH, TX, DIM)
    readout = data(rng, BATCH, DIM)

    def reference_loss(values):
        context, _ = reference.general_attention(
            query, value, values[0], MEMORY_MASK, scale=values[1]
        )
        return float(np.sum(context * readout))

    def loss_fn():
        context = layer([query, value], mask=[None, MEMORY_MASK])
        return keras.ops.sum(context * keras.ops.convert_to_tensor(readout))

    assert_gradients_match(loss_fn, reference_loss, layer)


# --- Luong's decoding ----------------------------------------------------

CELLS = {
    "keras_gru": lambda: keras.layers.GRUCell(QUERY_DIM),
    "peephole_lstm": lambda: keras_recur.PeepholeLSTMCell(QUERY_DIM),
}


def make_decoder(rng, cell, scale=True, **kwargs):
    decoder = keras_recur.AttentionDecoder(
        CELLS[cell](), keras_recur.LuongAttention(scale=scale), **kwargs
    )
    decoder.build((None, TY, FEATURES), (None, TX, DIM))
    randomize(decoder, rng)
    return decoder


def reference_decoder(cell, decoder, values, inputs, memory, **kwargs):
    """The NumPy Luong decoder with `values` (float64, in the order of
    `decoder.weights`)."""
    by_weight = {id(w): v for w, v in zip(decoder.weights, values)}
    cell_values = [by_weight[id(w)] for w in decoder.cell.weights]
    kernel, *g = [by_weight[id(w)] for w in decoder.attention.weights]
    scale = g[0] if g else 1.0
    zeros = [np.zeros((inputs.shape[0], QUERY_DIM))]
    return reference.luong_decoder(
        reference_cell_step(cell, cell_values),
        zeros * (1 if cell == "keras_gru" else 2),
        inputs,
        memory,
        lambda q, m, m_mask: reference.general_attention(
            q, m, kernel, m_mask, scale
        ),
        by_weight[id(decoder.attention_kernel)],
        **kwargs,
    )


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_decoder_equals_numpy_equations(cell, input_feeding, masked):
    rng = np.random.default_rng(2)
    decoder = make_decoder(
        rng,
        cell,
        input_feeding=input_feeding,
        attention_layer_size=3,
        return_state=True,
        return_attention=True,
    )
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    masks = dict(mask=DECODER_MASK, memory_mask=MEMORY_MASK) if masked else {}
    outputs, *states, weights = decoder(inputs, memory, **masks)
    values = [np.asarray(w, np.float64) for w in decoder.get_weights()]
    want_outputs, want_states, want_weights = reference_decoder(
        cell,
        decoder,
        values,
        inputs,
        memory,
        input_feeding=input_feeding,
        **masks,
    )
    assert tuple(outputs.shape) == (BATCH, TY, 3)
    np.testing.assert_allclose(to_numpy(outputs), want_outputs, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)
    assert len(states) == len(want_states)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-5)


def test_decoder_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    decoder = make_decoder(rng, "keras_gru", attention_layer_size=3)
    inputs, memory = data(rng, 2, 3, FEATURES), data(rng, 2, TX, DIM)
    masks = dict(mask=DECODER_MASK[1:, :3], memory_mask=MEMORY_MASK[1:])
    readout = data(rng, 2, 3, 3)

    def reference_loss(values):
        outputs, _, _ = reference_decoder(
            "keras_gru", decoder, values, inputs, memory, **masks
        )
        return float(np.sum(outputs * readout))

    def loss_fn():
        outputs = decoder(inputs, memory, **masks)
        return keras.ops.sum(outputs * keras.ops.convert_to_tensor(readout))

    assert_gradients_match(loss_fn, reference_loss, decoder)


def test_initial_state_of_the_cell_alone_starts_the_feed_at_zero():
    rng = np.random.default_rng(4)
    decoder = make_decoder(rng, "peephole_lstm", return_state=True)
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    h0, c0 = data(rng, BATCH, QUERY_DIM), data(rng, BATCH, QUERY_DIM)
    feed0 = np.zeros((BATCH, QUERY_DIM), "float32")
    cell_only = decoder(inputs, memory, initial_state=[h0, c0])
    every_state = decoder(inputs, memory, initial_state=[h0, c0, feed0])
    for got, want in zip(cell_only, every_state):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6)
    # The returned states continue the sequence.
    first = decoder(inputs[:, :2], memory, initial_state=[h0, c0])
    second = decoder(inputs[:, 2:], memory, initial_state=first[1:])
    np.testing.assert_allclose(
        np.concatenate([to_numpy(first[0]), to_numpy(second[0])], 1),
        to_numpy(cell_only[0]),
        atol=1e-5,
    )


def test_luong_decoder_is_a_keras_layer(tmp_path):
    # Config, symbolic call, training, .keras saving, mixed precision.
    rng = np.random.default_rng(5)
    run_layer_test(
        lambda: keras_recur.AttentionDecoder(
            keras_recur.GRUCell(4),
            keras_recur.LuongAttention(scale=True, dropout=0.1),
            attention_layer_size=3,
        ),
        [data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)],
        tmp_path,
    )


@backend_free
def test_bad_arguments_are_named():
    for arguments, message in [
        ({"units": 0}, "units=0"),
        ({"scale": 1}, "scale=1"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ]:
        with pytest.raises(ValueError, match=message):
            keras_recur.LuongAttention(**arguments)
    cell = keras.layers.GRUCell(4)
    for arguments in ({"attention_layer_size": 8}, {"input_feeding": False}):
        with pytest.raises(ValueError, match="BahdanauAttention queries"):
            keras_recur.AttentionDecoder(
                cell, keras_recur.BahdanauAttention(3), **arguments
            )
    for arguments, message in [
        ({"attention_layer_size": 0}, "attention_layer_size=0"),
        ({"input_feeding": "yes"}, "input_feeding='yes'"),
    ]:
        with pytest.raises(ValueError, match=message):
            keras_recur.AttentionDecoder(
                cell, keras_recur.LuongAttention(), **arguments
            )
