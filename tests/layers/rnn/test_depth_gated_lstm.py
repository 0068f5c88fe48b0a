"""DepthGatedLSTM against NumPy transcriptions of both its forms: the
paper's equations (Yao et al. 2015) with each option, and the authors'
DyNet code (dglstm.cc) line by line; with its depth gate shut, against a
stack of Keras' own LSTMs; its first-layer term against central finite
differences."""

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import assert_gradients_match
from tests.testing import backend_free
from tests.testing import randomize
from tests.testing import to_numpy
from tests.variants import depth_gated_layers

UNITS, FEATURES = 4, 3
DYNET_FORM = dict(
    coupled_forget_gate=True, use_peepholes=True, input_depth_gate=True
)


def setup(rng, **kwargs):
    layer = keras_recur.DepthGatedLSTM(
        UNITS, return_sequences=True, return_state=True, **kwargs
    )
    layer.build((None, None, FEATURES))
    randomize(layer, rng)
    weights = {v.name: np.asarray(v, np.float64) for v in layer.weights}
    return layer, weights


def papers_loop(x, mask, weights, depth, initial_states=None):
    """The reference step over the sequence, masked steps keeping the
    states."""
    layers = depth_gated_layers(weights)
    zeros = [np.zeros((x.shape[0], UNITS))] * (2 * depth)
    return reference.run(
        lambda x_t, *states: reference.depth_gated_lstm_step(
            x_t, states, layers
        ),
        x,
        zeros if initial_states is None else initial_states,
        mask,
    )


@pytest.mark.parametrize(
    "options",
    [
        dict(depth=3),
        dict(depth=3, coupled_forget_gate=True),
        dict(depth=2, use_peepholes=True),
        dict(depth=3, **DYNET_FORM),
    ],
    ids=["paper", "coupled", "peepholes", "dynet-form"],
)
def test_matches_the_papers_equations_with_a_mask(options):
    rng = np.random.default_rng(0)
    layer, weights = setup(rng, **options)
    x = rng.normal(size=(3, 7, FEATURES)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[1, 5:] = False
    mask[2, 1:3] = False
    states = [
        rng.normal(0, 0.5, (3, UNITS)).astype("float32")
        for _ in range(2 * options["depth"])
    ]
    got = layer(x, initial_state=states, mask=mask)
    want_outputs, want_states = papers_loop(
        x, mask, weights, options["depth"], states
    )
    np.testing.assert_allclose(to_numpy(got[0]), want_outputs, atol=2e-5)
    for got_state, want_state in zip(got[1:], want_states):
        np.testing.assert_allclose(to_numpy(got_state), want_state, atol=2e-5)


def dynet_parameters(weights, depth):
    """The layer's weights as dglstm.cc's parameters (out, in): the
    diagonal peepholes as diagonal C2I and C2O, the stabiliser at its
    initial 0 (a scale of exp(0) = 1)."""
    params = []
    for n in range(depth):
        kernel, recurrent = (
            weights[f"kernel_{n}"],
            weights[f"recurrent_kernel_{n}"],
        )
        bias = weights[f"bias_{n}"]

        def block(matrix, index):
            return matrix[:, index * UNITS : (index + 1) * UNITS].T

        p = {
            "X2I": block(kernel, 0),
            "X2C": block(kernel, 1),
            "X2O": block(kernel, 2),
            "X2K": block(kernel, 3),
            "H2I": block(recurrent, 0),
            "H2C": block(recurrent, 1),
            "H2O": block(recurrent, 2),
            "BI": bias[:UNITS],
            "BC": bias[UNITS : 2 * UNITS],
            "BO": bias[2 * UNITS : 3 * UNITS],
            "BK": bias[3 * UNITS :],
            "C2I": np.diag(weights[f"input_gate_peephole_weights_{n}"]),
            "C2O": np.diag(weights[f"output_gate_peephole_weights_{n}"]),
            "Q2K": weights[f"depth_gate_cell_weights_{n}"],
            "STAB": 0.0,
        }
        if n == 0:
            p["X2K0"] = weights["input_depth_kernel"].T
        else:
            p["C2K"] = weights[f"depth_gate_lower_weights_{n}"]
        params.append(p)
    return params


def test_dynet_form_matches_the_authors_code():
    depth = 3
    rng = np.random.default_rng(1)
    layer, weights = setup(rng, depth=depth, **DYNET_FORM)
    x = rng.normal(size=(2, 5, FEATURES)).astype("float32")
    got = to_numpy(layer(x)[0])
    params = dynet_parameters(weights, depth)
    for b in range(2):
        h = [np.zeros(UNITS)] * depth
        c = [np.zeros(UNITS)] * depth
        for t in range(5):
            h, c = reference.dglstm_cc_step(x[b, t], h, c, params)
            np.testing.assert_allclose(got[b, t], h[-1], atol=2e-5)


def test_with_the_depth_gate_shut_it_is_a_stack_of_keras_lstms():
    rng = np.random.default_rng(2)
    layer, _ = setup(rng, depth=3)
    stack = keras.Sequential(
        [keras.Input((None, FEATURES))]
        + [keras.layers.LSTM(UNITS, return_sequences=True) for _ in range(3)]
    )
    for n, lstm in enumerate(stack.layers):
        kernel = to_numpy(layer.cell.kernels[n])
        bias = to_numpy(layer.cell.biases[n])
        recurrent = to_numpy(layer.cell.recurrent_kernels[n])
        lstm.set_weights([kernel[:, : 4 * UNITS], recurrent, bias[: 4 * UNITS]])
        if n > 0:
            # The depth gate's bias block: sigmoid(-1e4) is 0 in float32.
            bias[4 * UNITS :] = -1e4
            layer.cell.biases[n].assign(bias)
    x = rng.normal(size=(2, 6, FEATURES)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(layer(x)[0]), to_numpy(stack(x)), atol=1e-5
    )


def test_depth_one_is_keras_lstm():
    rng = np.random.default_rng(3)
    layer, _ = setup(rng, depth=1)
    lstm = keras.layers.LSTM(UNITS, return_sequences=True, return_state=True)
    lstm.build((None, None, FEATURES))
    lstm.set_weights(layer.get_weights())
    x = rng.normal(size=(2, 6, FEATURES)).astype("float32")
    for ours, theirs in zip(layer(x), lstm(x)):
        np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), atol=1e-5)


