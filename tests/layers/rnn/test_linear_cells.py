"""MinGRU, MinLSTM and the LRU beyond the variant-driven suites: both scans
agree (outputs and gradients), lucidrains' minGRU-pytorch and the LRU
paper's Appendix A code give the same numbers, the ring initialisation,
and their own arguments' checks."""

import math

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import BACKEND
from tests.testing import MASK
from tests.testing import backend_free
from tests.testing import gradients_and_outputs
from tests.testing import to_numpy
from tests.variants import LINEAR_VARIANTS
from tests.variants import make_layer
from tests.variants import state_count

SHAPE = (3, 6, 4)
UNITS = 5


def outputs_and_gradients(layer, x, mask, initial_state):
    readout = keras.ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=(*SHAPE[:2], UNITS)), "float32"
    )

    def loss_and_outputs():
        outputs = layer(x, mask=mask, initial_state=initial_state)
        return keras.ops.sum(outputs * readout), outputs

    grads, outputs = gradients_and_outputs(
        loss_and_outputs, layer.trainable_variables
    )
    return outputs, grads


@pytest.mark.parametrize("variant", LINEAR_VARIANTS)
def test_parallel_scan_equals_sequential_scan(variant):
    # Backwards, masked, from an initial state: every input of the scan.
    go_backwards = True
    rng = np.random.default_rng(0)
    x = rng.normal(size=SHAPE).astype("float32")
    # Positive, as a state in log space must be.
    initial_state = [
        rng.uniform(0.1, 1.0, (SHAPE[0], UNITS)).astype("float32")
        for _ in range(state_count(variant))
    ]
    results = {}
    for scan in ("parallel", "sequential"):
        layer = make_layer(
            variant,
            UNITS,
            SHAPE,
            np.random.default_rng(1),
            return_sequences=True,
            go_backwards=go_backwards,
            scan=scan,
        )
        results[scan] = outputs_and_gradients(layer, x, MASK, initial_state)
    (parallel, parallel_grads), (sequential, sequential_grads) = (
        results["parallel"],
        results["sequential"],
    )
    np.testing.assert_allclose(parallel, sequential, atol=1e-5)
    for got, want in zip(parallel_grads, sequential_grads):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("variant", LINEAR_VARIANTS)
def test_last_output_alone_equals_the_sequence_end(variant):
    # Without return_sequences the sequential scans keep only the last
    # state (the parallel one slices its last prefix); masked last steps and
    # a wholly masked sequence carry it (the LRU's output too, from its last
    # real input).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, *SHAPE[1:])).astype("float32")
    mask = np.concatenate([MASK, np.zeros((1, SHAPE[1]), bool)])
    initial_state = [
        rng.uniform(0.1, 1.0, (4, UNITS)).astype("float32")
        for _ in range(state_count(variant))
    ]
    readout = keras.ops.convert_to_tensor(
        rng.normal(size=(4, UNITS)), "float32"
    )
    results = []
    for return_sequences in (True, False):
        layer = make_layer(
            variant,
            UNITS,
            x.shape,
            np.random.default_rng(1),
            return_sequences=return_sequences,
            return_state=True,
            scan="sequential",
        )

        def loss_and_outputs(layer=layer, return_sequences=return_sequences):
            outputs, *states = layer(x, mask=mask, initial_state=initial_state)
            last = outputs[:, -1] if return_sequences else outputs
            return keras.ops.sum(last * readout), [last, *states]

        grads, outputs = gradients_and_outputs(
            loss_and_outputs, layer.trainable_variables
        )
        results.append((outputs, grads))
    (sequence, sequence_grads), (alone, alone_grads) = results
    for got, want in zip(alone + alone_grads, sequence + sequence_grads):
        np.testing.assert_allclose(got, want, atol=1e-5)


def lucidrains_model(torch, module, dim, ours, their_blocks):
    """`module` (minGRU or minLSTM of minGRU-pytorch) with the kernel of
    `ours`, whose blocks are reordered into `their_blocks` (indices of ours
    in their order)."""
    (kernel,) = ours.get_weights()
    blocks = np.split(kernel, len(their_blocks), axis=1)
    theirs = np.concatenate([blocks[i] for i in their_blocks], axis=1)
    model = module(dim)
    with torch.no_grad():
        next(model.parameters()).copy_(torch.from_numpy(theirs.T.copy()))
    return model


