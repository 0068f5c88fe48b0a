"""The layers used the way Keras users use keras.layers.LSTM."""

import inspect
import re

import keras
import numpy as np
import pytest

from tests import reference
from tests.testing import BACKEND
from tests.testing import to_numpy
from tests.variants import TRAINED_VARIANTS
from tests.variants import VARIANTS
from tests.variants import WRAPPER_VARIANTS
from tests.variants import make_layer
from tests.variants import reference_step

BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5
# How Keras uses a layer is the shared wrapper's: one variant per code path
# on TensorFlow and JAX, all on PyTorch (tests/variants.py).
ALL = WRAPPER_VARIANTS
TRAINED = sorted(set(ALL) & set(TRAINED_VARIANTS))


def sample(seed=0, shape=(BATCH, STEPS, FEATURES)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def layer_class(variant):
    return VARIANTS[variant][0]


def layer_args(variant, **kwargs):
    return {**VARIANTS[variant][1], **kwargs}


def copy_weights(source, *targets):
    for target in targets:
        target.set_weights(source.get_weights())


@pytest.mark.parametrize("variant", ALL)
def test_sequential_and_functional_models_agree_with_the_layer(variant):
    x = sample()
    layer = make_layer(variant, UNITS, x.shape, np.random.default_rng(1))
    cls, args = layer_class(variant), layer_args(variant)
    sequential = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), cls(UNITS, **args)]
    )
    inputs = keras.Input((None, FEATURES))
    functional = keras.Model(inputs, cls(UNITS, **args)(inputs))
    copy_weights(layer, sequential.layers[0], functional.layers[1])
    want = to_numpy(layer(x))
    np.testing.assert_allclose(
        sequential.predict(x, verbose=0), want, atol=1e-6
    )
    np.testing.assert_allclose(
        functional.predict(x, verbose=0), want, atol=1e-6
    )


@pytest.mark.parametrize("variant", TRAINED)
def test_cells_in_keras_rnn_and_stacked(variant):
    x = sample()
    cls, args = layer_class(variant), layer_args(variant)
    rng = np.random.default_rng(2)
    first = make_layer(variant, UNITS, x.shape, rng, return_sequences=True)
    second = make_layer(variant, 2, (BATCH, STEPS, UNITS), rng)
    single = keras.layers.RNN(
        cls.cell_class(UNITS, **args), return_sequences=True
    )
    stacked = keras.layers.RNN(
        [cls.cell_class(UNITS, **args), cls.cell_class(2, **args)]
    )
    single.build(x.shape)
    stacked.build(x.shape)
    copy_weights(first, single)
    stacked.set_weights(first.get_weights() + second.get_weights())
    sequence = to_numpy(first(x))
    np.testing.assert_allclose(to_numpy(single(x)), sequence, atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(stacked(x)), to_numpy(second(sequence)), atol=1e-5
    )
    # Dropout inside keras.layers.RNN runs on every backend (JAX's traced
    # loop included) and changes the result only in training.
    rates = dict(dropout=0.5)
    if VARIANTS[variant].recurrent_kernel:
        rates["recurrent_dropout"] = 0.5
    dropped = keras.layers.RNN(
        [
            cls.cell_class(UNITS, **rates, **args),
            cls.cell_class(2, dropout=0.5, **args),
        ]
    )
    dropped.build(x.shape)
    dropped.set_weights(stacked.get_weights())
    np.testing.assert_allclose(
        to_numpy(dropped(x)), to_numpy(stacked(x)), atol=1e-6
    )
    assert not np.allclose(
        to_numpy(dropped(x, training=True)), to_numpy(stacked(x))
    )


@pytest.mark.parametrize("variant", ALL)
def test_bidirectional_is_forward_plus_reversed_backward(variant):
    x = sample()
    cls, args = layer_class(variant), layer_args(variant)
    bidirectional = keras.layers.Bidirectional(
        cls(UNITS, return_sequences=True, **args)
    )
    bidirectional.build(x.shape)
    rng = np.random.default_rng(3)
    forward = make_layer(variant, UNITS, x.shape, rng, return_sequences=True)
    backward = make_layer(
        variant, UNITS, x.shape, rng, return_sequences=True, go_backwards=True
    )
    bidirectional.set_weights(forward.get_weights() + backward.get_weights())
    want = np.concatenate(
        [to_numpy(forward(x)), to_numpy(backward(x))[:, ::-1]], axis=-1
    )
    np.testing.assert_allclose(to_numpy(bidirectional(x)), want, atol=1e-6)
    # The bare cell in keras.layers.RNN wraps the same way.
    of_cell = keras.layers.Bidirectional(
        keras.layers.RNN(cls.cell_class(UNITS, **args), return_sequences=True)
    )
    of_cell.build(x.shape)
    of_cell.set_weights(bidirectional.get_weights())
    np.testing.assert_allclose(to_numpy(of_cell(x)), want, atol=1e-6)


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_unroll_equals_loop_with_masks(variant, go_backwards):
    # Keras' own unrolled torch loop fails on a mask with go_backwards.
    x = sample()
    mask = np.arange(STEPS)[None, :] < np.array([[STEPS], [5], [2], [1]])
    rng = np.random.default_rng(4)
    options = dict(return_sequences=True, go_backwards=go_backwards)
    looped = make_layer(variant, UNITS, x.shape, rng, **options)
    unrolled = make_layer(variant, UNITS, x.shape, None, unroll=True, **options)
    copy_weights(looped, unrolled)
    for m in (None, mask):
        np.testing.assert_allclose(
            to_numpy(unrolled(x, mask=m)),
            to_numpy(looped(x, mask=m)),
            atol=1e-6,
        )


