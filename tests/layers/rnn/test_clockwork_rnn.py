"""ClockworkRNN against a NumPy transcription of the paper's equations
(Koutník et al. 2014, section 3: the full block-triangular W_H, the modules
executed where t mod T_i = 0), central finite differences, its parameter
count against the paper's formula, and the clock rule and the slow-to-fast
structure checked exactly."""

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import assert_gradients_match
from tests.testing import backend_free
from tests.testing import randomize
from tests.testing import to_numpy

PERIODS = [1, 2, 5]
UNITS, FEATURES = 6, 3


def paper_step_loop(x, mask, w, periods, origin, h0=None):
    """Section 3: y_H(t) = tanh(W_H y_H(t-1) + W_I x(t)) in the rows of
    the modules with t mod T_i = 0, the previous values elsewhere; W_H,
    in the paper's (to, from) layout, block upper-triangular: module i
    reads modules j >= i. A masked step is skipped (not counted)."""
    g, units = len(periods), w["kernel"].shape[1]
    k = units // g
    w_h = np.zeros((units, units))  # (to, from)
    for i in range(g):
        w_h[i * k : (i + 1) * k, i * k :] = w[f"recurrent_kernel_{i}"].T
    w_i = w["kernel"].T
    batch, steps, _ = x.shape
    h = np.zeros((batch, units)) if h0 is None else h0.copy()
    outputs = np.zeros((batch, steps, units))
    for b in range(batch):
        t = origin
        for s in range(steps):
            if mask[b, s]:
                a = w_h @ h[b] + w_i @ x[b, s] + w["bias"]
                for i, period in enumerate(periods):
                    if t % period == 0:
                        h[b, i * k : (i + 1) * k] = np.tanh(
                            a[i * k : (i + 1) * k]
                        )
                t += 1
            outputs[b, s] = h[b]
    return outputs


def setup(rng, origin=0, **kwargs):
    layer = keras_recur.ClockworkRNN(
        UNITS,
        periods=PERIODS,
        clock_origin=origin,
        return_sequences=True,
        **kwargs,
    )
    layer.build((None, None, FEATURES))
    randomize(layer, rng)
    weights = {v.name: np.asarray(v, np.float64) for v in layer.weights}
    return layer, weights


@pytest.mark.parametrize("origin", [0, 1])
def test_matches_the_papers_equations_with_a_mask(origin):
    rng = np.random.default_rng(origin)
    layer, w = setup(rng, origin)
    x = rng.normal(size=(3, 12, FEATURES)).astype("float32")
    mask = np.ones((3, 12), bool)
    mask[1, 7:] = False  # right padding
    mask[2, 2:4] = False  # a hole: the clock does not count it
    got = to_numpy(layer(x, mask=mask))
    want = paper_step_loop(x, mask, w, PERIODS, origin)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    layer, _ = setup(rng)
    x = rng.normal(size=(2, 6, FEATURES)).astype("float32")
    mask = np.ones((2, 6), bool)
    names = [v.name for v in layer.weights]

    def reference_loss(values):
        w = dict(zip(names, values))
        return np.sum(paper_step_loop(x, mask, w, PERIODS, 0) ** 2)

    assert_gradients_match(
        lambda: keras.ops.sum(layer(x) ** 2), reference_loss, layer
    )


def test_slow_modules_hold_between_ticks_and_never_read_fast_ones():
    rng = np.random.default_rng(4)
    layer, _ = setup(rng)
    x = rng.normal(size=(2, 11, FEATURES)).astype("float32")
    outputs = to_numpy(layer(x))
    slow = outputs[..., 4:]  # period 5: computed at t = 0, 5, 10
    for start, end in ((0, 5), (5, 10)):
        for t in range(start + 1, end):
            np.testing.assert_array_equal(slow[:, t], slow[:, start])
    assert not np.array_equal(slow[:, 5], slow[:, 0])
    # A different start of the fast modules reaches no slower module.
    h0 = rng.normal(size=(2, UNITS)).astype("float32")
    changed = h0.copy()
    changed[:, :2] += 1.0  # the period-1 module
    clock = np.zeros((2, UNITS), "float32")
    one = to_numpy(layer(x, initial_state=[h0, clock]))
    other = to_numpy(layer(x, initial_state=[changed, clock]))
    np.testing.assert_array_equal(one[..., 2:], other[..., 2:])
    assert not np.allclose(one[..., :2], other[..., :2])


@backend_free
def test_parameter_count_is_the_papers():
    # Sequence generation (section 4.1): 64 units in 8 modules, periods
    # 1 to 128, one input and one output: 2,497 weights.
    model = keras.Sequential(
        [
            keras.Input((320, 1)),
            keras_recur.ClockworkRNN(64, return_sequences=True),
            keras.layers.Dense(1),
        ]
    )
    assert model.layers[0].periods == (1, 2, 4, 8, 16, 32, 64, 128)
    assert model.count_params() == 2497
    k, g = 8, 8
    assert model.layers[0].count_params() == 64 + 64 + k * k * g * (g + 1) // 2


def test_stateful_carries_the_clock_and_saves(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 7, FEATURES)).astype("float32")
    whole = keras_recur.ClockworkRNN(
        UNITS, periods=PERIODS, return_sequences=True
    )
    whole.build((None, None, FEATURES))
    randomize(whole, rng)
    stateful = keras.Sequential(
        [
            keras.Input((None, FEATURES), batch_size=2),
            keras_recur.ClockworkRNN(
                UNITS, periods=PERIODS, return_sequences=True, stateful=True
            ),
        ]
    )
    stateful.layers[0].set_weights(whole.get_weights())
    halves = [to_numpy(stateful(x[:, :3])), to_numpy(stateful(x[:, 3:]))]
    np.testing.assert_allclose(
        np.concatenate(halves, axis=1), to_numpy(whole(x)), atol=1e-6
    )
    model = keras.Sequential([keras.Input((None, FEATURES)), whole])
    model.save(tmp_path / "clockwork.keras")
    loaded = keras.saving.load_model(tmp_path / "clockwork.keras")
    assert loaded.layers[0].periods == (1, 2, 5)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


@backend_free
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"units": 6, "periods": [1, 2, 4, 8]}, "units=6"),
        ({"units": 4, "periods": [2, 1]}, "periods=(2, 1)"),
        ({"units": 4, "periods": [0, 1]}, "periods=(0, 1)"),
        ({"units": 4, "periods": []}, "periods=()"),
        ({"units": 4, "clock_origin": 2}, "clock_origin=2"),
        ({"units": 4, "clock_origin": True}, "clock_origin=True"),
        ({"units": 0}, "units=0"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        keras_recur.ClockworkRNN(**arguments)
