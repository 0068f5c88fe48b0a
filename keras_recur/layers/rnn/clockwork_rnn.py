"""Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber 2014)."""

import math

import keras
import numpy as np
from keras import activations
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.dense_gates_cell import dense_weights_config
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool
from keras_recur.validation import check_rate
from keras_recur.validation import resolve


def _checked_periods(units, periods):
    """`periods` as a tuple of increasing positive ints dividing `units`
    into equal modules; `None` is 1, 2, 4, ... for 8 modules, or fewer
    where `units` has no 8 equal parts."""
    if periods is None:
        count = max(g for g in range(1, 9) if units % g == 0)
        return tuple(2**i for i in range(count))
    try:
        periods = tuple(periods)
    except TypeError:
        periods = ()
    valid = (
        len(periods) > 0
        and all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool)
            for p in periods
        )
        and all(p > 0 for p in periods)
        and all(a < b for a, b in zip(periods, periods[1:]))
        and units % len(periods) == 0
    )
    if not valid:
        raise ValueError(
            "`periods` must be a non-empty increasing list of positive "
            "integers, one per module, whose count divides `units` "
            f"(units={units}). Received: periods={periods!r}"
        )
    return tuple(int(p) for p in periods)


@keras.saving.register_keras_serializable(package="keras_recur")
class ClockworkRNNCell(RecurrentCell):
    """Cell of the Clockwork RNN: a simple RNN whose units are split into
    `g` modules of `k = units / g` units, module `i` with its clock period
    `T_i` (increasing). At step `t` only the modules whose period divides
    `t` compute; the others keep their state:

    ```
    a_t = x_t W + h_{t-1} U + b
    h_t[i] = tanh(a_t[i])   where t mod T_i == 0,
    h_t[i] = h_{t-1}[i]     elsewhere,
    ```

    and `U` is block-triangular: module `i` reads the modules `j >= i`,
    itself and the slower ones, never a faster one. Only those blocks exist
    as weights (`recurrent_kernel_i`, of shape `((g - i) * k, k)`), so no
    training can fill a forbidden block, and the cell has the paper's
    parameter count: `input_dim * units + units` (bias) `+ k^2 g (g + 1) /
    2`.

    The step index `t` is the cell's second state, `clock`: the count of
    steps seen (masked steps do not count; with `stateful` it carries on
    from batch to batch), kept modulo the least common multiple of the
    periods, in every unit. `clock_origin` is the index of the first step:
    the published implementations disagree, 0 (every module computes at the
    first step) or 1 (only the period-1 module does). Kept in the compute
    dtype, the clock is exact while the periods' least common multiple is
    below 2,048 in float16 and 256 in bfloat16 (mixed precision).

    Args:
        units: Positive integer, dimensionality of the state, a multiple of
            the number of modules.
        activation: Default: `"tanh"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of each module's recurrent
            block. Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Regularizer of each recurrent block.
            Default: `None`.
        bias_regularizer: Default: `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Constraint of each recurrent block.
            Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Float in [0, 1), input dropout. Default: 0.
        recurrent_dropout: Float in [0, 1), dropout of `h_{t-1}`.
            Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        periods: The clock period of each module, increasing; their count
            divides `units`. Default: `None`, 1, 2, 4, ... for 8 modules
            (fewer where `units` has no 8 equal parts), as the paper's
            exponential series.
        clock_origin: 0 or 1, the index of the first step. Default: 0.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`, one step.
        states: `[h, clock]`, each `(batch, units)`.
        training: Whether dropout applies.

    Example:

    >>> cell = keras_recur.layers.ClockworkRNNCell(4, periods=[1, 2])
    >>> layer = keras.layers.RNN(cell, return_sequences=True)
    >>> outputs = layer(np.ones((1, 3, 2), "float32"))
    >>> cell.count_params()  # 2*4 inputs + 4 biases + 2*2 * 2*3/2
    24

    Reference:

    - Koutník, Greff, Gomez & Schmidhuber (2014). A clockwork RNN. ICML.
      <https://arxiv.org/abs/1402.3511>
    """

    state_count = 2  # h, and the clock

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        *,
        periods=None,
        clock_origin=0,
        **kwargs,
    ):
        check_bool("use_bias", use_bias)
        check_rate("dropout", dropout)
        check_rate("recurrent_dropout", recurrent_dropout)
        if clock_origin not in (0, 1) or isinstance(clock_origin, bool):
            raise ValueError(
                "`clock_origin` must be 0 or 1 (the index of the first "
                f"step). Received: clock_origin={clock_origin!r}"
            )
        activation = resolve("activation", activation)
        kernel_initializer = resolve("kernel_initializer", kernel_initializer)
        recurrent_initializer = resolve(
            "recurrent_initializer", recurrent_initializer
        )
        bias_initializer = resolve("bias_initializer", bias_initializer)
        kernel_regularizer = resolve("kernel_regularizer", kernel_regularizer)
        recurrent_regularizer = resolve(
            "recurrent_regularizer", recurrent_regularizer
        )
        bias_regularizer = resolve("bias_regularizer", bias_regularizer)
        kernel_constraint = resolve("kernel_constraint", kernel_constraint)
        recurrent_constraint = resolve(
            "recurrent_constraint", recurrent_constraint
        )
        bias_constraint = resolve("bias_constraint", bias_constraint)
        super().__init__(units, seed=seed, **kwargs)
        self.periods = _checked_periods(self.units, periods)
        self.clock_origin = clock_origin
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.module_size = self.units // len(self.periods)
        # The clock counts modulo this: every module's phase repeats.
        self.cycle = math.lcm(*self.periods)

    def build(self, input_shape):
        input_dim = feature_dim(input_shape)
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        k, g = self.module_size, len(self.periods)
        # Module i reads modules i, ..., g - 1: the rows of h from i * k.
        self.recurrent_kernels = [
            self.add_weight(
                shape=((g - i) * k, k),
                name=f"recurrent_kernel_{i}",
                initializer=self.recurrent_initializer,
                regularizer=self.recurrent_regularizer,
                constraint=self.recurrent_constraint,
            )
            for i in range(g)
        ]
        # Each unit's module period (a constant, made once).
        self.unit_periods = ops.convert_to_tensor(
            np.repeat(self.periods, k).astype("float32")
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def project_inputs(self, inputs):
        projected = backend.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.bias
        return projected

    def recurrent_step(self, projected, states, training=False):
        h_prev, clock = states
        h_read = self.recurrent_input(h_prev, training)
        k = self.module_size
        recurrent = ops.concatenate(
            [
                backend.matmul(h_read[:, i * k :], kernel)
                for i, kernel in enumerate(self.recurrent_kernels)
            ],
            axis=-1,
        )
        candidate = self.activation(projected + recurrent)
        period = ops.cast(self.unit_periods, clock.dtype)
        ticks = ops.equal(ops.mod(clock + self.clock_origin, period), 0)
        h = ops.where(ticks, candidate, h_prev)
        return h, [h, ops.mod(clock + 1, self.cycle)]

    def get_config(self):
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            **dense_weights_config(self),
            "periods": list(self.periods),
            "clock_origin": self.clock_origin,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class ClockworkRNN(RecurrentLayer):
    """Clockwork RNN layer (Koutník et al. 2014): a simple RNN in modules
    that compute at their own clock periods, slow modules feeding fast
    ones (see `ClockworkRNNCell` for the equations). Takes the cell's
    arguments and `RecurrentLayer`'s (Keras' RNN arguments); every cell
    argument reads on the layer (`layer.periods`). Its states are `[h,
    clock]`: `return_state` returns both, and `initial_state` takes both
    (a clock of zeros starts at `clock_origin`).

    Args:
        units: Positive integer, dimensionality of the state, a multiple of
            the number of modules.
        activation: Default: `"tanh"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        activity_regularizer: Regularizer of the layer's output.
            Default: `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Float in [0, 1), input dropout. Default: 0.
        recurrent_dropout: Float in [0, 1), dropout of `h_{t-1}`.
            Default: 0.
        return_sequences: Return the whole output sequence rather than the
            last output. Default: `False`.
        return_state: Also return the final states `[h, clock]`.
            Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed
            sequence. Default: `False`.
        stateful: Use each batch's final states (the clock too) as the next
            batch's initial states. Default: `False`.
        unroll: Unroll the loop (needs a fixed number of steps).
            Default: `False`.
        seed: Integer seed of the dropout masks. Default: `None`.
        use_cudnn: `"auto"` (default) and `False` run the general loop (no
            fused kernel serves this cell), so `True` raises a `ValueError`
            saying so.
        periods: The clock period of each module, increasing. Default:
            `None`, 1, 2, 4, ... for 8 modules.
        clock_origin: 0 or 1, the index of the first step. Default: 0.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`) and
            `zero_output_for_mask`.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the states, the clock too, are carried over).
        training: Whether dropout applies.
        initial_state: Optional list `[h, clock]` of `(batch, units)`
            tensors.

    Example:

    >>> layer = keras_recur.layers.ClockworkRNN(
    ...     8, periods=[1, 4], return_sequences=True
    ... )
    >>> outputs = layer(np.random.default_rng(0).normal(size=(1, 5, 2)))
    >>> slow = keras.ops.convert_to_numpy(outputs)[0, :, 4:]
    >>> bool((slow[1:4] == slow[0]).all())  # computed at t = 0 and 4 only
    True

    Reference:

    - Koutník, Greff, Gomez & Schmidhuber (2014). A clockwork RNN. ICML.
      <https://arxiv.org/abs/1402.3511>
    """

    cell_class = ClockworkRNNCell

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        use_cudnn="auto",
        *,
        periods=None,
        clock_origin=0,
        **kwargs,
    ):
        cell = ClockworkRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            periods=periods,
            clock_origin=clock_origin,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="clockwork_rnn_cell",
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