@pytest.mark.parametrize("variant", ALL)
def test_stateful_carries_state_and_reset_state_clears_it(variant):
    x = sample()
    rng = np.random.default_rng(5)
    whole = make_layer(variant, UNITS, x.shape, rng, return_sequences=True)
    stateful = make_layer(
        variant,
        UNITS,
        (BATCH, 3, FEATURES),
        None,
        return_sequences=True,
        stateful=True,
    )
    copy_weights(whole, stateful)
    first, second = to_numpy(stateful(x[:, :3])), to_numpy(stateful(x[:, 3:]))
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), to_numpy(whole(x)), atol=1e-5
    )
    stateful.reset_state()
    np.testing.assert_allclose(to_numpy(stateful(x[:, :3])), first, atol=1e-6)


def padded_and_cut(seed):
    """Token rows right-padded with zeros, and their real lengths."""
    rng = np.random.default_rng(seed)
    lengths = [STEPS, 5, 3, 1]
    tokens = np.zeros((len(lengths), STEPS), "int32")
    for row, length in enumerate(lengths):
        tokens[row, :length] = rng.integers(1, 20, length)
    return tokens, lengths


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("direction", ["forward", "backward", "bidirectional"])
def test_embedding_mask_padded_row_equals_cut_row(variant, direction):
    tokens, lengths = padded_and_cut(6)
    cls, args = layer_class(variant), layer_args(variant)
    recurrent = cls(UNITS, go_backwards=direction == "backward", **args)
    if direction == "bidirectional":
        recurrent = keras.layers.Bidirectional(recurrent)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(20, FEATURES, mask_zero=True),
            recurrent,
        ]
    )
    padded = to_numpy(model(tokens))
    for row, length in enumerate(lengths):
        cut = to_numpy(model(tokens[row : row + 1, :length]))
        np.testing.assert_allclose(padded[row : row + 1], cut, atol=1e-5)


@pytest.mark.parametrize("variant", ALL)
def test_masking_layer_padded_row_equals_cut_row(variant):
    x = sample(7)
    x[1, 4:] = 0.0
    cls, args = layer_class(variant), layer_args(variant)
    model = keras.Sequential(
        [
            keras.Input((None, FEATURES)),
            keras.layers.Masking(0.0),
            cls(UNITS, return_state=False, **args),
        ]
    )
    np.testing.assert_allclose(
        to_numpy(model(x))[1], to_numpy(model(x[1:2, :4]))[0], atol=1e-5
    )


@pytest.mark.parametrize("variant", TRAINED_VARIANTS)
def test_dropout_uses_one_seeded_mask_per_sequence_and_only_in_training(
    variant,
):
    x = sample(8)
    rng = np.random.default_rng(9)
    recurrent = VARIANTS[variant].recurrent_kernel
    rates = dict(dropout=0.3, seed=7)
    if recurrent:
        rates["recurrent_dropout"] = 0.4
    layer = make_layer(
        variant, UNITS, x.shape, rng, return_sequences=True, **rates
    )
    # Keras' RNN draws the input mask, then the recurrent mask, from the
    # cell's SeedGenerator(seed) before the loop; redraw them the same way.
    generator = keras.random.SeedGenerator(7)
    ones = keras.ops.ones
    input_mask = to_numpy(
        keras.random.dropout(ones((BATCH, FEATURES)), 0.3, seed=generator)
    )
    recurrent_mask = 1.0
    if recurrent:
        recurrent_mask = to_numpy(
            keras.random.dropout(ones((BATCH, UNITS)), 0.4, seed=generator)
        )
        assert 0 < np.mean(recurrent_mask == 0) < 1
    assert 0 < np.mean(input_mask == 0) < 1

    step = reference_step(variant, layer.get_weights(), recurrent_mask)
    zeros = [np.zeros((BATCH, UNITS))] * len(layer.cell.state_size)
    want, _ = reference.run(step, x * input_mask[:, None, :], zeros)
    trained = to_numpy(layer(x, training=True))
    np.testing.assert_allclose(trained, want, atol=2e-5)

    plain, _ = reference.run(
        reference_step(variant, layer.get_weights()), x, zeros
    )
    np.testing.assert_allclose(
        to_numpy(layer(x, training=False)), plain, atol=2e-5
    )
    # The generator moves on: the next batch gets new masks.
    assert not np.allclose(to_numpy(layer(x, training=True)), trained)


