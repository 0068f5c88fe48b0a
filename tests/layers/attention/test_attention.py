"""BahdanauAttention and AttentionDecoder against NumPy transcriptions of
Bahdanau et al. (2014), finite-difference gradients, masks, saving and
training."""

import os
import re

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import ATTENTION_UNITS
from tests.testing import BACKEND
from tests.testing import BATCH
from tests.testing import CELLS
from tests.testing import DECODER_MASK
from tests.testing import DIM
from tests.testing import FEATURES
from tests.testing import MEMORY_MASK
from tests.testing import QUERY_DIM
from tests.testing import TX
from tests.testing import TY
from tests.testing import GeneralAttention
from tests.testing import assert_gradients_match
from tests.testing import data
from tests.testing import randomize
from tests.testing import reference_cell_step
from tests.testing import to_numpy


def attention_weights(layer):
    names = ["query_kernel", "memory_kernel", "v", "g", "b"]
    return {
        name: np.asarray(value, np.float64)
        for name, value in zip(names, layer.get_weights())
    }


def make_attention(rng, normalize=False, query_dim=QUERY_DIM, **kwargs):
    layer = keras_recur.BahdanauAttention(
        ATTENTION_UNITS, normalize=normalize, **kwargs
    )
    layer.build([(None, query_dim), (None, TX, DIM)])
    randomize(layer, rng, scale=0.7)
    return layer


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_numpy_equations(normalize, masked):
    rng = np.random.default_rng(0)
    layer = make_attention(rng, normalize)
    query, value = data(rng, BATCH, QUERY_DIM), data(rng, BATCH, TX, DIM)
    value_mask = MEMORY_MASK if masked else None
    context, weights = layer(
        [query, value],
        mask=[None, value_mask],
        return_attention_scores=True,
    )
    want_context, want_weights = reference.bahdanau_attention(
        query, value, attention_weights(layer), value_mask=value_mask
    )
    np.testing.assert_allclose(to_numpy(context), want_context, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-6)
    if masked:  # exactly zero, not merely small
        assert np.all(to_numpy(weights)[~MEMORY_MASK] == 0.0)


def test_attention_with_separate_keys():
    rng = np.random.default_rng(1)
    layer = keras_recur.BahdanauAttention(ATTENTION_UNITS)
    layer.build([(None, QUERY_DIM), (None, TX, DIM), (None, TX, 3)])
    randomize(layer, rng)
    query, value, key = (
        data(rng, BATCH, QUERY_DIM),
        data(rng, BATCH, TX, DIM),
        data(rng, BATCH, TX, 3),
    )
    context = layer([query, value, key])
    want, _ = reference.bahdanau_attention(
        query, value, attention_weights(layer), key=key
    )
    np.testing.assert_allclose(to_numpy(context), want, atol=1e-5)


def test_query_sequence_equals_per_step_queries():
    rng = np.random.default_rng(2)
    layer = make_attention(rng, normalize=True)
    queries, value = data(rng, BATCH, TY, QUERY_DIM), data(rng, BATCH, TX, DIM)
    query_mask = DECODER_MASK
    context, weights = layer(
        [queries, value],
        mask=[query_mask, MEMORY_MASK],
        return_attention_scores=True,
    )
    assert tuple(context.shape) == (BATCH, TY, DIM)
    assert tuple(weights.shape) == (BATCH, TY, TX)
    for i in range(TY):
        step_context, step_weights = layer(
            [queries[:, i], value],
            mask=[None, MEMORY_MASK],
            return_attention_scores=True,
        )
        np.testing.assert_allclose(
            to_numpy(weights)[:, i], to_numpy(step_weights), atol=1e-6
        )
        # A masked query's context is zeros, as in keras.layers.Attention.
        expected = to_numpy(step_context) * query_mask[:, i, None]
        np.testing.assert_allclose(to_numpy(context)[:, i], expected, atol=1e-6)


def test_weights_and_their_initial_values():
    # TF-Addons' order is another: tests/layers/test_tf_addons.py.
    layer = keras_recur.BahdanauAttention(ATTENTION_UNITS, normalize=True)
    layer.build([(None, QUERY_DIM), (None, TX, DIM), (None, TX, 3)])
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("query_kernel", (QUERY_DIM, ATTENTION_UNITS)),
        ("memory_kernel", (3, ATTENTION_UNITS)),
        ("attention_v", (ATTENTION_UNITS,)),
        ("attention_g", ()),
        ("attention_b", (ATTENTION_UNITS,)),
    ]
    np.testing.assert_allclose(
        to_numpy(layer.attention_g), np.sqrt(1.0 / ATTENTION_UNITS), rtol=1e-6
    )
    np.testing.assert_array_equal(to_numpy(layer.attention_b), 0.0)
    plain = keras_recur.BahdanauAttention(ATTENTION_UNITS)
    plain.build([(None, QUERY_DIM), (None, TX, DIM)])
    assert [w.name for w in plain.weights] == [
        "query_kernel",
        "memory_kernel",
        "attention_v",
    ]


