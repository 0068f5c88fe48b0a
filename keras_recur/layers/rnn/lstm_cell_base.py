"""The base of the cells with a cell state `c` (the LSTM family), and the
peephole weights two of them share."""

from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_recur import backend
from keras_recur.layers.rnn.dense_gates_cell import DenseGatesCell
from keras_recur.validation import check_bool
from keras_recur.validation import resolve


def blocks_initializer(units, count, base, constants):
    """The initializer of a bias of `count` blocks of `units`: the `base`
    initializer's values, except in the blocks `constants` names (`{block:
    value}`), which hold that value (`unit_forget_bias`'s ones)."""

    def initializer(shape, dtype=None):
        return ops.concatenate(
            [
                initializers.Constant(constants[block])((units,), dtype)
                if block in constants
                else base((units,), dtype=dtype)
                for block in range(count)
            ]
        )

    return initializer


class LSTMCellBase(DenseGatesCell):
    """Base of the cells with a cell state `c`: states `[h, c]`.

    Gate blocks are `[i, f, c, o]`, or `[f, c, o]` when the input gate is
    coupled to the forget gate (`i = 1 - f`): subclasses set
    `coupled_input_gate`. Adds `unit_forget_bias` (ones in the forget
    gate's bias block) to the arguments of `DenseGatesCell`, in the
    position `keras.layers.LSTMCell` has it. Cells with peepholes add the
    `PeepholeWeights` mixin.

    A subclass whose `recurrent_step` is the family's equations (gates
    `sigma(x W + h U + b [+ p * c])`, `c_t = f c_{t-1} + i g`,
    `h_t = o act(c_t)`) offers the backend's fused LSTM by setting
    `fused_recurrence = LSTMCellBase.fused_lstm`.

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
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Fraction of the inputs dropped, in [0, 1). Default: 0.
        recurrent_dropout: Fraction of `h_{t-1}` dropped, in [0, 1).
            Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h, c]`, each `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    The LSTM of `keras.layers.LSTMCell`, with the fused kernel:

    >>> class LSTMCell(keras_recur.layers.LSTMCellBase):
    ...     def recurrent_step(self, projected, states, training=False):
    ...         h_prev, c_prev = states
    ...         h_in = self.recurrent_input(h_prev, training)
    ...         z = projected + keras.ops.matmul(h_in, self.recurrent_kernel)
    ...         z_i, z_f, z_c, z_o = keras.ops.split(z, 4, axis=-1)
    ...         sigma, act = self.recurrent_activation, self.activation
    ...         c = sigma(z_f) * c_prev + sigma(z_i) * act(z_c)
    ...         h = sigma(z_o) * act(c)
    ...         return h, [h, c]
    ...     fused_recurrence = keras_recur.layers.LSTMCellBase.fused_lstm
    >>> ours = keras.layers.RNN(LSTMCell(4))
    >>> theirs = keras.layers.LSTM(4)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> _ = ours(x), theirs(x)
    >>> ours.set_weights(theirs.get_weights())
    >>> difference = keras.ops.max(keras.ops.abs(ours(x) - theirs(x)))
    >>> bool(difference < 1e-5)
    True
    """

    state_count = 2
    coupled_input_gate = False
    # The gates with a diagonal peephole weight (`PeepholeWeights`).
    peephole_gates = ()

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
        **kwargs,
    ):
        check_bool("unit_forget_bias", unit_forget_bias)
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
        self.unit_forget_bias = unit_forget_bias

    @property
    def gate_count(self):
        return 3 if self.coupled_input_gate else 4

    @property
    def forget_block(self):
        return 0 if self.coupled_input_gate else 1

    def bias_weight_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        return self.blocks_initializer(self.gate_count, {self.forget_block: 1})

    def blocks_initializer(self, count, constants):
        """The module's `blocks_initializer` with this cell's units and
        `bias_initializer`."""
        return blocks_initializer(
            self.units, count, self.bias_initializer, constants
        )

    def fused_lstm(
        self, inputs, initial_states, mask, training, return_sequences=True
    ):
        """The whole sequence through the backend's fused LSTM kernel, with
        this cell's weights (`keras_recur.backend.lstm`), which computes
        every output."""
        h0, c0 = initial_states
        return backend.lstm(
            inputs,
            h0,
            c0,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            peepholes={
                gate: getattr(self, f"{gate}_gate_peephole_weights")
                for gate in self.peephole_gates
            },
            coupled_input_gate=self.coupled_input_gate,
            mask=mask,
            recurrent_mask=self.recurrent_dropout_mask(h0, training),
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "unit_forget_bias": self.unit_forget_bias,
        }


class PeepholeWeights:
    """Mixin of the LSTM cells whose gates look at the cell state through
    diagonal weights `p` (shape `(units,)`), one per gate in
    `peephole_gates` (among `"input"`, `"forget"`, `"output"`), named
    `{gate}_gate_peephole_weights` as in TF-Addons and built after kernel,
    recurrent kernel and bias.

    Put it before `LSTMCellBase` among the bases, and set `peephole_gates`
    in the cell (its equations say which gates peep); the mixin takes the
    keyword arguments `peephole_initializer`, `peephole_regularizer` and
    `peephole_constraint` and passes the rest on.
    """

    def __init__(
        self,
        *args,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        peephole_initializer = resolve(
            "peephole_initializer", peephole_initializer
        )
        peephole_regularizer = resolve(
            "peephole_regularizer", peephole_regularizer
        )
        peephole_constraint = resolve(
            "peephole_constraint", peephole_constraint
        )
        super().__init__(*args, **kwargs)
        self.peephole_initializer = peephole_initializer
        self.peephole_regularizer = peephole_regularizer
        self.peephole_constraint = peephole_constraint

    def build_extra_weights(self):
        super().build_extra_weights()
        for gate in self.peephole_gates:
            name = f"{gate}_gate_peephole_weights"
            weight = self.add_weight(
                shape=(self.units,),
                name=name,
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )
            setattr(self, name, weight)

    def get_config(self):
        return {
            **super().get_config(),
            "peephole_initializer": initializers.serialize(
                self.peephole_initializer
            ),
            "peephole_regularizer": regularizers.serialize(
                self.peephole_regularizer
            ),
            "peephole_constraint": constraints.serialize(
                self.peephole_constraint
            ),
        }
