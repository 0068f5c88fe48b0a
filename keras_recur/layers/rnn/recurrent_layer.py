"""The one sequence layer that runs every keras_recur cell."""

import inspect
import re

import keras
from keras import regularizers

from keras_recur.layers.rnn import recurrence
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import init_parameters
from keras_recur.layers.rnn.recurrent_cell import make_signature
from keras_recur.validation import check_bool
from keras_recur.validation import check_one_of
from keras_recur.validation import checked_initial_state
from keras_recur.validation import resolve

# The wrapper's boolean arguments, passed on to keras.layers.RNN.
_FLAGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
)
# Base `Layer` arguments that the cell shares with its wrapper.
_SHARED_ARGUMENTS = ("dtype", "trainable")
# `Layer.get_config` keys of the cell that the wrapper keeps its own value for.
_CELL_IDENTITY_KEYS = ("name", "trainable", "dtype")


class RecurrentLayer(keras.layers.RNN):
    """Sequence layer running a keras_recur cell (base of the public layers).

    A subclass sets `cell_class`, and `keras_counterpart` where it is a
    drop-in for a Keras layer. Its constructor then takes every argument of
    the cell and of this wrapper, and `inspect.signature` (IDEs, `help`)
    lists them; the arguments the Keras counterpart also has are
    positional in the counterpart's order, so code written for it binds the
    same way; the others are keyword-only. Every cell argument reads on the
    layer too (`layer.units`, `layer.dropout`), as on `keras.layers.LSTM`.

    Args:
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
        use_cudnn: `"auto"` (default) runs the cell's fused kernel where one
            serves the call, `False` always the general loop, `True` the
            fused kernel or a `ValueError` saying why none serves (see
            `keras_recur.layers.rnn.recurrence`).
        **kwargs: The cell's arguments and the base layer arguments (`name`,
            `dtype`, `trainable`); `implementation` (1 or 2) is accepted and
            ignored, as Keras 3 does, so that tf.keras configs load.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the state is carried over).
        training: Whether dropout is applied.
        initial_state: Optional list of the cell's initial states.

    Example:

    >>> class MyCoupledLSTM(keras_recur.layers.RecurrentLayer):
    ...     cell_class = keras_recur.layers.CoupledLSTMCell
    >>> layer = MyCoupledLSTM(8, use_peepholes=True)
    >>> layer.use_peepholes, layer.units
    (True, 8)
    >>> "use_peepholes" in str(inspect.signature(MyCoupledLSTM))
    True
    """

    cell_class = None
    keras_counterpart = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.cell_class is None:
            return
        cell_parameters, _ = init_parameters(cls.cell_class, RecurrentCell)
        cls._cell_arguments = frozenset(p.name for p in cell_parameters)
        own = inspect.signature(cls._arguments).parameters.values()
        positional = cls.cell_class.positional_arguments
        if cls.keras_counterpart is not None:
            positional = [
                p.name
                for p in inspect.signature(
                    cls.keras_counterpart
                ).parameters.values()
                if p.kind is p.POSITIONAL_OR_KEYWORD
            ]
        # Every argument of the cell and of this wrapper; what __init__
        # binds its arguments with.
        cls.constructor_signature = make_signature(
            cell_parameters + list(own), True, positional
        )
        if "__init__" not in vars(cls):
            cls.__init__ = _listing_init(cls)

    @staticmethod
    def _arguments(
        *,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        use_cudnn="auto",
    ):
        """The wrapper's own arguments (a signature, never called)."""

    def __init__(self, *args, implementation=2, **kwargs):
        check_one_of("implementation", implementation, (1, 2))
        arguments = self.constructor_signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        arguments = dict(arguments.arguments)
        base_arguments = arguments.pop("kwargs")
        cell_arguments = {
            name: arguments.pop(name) for name in self._cell_arguments
        }
        for name in _SHARED_ARGUMENTS:
            if name in base_arguments:
                cell_arguments[name] = base_arguments[name]
        for name in self.cell_class.withheld_arguments & base_arguments.keys():
            # The cell refuses it by name.
            cell_arguments[name] = base_arguments.pop(name)
        check_one_of(
            "use_cudnn", arguments["use_cudnn"], recurrence.USE_CUDNN_CHOICES
        )
        for name in _FLAGS:
            check_bool(name, arguments[name])
        cell = self.cell_class(name=self.cell_name, **cell_arguments)
        super().__init__(
            cell,
            **{name: arguments[name] for name in _FLAGS},
            activity_regularizer=resolve(
                "activity_regularizer", arguments["activity_regularizer"]
            ),
            **base_arguments,
        )
        self.use_cudnn = arguments["use_cudnn"]
        # Keras 3.16's RNN no longer sets it; these layers consume masks.
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: the cell's arguments read
        # through the layer, as keras.layers.LSTM's properties do.
        if name in type(self)._cell_arguments:
            return getattr(self.cell, name)
        parent = getattr(super(), "__getattr__", None)  # torch's Module
        if parent is None:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            )
        return parent(name)

    def __dir__(self):
        return sorted({*super().__dir__(), *self._cell_arguments})

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
            sequences = sequences * keras.ops.expand_dims(step_mask, 1)
        if self.stateful:
            # The state variables are assigned in place after the loop; torch
            # autograd must not see that write on tensors it saved.
            initial_state = [keras.ops.copy(state) for state in initial_state]
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
            use_cudnn=self.use_cudnn,
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
            "use_cudnn": self.use_cudnn,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _listing_init(cls):
    """An `__init__` for `cls` whose signature lists every argument (what
    `help`, IDEs and `inspect.signature` show), delegating to the inherited
    one."""
    inherited = cls.__init__

    def __init__(self, *args, **kwargs):
        inherited(self, *args, **kwargs)

    self_parameter = inspect.Parameter(
        "self", inspect.Parameter.POSITIONAL_OR_KEYWORD
    )
    parameters = cls.constructor_signature.parameters.values()
    __init__.__signature__ = inspect.Signature([self_parameter, *parameters])
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = f"Takes every argument of `{cls.cell_class.__name__}`"
    __init__.__doc__ += " and of `RecurrentLayer`; see the class docstring."
    return __init__
