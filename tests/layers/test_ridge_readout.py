"""The ridge readout of reservoir computing against NumPy's least squares
and reservoirpy 0.4 (its `Reservoir` and `Ridge`, on the same weights and
data), its argument checks, and `fit_readout` on a masked model."""

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur import backend
from tests.testing import backend_free
from tests.testing import to_numpy

RNG = np.random.default_rng(0)
# Where the backend has no float64 (JAX without x64), the solve is float32.
TOLERANCE = 1e-9 if backend.widest_float() == "float64" else 2e-4


def lstsq_ridge(states, targets, ridge, use_bias):
    """The ridge solution as NumPy's least squares of the augmented system
    [S; sqrt(ridge) I] W = [Y; 0] on centred data (no normal equations)."""
    states = states.astype("float64")
    targets = targets.astype("float64")
    s_mean, y_mean = states.mean(0), targets.mean(0)
    if use_bias:
        states, targets = states - s_mean, targets - y_mean
    features = states.shape[1]
    augmented = np.concatenate([states, np.sqrt(ridge) * np.eye(features)])
    padded = np.concatenate([targets, np.zeros((features, targets.shape[1]))])
    kernel = np.linalg.lstsq(augmented, padded, rcond=None)[0]
    bias = y_mean - s_mean @ kernel if use_bias else np.zeros(kernel.shape[1])
    return kernel, bias


def float64_weights(readout):
    # The layer keeps float32 weights; compare the solve's float64 result.
    return [to_numpy(w).astype("float64") for w in readout.weights]


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("ridge", [0.0, 0.5])
def test_sequences_with_washout_match_numpy_least_squares(ridge, use_bias):
    states = RNG.normal(size=(4, 30, 6)) + 2.0  # off-centre: the bias matters
    targets = RNG.normal(size=(4, 30, 2))
    readout = keras_recur.layers.RidgeReadout(2, ridge=ridge, use_bias=use_bias)
    readout.fit(states, targets, washout=10)
    want_kernel, want_bias = lstsq_ridge(
        states[:, 10:].reshape(-1, 6),
        targets[:, 10:].reshape(-1, 2),
        ridge,
        use_bias,
    )
    got = float64_weights(readout)
    np.testing.assert_allclose(got[0], want_kernel, rtol=1e-5, atol=1e-6)
    if use_bias:
        np.testing.assert_allclose(got[1], want_bias, rtol=1e-5, atol=1e-6)
    # The washed-out steps changed the answer: it is not the full fit.
    full, _ = lstsq_ridge(
        states.reshape(-1, 6), targets.reshape(-1, 2), ridge, use_bias
    )
    assert not np.allclose(full, want_kernel, atol=1e-3)


def test_the_solve_is_float64_where_the_backend_has_it():
    # Nearly collinear features: float32 normal equations lose digits that
    # a float64 solve keeps.
    base = RNG.normal(size=(200, 1))
    states = np.concatenate([base, base + 1e-3 * RNG.normal(size=(200, 1))], 1)
    targets = states @ np.array([[3.0], [-2.0]])
    readout = keras_recur.layers.RidgeReadout(1, ridge=0.0).fit(states, targets)
    error = np.abs(float64_weights(readout)[0][:, 0] - [3.0, -2.0]).max()
    if backend.widest_float() == "float64":
        assert error < 1e-4
    else:
        assert keras.backend.backend() == "jax"  # float32 by JAX's default


def reservoirpy_reservoir(esn):
    """reservoirpy's `Reservoir` on the weights of `esn` (its layout is
    transposed: `W @ x` for our `h @ U`)."""
    nodes = pytest.importorskip("reservoirpy.nodes")
    recurrent, kernel, bias = [
        to_numpy(w).astype("float64") for w in esn.weights
    ]
    return nodes.Reservoir(W=recurrent.T, Win=kernel.T, bias=bias, lr=esn.leaky)


