"""One-dimensional Grid LSTM: an LSTM along depth (Kalchbrenner et al.
2015)."""

import keras
from keras import activations
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_recur.layers.rnn.grid_lstm import HIDDEN_FORMS
from keras_recur.layers.rnn.grid_lstm import grid_lstm_transform
from keras_recur.layers.rnn.lstm_cell_base import blocks_initializer
from keras_recur.validation import check_bool
from keras_recur.validation import check_one_of
from keras_recur.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_recur")
class GridLSTM1D(keras.layers.Layer):
    """One-dimensional Grid LSTM (Kalchbrenner et al. 2015): a feed-forward
    network of `depth` blocks whose hidden and memory vectors flow up
    through LSTM gates, so the memory carries signals across depth as an
    LSTM's carries them across time (the paper's "1-LSTM" of its parity
    experiments, akin to highway networks). The input is projected once
    into the first hidden vector:

    ```
    h_0 = x I,   m_0 = 0
    (h_l, m_l) = LSTM(h_{l-1}, m_{l-1}, W_l)      for l = 1 ... depth
    output = h_depth
    ```

    with `LSTM(H, m, W)`: `[i, f, c, o] = H W + b`, `m' = sigmoid(f) * m +
    sigmoid(i) * tanh(c)` and the paper's `h' = tanh(sigmoid(o) * m')`
    (with `hidden_form="lstm"`, `h' = sigmoid(o) * tanh(m')`). With
    `tied=True` the blocks share `W` and `b` (the paper's parity networks
    are tied). It reads the last axis and keeps the others, like
    `keras.layers.Dense`, and passes a mask on.

    Weights: `input_kernel` (`I`), then `kernel_{l}` and `bias_{l}` per
    block (`kernel` and `bias` when tied), blocks `[i, f, c, o]`.

    Args:
        units: Positive integer, dimensionality of the hidden and memory
            vectors (and of the output).
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default:
            `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Initializer of `input_kernel` and the blocks'
            kernels. Default: `"glorot_uniform"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: If `True`, each forget gate's bias starts at one.
            Default: `True`.
        kernel_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        activity_regularizer: Regularizer of the output. Default: `None`.
        kernel_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        depth: Positive integer, the number of blocks. Default: 2.
        tied: Whether the blocks share their weights. Default: `False`.
        hidden_form: `"paper"` (`h' = tanh(o * m')`) or `"lstm"` (`h' = o *
            tanh(m')`). Default: `"paper"`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A tensor `(..., features)`.

    Example:

    >>> layer = keras_recur.layers.GridLSTM1D(16, depth=6, tied=True)
    >>> bits = np.random.default_rng(0).integers(0, 2, (4, 30))
    >>> tuple(layer(bits.astype("float32")).shape), len(layer.weights)
    ((4, 16), 3)

    Reference:

    - Kalchbrenner, Danihelka & Graves (2015). Grid Long Short-Term
      Memory. <https://arxiv.org/abs/1507.01526>
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        *,
        depth=2,
        tied=False,
        hidden_form="paper",
        **kwargs,
    ):
        check_positive_int("units", units)
        check_bool("use_bias", use_bias)
        check_bool("unit_forget_bias", unit_forget_bias)
        check_positive_int("depth", depth)
        check_bool("tied", tied)
        check_one_of("hidden_form", hidden_form, HIDDEN_FORMS)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.depth = int(depth)
        self.tied = tied
        self.hidden_form = hidden_form
        self.supports_masking = True

    def build(self, input_shape):
        self.input_kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            name="input_kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        # blocks[l] = (kernel, bias); tied blocks share one entry.
        self.blocks = []
        for block in range(1 if self.tied else self.depth):
            suffix = "" if self.tied else f"_{block}"
            kernel = self.add_weight(
                shape=(self.units, 4 * self.units),
                name=f"kernel{suffix}",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            bias = None
            if self.use_bias:
                bias = self.add_weight(
                    shape=(4 * self.units,),
                    name=f"bias{suffix}",
                    initializer=self.bias_weight_initializer(),
                    regularizer=self.bias_regularizer,
                    constraint=self.bias_constraint,
                )
            self.blocks.append((kernel, bias))
        if self.tied:
            self.blocks *= self.depth
        self.built = True

    def bias_weight_initializer(self):
        """`bias_initializer`, with ones in the forget block under
        `unit_forget_bias` (blocks `[i, f, c, o]`)."""
        if not self.unit_forget_bias:
            return self.bias_initializer
        return blocks_initializer(self.units, 4, self.bias_initializer, {1: 1})

    def call(self, inputs):
        hidden = ops.matmul(inputs, self.input_kernel)
        memory = ops.zeros_like(hidden)
        for kernel, bias in self.blocks:
            z = ops.matmul(hidden, kernel)
            if self.use_bias:
                z = z + bias
            hidden, memory = grid_lstm_transform(
                z,
                memory,
                self.activation,
                self.recurrent_activation,
                self.hidden_form,
            )
        return hidden

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(
                self.activity_regularizer
            ),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "depth": self.depth,
            "tied": self.tied,
            "hidden_form": self.hidden_form,
        }
