"""VRNN (Chung et al. 2015) and STORN against a NumPy transcription of the
paper's generative and inference equations with a GRU recurrence, its KL
term against the closed form's definition by Monte Carlo, its ELBO against
a Monte-Carlo estimate of log p(x, z) - log q(z | x), finite-difference
gradients, saving, seeded generation and bad arguments."""

import math

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur.models.vrnn import gaussian_kl
from tests import reference
from tests.testing import backend_free
from tests.testing import gradients
from tests.testing import numeric_partial
from tests.testing import randomize
from tests.testing import to_numpy

FEATURES, LATENT, UNITS, STEPS = 3, 2, 4, 5


def make_model(distribution="gaussian", prior="learned", seed=0):
    model = keras_recur.models.VRNN(
        keras_recur.GRUCell(UNITS),
        latent_dim=LATENT,
        feature_units=3,
        hidden_units=5,
        distribution=distribution,
        prior=prior,
        seed=seed,
    )
    model.build((None, None, FEATURES))
    randomize(model, np.random.default_rng(seed))
    return model


def papers_terms(model, x, noise, mask, values=None):
    """Chung et al. 2015, eqs. (5)-(10) with a GRU as f, step by step: the
    per-sequence KL and reconstruction terms, and the sampled log p(z_t |
    h_{t-1}) - log q(z_t | x_t, h_{t-1}) (for the Monte-Carlo check). The
    weights are the model's, or `values` (float64, in the order of its
    trainable variables)."""
    variables = model.trainable_variables
    if values is None:
        values = [np.asarray(v, np.float64) for v in variables]
    weight = {id(v): value for v, value in zip(variables, values)}

    def dense(layer, inputs, activation=None):
        y = inputs @ weight[id(layer.kernel)] + weight[id(layer.bias)]
        return np.tanh(y) if activation == "tanh" else y

    def mlp(network, inputs):
        return dense(network.out, dense(network.hidden, inputs, "tanh"))

    step = model.step_cell
    cell = model.cell
    gru = {
        "kernel": weight[id(cell.kernel)],
        "recurrent_kernel": weight[id(cell.recurrent_kernel)],
        "bias": weight[id(cell.bias)],
    }
    batch = x.shape[0]
    h = np.zeros((batch, UNITS))
    kl = np.zeros(batch)
    nll = np.zeros(batch)
    log_ratio = np.zeros(batch)
    for t in range(x.shape[1]):
        phi_x = dense(step.feature_x, x[:, t], "tanh")
        q = mlp(step.encoder, np.concatenate([phi_x, h], -1))
        mu_q, log_var_q = q[:, :LATENT], q[:, LATENT:]
        s_q = np.exp(0.5 * log_var_q)
        z = mu_q + s_q * noise[:, t]
        if model.prior == "learned":
            p = mlp(model.prior_network, h)
            mu_p, s_p = p[:, :LATENT], np.exp(0.5 * p[:, LATENT:])
        else:  # STORN: N(0, I)
            mu_p, s_p = np.zeros_like(mu_q), np.ones_like(s_q)
        # KL of two diagonal Gaussians, from its definition's closed form.
        kl_t = np.sum(
            np.log(s_p / s_q)
            + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2)
            - 0.5,
            axis=-1,
        )
        phi_z = dense(step.feature_z, z, "tanh")
        out = mlp(model.decoder, np.concatenate([phi_z, h], -1))
        if model.distribution == "bernoulli":
            prob = 1 / (1 + np.exp(-out))
            nll_t = -np.sum(
                x[:, t] * np.log(prob) + (1 - x[:, t]) * np.log(1 - prob), -1
            )
        else:
            mean, var = out[:, :FEATURES], np.exp(out[:, FEATURES:])
            nll_t = np.sum(
                0.5 * np.log(2 * np.pi * var)
                + (x[:, t] - mean) ** 2 / (2 * var),
                -1,
            )

        def log_normal(v, mu, s):
            return np.sum(
                -0.5 * ((v - mu) / s) ** 2
                - np.log(s)
                - 0.5 * math.log(2 * np.pi),
                -1,
            )

        ratio_t = log_normal(z, mu_p, s_p) - log_normal(z, mu_q, s_q)
        h_new = reference.gru_step(
            np.concatenate([phi_x, phi_z], -1), h, gru, reset_after=True
        )
        keep = mask[:, t]
        kl += np.where(keep, kl_t, 0.0)
        nll += np.where(keep, nll_t, 0.0)
        log_ratio += np.where(keep, ratio_t, 0.0)
        h = np.where(keep[:, None], h_new, h)
    return kl, nll, log_ratio


