"""HessianFree against references nobody here wrote: the Gauss-Newton
product against explicit Jacobians (central differences of a NumPy
transcription of the network, float64) and against the `hessianfree`
package's; conjugate gradient against Nocedal & Wright's Algorithm 5.2 in
NumPy; the damping schedule against Martens' rule; one step on a linear
least-squares problem against `numpy.linalg.lstsq`."""

import json
import math

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur.training import HessianFree
from keras_recur.training import adjusted_damping
from keras_recur.training import conjugate_gradient
from tests import testing

STEPS, FEATURES, UNITS, BATCH = 4, 2, 3, 5


def recurrent_model():
    inputs = keras.Input((STEPS, FEATURES))
    hidden = keras.layers.SimpleRNN(UNITS, return_sequences=True)(inputs)
    outputs = keras.layers.Dense(2)(hidden[:, -1])
    return keras.Model(inputs, outputs)


def numpy_network(flat):
    """The model above in float64 NumPy: (its outputs, its hidden states)
    for the flat vector of its weights, in Keras' order and layout."""
    sizes = [
        (FEATURES, UNITS),
        (UNITS, UNITS),
        (UNITS,),
        (UNITS, 2),
        (2,),
    ]
    weights, start = [], 0
    for shape in sizes:
        size = math.prod(shape)
        weights.append(flat[start : start + size].reshape(shape))
        start += size
    kernel, recurrent, bias, dense, dense_bias = weights

    def run(x):
        h = np.zeros((x.shape[0], UNITS))
        states = []
        for t in range(STEPS):
            h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
            states.append(h)
        return h @ dense + dense_bias, np.stack(states, axis=1)

    return run


def jacobian(function, flat, epsilon=1e-6):
    columns = []
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = epsilon
        columns.append(
            (function(flat + step) - function(flat - step)).ravel()
            / (2 * epsilon)
        )
    return np.stack(columns, axis=1)


def flat_weights(model):
    return np.concatenate(
        [np.asarray(v, np.float64).ravel() for v in model.get_weights()]
    )


def as_variables(model, flat):
    pieces, start = [], 0
    for v in model.trainable_variables:
        size = math.prod(v.shape)
        pieces.append(flat[start : start + size].reshape(v.shape))
        start += size
    return [p.astype("float32") for p in pieces]


def test_curvature_product_against_explicit_jacobians():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, 2)).astype("float32")
    model = recurrent_model()
    mu, damping = 0.3, 0.7
    trainer = HessianFree(model, damping=damping, structural_damping=mu)
    trainer.compile(loss="mse")
    flat = flat_weights(model)
    vector = rng.normal(size=flat.size)
    x64 = x.astype(np.float64)
    outputs_jacobian = jacobian(lambda w: numpy_network(w)(x64)[0], flat)
    hidden_jacobian = jacobian(lambda w: numpy_network(w)(x64)[1], flat)
    # Keras' mean squared error: the mean over batch and outputs, so its
    # Hessian at the outputs is 2 / (batch * outputs) times the identity.
    gauss_newton = outputs_jacobian.T @ outputs_jacobian * 2 / (BATCH * 2)
    structural = hidden_jacobian.T @ hidden_jacobian / BATCH
    want = (gauss_newton + damping * mu * structural) @ vector + (
        damping * vector
    )
    got = trainer.curvature_product(x, y, as_variables(model, vector))
    got = np.concatenate([np.asarray(g).ravel() for g in got])
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    # Damping 0: the Gauss-Newton product alone.
    got = trainer.curvature_product(
        x, y, as_variables(model, vector), damping=0.0
    )
    got = np.concatenate([np.asarray(g).ravel() for g in got])
    np.testing.assert_allclose(got, gauss_newton @ vector, rtol=2e-4, atol=2e-5)


def test_curvature_product_matches_the_hessianfree_package():
    import hessianfree  # tox installs it in every backend's environment

    rng = np.random.default_rng(1)
    network = hessianfree.FFNet(
        [3, 4, 2],
        layers=[
            hessianfree.nl.Linear(),
            hessianfree.nl.Tanh(),
            hessianfree.nl.Linear(),
        ],
        loss_type=hessianfree.loss_funcs.SquaredError(),
    )
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    # The package's layout: each connection's weights (in, out) row-major,
    # then its biases; Keras' Dense is laid out alike.
    model.set_weights(as_variables(model, network.W.astype(np.float64)))
    x = rng.normal(size=(6, 3)).astype("float32")
    y = rng.normal(size=(6, 2)).astype("float32")
    network.cache_minibatch(x, y)
    vector = rng.normal(size=network.W.size).astype("float32")
    want = network.calc_G(vector, damping=0.25)

    def half_squared_error(y_true, y_pred):  # the package's loss
        return 0.5 * keras.ops.sum((y_pred - y_true) ** 2, axis=-1)

    trainer = HessianFree(model)
    trainer.compile(loss=half_squared_error)
    got = trainer.curvature_product(
        x, y, as_variables(model, vector), damping=0.25
    )
    got = np.concatenate([np.asarray(g).ravel() for g in got])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def nocedal_wright_cg(matrix, gradient, initial, iterations):
    """Nocedal & Wright, Numerical Optimization, Algorithm 5.2, on
    `matrix @ x = -gradient`: the iterates x_1 ... x_iterations."""
    x = initial.copy()
    r = matrix @ x + gradient
    p = -r
    iterates = []
    for _ in range(iterations):
        alpha = (r @ r) / (p @ matrix @ p)
        x = x + alpha * p
        r_next = r + alpha * matrix @ p
        beta = (r_next @ r_next) / (r @ r)
        p = -r_next + beta * p
        r = r_next
        iterates.append(x)
    return iterates


