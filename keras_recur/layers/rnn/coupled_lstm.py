"""Coupled input-forget gate LSTM (CIFG; Greff et al. 2015)."""

import keras
from keras import ops

from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_recur")
class CoupledLSTMCell(LSTMCellBase):
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
    """

    coupled_input_gate = True

    def __init__(self, units, *, use_peepholes=False, **kwargs):
        check_bool("use_peepholes", use_peepholes)
        super().__init__(units, **kwargs)
        self.use_peepholes = use_peepholes

    @property
    def peephole_gates(self):
        return ("forget", "output") if self.use_peepholes else ()

    def recurrent_step(self, projected, states, training=False):
        h_prev, c_prev = states
        z = projected + ops.matmul(
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
        use_cudnn: `"auto"` (default) runs a fused kernel where one serves
            the call (PyTorch: the LSTM family's autograd function, with
            tanh and sigmoid in float32 or float64; masks and dropout
            included), `False` always the general loop, `True` the fused
            kernel or a `ValueError` saying why none serves.
        **kwargs: Every other argument of `CoupledLSTMCell` (`activation`,
            `dropout`, ...) and of `RecurrentLayer` (`return_sequences`,
            `return_state`, `go_backwards`, `stateful`, `unroll`,
            `activity_regularizer`), by name, with their defaults; the base
            layer arguments (`name`, `dtype`, `trainable`); and
            `implementation`, accepted and ignored as Keras 3 does.

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
    """

    cell_class = CoupledLSTMCell
    keras_counterpart = keras.layers.LSTM