def test_attention_dropout_only_in_training():
    rng = np.random.default_rng(3)
    layer = make_attention(rng, dropout=0.5, seed=7)
    query, value = data(rng, BATCH, TY, QUERY_DIM), data(rng, BATCH, TX, DIM)
    _, clean = layer([query, value], return_attention_scores=True)
    _, inferred = layer(
        [query, value], return_attention_scores=True, training=False
    )
    np.testing.assert_array_equal(to_numpy(inferred), to_numpy(clean))
    context, dropped = layer(
        [query, value], return_attention_scores=True, training=True
    )
    dropped, clean = to_numpy(dropped), to_numpy(clean)
    kept = dropped != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped[kept], clean[kept] * 2.0, rtol=1e-5)
    np.testing.assert_allclose(
        to_numpy(context), np.einsum("bqv,bvd->bqd", dropped, value), atol=1e-5
    )


def test_keys_projected_once_per_call(monkeypatch):
    rng = np.random.default_rng(4)
    layer = make_attention(rng)
    calls = []
    original = layer.project_keys

    def counting(key):
        calls.append(key.shape)
        return original(key)

    monkeypatch.setattr(layer, "project_keys", counting)
    layer([data(rng, BATCH, TY, QUERY_DIM), data(rng, BATCH, TX, DIM)])
    assert len(calls) == 1


@pytest.mark.parametrize("normalize", [False, True])
def test_attention_gradients_match_finite_differences(normalize):
    rng = np.random.default_rng(5)
    layer = make_attention(rng, normalize)
    query, value = data(rng, BATCH, QUERY_DIM), data(rng, BATCH, TX, DIM)
    readout = data(rng, BATCH, DIM)
    names = ["query_kernel", "memory_kernel", "v", "g", "b"]

    def reference_loss(values):
        context, _ = reference.bahdanau_attention(
            query, value, dict(zip(names, values)), value_mask=MEMORY_MASK
        )
        return float(np.sum(context * readout))

    def loss_fn():
        context = layer([query, value], mask=[None, MEMORY_MASK])
        return keras.ops.sum(context * keras.ops.convert_to_tensor(readout))

    assert_gradients_match(loss_fn, reference_loss, layer)


# --- AttentionDecoder ---------------------------------------------------


def make_decoder(rng, cell, normalize=False, **kwargs):
    decoder = keras_recur.AttentionDecoder(
        cell,
        keras_recur.BahdanauAttention(ATTENTION_UNITS, normalize=normalize),
        **kwargs,
    )
    decoder.build((None, TY, FEATURES), (None, TX, DIM))
    randomize(decoder, rng)
    return decoder


def split_values(decoder, values):
    """Weight values of the decoder (its weights' order) -> (cell values,
    attention dict)."""
    cell_count = len(decoder.cell.weights)
    names = ["query_kernel", "memory_kernel", "v", "g", "b"]
    return values[:cell_count], dict(zip(names, values[cell_count:]))


def reference_decoder(name, decoder, values, inputs, memory, **kwargs):
    cell_values, attention = split_values(decoder, values)
    step = reference_cell_step(name, cell_values)
    count = len(keras.tree.flatten(CELLS[name]().state_size))
    states = [np.zeros((inputs.shape[0], 5))] * count
    states = kwargs.pop("states", states)
    return reference.attention_decoder(
        step, states, inputs, memory, attention, **kwargs
    )


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("masked", [False, True])
def test_decoder_equals_numpy_equations(cell, masked):
    rng = np.random.default_rng(6)
    decoder = make_decoder(
        rng,
        CELLS[cell](),
        normalize=masked,
        return_state=True,
        return_attention=True,
    )
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    masks = dict(mask=DECODER_MASK, memory_mask=MEMORY_MASK) if masked else {}
    outputs, *states, weights = decoder(inputs, memory, **masks)
    values = [np.asarray(w, np.float64) for w in decoder.get_weights()]
    want_outputs, want_states, want_weights = reference_decoder(
        cell, decoder, values, inputs, memory, **masks
    )
    np.testing.assert_allclose(to_numpy(outputs), want_outputs, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-5)
    if masked:
        assert np.all(to_numpy(weights)[:, :, ~MEMORY_MASK[0]] == 0.0)


