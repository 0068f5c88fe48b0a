"""The base of every keras_recur cell.

`RecurrentCell` owns what the cells have in common: argument validation, the
input kernel, recurrent kernel and bias, dropout masks and the config. A
cell subclass states its gate count and its recurrence (`recurrent_step`),
and may offer a fused kernel (`fused_recurrence`), so its file reads like
its equations.
"""

import inspect

import keras
from keras import activations
from keras import ops

from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_rate
from keras_recur.validation import check_seed
from keras_recur.validation import resolve


def init_parameters(cls, stop):
    """The `__init__` parameters of `cls` and of its bases down to `stop`,
    most derived first: each class takes its own arguments and passes the
    rest on through `**kwargs`, as the cells do. Stops early at an
    `__init__` without `**kwargs`. Returns (named parameters, whether
    `**kwargs` remains). A base-class argument named in `cls`'s
    `withheld_arguments` is not among them."""
    found = {}
    withheld = getattr(cls, "withheld_arguments", ())
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = list(
            inspect.signature(vars(klass)["__init__"]).parameters.values()
        )[1:]
        for parameter in parameters:
            if parameter.name not in withheld and parameter.kind not in (
                parameter.VAR_KEYWORD,
                parameter.VAR_POSITIONAL,
            ):
                found.setdefault(parameter.name, parameter)
        has_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters)
        if klass is stop or not has_kwargs:
            return list(found.values()), has_kwargs
    raise TypeError(f"{cls.__name__} does not derive from {stop.__name__}")


def make_signature(parameters, has_kwargs, positional=("units",)):
    """A signature of `parameters`: those named in `positional` (in that
    order) positional-or-keyword, the others keyword-only."""
    by_name = {p.name: p for p in parameters}
    kind = inspect.Parameter
    ordered = [
        by_name[name].replace(kind=kind.POSITIONAL_OR_KEYWORD)
        for name in positional
        if name in by_name
    ]
    ordered += [
        p.replace(kind=kind.KEYWORD_ONLY)
        for p in parameters
        if p.name not in positional
    ]
    if has_kwargs:
        ordered.append(inspect.Parameter("kwargs", kind.VAR_KEYWORD))
    return inspect.Signature(ordered)


def feature_dim(input_shape):
    """The (known) feature size of a cell's inputs."""
    if input_shape[-1] is None:
        raise ValueError(
            "The feature (last) dimension of the inputs must be known. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return input_shape[-1]


# Keras' RNN layer prepares one dropout mask per sequence, outside its
# (JAX-traced) loop, only for cells that carry its private `DropoutRNNCell`
# mixin. `SimpleRNNCell` is the public class that carries it, and it already
# holds the arguments, weights' initializers/regularizers/constraints and
# config that every Keras recurrent cell shares, so the cells build on it.
class RecurrentCell(keras.layers.SimpleRNNCell):
    """Base class of the keras_recur cells (not used directly).

    Subclasses set `gate_count` (the number of `units`-wide blocks in the
    kernel) and implement `recurrent_step`; `build_extra_weights` adds
    weights beyond kernel, recurrent kernel and bias. A subclass may offer a
    fused kernel of its whole recurrence by defining `fused_recurrence`
    (see `keras_recur.layers.rnn.recurrence`). Each subclass's `__init__`
    takes its own arguments and passes the rest on as `**kwargs`; its
    signature (`inspect.signature`) lists them all.

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

    >>> class ElmanCell(keras_recur.layers.RecurrentCell):
    ...     gate_count = 1
    ...     def recurrent_step(self, projected, states, training=False):
    ...         h_prev = self.recurrent_input(states[0], training)
    ...         h = self.activation(
    ...             projected + keras.ops.matmul(h_prev, self.recurrent_kernel)
    ...         )
    ...         return h, [h]
    >>> class Elman(keras_recur.layers.RecurrentLayer):
    ...     cell_class = ElmanCell
    >>> layer = Elman(4, dropout=0.1, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape), layer.dropout
    ((2, 5, 4), 0.1)
    """

    gate_count = None
    # Base-class arguments that a cell does not take (ones that mean nothing
    # for its model): left out of its signature and config, refused by name.
    withheld_arguments = frozenset()
    # The arguments that bind by position, in order (a cell ported from
    # another library keeps that library's order).
    positional_arguments = ("units",)
    # States: [h] or [h, c]; the step output is always h == states[0], which
    # Keras' masked JAX/NumPy loops rely on.
    state_count = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__signature__ = make_signature(
            *init_parameters(cls, RecurrentCell), cls.positional_arguments
        )

    def __new__(cls, *args, **kwargs):
        withheld = sorted(cls.withheld_arguments & kwargs.keys())
        if withheld:
            raise TypeError(
                f"{cls.__name__} does not take `{withheld[0]}`: it has no "
                f"use in this cell. Received: {withheld[0]}="
                f"{kwargs[withheld[0]]!r}"
            )
        return super().__new__(cls, *args, **kwargs)

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
        check_bool("use_bias", use_bias)
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
            use_bias=use_bias,
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
        projected = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.input_bias
        return projected

    def recurrent_dropout_mask(self, h_prev, training):
        """The sequence's dropout multiplier of `h_{t-1}` in training, else
        None."""
        if training and self.recurrent_dropout > 0:
            return self.get_recurrent_dropout_mask(h_prev)
        return None

    def recurrent_input(self, h_prev, training):
        """`h_{t-1}`, with the sequence's recurrent dropout mask in training."""
        mask = self.recurrent_dropout_mask(h_prev, training)
        return h_prev if mask is None else h_prev * mask

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

    def with_config(self, base, own):
        """`base` (the parent's config) with this class's `own` entries,
        less the withheld arguments."""
        config = {**base, **own}
        return {
            k: v for k, v in config.items() if k not in self.withheld_arguments
        }

    def get_config(self):
        return self.with_config(
            super().get_config(),
            {
                "recurrent_activation": activations.serialize(
                    self.recurrent_activation
                )
            },
        )