@pytest.mark.parametrize("variant", TRAINED)
def test_regularizers_add_losses_and_constraints_apply(variant):
    cls, args = layer_class(variant), layer_args(variant)
    extra = {}
    if variant in ("peephole", "coupled_peepholes"):
        extra = dict(peephole_regularizer="l2", peephole_constraint="non_neg")
    # The weights of the layer among kernel, recurrent kernel and bias.
    names = [
        name
        for name in ("kernel", "recurrent", "bias")
        if f"{name}_regularizer" in inspect.signature(cls).parameters
    ]
    layer = cls(
        UNITS,
        **{f"{name}_regularizer": "l2" for name in names},
        activity_regularizer="l2",
        **{f"{name}_constraint": "non_neg" for name in names},
        **({"bias_initializer": "ones"} if "bias" in names else {}),
        **extra,
        **args,
    )
    model = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), layer, keras.layers.Dense(1)]
    )
    x, y = sample(10), np.ones((BATCH, 1), "float32")
    model(x)
    # Each kernel, recurrent kernel and bias is regularized and constrained,
    # however many a layer has (the Clockwork RNN's recurrent kernel comes
    # in blocks; the Depth-Gated and Grid LSTMs have some per layer).
    governed = [w for w in layer.weights if weight_kind(w.name) in names]
    peepholes = layer.weights[3:] if extra else []
    assert len(model.losses) == len(governed) + 1 + len(peepholes)
    for loss in model.losses:
        assert float(to_numpy(loss)) > 0
    model.compile(keras.optimizers.SGD(1.0), "mse")
    model.fit(x, y, epochs=1, verbose=0)
    for weight in governed + peepholes:
        assert np.all(to_numpy(weight) >= 0), weight.name


def weight_kind(name):
    """ "kernel", "recurrent" or "bias": which of the three a weight is by
    its name (`recurrent_kernel_2`, `time_bias_0`, ...), or None."""
    name = re.sub(r"_\d+$", "", name)
    for suffix, kind in (
        ("recurrent_kernel", "recurrent"),
        ("kernel", "kernel"),
        ("bias", "bias"),
    ):
        if name.endswith(suffix):
            return kind
    return None


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(variant, policy):
    x = sample(11)
    reference_layer = make_layer(
        variant, UNITS, x.shape, np.random.default_rng(12)
    )
    keras.config.set_dtype_policy(policy)
    layer = make_layer(variant, UNITS, x.shape, None, return_state=True)
    copy_weights(reference_layer, layer)
    outputs = layer(x)
    assert all(w.dtype == "float32" for w in layer.weights)
    compute = policy.removeprefix("mixed_")
    assert all(
        keras.backend.standardize_dtype(o.dtype) == compute for o in outputs
    )
    tolerance = 2e-2 if compute == "bfloat16" else 5e-3
    np.testing.assert_allclose(
        to_numpy(outputs[0]).astype("float32"),
        to_numpy(reference_layer(x)),
        atol=tolerance,
    )


@pytest.mark.parametrize("variant", TRAINED)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_learns(variant, jit_compile):
    if jit_compile and BACKEND == "torch":
        pytest.skip("jit_compile is for TensorFlow and JAX")
    if not jit_compile and BACKEND == "jax":
        # Un-jitted JAX runs op by op (minutes per fit); JAX users train jitted.
        pytest.skip("JAX trains jit-compiled")
    rng = np.random.default_rng(13)
    x = rng.normal(size=(64, 6, 2)).astype("float32")
    y = x[:, :, :1].sum(axis=1)  # a running sum, which a recurrence learns
    cls, args = layer_class(variant), layer_args(variant)
    if variant == "clockwork":
        # By default 8 modules with periods up to 128: in 6 steps the slow
        # ones compute once. Two modules, periods 1 and 2, all work.
        args = {**args, "periods": [1, 2]}
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            cls(8, dropout=0.1, **args),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), "mse", jit_compile=jit_compile)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.3 * before