def test_decoder_queries_with_the_previous_state():
    # With an initial state, the first step's attention depends on it alone.
    rng = np.random.default_rng(7)
    decoder = make_decoder(rng, keras.layers.GRUCell(5), return_attention=True)
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    h0 = data(rng, BATCH, 5)
    _, weights = decoder(inputs, memory, initial_state=[h0])
    _, want = reference.bahdanau_attention(
        h0, memory, split_values(decoder, decoder.get_weights())[1]
    )
    np.testing.assert_allclose(to_numpy(weights)[:, 0], want, atol=1e-5)
    values = [np.asarray(w, np.float64) for w in decoder.get_weights()]
    want_outputs, _, _ = reference_decoder(
        "keras_gru", decoder, values, inputs, memory, states=[h0]
    )
    outputs = decoder(inputs, memory, initial_state=[h0])[0]
    np.testing.assert_allclose(to_numpy(outputs), want_outputs, atol=1e-5)


def test_decoder_projects_the_memory_once(monkeypatch):
    rng = np.random.default_rng(8)
    decoder = make_decoder(rng, keras.layers.GRUCell(5))
    calls = []
    original = decoder.attention.project_keys
    monkeypatch.setattr(
        decoder.attention,
        "project_keys",
        lambda key: calls.append(1) or original(key),
    )
    decoder(data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM))
    assert len(calls) == 1


@pytest.mark.parametrize("cell", ["keras_gru", "keras_lstm"])
def test_decoder_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(9)
    decoder = make_decoder(rng, CELLS[cell]())
    inputs, memory = data(rng, 2, 3, FEATURES), data(rng, 2, TX, DIM)
    masks = dict(mask=DECODER_MASK[1:, :3], memory_mask=MEMORY_MASK[1:])
    readout = data(rng, 2, 3, 5 + DIM)

    def reference_loss(values):
        outputs, _, _ = reference_decoder(
            cell, decoder, values, inputs, memory, **masks
        )
        return float(np.sum(outputs * readout))

    def loss_fn():
        outputs = decoder(inputs, memory, **masks)
        return keras.ops.sum(outputs * keras.ops.convert_to_tensor(readout))

    assert_gradients_match(loss_fn, reference_loss, decoder)


def test_decoder_return_modes():
    rng = np.random.default_rng(10)
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    full = make_decoder(rng, keras.layers.LSTMCell(5))
    weights = full.get_weights()
    outputs = to_numpy(full(inputs, memory, mask=DECODER_MASK))
    last = keras_recur.AttentionDecoder(
        keras.layers.LSTMCell(5),
        keras_recur.BahdanauAttention(ATTENTION_UNITS),
        return_sequences=False,
        return_state=True,
    )
    last.build((None, TY, FEATURES), (None, TX, DIM))
    last.set_weights(weights)
    final, h, c = last(inputs, memory, mask=DECODER_MASK)
    # The last output is that of each row's last unmasked step.
    last_valid = DECODER_MASK.sum(1) - 1
    np.testing.assert_allclose(
        to_numpy(final), outputs[np.arange(BATCH), last_valid], atol=1e-6
    )
    np.testing.assert_allclose(to_numpy(h), to_numpy(final)[:, :5], atol=1e-6)
    assert tuple(c.shape) == (BATCH, 5)


def seq2seq_functional(cell):
    source = keras.Input((TX,), dtype="int32")
    target = keras.Input((TY, FEATURES))
    memory = keras.layers.Embedding(11, DIM, mask_zero=True)(source)
    memory = keras_recur.GRU(DIM, return_sequences=True)(memory)
    decoded = keras_recur.AttentionDecoder(
        cell, keras_recur.BahdanauAttention(ATTENTION_UNITS)
    )(target, memory)
    outputs = keras.layers.Dense(3)(decoded)
    return keras.Model([source, target], outputs)


def padded_tokens(rng):
    tokens = rng.integers(1, 11, size=(BATCH, TX))
    return np.where(MEMORY_MASK, tokens, 0).astype("int32")


def test_memory_mask_comes_from_the_memory():
    # In a functional model the encoder's outputs carry the source mask,
    # and the decoder uses it as its memory_mask.
    rng = np.random.default_rng(11)
    model = seq2seq_functional(keras_recur.CoupledLSTMCell(5))
    tokens, target = padded_tokens(rng), data(rng, BATCH, TY, FEATURES)
    outputs = to_numpy(model([tokens, target]))
    decoder, head = model.layers[-2], model.layers[-1]
    memory = keras.Model(model.inputs[0], model.layers[3].output)(tokens)
    for memory_mask, same in ((MEMORY_MASK, True), (MEMORY_MASK | True, False)):
        explicit = to_numpy(
            head(decoder(target, memory, memory_mask=memory_mask))
        )
        assert np.allclose(explicit, outputs, atol=1e-5) == same


