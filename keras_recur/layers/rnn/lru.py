"""The Linear Recurrent Unit (Orvieto et al. 2023): a complex diagonal
linear recurrence with a real readout."""

import math

import keras
from keras import ops

from keras_recur import backend
from keras_recur.backend import pairs
from keras_recur.layers.rnn.linear_recurrent_cell import LinearRecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_positive_float
from keras_recur.validation import check_positive_int


def _check_radii(r_min, r_max):
    valid = all(
        isinstance(r, (int, float)) and not isinstance(r, bool)
        for r in (r_min, r_max)
    ) and (0.0 <= r_min < r_max <= 1.0)
    if not valid:
        raise ValueError(
            "`r_min` and `r_max` must satisfy 0 <= r_min < r_max <= 1 (the "
            "ring of eigenvalue moduli). "
            f"Received: r_min={r_min!r}, r_max={r_max!r}"
        )


def _constant(value):
    """An initializer giving `value` (drawn once, at build)."""
    return lambda shape, dtype=None: ops.cast(value, dtype)


@keras.saving.register_keras_serializable(package="keras_recur")
class LRUCell(LinearRecurrentCell):
    """Cell of the Linear Recurrent Unit, as the paper's Appendix A:

    ```
    Lambda = diag(exp(-exp(nu_log) + i exp(theta_log)))   (complex)
    gamma = exp(gamma_log)
    x_t = Lambda x_{t-1} + gamma * (u_t B)                 (complex state)
    y_t = Re(x_t C) + u_t D
    ```

    The state `x` has `state_dim` complex entries, held as two real
    tensors, so that the cell runs on every backend and in every dtype.
    Initialisation (Appendix A): the eigenvalues fill a ring, `|lambda|`
    uniform on `[r_min, r_max]` and phase uniform on `[0, max_phase]`;
    `gamma_log = log(sqrt(1 - |lambda|^2))` (trained too) keeps the
    state's scale; `B = (N(0, 1) + i N(0, 1)) / sqrt(2 features)`,
    `C = (N(0, 1) + i N(0, 1)) / sqrt(state_dim)`.

    Weights, in order: `nu_log`, `theta_log`, `gamma_log` (state_dim,);
    `B_re`, `B_im` (features, state_dim); `C_re`, `C_im`
    (state_dim, units); `D` (features, units). The paper's code takes
    inputs of the output's size and a diagonal `D ~ N(0, 1)`; here `D` is
    a dense skip from any number of features, drawn from
    `N(0, 1 / features)` (the same output variance), and equal to the
    paper's with `D = diag(d)`.

    States: `[y, x_re, x_im]`: the output comes first, as in every
    keras_recur cell (a masked step carries it, on every backend), then the
    complex state's real and imaginary parts.

    Args:
        units: Positive integer, dimensionality of the output `y`.
        state_dim: Positive integer, the number of complex state entries.
            Default: `None` (`units`).
        r_min: Smallest initial eigenvalue modulus, in [0, 1). Default: 0.
        r_max: Largest initial eigenvalue modulus, in (r_min, 1].
            Default: 1.
        max_phase: Positive float, largest initial eigenvalue phase.
            Default: `2 * pi`.
        dropout: Float in [0, 1): fraction of the inputs dropped, one mask
            per sequence. Default: 0.
        seed: Integer seed of the initialisation and the dropout masks.
            Default: `None`.
        scan: `"auto"`, `"parallel"` or `"sequential"`: how a whole sequence
            runs (see `MinGRUCell`). Default: `"auto"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[y, x_re, x_im]`: `(batch, units)`, then
            `(batch, state_dim)` twice.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.LRUCell(4, state_dim=8, r_min=0.9)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    >>> cell.state_size
    [4, 8, 8]

    Reference:

    - Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De (2023).
      Resurrecting recurrent neural networks for long sequences. ICML.
      <https://arxiv.org/abs/2303.06349>
    """

    # [y, x_re, x_im]
    state_count = 3
    complex_state = True
    fused_recurrence = LinearRecurrentCell.fused_linear_recurrence

    def __init__(
        self,
        units,
        state_dim=None,
        r_min=0.0,
        r_max=1.0,
        max_phase=2 * math.pi,
        dropout=0.0,
        seed=None,
        *,
        scan="auto",
        **kwargs,
    ):
        if state_dim is not None:
            check_positive_int("state_dim", state_dim)
        _check_radii(r_min, r_max)
        check_positive_float("max_phase", max_phase)
        super().__init__(units, dropout=dropout, seed=seed, scan=scan, **kwargs)
        self.state_dim = state_dim
        self.r_min = float(r_min)
        self.r_max = float(r_max)
        self.max_phase = float(max_phase)
        self.complex_units = self.units if state_dim is None else state_dim
        self.state_size = [self.units, self.complex_units, self.complex_units]

    def build(self, input_shape):
        features = feature_dim(input_shape)
        n = self.complex_units

        def weight(name, shape, initializer, autocast=True):
            return self.add_weight(
                shape=shape,
                name=name,
                initializer=initializer,
                autocast=autocast,
            )

        # Drawn from `seed` by a generator of their own, so that the
        # dropout masks (the cell's generator) do not depend on building.
        draws = keras.random.SeedGenerator(self.seed)
        # The ring: |lambda|^2 uniform on [r_min^2, r_max^2].
        u1 = keras.random.uniform((n,), seed=draws)
        u2 = keras.random.uniform((n,), seed=draws)
        squared = u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2
        nu_log = ops.log(-0.5 * ops.log(squared))
        theta_log = ops.log(self.max_phase * u2)
        modulus = ops.exp(-ops.exp(nu_log))
        gamma_log = ops.log(ops.sqrt(1.0 - modulus**2))
        # Read in their own dtype (float32) under a mixed policy: a modulus
        # of 0.998 is 1.0 in bfloat16, and that error compounds over the
        # steps. The recurrence accumulates in float32 too.
        self.nu_log = weight("nu_log", (n,), _constant(nu_log), autocast=False)
        self.theta_log = weight(
            "theta_log", (n,), _constant(theta_log), autocast=False
        )
        self.gamma_log = weight(
            "gamma_log", (n,), _constant(gamma_log), autocast=False
        )

        def normal(stddev):
            def draw(shape, dtype=None):
                return keras.random.normal(
                    shape, stddev=stddev, dtype=dtype, seed=draws
                )

            return draw

        b_scale = 1.0 / math.sqrt(2 * features)
        self.B_re = weight("B_re", (features, n), normal(b_scale))
        self.B_im = weight("B_im", (features, n), normal(b_scale))
        c_scale = 1.0 / math.sqrt(n)
        self.C_re = weight("C_re", (n, self.units), normal(c_scale))
        self.C_im = weight("C_im", (n, self.units), normal(c_scale))
        d_scale = 1.0 / math.sqrt(features)
        self.D = weight("D", (features, self.units), normal(d_scale))
        self.built = True

    def eigenvalues(self):
        """`Lambda`'s real and imaginary parts, (state_dim,) each, in the
        variables' dtype (float32 under a mixed policy)."""
        modulus = ops.exp(-ops.exp(self.nu_log))
        phase = ops.exp(self.theta_log)
        return modulus * ops.cos(phase), modulus * ops.sin(phase)

    def project_inputs(self, inputs):
        """`(gamma * (u B)_re, gamma * (u B)_im, u D)`, for any number of
        leading axes."""
        return (*self.state_inputs(inputs), self.feedthrough(inputs))

    def state_inputs(self, inputs):
        """`gamma * (u B)`: its real and imaginary parts."""
        # As `u (B diag(gamma))`: gamma scales the (features, state_dim)
        # weights rather than every step's product. (The weights as
        # tensors: Keras 3.16's nightly computes `variable * tensor` in
        # float32 whatever the variable's dtype, on PyTorch.)
        gamma = ops.cast(ops.exp(self.gamma_log), self.compute_dtype)
        return tuple(
            backend.matmul(inputs, ops.convert_to_tensor(weight) * gamma)
            for weight in (self.B_re, self.B_im)
        )

    def feedthrough(self, inputs):
        """`u D`."""
        return backend.matmul(inputs, self.D)

    def readout(self, x, inputs):
        """`y = Re(x C) + u D`, of the state pair `x` and the inputs `u`,
        for any number of leading axes."""
        return self.state_output(x) + self.feedthrough(inputs)

    def state_output(self, x):
        """`Re(x C)`."""
        x_re, x_im = x
        return backend.matmul(x_re, self.C_re) - backend.matmul(x_im, self.C_im)

    def recurrent_step(self, projected, states, training=False):
        bu_re, bu_im, skip = projected
        # The step computes in the eigenvalues' dtype (float32 under a
        # mixed policy) and carries its states in theirs (16 bits; the
        # layer's recurrence accumulates in float32).
        eigenvalues = self.eigenvalues()
        wide = eigenvalues[0].dtype
        new_re, new_im = pairs.add(
            pairs.multiply(
                eigenvalues,
                (ops.cast(states[1], wide), ops.cast(states[2], wide)),
            ),
            (ops.cast(bu_re, wide), ops.cast(bu_im, wide)),
        )
        new_re, new_im = (
            ops.cast(p, states[1].dtype) for p in (new_re, new_im)
        )
        y = self.state_output((new_re, new_im)) + skip
        return y, [y, new_re, new_im]

    def sequence_coefficients(self, inputs):
        """`(Lambda, gamma * (u B))`: constant eigenvalues, and the state
        inputs of every step; pairs."""
        return self.eigenvalues(), self.state_inputs(inputs)

    def recurrence_state(self, states):
        return (states[1], states[2])

    def get_config(self):
        return {
            **super().get_config(),
            "state_dim": self.state_dim,
            "r_min": self.r_min,
            "r_max": self.r_max,
            "max_phase": self.max_phase,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class LRU(RecurrentLayer):
    """Linear Recurrent Unit layer (Orvieto et al. 2023): a complex
    diagonal recurrence `x_t = Lambda x_{t-1} + gamma * (u_t B)` with the
    readout `y_t = Re(x_t C) + u_t D`, run over a whole sequence as one
    scan (see `LRUCell`).

    Takes `LRUCell`'s arguments and `RecurrentLayer`'s; every cell argument
    reads on the layer (`layer.r_min`). The paper stacks LRU layers with a
    nonlinear position-wise block (an MLP or GLU, with normalisation and a
    residual connection) in between, and trains with `r_min` close to 1
    (0.9 to 0.999) on long-range tasks. With `return_state`, the states
    are `[y, x_re, x_im]`.

    Args:
        units: Positive integer, dimensionality of the output.
        state_dim: Positive integer, the complex state's size.
            Default: `None` (`units`).
        r_min: Default: 0.
        r_max: Default: 1.
        max_phase: Default: `2 * pi`.
        dropout: Float in [0, 1): fraction of the inputs dropped.
            Default: 0.
        seed: Integer seed of the initialisation and dropout.
            Default: `None`.
        return_sequences: Return the whole output sequence rather than the
            last output. Default: `False`.
        return_state: Also return the final states. Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed
            sequence. Default: `False`.
        stateful: Use each batch's final states as the next batch's initial
            states (needs a fixed batch size). Default: `False`.
        unroll: Accepted for Keras' interface: the scan runs the whole
            sequence either way. Default: `False`.
        activity_regularizer: Regularizer of the layer's output.
            Default: `None`.
        scan: `"auto"`, `"parallel"` or `"sequential"`. Default: `"auto"`.
        use_cudnn: `"auto"` (default) and `True` run the whole-sequence
            scan; `False` the step-by-step loop.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`) and
            `zero_output_for_mask`.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the states are carried over).
        training: Whether dropout is applied.
        initial_state: Optional list `[y, x_re, x_im]`.

    Example:

    >>> y, y_last, x_re, x_im = keras_recur.layers.LRU(
    ...     8, state_dim=16, return_sequences=True, return_state=True
    ... )(np.zeros((2, 5, 3), "float32"))
    >>> tuple(y.shape), tuple(x_re.shape)
    ((2, 5, 8), (2, 16))

    Reference:

    - Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu & De (2023).
      Resurrecting recurrent neural networks for long sequences. ICML.
      <https://arxiv.org/abs/2303.06349>
    """

    cell_class = LRUCell

    def __init__(
        self,
        units,
        state_dim=None,
        r_min=0.0,
        r_max=1.0,
        max_phase=2 * math.pi,
        dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        *,
        scan="auto",
        use_cudnn="auto",
        **kwargs,
    ):
        cell = LRUCell(
            units,
            state_dim=state_dim,
            r_min=r_min,
            r_max=r_max,
            max_phase=max_phase,
            dropout=dropout,
            seed=seed,
            scan=scan,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lru_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            use_cudnn=use_cudnn,
            **kwargs,
        )