@pytest.mark.parametrize(
    "distribution, prior",
    [("gaussian", "learned"), ("bernoulli", "standard")],
)
def test_elbo_terms_match_the_papers_equations(distribution, prior):
    rng = np.random.default_rng(1)
    model = make_model(distribution, prior)
    x = rng.normal(size=(3, STEPS, FEATURES))
    if distribution == "bernoulli":
        x = (x > 0).astype("float64")
    noise = rng.normal(size=(3, STEPS, LATENT))
    mask = np.ones((3, STEPS), bool)
    mask[1, 3:] = False
    mask[2, 1:3] = False
    terms = model.elbo_terms(
        x.astype("float32"), mask=mask, noise=noise.astype("float32")
    )
    kl, nll, _ = papers_terms(model, x, noise, mask)
    np.testing.assert_allclose(to_numpy(terms["kl"]), kl, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(terms["reconstruction"]), nll, rtol=1e-4, atol=1e-4
    )
    # The loss fit minimises: the batch's mean negative ELBO.
    model(x.astype("float32"), mask=mask)
    assert len(model.losses) == 1


def test_elbo_against_a_monte_carlo_estimate():
    # E_q[log p(x | z, h) + log p(z | h) - log q(z | x, h)], estimated from
    # the log densities of the sampled z, against the model's ELBO with the
    # KL in closed form: the same expectation.
    rng = np.random.default_rng(2)
    model = make_model()
    draws = 4000
    x = np.repeat(rng.normal(size=(1, STEPS, FEATURES)), draws, axis=0)
    noise = rng.normal(size=(draws, STEPS, LATENT))
    mask = np.ones((draws, STEPS), bool)
    elbo = to_numpy(
        model.elbo(x.astype("float32"), noise=noise.astype("float32"))
    )
    _, nll, log_ratio = papers_terms(model, x, noise, mask)
    sampled = -nll + log_ratio
    error = 4 * sampled.std() / math.sqrt(draws)
    assert abs(elbo.mean() - sampled.mean()) < error
    # With the KL in closed form, the estimate varies less.
    assert elbo.std() < sampled.std()


@backend_free
def test_gaussian_kl_is_its_definition_by_monte_carlo():
    rng = np.random.default_rng(3)
    q_mean, q_log_var = np.array([0.3, -1.0]), np.array([-0.5, 0.4])
    p_mean, p_log_var = np.array([-0.2, 0.5]), np.array([0.2, -0.3])
    samples = q_mean + np.exp(0.5 * q_log_var) * rng.normal(size=(400000, 2))

    def log_density(v, mean, log_var):
        return np.sum(
            -0.5
            * (np.log(2 * np.pi) + log_var + (v - mean) ** 2 / np.exp(log_var)),
            -1,
        )

    monte_carlo = np.mean(
        log_density(samples, q_mean, q_log_var)
        - log_density(samples, p_mean, p_log_var)
    )
    got = to_numpy(
        gaussian_kl(
            *(
                keras.ops.convert_to_tensor(v, "float32")
                for v in (q_mean, q_log_var, p_mean, p_log_var)
            )
        )
    )
    np.testing.assert_allclose(got, monte_carlo, rtol=1e-2)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    model = make_model()
    x = rng.normal(size=(2, 3, FEATURES))
    noise = rng.normal(size=(2, 3, LATENT))
    mask = np.ones((2, 3), bool)
    variables = model.trainable_variables

    def loss():
        terms = model.elbo_terms(
            x.astype("float32"), noise=noise.astype("float32")
        )
        return keras.ops.sum(terms["kl"] + terms["reconstruction"])

    def reference_loss(values):
        kl, nll, _ = papers_terms(model, x, noise, mask, values)
        return np.sum(kl + nll)

    values = [np.asarray(v, np.float64) for v in variables]
    for index, got in enumerate(gradients(loss, variables)):
        # Central differences at four entries of every weight (all of them
        # would repeat the same check a few hundred times).
        flat = rng.choice(got.size, min(4, got.size), replace=False)
        for position in zip(*np.unravel_index(flat, got.shape)):
            want = numeric_partial(reference_loss, values, index, position)
            np.testing.assert_allclose(
                got[position],
                want,
                atol=2e-4,
                rtol=1e-3,
                err_msg=f"{variables[index].path}{position}",
            )