@testing.backend_free
def test_conjugate_gradient_against_nocedal_and_wright():
    rng = np.random.default_rng(2)
    size = 40
    basis = np.linalg.qr(rng.normal(size=(size, size)))[0]
    # Spread eigenvalues: CG needs many iterations.
    matrix = basis @ np.diag(np.geomspace(0.1, 10.0, size)) @ basis.T
    gradient = rng.normal(size=size)
    initial = 0.1 * rng.normal(size=size)

    def product(vector):
        return [
            keras.ops.convert_to_tensor(
                matrix @ np.asarray(vector[0]), "float64"
            )
        ]

    def run(max_iterations, tolerance):
        return conjugate_gradient(
            product,
            [keras.ops.convert_to_tensor(gradient, "float64")],
            [keras.ops.convert_to_tensor(initial, "float64")],
            max_iterations,
            tolerance,
        )

    want = nocedal_wright_cg(matrix, gradient, initial, 30)
    kept = run(30, tolerance=1e-12)
    # The iterates kept for backtracking: at ceil(1.3 ** j), and the last.
    assert [i for i, _ in kept] == [1, 2, 3, 4, 5, 7, 9, 11, 14, 18, 24, 30]
    # (Two transcriptions of CG part in rounding as they converge: the
    # early iterates agree to rounding, the later ones to CG's accuracy.)
    for i, solution in kept:
        np.testing.assert_allclose(
            np.asarray(solution[0]),
            want[i - 1],
            rtol=1e-7 if i <= 11 else 1e-3,
            atol=1e-9 if i <= 11 else 1e-4,
        )
    np.testing.assert_allclose(
        np.asarray(run(200, tolerance=1e-12)[-1][1][0]),
        np.linalg.solve(matrix, -gradient),
        rtol=1e-6,
    )

    # Martens' stopping rule, computed here from the NumPy iterates: stop
    # at the first i > k = max(10, int(0.1 i)) with q_i < 0 and
    # (q_i - q_{i-k}) / q_i < k * epsilon.
    def q(x):
        return gradient @ x + 0.5 * x @ matrix @ x

    epsilon = 5e-4
    want = nocedal_wright_cg(matrix, gradient, initial, 250)
    values = [q(initial)] + [q(x) for x in want]
    stop = next(
        i
        for i in range(1, 251)
        if i > max(10, int(0.1 * i))
        and values[i] < 0
        and (values[i] - values[i - max(10, int(0.1 * i))]) / values[i]
        < max(10, int(0.1 * i)) * epsilon
    )
    kept = run(250, tolerance=epsilon)
    assert kept[-1][0] == stop < 250
    np.testing.assert_allclose(
        np.asarray(kept[-1][1][0]), want[stop - 1], rtol=1e-3, atol=1e-4
    )


@testing.backend_free
def test_damping_follows_martens_schedule():
    # Martens (2010), 4.1: lambda * 3/2 if rho < 1/4, * 2/3 if rho > 3/4.
    assert adjusted_damping(1.0, 0.1) == 1.5
    assert adjusted_damping(1.0, -3.0) == 1.5
    assert adjusted_damping(1.0, 0.5) == 1.0
    assert adjusted_damping(1.0, 0.25) == 1.0
    assert adjusted_damping(1.0, 0.75) == 1.0
    assert adjusted_damping(3.0, 0.9) == pytest.approx(2.0)


def test_a_step_solves_linear_least_squares():
    # With a linear model and squared error the Gauss-Newton matrix is the
    # Hessian and the quadratic model exact: one step, with little damping
    # and enough CG iterations, lands on the least-squares solution.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2)) + 0.1 * rng.normal(size=(64, 2))).astype(
        "float32"
    )
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    trainer = HessianFree(model, damping=1e-6, max_cg_iterations=50)
    trainer.compile(loss="mse")
    history = trainer.fit(x, y, batch_size=64, epochs=1, verbose=0)
    design = np.concatenate([x, np.ones((64, 1))], axis=1).astype(np.float64)
    solution = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0]
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, solution[:5], atol=2e-4)
    np.testing.assert_allclose(bias, solution[5], atol=2e-4)
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 1
    assert history.history["loss"][0] > 2 * float(
        np.mean((design @ solution - y) ** 2)
    )
    # A near-exact quadratic model: the damping falls.
    assert trainer.damping == pytest.approx(1e-6 * 2 / 3)


