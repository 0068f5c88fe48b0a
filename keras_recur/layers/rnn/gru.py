"""Gated recurrent unit, weight-compatible with `keras.layers.GRU`."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.dense_gates_cell import DenseGatesCell
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_recur")
class GRUCell(DenseGatesCell):
    """Cell of the GRU, the model and weight layout of `keras.layers.GRUCell`.

    ```
    z = sigma(x W_z + b_z + h U_z + b'_z)
    r = sigma(x W_r + b_r + h U_r + b'_r)
    h~ = tanh(x W_h + b_h + r * (h U_h + b'_h))   # reset_after=True
    h~ = tanh(x W_h + b_h + (r * h) U_h)          # reset_after=False
    h_t = z * h_{t-1} + (1 - z) * h~
    ```

    The textbook form `h_t = (1 - z) h_{t-1} + z h~` is the same model with
    `z` relabelled. Weights: `kernel` (input_dim, 3 * units) with gate blocks
    `[z, r, h]`, `recurrent_kernel` (units, 3 * units), and `bias` of shape
    (2, 3 * units) with `reset_after=True` (row 0 input bias `b`, row 1
    recurrent bias `b'`) or (3 * units,) with `reset_after=False` (no `b'`).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
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
        reset_after: Apply the reset gate after the recurrent matmul (the
            cuDNN and torch convention). Default: `True`.
        seed: Integer seed of the dropout masks. Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h]`, `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.GRUCell(4)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 4)

    Reference:

    - Cho et al. (2014). Learning phrase representations using RNN encoder-
      decoder for statistical machine translation.
      <https://arxiv.org/abs/1406.1078>
    """

    gate_count = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
        seed=None,
        **kwargs,
    ):
        check_bool("reset_after", reset_after)
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            **kwargs,
        )
        self.reset_after = reset_after

    def bias_shape(self):
        width = self.gate_count * self.units
        return (2, width) if self.reset_after else (width,)

    @property
    def input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def recurrent_step(self, projected, states, training=False):
        (h_prev,) = states
        h_in = self.recurrent_input(h_prev, training)
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        u_zr = self.recurrent_kernel[:, : 2 * self.units]
        u_h = self.recurrent_kernel[:, 2 * self.units :]
        sigma, tanh = self.recurrent_activation, self.activation

        if self.reset_after:
            recurrent = backend.matmul(h_in, self.recurrent_kernel)
            if self.use_bias:
                recurrent = recurrent + self.bias[1]
            h_z, h_r, h_h = ops.split(recurrent, 3, axis=-1)
            z = sigma(x_z + h_z)
            r = sigma(x_r + h_r)
            candidate = tanh(x_h + r * h_h)
        else:
            h_z, h_r = ops.split(backend.matmul(h_in, u_zr), 2, axis=-1)
            z = sigma(x_z + h_z)
            r = sigma(x_r + h_r)
            candidate = tanh(x_h + backend.matmul(r * h_in, u_h))
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def fused_recurrence(
        self, inputs, initial_states, mask, training, return_sequences=True
    ):
        """The whole sequence through the backend's fused GRU
        (`keras_recur.backend.gru`), which computes every output."""
        (h0,) = initial_states
        return backend.gru(
            inputs,
            h0,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            mask=mask,
            recurrent_mask=self.recurrent_dropout_mask(h0, training),
            reset_after=self.reset_after,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class GRU(RecurrentLayer):
    """Gated recurrent unit layer (Cho et al. 2014), as `keras.layers.GRU`.

    Takes every argument of `keras.layers.GRU` with the same defaults and
    positions, and computes the same model with the same weight layout, so
    `set_weights(keras_gru.get_weights())` gives identical outputs; see
    `GRUCell` for the equations. Every cell argument also reads on the
    layer (`layer.units`, `layer.reset_after`).

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
            the call (PyTorch: ATen's GRU, with `reset_after=True`, tanh and
            sigmoid, float32, no mask and no recurrent dropout in training),
            `False` always the general loop, `True` the fused kernel or a
            `ValueError` saying why none serves.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`),
            `zero_output_for_mask`, and `implementation`, accepted and
            ignored as Keras 3 does.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the state is carried over).
        training: Whether dropout is applied.
        initial_state: Optional list `[h]` of one `(batch, units)` tensor.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((None,), dtype="int32"),
    ...     keras.layers.Embedding(100, 8, mask_zero=True),
    ...     keras.layers.Bidirectional(keras_recur.layers.GRU(16)),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.array([[3, 7, 0, 0]])).shape)
    (1, 1)

    Reference:

    - Cho et al. (2014). Learning phrase representations using RNN encoder-
      decoder for statistical machine translation.
      <https://arxiv.org/abs/1406.1078>
    """

    cell_class = GRUCell

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
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
