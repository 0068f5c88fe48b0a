"""Coupled input-forget gate LSTM (CIFG; Greff et al. 2015)."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.lstm_cell_base import PeepholeWeights
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_recur")
class CoupledLSTMCell(PeepholeWeights, LSTMCellBase):
    """Cell of the coupled input-forget gate LSTM (CIFG).

    The input gate is `1 - f`, which saves a quarter of the LSTM's weights
    with no significant loss (Greff et al. 2015, "LSTM: A Search Space
    Odyssey"). Peepholes are optional:

    ```
    f = sigma(x W_f + h U_f + b_f [+ p_f * c_{t-1}])
    c_t = f * c_{t-1} + (1 - f) * tanh(x W_c + h U_c + b_c)
    o = sigma(x W_o + h U_o + b_o [+ p_o * c_t])
    h_t = o * tanh(c_t)
    ```

    Weights, in order: `kernel` (input_dim, 3 * units) with gate blocks
    `[f, c, o]`, `recurrent_kernel` (units, 3 * units), `bias` (3 * units,),
    then with `use_peepholes=True` `forget_gate_peephole_weights` and
    `output_gate_peephole_weights` (units,).

    Args:
        units: Positive integer, dimensionality of the output space.
        use_peepholes: Whether the gates look at the cell state.
            Default: `False`.
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: If `True`, the forget gate's bias block starts at
            one. Default: `True`.
        peephole_initializer: Default: `"glorot_uniform"`.
        kernel_regularizer: Regularizer of the input kernel. Default: `None`.
        recurrent_regularizer: Regularizer of the recurrent kernel.
            Default: `None`.
        bias_regularizer: Regularizer of the bias. Default: `None`.
        peephole_regularizer: Regularizer of the peephole weights.
            Default: `None`.
        kernel_constraint: Constraint of the input kernel. Default: `None`.
        recurrent_constraint: Constraint of the recurrent kernel.
            Default: `None`.
        bias_constraint: Constraint of the bias. Default: `None`.
        peephole_constraint: Constraint of the peephole weights.
            Default: `None`.
        dropout: Fraction of the inputs dropped, in [0, 1). Default: 0.
        recurrent_dropout: Fraction of `h_{t-1}` dropped before the recurrent
            matmul, in [0, 1). Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h, c]`, each `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.CoupledLSTMCell(4, use_peepholes=True)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)

    Reference:

    - Greff, Srivastava, Koutnik, Steunebrink & Schmidhuber (2017). LSTM: a
      search space odyssey (the coupled input-forget gate).
      <https://arxiv.org/abs/1503.04069>
    """

    coupled_input_gate = True

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
        use_peepholes=False,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        check_bool("use_peepholes", use_peepholes)
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
        self.use_peepholes = use_peepholes

    @property
    def peephole_gates(self):
        return ("forget", "output") if self.use_peepholes else ()

    def recurrent_step(self, projected, states, training=False):
        h_prev, c_prev = states
        z = projected + backend.matmul(
            self.recurrent_input(h_prev, training), self.recurrent_kernel
        )
        z_f, z_c, z_o = ops.split(z, 3, axis=-1)
        sigma, tanh = self.recurrent_activation, self.activation

        if self.use_peepholes:
            z_f = z_f + self.forget_gate_peephole_weights * c_prev
        f = sigma(z_f)
        c = f * c_prev + (1.0 - f) * tanh(z_c)
        if self.use_peepholes:
            z_o = z_o + self.output_gate_peephole_weights * c
        o = sigma(z_o)
        h = o * tanh(c)
        return h, [h, c]

    # The step above is the LSTM family's: the backend's fused LSTM
    # computes it.
    fused_recurrence = LSTMCellBase.fused_lstm

    def get_config(self):
        return {
            **super().get_config(),
            "use_peepholes": self.use_peepholes,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class CoupledLSTM(RecurrentLayer):
    """Coupled input-forget gate LSTM layer (CIFG; Greff et al. 2015).

    Takes every argument of `keras.layers.LSTM`, with the same defaults and
    positions, plus `use_peepholes` (default `False`),
    `peephole_initializer`, `peephole_regularizer` and `peephole_constraint`
    (keyword-only), and every cell argument reads on the layer
    (`layer.use_peepholes`); see `CoupledLSTMCell` for the equations and the
    weight layout.

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

    >>> inputs = keras.Input((None, 8))
    >>> outputs = keras_recur.layers.CoupledLSTM(16)(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    >>> tuple(model(np.zeros((2, 10, 8), "float32")).shape)
    (2, 1)

    Reference:

    - Greff, Srivastava, Koutnik, Steunebrink & Schmidhuber (2017). LSTM: a
      search space odyssey (the coupled input-forget gate).
      <https://arxiv.org/abs/1503.04069>
    """

    cell_class = CoupledLSTMCell

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
        use_peepholes=False,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        cell = CoupledLSTMCell(
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
            use_peepholes=use_peepholes,
            peephole_initializer=peephole_initializer,
            peephole_regularizer=peephole_regularizer,
            peephole_constraint=peephole_constraint,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="coupled_lstm_cell",
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
