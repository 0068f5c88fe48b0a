"""Machinery shared by every keras_recur cell and layer.

`RecurrentCell` owns what the cells have in common: argument validation, the
input kernel, recurrent kernel and bias, peephole weights, dropout masks and
the config. A cell subclass only states its gate count and its recurrence
(`recurrent_step`), so its file reads like its equations.

`RecurrentLayer` is the one sequence layer wrapper: it builds the cell from
the layer's arguments, validates inputs and initial states, and flattens the
cell's config into its own, as `keras.layers.LSTM` does.
"""

import numbers
import re

import keras
from keras import activations
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_recur.layers import recurrence

# Layer arguments that belong to the sequence wrapper rather than to the cell.
_LAYER_ONLY_ARGUMENTS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
    "activity_regularizer",
    "name",
    "input_shape",
    "batch_input_shape",
    "batch_size",
    "input_dim",
)
# Base `Layer` arguments that the cell shares with its wrapper.
_SHARED_ARGUMENTS = ("dtype", "trainable")
# `Layer.get_config` keys of the cell that the wrapper keeps its own value for.
_CELL_IDENTITY_KEYS = ("name", "trainable", "dtype")


_GETTERS = {
    "activation": activations.get,
    "initializer": initializers.get,
    "regularizer": regularizers.get,
    "constraint": constraints.get,
}


def resolve(argument, value):
    """Looks up a Keras identifier of the kind `argument`'s name ends in.

    Keras' own error does not name the argument; this one does.
    """
    getter = _GETTERS[argument.rsplit("_", 1)[-1]]
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Could not interpret `{argument}`: {error} "
            f"Received: {argument}={value!r}"
        ) from None


def check_positive_int(argument, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
    ):
        raise ValueError(
            f"`{argument}` must be a positive integer. "
            f"Received: {argument}={value!r}"
        )


def check_rate(argument, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{argument}` must be a float in [0, 1). "
            f"Received: {argument}={value!r}"
        )


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(
            f"`{argument}` must be True or False. "
            f"Received: {argument}={value!r}"
        )


def check_seed(seed):
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise ValueError(
            f"`seed` must be an integer or None. Received: seed={seed!r}"
        )


def checked_initial_state(layer_name, state_size, initial_state, batch_size):
    """`initial_state` as a list, checked against the cell's `state_size`."""
    sizes = (
        state_size if isinstance(state_size, (list, tuple)) else [state_size]
    )
    states = (
        list(initial_state)
        if isinstance(initial_state, (list, tuple))
        else [initial_state]
    )
    shapes = [tuple(state.shape) for state in states]
    expected = [(batch_size, size) for size in sizes]
    valid = len(shapes) == len(expected) and all(
        len(shape) == 2
        and shape[1] == want[1]
        and (None in (shape[0], want[0]) or shape[0] == want[0])
        for shape, want in zip(shapes, expected)
    )
    if not valid:
        raise ValueError(
            f"`initial_state` of layer '{layer_name}' must be "
            f"{len(expected)} tensor(s) of shapes {expected}. "
            f"Received: initial_state with shapes {shapes}"
        )
    return states


# Keras' RNN layer prepares one dropout mask per sequence, outside its
# (JAX-traced) loop, only for cells that carry its private `DropoutRNNCell`
# mixin. `SimpleRNNCell` is the public class that carries it, and it already
# holds the arguments, weights' initializers/regularizers/constraints and
# config that every Keras recurrent cell shares, so the cells build on it.
class RecurrentCell(keras.layers.SimpleRNNCell):
    """Base class of the keras_recur cells (not used directly).

    Subclasses set `gate_count` (the number of `units`-wide blocks in the
    kernel) and implement `recurrent_step`; `build_extra_weights` adds
    weights beyond kernel, recurrent kernel and bias.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the cell input and of the state before the
            output gate. Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        use_bias: Whether the cell uses bias vectors. Default: `True`.
        kernel_initializer: Initializer of the input kernel.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the recurrent kernel.
            Default: `"orthogonal"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers of those weights. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints of those weights. Default: `None`.
        dropout: Float in [0, 1): fraction of the inputs dropped, with one
            mask per sequence shared by every step and gate. Default: 0.
        recurrent_dropout: Float in [0, 1): fraction of the previous output
            `h` dropped before the recurrent matmul, one mask per sequence.
            Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
    """

    gate_count = None
    # States: [h] or [h, c]; the step output is always h == states[0], which
    # Keras' masked JAX/NumPy loops rely on.
    state_count = 1

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
        check_positive_int("units", units)
        check_rate("dropout", dropout)
        check_rate("recurrent_dropout", recurrent_dropout)
        check_seed(seed)
        identifiers = {
            "activation": activation,
            "kernel_initializer": kernel_initializer,
            "recurrent_initializer": recurrent_initializer,
            "bias_initializer": bias_initializer,
            "kernel_regularizer": kernel_regularizer,
            "recurrent_regularizer": recurrent_regularizer,
            "bias_regularizer": bias_regularizer,
            "kernel_constraint": kernel_constraint,
            "recurrent_constraint": recurrent_constraint,
            "bias_constraint": bias_constraint,
        }
        resolved = {name: resolve(name, v) for name, v in identifiers.items()}
        super().__init__(
            int(units),
            use_bias=bool(use_bias),
            dropout=float(dropout),
            recurrent_dropout=float(recurrent_dropout),
            seed=seed,
            **resolved,
            **kwargs,
        )
        self.recurrent_activation = resolve(
            "recurrent_activation", recurrent_activation
        )
        self.state_size = [self.units] * self.state_count
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The feature (last) dimension of the inputs must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
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
        projected = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.input_bias
        return projected

    def recurrent_input(self, h_prev, training):
        """`h_{t-1}`, with the sequence's recurrent dropout mask in training."""
        if training and self.recurrent_dropout > 0:
            return h_prev * self.get_recurrent_dropout_mask(h_prev)
        return h_prev

    def recurrent_step(self, projected, states, training=False):
        """One step from the projected input `x_t W + b` and `states`.

        Returns `(h_t, new_states)` with `new_states[0]` being `h_t`.
        """
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return self.recurrent_step(
            self.project_inputs(inputs), states, training=training
        )

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype)
            for size in self.state_size
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
        }


