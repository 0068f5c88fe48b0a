"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016), as TF-Addons'."""

import keras
from keras import initializers
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_positive_float
from keras_recur.validation import resolve

# The normalised quantities, in TF-Addons' weight order, and their widths in
# units: the input and recurrent projections of all four gates, the cell
# state.
NORMS = (("kernel_norm", 4), ("recurrent_norm", 4), ("state_norm", 1))
# A row whose variance is at most this times `norm_epsilon` has no spread to
# normalise (an all-zero window makes every norm's input a zero vector):
# it normalises as usual (to beta, within 0.1% of gamma) but passes no
# gradient to its input. LN's slope there is gamma / sqrt(epsilon), about
# 32 per norm and step, which compounds until the gradient overflows.
NO_SPREAD = 1e-6


@keras.saving.register_keras_serializable(package="keras_recur")
class LayerNormLSTMCell(LSTMCellBase):
    """Cell of the layer-normalised LSTM, weight-compatible with TF-Addons'.

    Layer normalisation `LN(z) = gamma * (z - mean(z)) / sqrt(var(z) + eps)
    + beta` of the input projection and of the recurrent projection (each
    over its four gate blocks together, as in the paper and
    `tfa.rnn.LayerNormLSTMCell`), and of the new cell state, which is
    carried normalised:

    ```
    z = LN_kernel(x W) + LN_recurrent(h_{t-1} U) + b
    i, f, g, o = sigma(z_i), sigma(z_f), tanh(z_g), sigma(z_o)
    c_t = LN_state(f * c_{t-1} + i * g)
    h_t = o * tanh(c_t)
    ```

    Weights, in order: `kernel` (input_dim, 4 * units) with gate blocks
    `[i, f, c, o]`, `recurrent_kernel` (units, 4 * units), `bias`
    (4 * units,), then the gain and shift of each norm: `kernel_norm_gamma`,
    `kernel_norm_beta` (4 * units,), `recurrent_norm_gamma`,
    `recurrent_norm_beta` (4 * units,), `state_norm_gamma`,
    `state_norm_beta` (units,): the order and shapes of
    `tfa.rnn.LayerNormLSTMCell`, so its `get_weights()` load with
    `set_weights`. The norms need every step's recurrent projection, so no
    fused LSTM kernel computes this cell: it runs the general loop.

    A norm whose input has no spread (variance at most `1e-6 *
    norm_epsilon`, as when an all-zero window leaves `h = c = 0`) gives
    the same value as TF-Addons' and passes no gradient to that input (its
    gain and shift still learn): LN's slope there,
    `gamma / sqrt(norm_epsilon)` per norm and step, would otherwise compound
    over the steps until the gradient overflows.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: If `True`, the forget gate's bias block starts at
            one. Default: `True`.
        kernel_regularizer: Regularizer of the input kernel. Default: `None`.
        recurrent_regularizer: Regularizer of the recurrent kernel.
            Default: `None`.
        bias_regularizer: Regularizer of the bias. Default: `None`.
        kernel_constraint: Constraint of the input kernel. Default: `None`.
        recurrent_constraint: Constraint of the recurrent kernel.
            Default: `None`.
        bias_constraint: Constraint of the bias. Default: `None`.
        dropout: Fraction of the inputs dropped, in [0, 1). Default: 0.
        recurrent_dropout: Fraction of `h_{t-1}` dropped before the recurrent
            matmul, in [0, 1). Default: 0.
        norm_gamma_initializer: Initializer of the three gains.
            Default: `"ones"`.
        norm_beta_initializer: Initializer of the three shifts.
            Default: `"zeros"`.
        norm_epsilon: Positive float added to the variance. Default: 1e-3
            (TF-Addons' default).
        seed: Integer seed of the dropout masks. Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h, c]`, each `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.LayerNormLSTMCell(4)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    >>> [w.name for w in cell.weights][3:5]
    ['kernel_norm_gamma', 'kernel_norm_beta']

    Reference:

    - Ba, Kiros & Hinton (2016). Layer normalization.
      <https://arxiv.org/abs/1607.06450>
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        **kwargs,
    ):
        check_positive_float("norm_epsilon", norm_epsilon)
        norm_gamma_initializer = resolve(
            "norm_gamma_initializer", norm_gamma_initializer
        )
        norm_beta_initializer = resolve(
            "norm_beta_initializer", norm_beta_initializer
        )
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            **kwargs,
        )
        self.norm_gamma_initializer = norm_gamma_initializer
        self.norm_beta_initializer = norm_beta_initializer
        self.norm_epsilon = float(norm_epsilon)

    def build_extra_weights(self):
        for norm, blocks in NORMS:
            for part, initializer in (
                ("gamma", self.norm_gamma_initializer),
                ("beta", self.norm_beta_initializer),
            ):
                name = f"{norm}_{part}"
                weight = self.add_weight(
                    shape=(blocks * self.units,),
                    name=name,
                    initializer=initializer,
                )
                setattr(self, name, weight)

    def normalize(self, z, norm):
        """`LN_norm(z)` over the last axis, computed in float32 at least
        (in float64 for a float64 layer); a row with no spread passes no
        gradient to `z` (see NO_SPREAD), its gain and shift theirs."""
        spread = ops.var(
            ops.cast(ops.stop_gradient(z), "float32"),
            axis=-1,
            keepdims=True,
        )
        flat = spread <= NO_SPREAD * self.norm_epsilon
        return backend.layer_normalization(
            ops.where(flat, ops.stop_gradient(z), z),
            getattr(self, f"{norm}_gamma"),
            getattr(self, f"{norm}_beta"),
            self.norm_epsilon,
        )

    def project_inputs(self, inputs):
        """`LN_kernel(x W) + b`: the part of `z` known before the loop."""
        projected = self.normalize(
            backend.matmul(inputs, self.kernel), "kernel_norm"
        )
        if self.use_bias:
            projected = projected + self.bias
        return projected

    def recurrent_step(self, projected, states, training=False):
        h_prev, c_prev = states
        recurrent = backend.matmul(
            self.recurrent_input(h_prev, training), self.recurrent_kernel
        )
        z = projected + self.normalize(recurrent, "recurrent_norm")
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        sigma, tanh = self.recurrent_activation, self.activation

        c = sigma(z_f) * c_prev + sigma(z_i) * tanh(z_c)
        c = self.normalize(c, "state_norm")
        h = sigma(z_o) * tanh(c)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "norm_gamma_initializer": initializers.serialize(
                self.norm_gamma_initializer
            ),
            "norm_beta_initializer": initializers.serialize(
                self.norm_beta_initializer
            ),
            "norm_epsilon": self.norm_epsilon,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class LayerNormLSTM(RecurrentLayer):
    """Layer-normalised LSTM layer (Ba, Kiros & Hinton 2016).

    Takes every argument of `keras.layers.LSTM`, with the same defaults and
    positions, plus `norm_gamma_initializer`, `norm_beta_initializer` and
    `norm_epsilon` (keyword-only), and every cell argument reads on the
    layer (`layer.norm_epsilon`); see `LayerNormLSTMCell` for the equations
    and the weight layout (that of `tfa.rnn.LayerNormLSTMCell`).

    Args:
        units: Positive integer, dimensionality of the output space.
        return_sequences: Return the whole output sequence rather than the
            last output. Default: `False`.
        return_state: Also return the final states. Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed
            sequence. Default: `False`.
        stateful: Use each batch's final states as the next batch's initial
            states (needs a fixed batch size). Default: `False`.
        unroll: Unroll the loop (needs a fixed number of steps).
            Default: `False`.
        activity_regularizer: Regularizer of the layer's output.
            Default: `None`.
        use_cudnn: `"auto"` (default) and `False` run the general loop: no
            fused kernel computes the norms, so `True` raises a `ValueError`
            saying so.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`),
            `zero_output_for_mask`, and `implementation`, accepted and
            ignored as Keras 3 does.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the state is carried over).
        training: Whether dropout is applied.
        initial_state: Optional list `[h, c]` of `(batch, units)` tensors.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((10, 8)),
    ...     keras_recur.layers.LayerNormLSTM(16, return_sequences=True),
    ...     keras_recur.layers.LayerNormLSTM(16),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((2, 10, 8), "float32")).shape)
    (2, 1)

    Reference:

    - Ba, Kiros & Hinton (2016). Layer normalization.
      <https://arxiv.org/abs/1607.06450>
    """

    cell_class = LayerNormLSTMCell

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        *,
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        **kwargs,
    ):
        cell = LayerNormLSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            norm_gamma_initializer=norm_gamma_initializer,
            norm_beta_initializer=norm_beta_initializer,
            norm_epsilon=norm_epsilon,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="layer_norm_lstm_cell",
        )
        super().__init__(
            cell,
            activity_regularizer=activity_regularizer,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            use_cudnn=use_cudnn,
            **kwargs,
        )