def test_decoder_saves_and_loads(tmp_path):
    rng = np.random.default_rng(12)
    model = seq2seq_functional(keras_recur.PeepholeLSTMCell(5))
    tokens, target = padded_tokens(rng), data(rng, BATCH, TY, FEATURES)
    path = os.path.join(tmp_path, "seq2seq.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    decoder = restored.layers[-2]
    assert isinstance(decoder.cell, keras_recur.PeepholeLSTMCell)
    assert isinstance(decoder.attention, keras_recur.BahdanauAttention)
    np.testing.assert_allclose(
        to_numpy(restored([tokens, target])),
        to_numpy(model([tokens, target])),
        atol=1e-6,
    )


@pytest.mark.parametrize("jit", [False, True])
def test_decoder_trains_with_fit(jit):
    if jit and BACKEND == "torch":
        pytest.skip("jit_compile is for TensorFlow and JAX")
    if not jit and BACKEND == "jax":
        pytest.skip("eager JAX traces the loop again at every call: minutes")
    rng = np.random.default_rng(13)
    model = seq2seq_functional(keras.layers.GRUCell(5))
    cell = model.layers[-2].cell
    assert cell.dropout == 0
    tokens = np.concatenate([padded_tokens(rng)] * 4)
    target = data(rng, 4 * BATCH, TY, FEATURES)
    # A class each decoder step can learn: how many of its two features > 0.
    labels = (target > 0).sum(-1)
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    before = model.evaluate([tokens, target], labels, verbose=0)
    model.fit([tokens, target], labels, epochs=20, batch_size=6, verbose=0)
    after = model.evaluate([tokens, target], labels, verbose=0)
    assert after < 0.6 * before


def test_decoder_dropout_in_training():
    rng = np.random.default_rng(14)
    attention = keras_recur.BahdanauAttention(
        ATTENTION_UNITS, dropout=0.3, seed=1
    )
    decoder = keras_recur.AttentionDecoder(
        keras.layers.GRUCell(5, dropout=0.2, recurrent_dropout=0.2, seed=2),
        attention,
        return_attention=True,
    )
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    outputs, weights = decoder(inputs, memory)
    again, _ = decoder(inputs, memory, training=False)
    np.testing.assert_array_equal(to_numpy(outputs), to_numpy(again))
    np.testing.assert_allclose(to_numpy(weights).sum(-1), 1.0, rtol=1e-5)
    trained, dropped = decoder(inputs, memory, training=True)
    dropped = to_numpy(dropped)
    assert np.any(dropped == 0)
    assert not np.allclose(to_numpy(trained), to_numpy(outputs))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(units=0), "units=0"),
        (dict(units=4, normalize="yes"), "normalize='yes'"),
        (dict(units=4, dropout=1.0), "dropout=1.0"),
        (dict(units=4, seed=1.5), "seed=1.5"),
        (dict(units=4, kernel_initializer="nope"), "kernel_initializer='nope'"),
    ],
)
def test_attention_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        keras_recur.BahdanauAttention(**arguments)