def test_saves_fits_and_generates_with_a_seed(tmp_path):
    rng = np.random.default_rng(5)
    model = make_model("bernoulli", seed=7)
    x = (rng.random((16, STEPS, FEATURES)) > 0.5).astype("float32")
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(x, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    noise = rng.normal(size=(2, STEPS, LATENT)).astype("float32")
    model.save(tmp_path / "vrnn.keras")
    loaded = keras.saving.load_model(tmp_path / "vrnn.keras")
    assert (loaded.distribution, loaded.prior, loaded.latent_dim) == (
        "bernoulli",
        "learned",
        LATENT,
    )
    np.testing.assert_allclose(
        to_numpy(loaded.elbo(x[:2], noise=noise)),
        to_numpy(model.elbo(x[:2], noise=noise)),
        rtol=1e-6,
    )
    first = to_numpy(model.generate(3, 6, seed=11))
    again = to_numpy(loaded.generate(3, 6, seed=11))
    np.testing.assert_array_equal(first, again)
    assert first.shape == (3, 6, FEATURES)
    assert set(np.unique(first)) <= {0.0, 1.0}
    means = to_numpy(model.generate(3, 6, seed=11, sample=False))
    assert ((means > 0) & (means < 1)).all()


# float16, where Keras scales the loss (bfloat16 differs in the compute
# dtype alone, which every layer's mixed-precision test covers).
@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_mixed_precision_computes_in_half_with_float32_weights(policy):
    rng = np.random.default_rng(9)
    model = make_model()
    x = rng.normal(size=(2, STEPS, FEATURES)).astype("float32")
    noise = rng.normal(size=(2, STEPS, LATENT)).astype("float32")
    want = to_numpy(model.elbo_terms(x, noise=noise)["kl"])
    keras.config.set_dtype_policy(policy)
    half = make_model()
    half.set_weights(model.get_weights())
    terms = half.elbo_terms(x, noise=noise)
    assert all(w.dtype == "float32" for w in half.weights)
    compute = policy.removeprefix("mixed_")
    assert keras.backend.standardize_dtype(terms["parameters"].dtype) == compute
    # Close to the float32 model's, at half precision's resolution.
    kl = to_numpy(terms["kl"]).astype("float64")
    np.testing.assert_allclose(kl, want, rtol=5e-2, atol=5e-2)
    # And it trains so (Keras scales the float16 loss).
    half.compile(keras.optimizers.Adam(1e-2))
    history = half.fit(x, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@backend_free
@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"latent_dim": 0}, ValueError, "latent_dim=0"),
        ({"distribution": "poisson"}, ValueError, "distribution='poisson'"),
        ({"prior": "flat"}, ValueError, "prior='flat'"),
        ({"feature_units": -1}, ValueError, "feature_units=-1"),
        (
            {"cell": keras_recur.GRUCell(4, dropout=0.1)},
            ValueError,
            "dropout=0.1",
        ),
        ({"cell": "gru"}, ValueError, "cell='gru'"),
    ],
)
def test_bad_arguments_are_named(arguments, error, message):
    arguments = {"cell": keras_recur.GRUCell(4), "latent_dim": 2, **arguments}
    with pytest.raises(error, match=message):
        keras_recur.models.VRNN(**arguments)


@backend_free
def test_noise_of_another_shape_is_refused_by_name():
    model = make_model()
    x = np.zeros((2, STEPS, FEATURES), "float32")
    for shape in [(2, STEPS - 1, LATENT), (2, STEPS, LATENT + 1), (2, STEPS)]:
        with pytest.raises(ValueError, match="`noise` must have the shape"):
            model.elbo_terms(x, noise=np.zeros(shape, "float32"))
