"""The recurrence engine against Keras' generic per-step loop, and each fused
path against the general path: same outputs and gradients, and proof of
which path ran."""

import inspect

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur.layers.rnn import recurrence
from tests.testing import BACKEND
from tests.testing import EVERY_VARIANT
from tests.testing import MASK
from tests.testing import call_and_recurrence_path
from tests.testing import gradients_and_outputs
from tests.testing import randomize
from tests.testing import recurrence_path
from tests.testing import to_numpy
from tests.variants import FUSED_VARIANTS
from tests.variants import LINEAR_VARIANTS
from tests.variants import REPRESENTATIVE_VARIANTS
from tests.variants import VARIANTS
from tests.variants import make_layer

SHAPE = (3, 6, 4)
UNITS = 5


def expected_path(variant, masked, unroll):
    # Fused kernels serve the configurations they compute exactly, unroll or
    # not: ATen's GRU without masks, the LSTM family's own torch function,
    # the linear cells' scan on every backend.
    if variant in LINEAR_VARIANTS:
        return "fused"
    if BACKEND == "torch" and variant == "gru" and not masked:
        return "fused"
    if BACKEND == "torch" and variant in LSTM_VARIANTS:
        return "fused"
    return "unrolled" if unroll else "scan"


LSTM_VARIANTS = ("peephole", "coupled", "coupled_peepholes")


# The variants whose cell offers a fused recurrence (the others, layer norm
# and echo state network, run the general path: the test above covers it);
# the kernel may still decline a configuration (the GRU's reset_after=False).
OFFERING_VARIANTS = sorted(
    name
    for name, variant in VARIANTS.items()
    if recurrence.fused_recurrence_owner(variant.layer.cell_class)[0]
)


def test_fused_variants_are_among_the_cells_that_offer_a_kernel():
    assert set(FUSED_VARIANTS) <= set(OFFERING_VARIANTS)


def outputs_and_gradients(layer, x, mask, training=False):
    """Outputs, weight gradients and path (see `recurrence_path`) of one
    call, from one pass. The dropout masks are drawn from the same seed
    state every time, and that state is restored."""
    readout = keras.ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=(*SHAPE[:2], UNITS)), "float32"
    )
    seed_state = np.array(to_numpy(layer.cell.seed_generator.state))

    def loss_and_outputs():
        layer.cell.seed_generator.state.assign(seed_state)
        outputs = layer(x, mask=mask, training=training)
        return keras.ops.sum(outputs * readout), outputs

    (grads, outputs), path = call_and_recurrence_path(
        gradients_and_outputs, loss_and_outputs, layer.trainable_variables
    )
    layer.cell.seed_generator.state.assign(seed_state)  # for the next run
    return outputs, grads, path


def engine_cases():
    """Every variant on PyTorch, one per code path elsewhere, masked or not;
    `unroll=True` only where it is another loop: on TensorFlow and JAX
    (PyTorch's loop is the unrolled Python loop already), for the cells
    the general loop runs (a linear cell's scan has no steps to unroll)."""
    variants = sorted(VARIANTS) if EVERY_VARIANT else REPRESENTATIVE_VARIANTS
    for variant in variants:
        for masked in (False, True):
            yield variant, masked, False
            if BACKEND != "torch" and variant not in LINEAR_VARIANTS:
                yield variant, masked, True


@pytest.mark.parametrize("variant, masked, unroll", list(engine_cases()))
def test_engine_equals_keras_generic_loop(variant, masked, unroll):
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype("float32")
    mask = MASK if masked else None
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

    got, got_grads, path = outputs_and_gradients(ours, x, mask)
    assert path == expected_path(variant, masked, unroll)
    want, want_grads, _ = outputs_and_gradients(keras_loop, x, mask)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got_grad, want_grad in zip(got_grads, want_grads):
        np.testing.assert_allclose(got_grad, want_grad, atol=1e-4)


# On TensorFlow and JAX only the linear cells' fused recurrence runs (the
# others decline it there: both paths would be the general loop).
FUSED_HERE = OFFERING_VARIANTS if BACKEND == "torch" else LINEAR_VARIANTS


@pytest.mark.parametrize("variant", FUSED_HERE)
@pytest.mark.parametrize(
    "go_backwards, masked, training",
    [(False, False, False), (True, True, False), (True, True, True)],
)
def test_fused_path_equals_general_path(
    variant, go_backwards, masked, training
):
    rng = np.random.default_rng(2)
    x = rng.normal(size=SHAPE).astype("float32")
    mask = MASK if masked else None
    # Recurrent dropout in training sends the GRU to the general path; the
    # linear cells have none.
    rates = dict(dropout=0.3, seed=5)
    if variant in LSTM_VARIANTS:
        rates["recurrent_dropout"] = 0.4
    layer = make_layer(
        variant,
        UNITS,
        SHAPE,
        rng,
        return_sequences=True,
        go_backwards=go_backwards,
        **rates,
    )
    fast, fast_grads, path = outputs_and_gradients(layer, x, mask, training)
    assert path == expected_path(variant, masked, False)
    layer.use_cudnn = False
    general, general_grads, path = outputs_and_gradients(
        layer, x, mask, training
    )
    assert path == "scan"
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
        assert recurrence_path(layer, x) == "scan", arguments
    layer = make_layer("gru", UNITS, SHAPE, rng, recurrent_dropout=0.5)
    assert recurrence_path(layer, x, training=True) == "scan"
    path = recurrence_path(layer, x, training=False)
    assert path == expected_path("gru", False, False)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's fused LSTM path")
