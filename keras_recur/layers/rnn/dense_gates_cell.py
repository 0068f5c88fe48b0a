"""The base of the cells whose gates are dense: `x W + h U + b`."""

from keras import activations
from keras import constraints
from keras import initializers
from keras import regularizers

from keras_recur import backend
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.validation import check_bool
from keras_recur.validation import check_rate
from keras_recur.validation import resolve


class DenseGatesCell(RecurrentCell):
    """Base of the cells with an input kernel `W`, a recurrent kernel `U`
    and a bias `b`, each `gate_count * units` wide (not used directly).

    Owns the arguments of those weights (initializers, regularizers,
    constraints), the two activations, dropout of the inputs and of
    `h_{t-1}`, and `project_inputs` (`x W + b`). A subclass sets
    `gate_count` and writes `recurrent_step`; `build_extra_weights` adds
    weights after the three.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the cell input (and of the state before
            an output gate). Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Whether the cell uses bias vectors. Default: `True`.
        kernel_initializer: Initializer of the input kernel.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the recurrent kernel.
            Default: `"orthogonal"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        kernel_regularizer: Regularizer of the input kernel. Default: `None`.
        recurrent_regularizer: Regularizer of the recurrent kernel.
            Default: `None`.
        bias_regularizer: Regularizer of the bias. Default: `None`.
        kernel_constraint: Constraint of the input kernel. Default: `None`.
        recurrent_constraint: Constraint of the recurrent kernel.
            Default: `None`.
        bias_constraint: Constraint of the bias. Default: `None`.
        dropout: Float in [0, 1): fraction of the inputs dropped, with one
            mask per sequence shared by every step and gate. Default: 0.
        recurrent_dropout: Float in [0, 1): fraction of the previous output
            `h` dropped before the recurrent matmul, one mask per sequence.
            Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: The list of state tensors, `(batch, units)` each.
        training: Whether dropout is applied.

    Example:

    An Elman cell, `h_t = tanh(x W + b + h_{t-1} U)`, and its layer:

    >>> class ElmanCell(keras_recur.layers.DenseGatesCell):
    ...     gate_count = 1
    ...     def recurrent_step(self, projected, states, training=False):
    ...         h_prev = self.recurrent_input(states[0], training)
    ...         h = self.activation(
    ...             projected + keras.ops.matmul(h_prev, self.recurrent_kernel)
    ...         )
    ...         return h, [h]
    >>> layer = keras_recur.layers.RecurrentLayer(
    ...     ElmanCell(4, dropout=0.1), return_sequences=True
    ... )
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape), layer.cell.dropout
    ((2, 5, 4), 0.1)
    """

    gate_count = None

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
        seed=None,
        **kwargs,
    ):
        check_bool("use_bias", use_bias)
        check_rate("dropout", dropout)
        check_rate("recurrent_dropout", recurrent_dropout)
        activation = resolve("activation", activation)
        recurrent_activation = resolve(
            "recurrent_activation", recurrent_activation
        )
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
        self.activation = activation
        self.recurrent_activation = recurrent_activation
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

    def build(self, input_shape):
        input_dim = feature_dim(input_shape)
        width = self.gate_count * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_weight_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.build_extra_weights()
        self.built = True

    def bias_shape(self):
        return (self.gate_count * self.units,)

    def bias_weight_initializer(self):
        return self.bias_initializer

    def build_extra_weights(self):
        """Adds weights after kernel, recurrent kernel and bias (none here)."""

    @property
    def input_bias(self):
        """The bias added to the input projection."""
        return self.bias

    def project_inputs(self, inputs):
        """`x W + b` for all gates at once; any number of leading axes.

        Kept apart from `recurrent_step` so that a sequence can be projected
        in one matmul before the recurrence.
        """
        projected = backend.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.input_bias
        return projected

    def get_config(self):
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
            **dense_weights_config(self),
        }


def dense_weights_config(cell):
    """The config of a cell's input kernel, recurrent kernel and bias
    (`use_bias`, their initializers, regularizers and constraints) and of
    its two dropouts: the arguments that `DenseGatesCell` and
    `ClockworkRNNCell`, whose recurrent kernel comes in blocks, share."""
    return {
        "use_bias": cell.use_bias,
        "kernel_initializer": initializers.serialize(cell.kernel_initializer),
        "recurrent_initializer": initializers.serialize(
            cell.recurrent_initializer
        ),
        "bias_initializer": initializers.serialize(cell.bias_initializer),
        "kernel_regularizer": regularizers.serialize(cell.kernel_regularizer),
        "recurrent_regularizer": regularizers.serialize(
            cell.recurrent_regularizer
        ),
        "bias_regularizer": regularizers.serialize(cell.bias_regularizer),
        "kernel_constraint": constraints.serialize(cell.kernel_constraint),
        "recurrent_constraint": constraints.serialize(
            cell.recurrent_constraint
        ),
        "bias_constraint": constraints.serialize(cell.bias_constraint),
        "dropout": cell.dropout,
        "recurrent_dropout": cell.recurrent_dropout,
    }
