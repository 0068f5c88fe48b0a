"""The base of the cells with a cell state `c`: the LSTM family."""

from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_recur import backend
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.validation import check_bool
from keras_recur.validation import resolve


class LSTMCellBase(RecurrentCell):
    """Base of the cells with a cell state `c`: states `[h, c]`.

    Gate blocks are `[i, f, c, o]`, or `[f, c, o]` when the input gate is
    coupled to the forget gate (`i = 1 - f`). Subclasses set
    `coupled_input_gate` and `peephole_gates`, the gates among `"input"`,
    `"forget"` and `"output"` that have a diagonal peephole weight, named
    `{gate}_gate_peephole_weights` as in TF-Addons. Adds `unit_forget_bias`
    (ones in the forget gate's bias block) and the peephole weights'
    initializer, regularizer and constraint.

    A subclass whose `recurrent_step` is the family's equations (gates
    `sigma(x W + h U + b [+ p * c])`, `c_t = f c_{t-1} + i g`,
    `h_t = o act(c_t)`) offers the backend's fused LSTM by setting
    `fused_recurrence = LSTMCellBase.fused_lstm`.

    Args:
        units: Positive integer, dimensionality of the output space.
        unit_forget_bias: If `True`, the forget gate's bias block starts at
            one. Default: `True`.
        peephole_initializer: Initializer of the peephole vectors.
            Default: `"glorot_uniform"`.
        peephole_regularizer: Default: `None`.
        peephole_constraint: Default: `None`.
        **kwargs: The arguments of `RecurrentCell`.

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
    peephole_gates = ()

    def __init__(
        self,
        units,
        *,
        unit_forget_bias=True,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        check_bool("unit_forget_bias", unit_forget_bias)
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.peephole_initializer = resolve(
            "peephole_initializer", peephole_initializer
        )
        self.peephole_regularizer = resolve(
            "peephole_regularizer", peephole_regularizer
        )
        self.peephole_constraint = resolve(
            "peephole_constraint", peephole_constraint
        )

    @property
    def gate_count(self):
        return 3 if self.coupled_input_gate else 4

    @property
    def forget_block(self):
        return 0 if self.coupled_input_gate else 1

    def build_extra_weights(self):
        for gate in self.peephole_gates:
            name = f"{gate}_gate_peephole_weights"
            setattr(
                self,
                name,
                self.add_weight(
                    shape=(self.units,),
                    name=name,
                    initializer=self.peephole_initializer,
                    regularizer=self.peephole_regularizer,
                    constraint=self.peephole_constraint,
                ),
            )

    def bias_weight_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def initializer(shape, dtype=None):
            blocks = [
                initializers.Ones()((units,), dtype=dtype)
                if block == self.forget_block
                else base((units,), dtype=dtype)
                for block in range(self.gate_count)
            ]
            return ops.concatenate(blocks)

        return initializer

    def fused_lstm(self, inputs, initial_states, mask, training):
        """The whole sequence through the backend's fused LSTM kernel, with
        this cell's weights (`keras_recur.backend.lstm`)."""
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
        return self.with_config(
            super().get_config(),
            {
                "unit_forget_bias": self.unit_forget_bias,
                "peephole_initializer": initializers.serialize(
                    self.peephole_initializer
                ),
                "peephole_regularizer": regularizers.serialize(
                    self.peephole_regularizer
                ),
                "peephole_constraint": constraints.serialize(
                    self.peephole_constraint
                ),
            },
        )
