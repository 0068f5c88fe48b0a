"""The one sequence layer that runs every keras_recur cell."""

import inspect

import keras
from keras import regularizers

from keras_recur.layers.rnn import recurrence
from keras_recur.layers.rnn.dropout import sequence_dropout_masks
from keras_recur.validation import check_batch_time
from keras_recur.validation import check_bool
from keras_recur.validation import check_one_of
from keras_recur.validation import checked_initial_state
from keras_recur.validation import resolve

# `Layer.get_config` keys of a cell that its layer keeps its own value for.
_CELL_IDENTITY_KEYS = ("name", "trainable", "dtype")


class RecurrentLayer(keras.layers.RNN):
    """Sequence layer running a keras_recur cell, as `keras.layers.RNN`
    runs a Keras cell; the base of the public layers.

    A shipped layer (`PeepholeLSTM`, `GRU`, ...) takes its cell's arguments,
    builds the cell and passes it here, as `keras.layers.LSTM` does, and
    its config holds the cell's arguments in place of the cell. Given a
    cell directly, this layer saves the cell in its config, as
    `keras.layers.RNN` does. Either way it runs the cell through the
    engine (`keras_recur.layers.rnn.recurrence`): the cell's fused kernel
    where one serves the call, else its step in a compiled loop.

    Args:
        cell: A keras_recur cell (a `RecurrentCell`).
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
        use_cudnn: `"auto"` (default) runs the cell's fused kernel where one
            serves the call, `False` always the general loop, `True` the
            fused kernel or a `ValueError` saying why none serves.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`),
            `zero_output_for_mask` (as `keras.layers.RNN`), and
            `implementation` (0, 1 or 2, the values Keras versions wrote),
            accepted and ignored as Keras 3 does, so that their configs
            load.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the state is carried over).
        training: Whether dropout is applied.
        initial_state: Optional list of the cell's initial states.

    Example:

    >>> cell = keras_recur.layers.CoupledLSTMCell(8, use_peepholes=True)
    >>> layer = keras_recur.layers.RecurrentLayer(cell, return_sequences=True)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 8)
    >>> type(layer.from_config(layer.get_config()).cell).__name__
    'CoupledLSTMCell'
    """

    def __init__(
        self,
        cell,
        *,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        use_cudnn="auto",
        **kwargs,
    ):
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not hasattr(cell, "recurrent_step"):
            raise ValueError(
                "`cell` must be a keras_recur cell (a RecurrentCell; "
                "keras.layers.RNN runs Keras' own cells). "
                f"Received: cell={cell!r}"
            )
        check_bool("return_sequences", return_sequences)
        check_bool("return_state", return_state)
        check_bool("go_backwards", go_backwards)
        check_bool("stateful", stateful)
        check_bool("unroll", unroll)
        check_one_of("use_cudnn", use_cudnn, recurrence.USE_CUDNN_CHOICES)
        # The legacy LSTM/GRU argument, ignored as Keras 3 ignores it: any
        # value a Keras or tf.keras version wrote (Keras 2.0 had 0) loads.
        check_one_of(
            "implementation", kwargs.pop("implementation", 2), (0, 1, 2)
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=resolve(
                "activity_regularizer", activity_regularizer
            ),
            **kwargs,
        )
        self.use_cudnn = use_cudnn
        # Keras 3.16's RNN no longer sets it; these layers consume masks.
        self.supports_masking = True
        self.input_spec = keras.layers.InputSpec(ndim=3)

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
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None:
            check_batch_time(
                "mask", mask, tuple(sequences.shape[:2]), "the inputs"
            )
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

    def _maybe_config_dropout_masks(self, cell, input_sequence, input_state):
        # keras.layers.RNN.call draws the cell's dropout masks before every
        # call, in inference too. `inner_loop` draws them itself, in
        # training only (`sequence_dropout_masks`, the same draws in the same
        # order), so an inference call makes no random draw: none to pay
        # for, and none to break a torch.compile graph (Keras' PyTorch
        # random functions are torch.compiler.disable'd).
        pass

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.stateful:
            # The state variables are assigned in place after the loop; torch
            # autograd must not see that write on tensors it saved.
            initial_state = [keras.ops.copy(state) for state in initial_state]
        with sequence_dropout_masks(
            self.cell, sequences[:, 0], initial_state[0], training
        ):
            sequences = self.cell.dropped_inputs(sequences, training)
            return recurrence.run(
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

    def get_config(self):
        config = {
            **super().get_config(),
            "activity_regularizer": regularizers.serialize(
                self.activity_regularizer
            ),
            "use_cudnn": self.use_cudnn,
        }
        if "cell" not in inspect.signature(type(self)).parameters:
            # A layer that builds its own cell takes the cell's arguments,
            # not a cell: they are saved in its place (keras.layers.LSTM's
            # config has the LSTMCell's arguments too).
            del config["cell"]
            cell_config = self.cell.get_config()
            for key in _CELL_IDENTITY_KEYS:
                cell_config.pop(key, None)
            config.update(cell_config)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def reads_cell_arguments(layer_class):
    """Class decorator of a layer that builds its own cell: each argument of
    the cell's `__init__` (the literal signature of the class that
    `layer_class.cell_class` names) reads on the layer as a read-only
    property, `layer.units` returning `layer.cell.units`, as
    keras.layers.LSTM's properties do. Assigning one raises
    AttributeError: the cell would not see it."""
    parameters = inspect.signature(layer_class.cell_class).parameters
    for name, parameter in parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        setattr(layer_class, name, property(_cell_reader(name)))
    return layer_class


def _cell_reader(name):
    def read(self):
        return getattr(self.cell, name)

    read.__name__ = name
    read.__doc__ = f"The cell's `{name}` (read-only)."
    return read