def test_fit_trains_a_recurrent_network_with_structural_damping():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(256, STEPS, FEATURES)).astype("float32")
    y = np.stack(
        [x[:, 0, 0] - x[:, -1, 1], x[:, 1:, 0].mean(axis=1)], axis=1
    ).astype("float32")
    model = recurrent_model()
    trainer = HessianFree(model, structural_damping=0.3, max_cg_iterations=60)
    trainer.compile(loss="mse", metrics=["mae"])
    history = trainer.fit(
        x,
        y,
        batch_size=128,
        epochs=4,
        validation_data=(x[:64], y[:64]),
        verbose=0,
    )
    losses = history.history["loss"]
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert losses[-1] < 0.2 * losses[0]
    # The wrapped model is what was trained, and it evaluates alike.
    model.compile(loss="mse")
    np.testing.assert_allclose(
        model.evaluate(x[:64], y[:64], verbose=0),
        history.history["val_loss"][-1],
        rtol=1e-4,
    )
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 8


@testing.backend_free
@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(damping=0.0), "Received: damping=0.0"),
        (dict(structural_damping=-1.0), "Received: structural_damping=-1.0"),
        (dict(max_cg_iterations=0), "Received: max_cg_iterations=0"),
        (dict(cg_tolerance=0.0), "Received: cg_tolerance=0.0"),
        (dict(warm_start_decay=1.5), "Received: warm_start_decay=1.5"),
        (dict(curvature_batch_size=0), "Received: curvature_batch_size=0"),
        (dict(hidden_layers=["rnn"]), "structural_damping=0"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        HessianFree(recurrent_model(), **arguments)


@testing.backend_free
def test_models_it_cannot_train_are_refused_by_name():
    with pytest.raises(ValueError, match="must be built"):
        HessianFree(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="losses of its own"):
        HessianFree(
            keras.Sequential(
                [
                    keras.Input((2,)),
                    keras.layers.Dense(1, kernel_regularizer="l2"),
                ]
            )
        )
    inputs = keras.Input((3, 1))
    last = keras.layers.SimpleRNN(2, name="last_only")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(last))
    with pytest.raises(ValueError, match="'last_only' must return sequences"):
        HessianFree(model, structural_damping=0.1)
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="no keras.layers.RNN"):
        HessianFree(dense, structural_damping=0.1)


@testing.backend_free
def test_config_round_trip():
    trainer = HessianFree(
        recurrent_model(),
        damping=0.5,
        structural_damping=0.2,
        max_cg_iterations=30,
        curvature_batch_size=8,
    )
    config = trainer.get_config()
    rebuilt = HessianFree.from_config(config)
    assert json.dumps(rebuilt.get_config()["model"]) == json.dumps(
        config["model"]
    )
    for name in (
        "damping",
        "structural_damping",
        "hidden_layers",
        "max_cg_iterations",
        "cg_tolerance",
        "warm_start_decay",
        "curvature_batch_size",
    ):
        assert getattr(rebuilt, name) == getattr(trainer, name), name
    assert rebuilt.hidden_layers == [trainer.model.layers[1].name]


# One cell per path a backend takes that first-order training does not
# (PyTorch's fused GRU and LSTM, the linear recurrences' hand-written
# gradients, the custom gradient of MinLSTM's gate, complex pairs): each
# must let the Gauss-Newton product through.
@pytest.mark.parametrize("cell", ["GRU", "PeepholeLSTM", "MinLSTM", "LRU"])
def test_curvature_of_keras_recur_cells_against_finite_differences(cell):
    # For squared error, v.G.v = 2 / (batch * outputs) * |J v|^2, and J v is
    # the directional derivative of the predictions.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, 2)).astype("float32")
    inputs = keras.Input((STEPS, FEATURES))
    layer = getattr(keras_recur.layers, cell)(UNITS, return_sequences=True)
    outputs = keras.layers.Dense(2)(layer(inputs)[:, -1])
    model = keras.Model(inputs, outputs)
    trainer = HessianFree(model, structural_damping=0.1)
    trainer.compile(loss="mse")
    weights = model.get_weights()
    vector = [rng.normal(size=w.shape).astype("float32") for w in weights]
    got = trainer.curvature_product(x, y, vector, damping=0.0)
    quadratic = sum(
        float(np.sum(np.asarray(g) * v)) for g, v in zip(got, vector)
    )

    def predictions(scale):
        model.set_weights([w + scale * v for w, v in zip(weights, vector)])
        return np.asarray(model.predict(x, verbose=0), np.float64)

    epsilon = 1e-2
    directional = (predictions(epsilon) - predictions(-epsilon)) / (2 * epsilon)
    want = 2 / y.size * np.sum(directional**2)
    np.testing.assert_allclose(quadratic, want, rtol=1e-2)