@pytest.mark.skipif(BACKEND != "torch", reason="minGRU-pytorch is PyTorch")
def test_min_gru_equals_lucidrains_min_gru_pytorch():
    torch = pytest.importorskip("torch")
    from minGRU_pytorch.minGRU import minGRU

    rng = np.random.default_rng(2)
    dim = 4
    x = rng.normal(size=(2, 9, dim)).astype("float32")
    h0 = rng.uniform(0.1, 1.0, (2, dim)).astype("float32")
    ours = keras_recur.MinGRU(
        dim, use_bias=False, log_space=True, scan="parallel"
    )
    ours.build(x.shape)
    ours.set_weights([rng.normal(0, 0.5, (dim, 2 * dim)).astype("float32")])
    # Theirs: one bias-free Linear whose output is [hidden, gate].
    theirs = lucidrains_model(torch, minGRU, dim, ours, their_blocks=[1, 0])
    with torch.no_grad():
        want = theirs(
            torch.from_numpy(x), prev_hidden=torch.from_numpy(h0)[:, None]
        )
    for scan in ("parallel", "sequential"):
        layer = keras_recur.MinGRU(
            dim,
            use_bias=False,
            log_space=True,
            return_sequences=True,
            scan=scan,
        )
        layer.build(x.shape)
        layer.set_weights(ours.get_weights())
        got = layer(x, initial_state=[h0])
        np.testing.assert_allclose(to_numpy(got), want.numpy(), atol=1e-5)
    # And one step, as their sequential branch computes it.
    with torch.no_grad():
        step = theirs(
            torch.from_numpy(x[:, :1]),
            prev_hidden=torch.from_numpy(h0)[:, None],
        )
    cell_output, _ = layer.cell(x[:, 0], [h0])
    np.testing.assert_allclose(
        to_numpy(cell_output), step.numpy()[:, 0], atol=1e-6
    )


@pytest.mark.skipif(BACKEND != "torch", reason="minGRU-pytorch is PyTorch")
def test_min_lstm_equals_lucidrains_min_lstm():
    torch = pytest.importorskip("torch")
    from minGRU_pytorch.minLSTM import minLSTM

    rng = np.random.default_rng(3)
    dim = 4
    x = rng.normal(size=(2, 9, dim)).astype("float32")
    layer = keras_recur.MinLSTM(
        dim, use_bias=False, log_space=True, return_sequences=True
    )
    layer.build(x.shape)
    layer.set_weights([rng.normal(0, 0.5, (dim, 3 * dim)).astype("float32")])
    # Theirs: [hidden, f, i]; ours [f, i, h]. From a zero state (their
    # `prev_hidden` enters through g, not as the state itself).
    theirs = lucidrains_model(
        torch, minLSTM, dim, layer, their_blocks=[2, 0, 1]
    )
    with torch.no_grad():
        want = theirs(torch.from_numpy(x))
    for scan in ("parallel", "sequential"):
        layer.cell.scan = scan
        np.testing.assert_allclose(to_numpy(layer(x)), want.numpy(), atol=1e-5)


def test_lru_equals_the_papers_appendix_a_code():
    # The paper's initialisation and forward pass (inputs of the output's
    # size H, a diagonal D), against the layer given the same parameters.
    rng = np.random.default_rng(4)
    hidden, state = 4, 6
    parameters = reference.lru_paper_init(
        state, hidden, r_min=0.5, r_max=0.99, rng=rng
    )
    nu_log, theta_log, B_re, B_im, C_re, C_im, D, gamma_log = parameters
    u = rng.normal(size=(2, 7, hidden)).astype("float32")
    layer = keras_recur.LRU(hidden, state_dim=state, return_sequences=True)
    layer.build(u.shape)
    # Ours multiplies from the right: u B, x C, u D.
    layer.set_weights(
        [
            nu_log,
            theta_log,
            gamma_log,
            B_re.T,
            B_im.T,
            C_re.T,
            C_im.T,
            np.diag(D),
        ]
    )
    want = np.stack([reference.lru_paper_forward(parameters, s) for s in u])
    for scan in ("parallel", "sequential"):
        layer.cell.scan = scan
        np.testing.assert_allclose(to_numpy(layer(u)), want, atol=1e-5)