class LSTMCellBase(RecurrentCell):
    """Base of the cells with a cell state `c`: states `[h, c]`.

    Gate blocks are `[i, f, c, o]`, or `[f, c, o]` when the input gate is
    coupled to the forget gate (`i = 1 - f`). Subclasses set
    `coupled_input_gate` and `peephole_gates`, the gates among `"input"`,
    `"forget"` and `"output"` that have a diagonal peephole weight, named
    `{gate}_gate_peephole_weights` as in TF-Addons. Adds `unit_forget_bias`
    (ones in the forget gate's bias block) and the peephole weights'
    initializer, regularizer and constraint.
    """

    state_count = 2
    coupled_input_gate = False
    peephole_gates = ()

    def __init__(
        self,
        units,
        unit_forget_bias=True,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
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

    def get_config(self):
        return {
            **super().get_config(),
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
        }


class RecurrentLayer(keras.layers.RNN):
    """Sequence layer running a keras_recur cell (base of the public layers).

    Subclasses set `cell_class`. Every argument of the cell is accepted by
    the layer and stored in its config; the layer-level arguments are those
    of `keras.layers.RNN`.
    """

    cell_class = None

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        **kwargs,
    ):
        cell_kwargs = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if key not in _LAYER_ONLY_ARGUMENTS and key not in _SHARED_ARGUMENTS
        }
        for key in _SHARED_ARGUMENTS:
            if key in kwargs:
                cell_kwargs[key] = kwargs[key]
        cell = self.cell_class(units, name=self.cell_name, **cell_kwargs)
        super().__init__(
            cell,
            return_sequences=bool(return_sequences),
            return_state=bool(return_state),
            go_backwards=bool(go_backwards),
            stateful=bool(stateful),
            unroll=bool(unroll),
            activity_regularizer=resolve(
                "activity_regularizer", activity_regularizer
            ),
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def cell_name(self):
        """`PeepholeLSTMCell` -> `peephole_lstm_cell`, as Keras names cells."""
        words = re.sub(
            r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])",
            "_",
            self.cell_class.__name__,
        )
        return words.lower()

    def build(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        if self.stateful and shape[0] is None:
            raise ValueError(
                "`stateful=True` needs a fixed batch size (for example "
                "`keras.Input(batch_shape=...)`). "
                f"Received: inputs.shape={shape}"
            )
        if self.unroll and shape[1] is None:
            raise ValueError(
                "`unroll=True` needs a fixed number of timesteps (for example "
                "`keras.Input((timesteps, features))`). "
                f"Received: inputs.shape={shape}"
            )
        super().build(sequences_shape, initial_state_shape)
        # Later calls must keep the feature size the weights were built for.
        self.input_spec = keras.layers.InputSpec(
            ndim=3, axes={-1: sequences_shape[-1]}
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            initial_state = checked_initial_state(
                self.name, self.state_size, initial_state, sequences.shape[0]
            )
        return super().call(
            sequences,
            initial_state=initial_state,
            mask=mask,
            training=training,
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if training and self.cell.dropout > 0:
            # The one mask of this sequence, drawn by `RNN.call` beforehand.
            step_mask = self.cell.get_dropout_mask(sequences[:, 0])
            sequences = sequences * ops.expand_dims(step_mask, 1)
        if self.stateful:
            # The state variables are assigned in place after the loop; torch
            # autograd must not see that write on tensors it saved.
            initial_state = [ops.copy(state) for state in initial_state]
        last_output, outputs, states, self.recurrence_path = recurrence.run(
            self.cell,
            sequences,
            initial_state,
            mask=mask,
            training=training,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
        )
        return last_output, outputs, states

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in _CELL_IDENTITY_KEYS:
            cell_config.pop(key, None)
        return {
            **config,
            **cell_config,
            "activity_regularizer": regularizers.serialize(
                self.activity_regularizer
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