def test_bad_inputs_are_named():
    attention = keras_recur.BahdanauAttention(4)
    value = np.zeros((2, 5, 3), "float32")
    with pytest.raises(ValueError, match="inputs"):
        attention(value)
    with pytest.raises(ValueError, match="query.shape"):
        attention([np.zeros((2, 1, 1, 3), "float32"), value])
    with pytest.raises(ValueError, match="value.shape"):
        attention([np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match="key.shape"):
        attention(
            [np.zeros((2, 3), "float32"), value, np.zeros((2, 4, 3), "float32")]
        )
    with pytest.raises(ValueError, match="cell=.*Dense"):
        keras_recur.AttentionDecoder(keras.layers.Dense(3), attention)
    with pytest.raises(ValueError, match="attention="):
        keras_recur.AttentionDecoder(
            keras.layers.GRUCell(3), keras.layers.AdditiveAttention()
        )
    with pytest.raises(ValueError, match="return_state=1"):
        keras_recur.AttentionDecoder(
            keras.layers.GRUCell(3), attention, return_state=1
        )
    decoder = keras_recur.AttentionDecoder(keras.layers.GRUCell(3), attention)
    with pytest.raises(ValueError, match="initial_state"):
        decoder(
            np.zeros((2, 4, 2), "float32"),
            value,
            initial_state=[np.zeros((2, 5), "float32")],
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_decoder_mixed_precision(policy):
    rng = np.random.default_rng(15)
    inputs, memory = data(rng, BATCH, TY, FEATURES), data(rng, BATCH, TX, DIM)
    masks = dict(mask=DECODER_MASK, memory_mask=MEMORY_MASK)
    full = make_decoder(rng, keras.layers.GRUCell(5), return_attention=True)
    want_outputs, want_weights = full(inputs, memory, **masks)
    keras.config.set_dtype_policy(policy)
    mixed = keras_recur.AttentionDecoder(
        keras.layers.GRUCell(5),
        keras_recur.BahdanauAttention(ATTENTION_UNITS),
        return_attention=True,
    )
    mixed.build((None, TY, FEATURES), (None, TX, DIM))
    mixed.set_weights(full.get_weights())
    outputs, weights = mixed(inputs, memory, **masks)
    compute = policy.removeprefix("mixed_")
    assert keras.backend.standardize_dtype(outputs.dtype) == compute
    assert all(w.dtype == "float32" for w in mixed.weights)
    masked = to_numpy(weights).astype("float32")[2][:, ~MEMORY_MASK[2]]
    assert np.all(masked == 0)
    tolerance = 3e-2 if compute == "bfloat16" else 5e-3
    for got, want in ((outputs, want_outputs), (weights, want_weights)):
        np.testing.assert_allclose(
            to_numpy(got).astype("float32"), to_numpy(want), atol=tolerance
        )


# --- Any AttentionMechanism ---------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
def test_decoder_runs_any_attention_mechanism(masked):
    rng = np.random.default_rng(21)
    decoder = keras_recur.AttentionDecoder(
        keras.layers.GRUCell(5), GeneralAttention(), return_attention=True
    )
    decoder.build((None, TY, FEATURES), (None, TX, DIM))
    randomize(decoder, rng)
    inputs = rng.normal(size=(BATCH, TY, FEATURES)).astype("float32")
    memory = rng.normal(size=(BATCH, TX, DIM)).astype("float32")
    memory_mask = MEMORY_MASK if masked else None
    mask = DECODER_MASK if masked else None
    outputs, weights = decoder(
        inputs, memory, mask=mask, memory_mask=memory_mask
    )
    values = [np.asarray(w, np.float64) for w in decoder.get_weights()]
    want_outputs, _, want_weights = reference.attention_decoder(
        reference_cell_step("keras_gru", values[:3]),
        [np.zeros((BATCH, 5))],
        inputs,
        memory,
        None,
        memory_mask=memory_mask,
        mask=mask,
        attend=lambda q, m, m_mask: reference.general_attention(
            q, m, values[3], m_mask
        ),
    )
    np.testing.assert_allclose(to_numpy(outputs), want_outputs, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)


def test_decoder_rejects_what_is_no_attention_mechanism():
    with pytest.raises(ValueError, match="AttentionMechanism.*Received"):
        keras_recur.AttentionDecoder(
            keras.layers.GRUCell(4), keras.layers.AdditiveAttention()
        )


def test_a_mask_of_another_length_is_refused():
    # A shorter mask used to drop the steps it did not cover (PyTorch's
    # loop zips the steps with the mask), a longer one to fail elsewhere.
    attention = keras_recur.BahdanauAttention(4)
    query, value = (
        np.zeros((2, 3, 3), "float32"),
        np.zeros((2, 5, 3), "float32"),
    )
    decoder = keras_recur.AttentionDecoder(keras.layers.GRUCell(3), attention)
    inputs = np.zeros((2, 4, 2), "float32")
    cases = [
        (
            lambda mask: attention([query, value], mask=[None, mask]),
            "value_mask",
            (2, 5),
        ),
        (
            lambda mask: attention([query, value], mask=[mask, None]),
            "query_mask",
            (2, 3),
        ),
        (lambda mask: decoder(inputs, value, mask=mask), "mask", (2, 4)),
        (
            lambda mask: decoder(inputs, value, memory_mask=mask),
            "memory_mask",
            (2, 5),
        ),
    ]
    for call, argument, (batch, steps) in cases:
        for bad in ((batch, steps - 1), (batch, steps + 1), (1, steps)):
            message = rf"`{argument}` must.*\({batch}, {steps}\).*"
            with pytest.raises(ValueError, match=message + re.escape(str(bad))):
                call(np.ones(bad, bool))
