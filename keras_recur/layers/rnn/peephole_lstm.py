"""Peephole LSTM (Gers, Schraudolph & Schmidhuber 2002)."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.lstm_cell_base import PeepholeWeights
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments


@keras.saving.register_keras_serializable(package="keras_recur")
class PeepholeLSTMCell(PeepholeWeights, LSTMCellBase):
    """Cell of the peephole LSTM, weight-compatible with TF-Addons'.

    Input and forget gates look at the previous cell state, the output gate
    at the new one, through diagonal peephole weights `p`:

    ```
    i = sigma(x W_i + h U_i + b_i + p_i * c_{t-1})
    f = sigma(x W_f + h U_f + b_f + p_f * c_{t-1})
    c_t = f * c_{t-1} + i * tanh(x W_c + h U_c + b_c)
    o = sigma(x W_o + h U_o + b_o + p_o * c_t)
    h_t = o * tanh(c_t)
    ```

    Weights, in order: `kernel` (input_dim, 4 * units) with gate blocks
    `[i, f, c, o]`, `recurrent_kernel` (units, 4 * units), `bias`
    (4 * units,), `input_gate_peephole_weights`, `forget_gate_peephole_weights`
    and `output_gate_peephole_weights` (units,): the order and shapes of
    `tfa.rnn.PeepholeLSTMCell`, so its `get_weights()` load with `set_weights`.

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
        seed: Integer seed of the dropout masks. Default: `None`.
        peephole_initializer: Initializer of the three peephole vectors.
            Default: `"glorot_uniform"` (TF-Addons used its kernel
            initializer, whose default this is).
        peephole_regularizer: Regularizer of the peephole weights.
            Default: `None`.
        peephole_constraint: Constraint of the peephole weights.
            Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h, c]`, each `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.PeepholeLSTMCell(4)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 4)

    Reference:

    - Gers, Schraudolph & Schmidhuber (2002). Learning precise timing with LSTM
      recurrent networks. JMLR 3.
      <https://www.jmlr.org/papers/v3/gers02a.html>
    """

    peephole_gates = ("input", "forget", "output")

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
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
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
            peephole_initializer=peephole_initializer,
            peephole_regularizer=peephole_regularizer,
            peephole_constraint=peephole_constraint,
            **kwargs,
        )

    def recurrent_step(self, projected, states, training=False):
        h_prev, c_prev = states
        z = projected + backend.matmul(
            self.recurrent_input(h_prev, training), self.recurrent_kernel
        )
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        sigma, tanh = self.recurrent_activation, self.activation

        i = sigma(z_i + self.input_gate_peephole_weights * c_prev)
        f = sigma(z_f + self.forget_gate_peephole_weights * c_prev)
        c = f * c_prev + i * tanh(z_c)
        o = sigma(z_o + self.output_gate_peephole_weights * c)
        h = o * tanh(c)
        return h, [h, c]

    # The step above is the LSTM family's: the backend's fused LSTM
    # computes it.
    fused_recurrence = LSTMCellBase.fused_lstm


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class PeepholeLSTM(RecurrentLayer):
    """Peephole LSTM layer (Gers, Schraudolph & Schmidhuber 2002).

    Takes every argument of `keras.layers.LSTM`, with the same defaults and
    positions, plus `peephole_initializer`, `peephole_regularizer` and
    `peephole_constraint` (keyword-only), and every cell argument reads on
    the layer (`layer.units`); see `PeepholeLSTMCell` for the equations and the
    weight layout (that of `tfa.rnn.PeepholeLSTMCell`). With zero peephole
    weights it computes exactly `keras.layers.LSTM`.

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
        use_cudnn: `"auto"` (default) runs a fused kernel where one serves
            the call (PyTorch: the LSTM family's autograd function, with
            tanh and sigmoid in float32 or float64; masks and dropout
            included), `False` always the general loop, `True` the fused
            kernel or a `ValueError` saying why none serves.
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
    ...     keras_recur.layers.PeepholeLSTM(16, return_sequences=True),
    ...     keras_recur.layers.PeepholeLSTM(16),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((2, 10, 8), "float32")).shape)
    (2, 1)

    Reference:

    - Gers, Schraudolph & Schmidhuber (2002). Learning precise timing with LSTM
      recurrent networks. JMLR 3.
      <https://www.jmlr.org/papers/v3/gers02a.html>
    """

    cell_class = PeepholeLSTMCell

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
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        cell = PeepholeLSTMCell(
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
            peephole_initializer=peephole_initializer,
            peephole_regularizer=peephole_regularizer,
            peephole_constraint=peephole_constraint,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="peephole_lstm_cell",
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
