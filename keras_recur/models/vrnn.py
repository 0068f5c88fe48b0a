"""The variational RNN (Chung et al. 2015) and STORN (Bayer & Osendorfer
2014): a recurrent network with a latent variable at every step, trained
on its evidence lower bound."""

import math

import keras
from keras import ops

from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.validation import check_one_of
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_seed
from keras_recur.validation import layer_argument
from keras_recur.validation import resolve

DISTRIBUTIONS = ("gaussian", "bernoulli")
PRIORS = ("learned", "standard")


def reparameterised(mean, log_var, noise):
    """The draw of `N(mean, exp(log_var))` that standard normal `noise`
    makes: differentiable in `mean` and `log_var`."""
    return mean + ops.exp(0.5 * log_var) * noise


class _MLP(keras.layers.Layer):
    """One hidden layer, then a linear output, on any number of leading
    axes (a step, or a whole sequence)."""

    def __init__(self, hidden_units, outputs, activation, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(hidden_units, activation=activation)
        self.out = keras.layers.Dense(outputs)

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.out.build((*input_shape[:-1], self.hidden.units))
        self.built = True

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def gaussian_kl(q_mean, q_log_var, p_mean, p_log_var):
    """KL(N(q_mean, exp(q_log_var)) || N(p_mean, exp(p_log_var))), summed
    over the last axis (diagonal Gaussians, closed form)."""
    return 0.5 * ops.sum(
        p_log_var
        - q_log_var
        + (ops.exp(q_log_var) + ops.square(q_mean - p_mean))
        / ops.exp(p_log_var)
        - 1.0,
        axis=-1,
    )


@keras.saving.register_keras_serializable(package="keras_recur")
class VRNNCell(RecurrentCell):
    """The recurrence of a `VRNN`: one step reads `[x_t, eps_t]` (the input
    and the standard normal noise of its latent sample) and `h_{t-1}`:

    ```
    phi_x = feature_x(x_t)
    mu_q, log var_q = encoder([phi_x, h_{t-1}])
    z_t = mu_q + exp(log var_q / 2) * eps_t
    h_t = cell([phi_x, feature_z(z_t)], states_{t-1})
    ```

    Its states and output are `cell`'s (`h_t` first). `VRNN` builds it;
    the noise comes in with the inputs so that the loop draws nothing.

    Args:
        cell: The recurrence `f`: a Keras RNN cell whose first state is its
            output (a keras_recur cell, `keras.layers.GRUCell`,
            `LSTMCell`, ...), without dropout.
        latent_dim: Positive integer, the size of `z_t`.
        feature_units: Positive integer, the width of `phi_x` and `phi_z`.
        hidden_units: Positive integer, the hidden width of the encoder.
        activation: Activation of the feature extractors and the hidden
            layer.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: `(batch, features + latent_dim)`: `x_t`, then `eps_t`.
        states: `cell`'s states.
        training: Passed to `cell`.

    Reference:

    - Chung, Kastner, Dinh, Goel, Courville & Bengio (2015). A Recurrent
      Latent Variable Model for Sequential Data. NeurIPS.
      <https://arxiv.org/abs/1506.02216>
    """

    def __init__(
        self,
        cell,
        latent_dim,
        feature_units,
        hidden_units,
        activation="tanh",
        **kwargs,
    ):
        cell = layer_argument("cell", cell, description="a Keras RNN cell")
        if not hasattr(cell, "state_size"):
            raise ValueError(
                "`cell` must be a Keras RNN cell (a layer with `state_size`)."
                f" Received: cell={cell!r}"
            )
        for argument in ("dropout", "recurrent_dropout"):
            if getattr(cell, argument, 0.0):
                raise ValueError(
                    f"`cell` must have no {argument}: the VRNN's loop draws "
                    f"no masks. Received: cell with {argument}="
                    f"{getattr(cell, argument)}"
                )
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("feature_units", feature_units)
        check_positive_int("hidden_units", hidden_units)
        activation = resolve("activation", activation)
        states = keras.tree.flatten(cell.state_size)
        super().__init__(states[0], **kwargs)
        self.cell = cell
        self.latent_dim = latent_dim
        self.feature_units = feature_units
        self.hidden_units = hidden_units
        self.activation = activation
        self.state_size = states
        self.feature_x = keras.layers.Dense(
            feature_units, activation=activation, name="feature_x"
        )
        self.feature_z = keras.layers.Dense(
            feature_units, activation=activation, name="feature_z"
        )
        self.encoder = _MLP(
            hidden_units, 2 * latent_dim, activation, name="encoder"
        )

    def build(self, input_shape):
        features = feature_dim(input_shape) - self.latent_dim
        self.feature_x.build((None, features))
        self.feature_z.build((None, self.latent_dim))
        self.encoder.build((None, self.feature_units + self.units))
        if not self.cell.built:  # (a cell loaded from a config comes built)
            self.cell.build((None, 2 * self.feature_units))
        self.built = True

    def posterior(self, phi_x, h_prev):
        """`(mu_q, log var_q)` of `q(z_t | x_t, h_{t-1})`."""
        moments = self.encoder(ops.concatenate([phi_x, h_prev], axis=-1))
        return ops.split(moments, 2, axis=-1)

    def latent_sample(self, phi_x, h_prev, noise):
        """`z_t` (reparameterised) and the posterior's moments."""
        mean, log_var = self.posterior(phi_x, h_prev)
        return reparameterised(mean, log_var, noise), mean, log_var

    def project_inputs(self, inputs):
        x, noise = (
            inputs[..., : -self.latent_dim],
            inputs[..., -self.latent_dim :],
        )
        return ops.concatenate([self.feature_x(x), noise], axis=-1)

    def recurrent_step(self, projected, states, training=False):
        phi_x = projected[..., : self.feature_units]
        noise = projected[..., self.feature_units :]
        z, _, _ = self.latent_sample(phi_x, states[0], noise)
        step_inputs = ops.concatenate([phi_x, self.feature_z(z)], axis=-1)
        output, new_states = self.cell(
            step_inputs, list(states), training=training
        )
        return output, keras.tree.flatten(new_states)

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        config.pop("seed")
        return {
            **config,
            "cell": keras.saving.serialize_keras_object(self.cell),
            "latent_dim": self.latent_dim,
            "feature_units": self.feature_units,
            "hidden_units": self.hidden_units,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="keras_recur")
class VRNN(keras.Model):
    """The variational RNN (Chung et al. 2015): a recurrent network with a
    latent variable `z_t` at every step, trained by maximising its evidence
    lower bound (ELBO) with the reparameterisation trick. With `h_{t-1}` the
    recurrence's output before step `t`:

    ```
    prior      p(z_t | h_{t-1}) = N(mu_0, var_0),
               [mu_0, log var_0] = prior(h_{t-1})
    posterior  q(z_t | x_t, h_{t-1}) = N(mu_q, var_q),
               [mu_q, log var_q] = encoder([phi_x(x_t), h_{t-1}])
    decoder    p(x_t | z_t, h_{t-1}) = decoder([phi_z(z_t), h_{t-1}])
    recurrence h_t = cell([phi_x(x_t), phi_z(z_t)], h_{t-1})
    ELBO = sum_t E_q[log p(x_t | z_t, h_{t-1})]
                 - KL(q(z_t | x_t, h_{t-1}) || p(z_t | h_{t-1}))
    ```

    `prior="standard"` fixes the prior to `N(0, I)` at every step: STORN
    (Bayer & Osendorfer 2014). The outputs are Gaussian (`distribution=
    "gaussian"`: a mean and a log-variance per feature) or Bernoulli
    (`"bernoulli"`: a logit per feature, for data in [0, 1]).

    Calling the model adds the negative ELBO of each sequence, averaged over
    the batch (one latent sample per step, the KL term in closed form), with
    `add_loss`: `compile(optimizer)` and `fit(x)` train it, with no
    targets. The call returns the decoder's mean of `x_t` (the
    probabilities for Bernoulli outputs). Masked steps (`mask`, `(batch,
    time)`) count in neither term and keep the recurrence's state.

    Args:
        cell: The recurrence `f`: a Keras RNN cell whose first state is its
            output (a keras_recur cell such as `keras_recur.GRUCell(64)`, or
            Keras' `GRUCell`, `LSTMCell`, ...), without dropout.
        latent_dim: Positive integer, the size of `z_t`.
        feature_units: Positive integer, the width of the feature
            extractors `phi_x` and `phi_z`. Default: 64.
        hidden_units: Positive integer, the hidden width of the prior, the
            encoder and the decoder (one hidden layer each). Default: 64.
        activation: Activation of the feature extractors and the hidden
            layers. Default: `"tanh"`.
        distribution: The outputs' distribution, `"gaussian"` or
            `"bernoulli"`. Default: `"gaussian"`.
        prior: `"learned"` (the VRNN's, from `h_{t-1}`) or `"standard"`
            (STORN's `N(0, I)`). Default: `"learned"`.
        seed: Integer seed of the latent samples (and of `generate` where
            it is given none). Default: `None`.
        **kwargs: Base model arguments (`name`, `trainable`).

    Call arguments:
        inputs: `(batch, time, features)`.
        mask: Optional boolean `(batch, time)`.
        training: Passed to the layers.

    Example:

    >>> vrnn = keras_recur.models.VRNN(
    ...     keras_recur.GRUCell(16),
    ...     latent_dim=4,
    ...     distribution="bernoulli",
    ...     seed=0,
    ... )
    >>> x = np.random.default_rng(0).random((8, 6, 3)) > 0.5
    >>> vrnn.compile(keras.optimizers.Adam(1e-2))
    >>> _ = vrnn.fit(x.astype("float32"), epochs=1, verbose=0)
    >>> tuple(vrnn.generate(2, steps=5).shape)
    (2, 5, 3)

    Reference:

    - Chung, Kastner, Dinh, Goel, Courville & Bengio (2015). A Recurrent
      Latent Variable Model for Sequential Data. NeurIPS.
      <https://arxiv.org/abs/1506.02216>
    - Bayer & Osendorfer (2014). Learning Stochastic Recurrent Networks.
      <https://arxiv.org/abs/1411.7610>
    """

    def __init__(
        self,
        cell,
        latent_dim,
        feature_units=64,
        hidden_units=64,
        activation="tanh",
        distribution="gaussian",
        prior="learned",
        seed=None,
        **kwargs,
    ):
        check_one_of("distribution", distribution, DISTRIBUTIONS)
        check_one_of("prior", prior, PRIORS)
        check_seed(seed)
        step = VRNNCell(
            cell, latent_dim, feature_units, hidden_units, activation
        )
        super().__init__(**kwargs)
        self.step_cell = step
        self.distribution = distribution
        self.prior = prior
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # The output (one mean per step) keeps the input's mask.
        self.supports_masking = True
        self.recurrence = RecurrentLayer(step, return_sequences=True)
        self.prior_network = None
        if prior == "learned":
            self.prior_network = _MLP(
                hidden_units, 2 * latent_dim, activation, name="prior"
            )
        self.decoder = None  # built with the feature count

    @property
    def cell(self):
        return self.step_cell.cell

    @property
    def latent_dim(self):
        return self.step_cell.latent_dim

    @property
    def feature_units(self):
        return self.step_cell.feature_units

    @property
    def hidden_units(self):
        return self.step_cell.hidden_units

    @property
    def activation(self):
        return self.step_cell.activation

    def build(self, input_shape):
        features = input_shape[-1]
        units = self.step_cell.units
        self.recurrence.build(
            (input_shape[0], input_shape[1], features + self.latent_dim)
        )
        if self.prior_network is not None:
            self.prior_network.build((None, units))
        parameters = 2 if self.distribution == "gaussian" else 1
        self.decoder = _MLP(
            self.hidden_units,
            parameters * features,
            self.activation,
            name="decoder",
        )
        self.decoder.build((None, self.feature_units + units))
        self.built = True

    def prior_moments(self, h_prev):
        """`(mu_0, log var_0)` of `p(z_t | h_{t-1})`: zeros for STORN."""
        if self.prior_network is None:
            zeros = ops.zeros(
                (*ops.shape(h_prev)[:-1], self.latent_dim), h_prev.dtype
            )
            return zeros, zeros
        return ops.split(self.prior_network(h_prev), 2, axis=-1)

    def decode(self, z, h_prev):
        """The decoder's parameters of `p(x_t | z_t, h_{t-1})`: the mean and
        the log-variance (Gaussian), or the logits (Bernoulli)."""
        return self.decoder(
            ops.concatenate([self.step_cell.feature_z(z), h_prev], axis=-1)
        )

    def negative_log_likelihood(self, x, parameters):
        """`-log p(x_t | ...)` of each step, summed over the features."""
        if self.distribution == "bernoulli":
            return ops.sum(
                ops.relu(parameters)
                - parameters * x
                + ops.log1p(ops.exp(-ops.abs(parameters))),
                axis=-1,
            )
        mean, log_var = ops.split(parameters, 2, axis=-1)
        return 0.5 * ops.sum(
            math.log(2 * math.pi)
            + log_var
            + ops.square(x - mean) / ops.exp(log_var),
            axis=-1,
        )

    def elbo_terms(self, inputs, mask=None, noise=None, training=False):
        """The two terms of each sequence's negative ELBO, `{"kl": ...,
        "reconstruction": ...}`, each `(batch,)`: the sum over the unmasked
        steps of `KL(q || p)` and of `-log p(x_t | z_t, h_{t-1})`, with one
        latent sample per step from `noise` (`(batch, time, latent_dim)`,
        standard normal; drawn from the model's seed generator when
        `None`). Also returns the decoder's parameters, `"parameters"`."""
        inputs = ops.convert_to_tensor(inputs, self.compute_dtype)
        if noise is None:
            noise = keras.random.normal(
                (*ops.shape(inputs)[:2], self.latent_dim),
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        noise = ops.convert_to_tensor(noise, inputs.dtype)
        want = (*tuple(inputs.shape)[:2], self.latent_dim)
        got = tuple(noise.shape)
        if len(got) != 3 or any(
            None not in (g, w) and g != w for g, w in zip(got, want)
        ):
            raise ValueError(
                "`noise` must have the shape (batch, time, latent_dim) of the "
                f"inputs and the model, {want}. Received: noise with shape "
                f"{got}"
            )
        outputs = self.recurrence(
            ops.concatenate([inputs, noise], axis=-1),
            mask=mask,
            training=training,
        )
        # h_{t-1} of every step: the initial zeros, then the outputs.
        h_prev = ops.concatenate(
            [ops.zeros_like(outputs[:, :1]), outputs[:, :-1]], axis=1
        )
        phi_x = self.step_cell.feature_x(inputs)
        z, q_mean, q_log_var = self.step_cell.latent_sample(
            phi_x, h_prev, noise
        )
        p_mean, p_log_var = self.prior_moments(h_prev)
        kl = gaussian_kl(q_mean, q_log_var, p_mean, p_log_var)
        parameters = self.decode(z, h_prev)
        reconstruction = self.negative_log_likelihood(inputs, parameters)
        if mask is not None:
            weights = ops.cast(mask, kl.dtype)
            kl, reconstruction = kl * weights, reconstruction * weights
        return {
            "kl": ops.sum(kl, axis=1),
            "reconstruction": ops.sum(reconstruction, axis=1),
            "parameters": parameters,
        }

    def elbo(self, inputs, mask=None, noise=None):
        """Each sequence's ELBO, `(batch,)` (one latent sample per step)."""
        terms = self.elbo_terms(inputs, mask, noise)
        return -(terms["kl"] + terms["reconstruction"])

    def call(self, inputs, mask=None, training=False):
        terms = self.elbo_terms(inputs, mask, training=training)
        self.add_loss(ops.mean(terms["kl"] + terms["reconstruction"]))
        return self.mean_of(terms["parameters"])

    def mean_of(self, parameters):
        """The decoder's mean of `x_t`."""
        if self.distribution == "bernoulli":
            return ops.sigmoid(parameters)
        return ops.split(parameters, 2, axis=-1)[0]

    def generate(self, count, steps, seed=None, sample=True):
        """`count` sequences of `steps` steps drawn from the model: at each
        step `z_t` from the prior, `x_t` from the decoder (its mean where
        `sample` is False), then the recurrence. Returns `(count, steps,
        features)`.

        Args:
            count: Positive integer, the number of sequences.
            steps: Positive integer, their length.
            seed: Integer seed of the draws; `None` draws from the model's
                seed generator.
            sample: Whether `x_t` is drawn (else the decoder's mean).
        """
        check_positive_int("count", count)
        check_positive_int("steps", steps)
        if not self.built:
            raise ValueError(
                "`generate` needs a built model (call it or fit it first)."
            )
        generator = self.seed_generator
        if seed is not None:
            check_seed(seed)
            generator = keras.random.SeedGenerator(seed)
        states = self.step_cell.get_initial_state(count)
        sequence = []
        for _ in range(steps):
            h_prev = states[0]
            mean, log_var = self.prior_moments(h_prev)
            noise = keras.random.normal(
                ops.shape(mean), dtype=mean.dtype, seed=generator
            )
            z = reparameterised(mean, log_var, noise)
            parameters = self.decode(z, h_prev)
            x = self.mean_of(parameters)
            if sample and self.distribution == "bernoulli":
                uniform = keras.random.uniform(
                    ops.shape(x), dtype=x.dtype, seed=generator
                )
                x = ops.cast(uniform < x, x.dtype)
            elif sample:
                log_var_x = ops.split(parameters, 2, axis=-1)[1]
                x = reparameterised(
                    x,
                    log_var_x,
                    keras.random.normal(
                        ops.shape(x), dtype=x.dtype, seed=generator
                    ),
                )
            sequence.append(x)
            step_inputs = ops.concatenate(
                [self.step_cell.feature_x(x), self.step_cell.feature_z(z)],
                axis=-1,
            )
            _, states = self.cell(step_inputs, states)
            states = keras.tree.flatten(states)
        return ops.stack(sequence, axis=1)

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "latent_dim": self.latent_dim,
            "feature_units": self.feature_units,
            "hidden_units": self.hidden_units,
            "activation": keras.activations.serialize(self.activation),
            "distribution": self.distribution,
            "prior": self.prior,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