@pytest.mark.parametrize(
    "policy, epsilon",
    [("mixed_float16", 2.0**-10), ("mixed_bfloat16", 2.0**-7)],
)
def test_lru_keeps_its_long_memory_under_mixed_precision(policy, epsilon):
    # Moduli near 1 over 1,000 steps: a modulus of 0.998 is 1.0 in
    # bfloat16, and computed from 16-bit variables the error compounded to
    # 18-28 machine epsilons of the output's scale (about 1 with the
    # eigenvalues in float32).
    x = np.random.default_rng(0).normal(size=(2, 1000, 3)).astype("float32")
    arguments = dict(units=4, state_dim=8, r_min=0.9, r_max=0.999, seed=3)
    full = keras_recur.LRU(**arguments, return_sequences=True)
    want = to_numpy(full(x))
    mixed = keras_recur.LRU(**arguments, return_sequences=True, dtype=policy)
    mixed.build(x.shape)
    mixed.set_weights(full.get_weights())
    got = to_numpy(mixed(x))
    assert got.dtype == policy.removeprefix("mixed_")
    error = np.abs(got.astype("float32") - want).max() / np.abs(want).max()
    assert error < 2 * epsilon, error / epsilon


def test_lru_initialisation_fills_the_ring():
    layer = keras_recur.LRU(
        8, state_dim=4000, r_min=0.4, r_max=0.9, max_phase=math.pi, seed=1
    )
    layer.build((None, None, 50))
    w = {v.name: to_numpy(v).astype("float64") for v in layer.weights}
    modulus = np.exp(-np.exp(w["nu_log"]))
    phase = np.exp(w["theta_log"])
    assert 0.4 <= modulus.min() and modulus.max() <= 0.9
    assert 0.0 <= phase.min() and phase.max() <= math.pi
    # |lambda|^2 uniform on [r_min^2, r_max^2]: its mean is their midpoint.
    np.testing.assert_allclose(
        np.mean(modulus**2), (0.16 + 0.81) / 2, atol=0.01
    )
    np.testing.assert_allclose(np.mean(phase), math.pi / 2, atol=0.05)
    np.testing.assert_allclose(
        w["gamma_log"], np.log(np.sqrt(1 - modulus**2)), atol=1e-5
    )
    np.testing.assert_allclose(np.std(w["B_re"]), 1 / np.sqrt(100), rtol=0.05)
    np.testing.assert_allclose(np.std(w["C_im"]), 1 / np.sqrt(4000), rtol=0.05)
    np.testing.assert_allclose(np.std(w["D"]), 1 / np.sqrt(50), rtol=0.1)
    # The seed fixes the draw.
    again = keras_recur.LRU(
        8, state_dim=4000, r_min=0.4, r_max=0.9, max_phase=math.pi, seed=1
    )
    again.build((None, None, 50))
    np.testing.assert_array_equal(to_numpy(again.weights[0]), w["nu_log"])


ARGUMENT_CHECKS = backend_free


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "cls",
    [
        keras_recur.MinGRU,
        keras_recur.MinGRUCell,
        keras_recur.MinLSTM,
        keras_recur.MinLSTMCell,
        keras_recur.LRU,
        keras_recur.LRUCell,
    ],
)
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"units": 0}, "units=0"),
        ({"units": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"units": 4, "scan": "fast"}, "scan='fast'"),
        ({"units": 4, "scan": True}, "scan=True"),
        ({"units": 4, "seed": "7"}, "seed='7'"),
    ],
)
def test_bad_arguments_are_named(cls, arguments, message):
    with pytest.raises(ValueError, match=message):
        cls(**arguments)


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "cls, arguments, message",
    [
        (keras_recur.MinGRU, {"log_space": 1}, "log_space=1"),
        (keras_recur.MinLSTMCell, {"use_bias": "no"}, "use_bias='no'"),
        (
            keras_recur.MinLSTM,
            {"kernel_initializer": "glorot"},
            "kernel_initializer='glorot'",
        ),
        (keras_recur.LRU, {"state_dim": 0}, "state_dim=0"),
        (keras_recur.LRU, {"r_min": -0.1}, "r_min=-0.1, r_max=1.0"),
        (keras_recur.LRUCell, {"r_max": 1.5}, "r_min=0.0, r_max=1.5"),
        (keras_recur.LRU, {"r_min": 0.9, "r_max": 0.9}, "r_min=0.9, r_max=0.9"),
        (keras_recur.LRU, {"max_phase": 0.0}, "max_phase=0.0"),
        # No recurrent kernel, no recurrent dropout: Keras names the extra.
        (keras_recur.MinGRU, {"recurrent_dropout": 0.1}, "recurrent_dropout"),
    ],
)
def test_own_arguments_are_checked(cls, arguments, message):
    with pytest.raises(ValueError, match=message):
        cls(4, **arguments)