def test_gradients_of_the_dynet_form_match_finite_differences():
    rng = np.random.default_rng(4)
    layer, weights = setup(rng, depth=2, **DYNET_FORM)
    x = rng.normal(size=(2, 4, FEATURES)).astype("float32")
    mask = np.ones((2, 4), bool)
    names = list(weights)

    def reference_loss(values):
        outputs, _ = papers_loop(x, mask, dict(zip(names, values)), 2)
        return np.sum(outputs**2)

    assert_gradients_match(
        lambda: keras.ops.sum(layer(x)[0] ** 2), reference_loss, layer
    )


@backend_free
@pytest.mark.parametrize("coupled", [False, True])
def test_unit_forget_bias_starts_the_forget_gate_at_sigmoid_one(coupled):
    cell = keras_recur.DepthGatedLSTMCell(
        UNITS, depth=2, coupled_forget_gate=coupled
    )
    cell.build((None, FEATURES))
    for n, bias in enumerate(cell.biases):
        blocks = to_numpy(bias).reshape(-1, UNITS)
        want = np.zeros_like(blocks)
        # [i, f, c, o, d]: f starts at 1; coupled [i, c, o, d]: f = 1 - i,
        # so i starts at -1. The first layer has no d block.
        want[0 if coupled else 1] = -1.0 if coupled else 1.0
        assert blocks.shape[0] == (3 if coupled else 4) + (n > 0)
        np.testing.assert_array_equal(blocks, want)


@backend_free
def test_options_round_trip_through_the_config():
    layer = keras_recur.DepthGatedLSTM(
        UNITS, depth=4, peephole_regularizer="l2", **DYNET_FORM
    )
    config = layer.get_config()
    again = keras_recur.DepthGatedLSTM.from_config(config)
    assert again.get_config() == config
    assert (again.depth, again.coupled_forget_gate) == (4, True)
    assert (again.use_peepholes, again.input_depth_gate) == (True, True)
    assert len(again.cell.state_size) == 8


@backend_free
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"depth": 0}, "depth=0"),
        ({"depth": 2.5}, "depth=2.5"),
        ({"coupled_forget_gate": "yes"}, "coupled_forget_gate='yes'"),
        ({"use_peepholes": 1}, "use_peepholes=1"),
        ({"input_depth_gate": None}, "input_depth_gate=None"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        keras_recur.DepthGatedLSTM(UNITS, **arguments)