def test_matches_reservoirpy_reservoir_and_ridge():
    pytest.importorskip("reservoirpy")
    from reservoirpy.nodes import Ridge

    series = np.sin(np.arange(301) / 5.0)[:, None] + 0.1 * RNG.normal(
        size=(301, 1)
    )
    inputs, targets = series[:-1], series[1:]
    esn = keras_recur.EchoStateNetwork(
        40, 0.2, 0.5, 0.9, return_sequences=True, seed=2
    )
    model = keras.Sequential(
        [keras.Input((None, 1)), esn, keras_recur.layers.RidgeReadout(1, 1e-4)]
    )
    keras_recur.models.fit_readout(
        model, inputs[None], targets[None], washout=50
    )
    # Same reservoir states as reservoirpy's (float32 here, float64 there).
    reservoir = reservoirpy_reservoir(esn)
    want_states = reservoir.run(inputs)
    got_states = to_numpy(esn(inputs[None].astype("float32")))[0]
    np.testing.assert_allclose(got_states, want_states, atol=1e-5)
    # Same readout, fitted on reservoirpy's states with its warm-up.
    ridge = Ridge(ridge=1e-4).fit(want_states, targets, warmup=50)
    if backend.widest_float() == "float64":
        # (float32's solve finds other weights of nearly the same error.)
        kernel, bias = float64_weights(model.layers[-1])
        np.testing.assert_allclose(kernel, ridge.Wout, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(bias, np.ravel(ridge.bias), atol=2e-3)
    got = model.predict(inputs[None], verbose=0)[0, 50:]
    want = want_states[50:] @ ridge.Wout + ridge.bias
    np.testing.assert_allclose(got, want, atol=2e-4 + TOLERANCE * 20)


def test_fit_readout_uses_the_masked_final_states():
    # Variable lengths: the final state of each sequence is its last
    # unmasked step's, which the readout maps to a one-hot class.
    x = RNG.normal(size=(60, 8, 2)).astype("float32")
    lengths = RNG.integers(3, 9, size=60)
    x[np.arange(8)[None] >= lengths[:, None]] = 0.0
    labels = (x.sum(axis=(1, 2)) > 0).astype("int64")
    one_hot = np.eye(2)[labels]
    esn = keras_recur.EchoStateNetwork(30, 0.5, seed=0)
    model = keras.Sequential(
        [
            keras.Input((8, 2)),
            keras.layers.Masking(0.0),
            esn,
            keras_recur.layers.RidgeReadout(2, ridge=1e-3),
        ]
    )
    keras_recur.models.fit_readout(model, x, one_hot, batch_size=16)
    # The reference: each length's sequences cut to it, without a mask.
    states = np.zeros((60, 30))
    for length in set(lengths):
        rows = lengths == length
        states[rows] = to_numpy(esn(x[rows, :length]))
    kernel, bias = lstsq_ridge(states, one_hot, 1e-3, True)
    want = states @ kernel + bias
    np.testing.assert_allclose(
        model.predict(x, verbose=0), want, atol=TOLERANCE + 2e-4
    )


def test_fit_readout_leaves_the_padded_steps_out_of_the_fit():
    # Per-step targets of variable-length sequences: the padded steps'
    # targets are garbage that must not enter the solve. The reference is
    # scikit-learn's Ridge on the unpadded steps' states, each sequence cut
    # to its length and run without a mask.
    ridge_regression = pytest.importorskip("sklearn.linear_model").Ridge
    x = RNG.normal(size=(12, 9, 2)).astype("float32")
    lengths = RNG.integers(4, 10, size=12)
    padded = np.arange(9)[None] >= lengths[:, None]
    x[padded] = 0.0
    y = np.cumsum(x[..., :1], axis=1)
    y[padded] = 1e3
    esn = keras_recur.EchoStateNetwork(20, 0.5, seed=1, return_sequences=True)
    model = keras.Sequential(
        [
            keras.Input((9, 2)),
            keras.layers.Masking(0.0),
            esn,
            keras_recur.layers.RidgeReadout(1, ridge=1e-2),
        ]
    )
    keras_recur.models.fit_readout(model, x, y, washout=1, batch_size=5)
    states = np.concatenate(
        [to_numpy(esn(x[i : i + 1, :n]))[0, 1:] for i, n in enumerate(lengths)]
    )
    targets = np.concatenate([y[i, 1:n] for i, n in enumerate(lengths)])
    want = ridge_regression(alpha=1e-2).fit(states, targets)
    np.testing.assert_allclose(
        to_numpy(model.layers[-1].kernel)[:, 0], np.ravel(want.coef_), atol=5e-4
    )
    np.testing.assert_allclose(
        to_numpy(model.layers[-1].bias), np.ravel(want.intercept_), atol=5e-4
    )


def test_non_finite_states_or_targets_are_refused_before_the_solve():
    readout = keras_recur.layers.RidgeReadout(1)
    states = RNG.normal(size=(2, 6, 3))
    targets = RNG.normal(size=(2, 6, 1))
    bad_states = states.copy()
    bad_states[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"`states`.*index \(1, 4, 2\)"):
        readout.fit(bad_states, targets)
    bad_targets = targets.copy()
    bad_targets[0, 3, 0] = -np.inf
    bad_targets[1, 5, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN or inf.*index \(0, 3, 0\)"):
        readout.fit(states, bad_targets)
    assert not readout.built  # refused before any work
    # Where the fit does not read (the washout, the padding), they may be.
    mask = np.ones((2, 6), bool)
    mask[1, 4:] = False
    bad_targets[0, 3, 0] = targets[0, 3, 0]
    readout.fit(bad_states, bad_targets, washout=1, mask=mask)
    kernel, bias = lstsq_ridge(
        states[mask & (np.arange(6) >= 1)],
        targets[mask & (np.arange(6) >= 1)],
        1e-6,
        True,
    )
    for got, want in zip(float64_weights(readout), [kernel, bias]):
        np.testing.assert_allclose(got, want, atol=TOLERANCE)


@backend_free
def test_arguments_are_checked_before_any_work():
    for arguments, message in [
        ({"units": 0}, "units=0"),
        ({"units": 2, "ridge": -1.0}, "ridge=-1.0"),
        ({"units": 2, "ridge": float("nan")}, "ridge=nan"),
        ({"units": 2, "use_bias": 1}, "use_bias=1"),
    ]:
        with pytest.raises(ValueError, match=message):
            keras_recur.layers.RidgeReadout(**arguments)
    readout = keras_recur.layers.RidgeReadout(2)
    sequences = np.zeros((2, 5, 3))
    for states, targets, washout, message in [
        (np.zeros(5), np.zeros((5, 2)), 0, r"states.shape=\(5,\)"),
        (sequences, np.zeros((2, 5, 1)), 0, r"targets.shape=\(2, 5, 1\)"),
        (sequences, np.zeros((2, 5, 2)), 5, "washout=5"),
        (sequences, np.zeros((2, 5, 2)), -1, "washout=-1"),
        (np.zeros((5, 3)), np.zeros((5, 2)), 1, "washout=1"),
    ]:
        with pytest.raises(ValueError, match=message):
            readout.fit(states, targets, washout=washout)
    for mask in (np.ones((2, 4), bool), np.ones((2, 5))):
        with pytest.raises(ValueError, match=r"mask.shape=\(2, \d\)"):
            readout.fit(sequences, np.zeros((2, 5, 2)), mask=mask)
    all_padding = np.zeros((2, 5), bool)
    with pytest.raises(ValueError, match="0 of 10 entries True"):
        readout.fit(sequences, np.zeros((2, 5, 2)), mask=all_padding)
    assert not readout.built  # nothing was done
    readout.fit(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="built for 3 features"):
        readout.fit(np.ones((4, 5)), np.ones((4, 2)))
    dense_head = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="must end in a"):
        keras_recur.models.fit_readout(dense_head, np.ones((4, 3)), None)