@pytest.mark.parametrize("variant", LSTM_VARIANTS)
def test_fused_lstm_gradients_reach_the_initial_state(variant):
    import torch

    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=SHAPE), dtype=torch.float32)
    layer = make_layer(variant, UNITS, SHAPE, rng, return_state=True)

    def state_gradients():
        initial = [
            torch.tensor(
                rng.normal(size=(SHAPE[0], UNITS)), dtype=torch.float32
            ).requires_grad_()
            for _ in range(2)
        ]
        output, h, c = layer(x, initial_state=initial, mask=MASK)
        (output.sum() + (c * c).sum()).backward()
        return [to_numpy(state.grad) for state in initial]

    rng = np.random.default_rng(5)
    fused = state_gradients()
    assert recurrence_path(layer, x, mask=MASK) == "fused"
    rng = np.random.default_rng(5)
    layer.use_cudnn = False
    general = state_gradients()
    for got, want in zip(fused, general):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's fused LSTM path")
def test_fused_lstm_declines_what_it_does_not_compute():
    rng = np.random.default_rng(3)
    x = rng.normal(size=SHAPE).astype("float32")
    for arguments in (
        dict(activation="relu"),
        dict(recurrent_activation="hard_sigmoid"),
    ):
        layer = make_layer("peephole", UNITS, SHAPE, rng, **arguments)
        assert recurrence_path(layer, x) == "scan", arguments


@pytest.mark.parametrize(
    "variant", sorted(set(VARIANTS) - set(OFFERING_VARIANTS))
)
def test_use_cudnn_true_says_the_cell_offers_no_fused_kernel(variant):
    layer = make_layer(variant, UNITS, SHAPE, use_cudnn=True)
    name = type(layer.cell).__name__
    with pytest.raises(ValueError, match=f"{name} offers no fused recurrence"):
        layer(np.zeros(SHAPE, "float32"))


class HalvedPeepholeCell(keras_recur.PeepholeLSTMCell):
    """Redefines its step: h is halved. The parent's fused kernel does not
    compute this model."""

    def recurrent_step(self, projected, states, training=False):
        h, (_, c) = super().recurrent_step(projected, states, training)
        return 0.5 * h, [0.5 * h, c]


class ReluInputGRUCell(keras_recur.GRUCell):
    """Redefines its input projection."""

    def project_inputs(self, inputs):
        return keras.ops.relu(super().project_inputs(inputs))


class RenamedGRUCell(keras_recur.GRUCell):
    """A subclass that changes no step method keeps the fused kernel."""


def layer_of(cell_class, units=UNITS, **kwargs):
    return keras_recur.layers.RecurrentLayer(cell_class(units), **kwargs)


@pytest.mark.parametrize("cell_class", [HalvedPeepholeCell, ReluInputGRUCell])
@pytest.mark.parametrize("masked", [False, True])
def test_a_subclass_that_redefines_its_step_takes_the_general_path(
    cell_class, masked
):
    rng = np.random.default_rng(6)
    x = rng.normal(size=SHAPE).astype("float32")
    mask = MASK if masked else None
    layer = layer_of(cell_class, return_sequences=True)
    layer.build(SHAPE)
    randomize(layer, rng)
    # Keras' own loop calls the subclass's step at every step.
    keras_loop = keras.layers.RNN(cell_class(UNITS), return_sequences=True)
    keras_loop.build(SHAPE)
    keras_loop.set_weights(layer.get_weights())
    got, got_grads, path = outputs_and_gradients(layer, x, mask)
    assert path == "scan"
    want, want_grads, _ = outputs_and_gradients(keras_loop, x, mask)
    np.testing.assert_allclose(got, want, atol=1e-5)
    for got_grad, want_grad in zip(got_grads, want_grads):
        np.testing.assert_allclose(got_grad, want_grad, atol=1e-4)
    owner, reason = recurrence.fused_recurrence_owner(cell_class)
    assert owner is None and cell_class.__name__ in reason
    strict = layer_of(cell_class, use_cudnn=True)
    with pytest.raises(ValueError, match=f"{cell_class.__name__}.*redefines"):
        strict(x)


def test_a_subclass_that_keeps_its_step_keeps_the_fused_kernel():
    owner, _ = recurrence.fused_recurrence_owner(RenamedGRUCell)
    assert owner is keras_recur.GRUCell
    layer = layer_of(RenamedGRUCell)
    path = recurrence_path(layer, np.zeros(SHAPE, "float32"))
    assert path == expected_path("gru", False, False)


def test_the_engine_knows_no_cell():
    # It reaches cells only through the methods it documents.
    engine_names = set(vars(recurrence))
    for name in keras_recur.layers.__all__:
        assert name not in engine_names
    source = inspect.getsource(recurrence)
    assert "isinstance" not in source and "keras_recur.layers" not in source
