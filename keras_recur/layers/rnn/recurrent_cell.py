"""The slim base of every keras_recur cell: state sizes, the step methods,
dropout masks and the config."""

import keras
from keras import ops

from keras_recur.validation import check_positive_int
from keras_recur.validation import check_seed

# Keras' RNN layer draws a cell's dropout masks once per sequence, outside
# its (JAX-traced) loop, only for cells that carry its `DropoutRNNCell`
# mixin, which is private (keras.src). The public `SimpleRNNCell` carries
# it; the cells take the mixin from there rather than subclass
# `SimpleRNNCell`, whose fifteen arguments and dense weights an echo state
# network or a cell without a recurrent kernel would have to refuse, and
# for which `isinstance(cell, SimpleRNNCell)` would be a false statement.
_KERAS_DROPOUT_MIXIN = next(
    klass
    for klass in keras.layers.SimpleRNNCell.__mro__
    if klass.__name__ == "DropoutRNNCell"
)


def feature_dim(input_shape):
    """The (known) feature size of a cell's inputs."""
    if input_shape[-1] is None:
        raise ValueError(
            "The feature (last) dimension of the inputs must be known. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return input_shape[-1]


class RecurrentCell(keras.layers.Layer, _KERAS_DROPOUT_MIXIN):
    """Base class of the keras_recur cells (not used directly).

    Holds what every cell has: `units`, the `seed` of its random draws,
    `state_count` states of `units` each (the step's output is the first,
    `h`), the per-sequence dropout masks and the config. A subclass builds
    its weights and writes two methods, which the engine
    (`keras_recur.layers.rnn.recurrence`) calls:

    - `project_inputs(inputs)`: what the step needs of `x_t` alone, for any
      number of leading axes (so a whole sequence can be projected at once);
    - `recurrent_step(projected, states, training)`: one step, returning
      `(h_t, new_states)` with `new_states[0]` being `h_t`.

    A cell with dropout sets `dropout` (of the inputs) and
    `recurrent_dropout` (of `h_{t-1}`), which are 0 here; the masks are
    drawn once per sequence and shared by every step. Cells with dense
    gates (`x W + h U + b`) build on `DenseGatesCell`.

    Args:
        units: Positive integer, dimensionality of the output space.
        seed: Integer seed of the cell's random draws (dropout masks).
            Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: The list of state tensors, `(batch, units)` each.
        training: Whether dropout is applied.

    Example:

    The leaky integrator `h_t = h_{t-1} + tanh(x_t w)` (one weight):

    >>> class Integrator(keras_recur.layers.RecurrentCell):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1], self.units))
    ...     def project_inputs(self, inputs):
    ...         return keras.ops.tanh(keras.ops.matmul(inputs, self.w))
    ...     def recurrent_step(self, projected, states, training=False):
    ...         h = states[0] + projected
    ...         return h, [h]
    >>> layer = keras_recur.layers.RecurrentLayer(
    ...     Integrator(4), return_sequences=True
    ... )
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    """

    # States: [h] or [h, c]; the step output is always h == states[0], which
    # Keras' masked JAX/NumPy loops rely on.
    state_count = 1
    # No dropout unless a cell takes the arguments.
    dropout = 0.0
    recurrent_dropout = 0.0

    def __init__(self, units, seed=None, **kwargs):
        check_positive_int("units", units)
        check_seed(seed)
        super().__init__(**kwargs)
        self.units = int(units)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = [self.units] * self.state_count
        self.output_size = self.units
        # The mixin's mask caches, made on first use otherwise: made here,
        # a torch.compile'd call finds them from its first trace, instead
        # of recompiling when the first call adds them.
        self._dropout_mask = None
        self._recurrent_dropout_mask = None

    def project_inputs(self, inputs):
        """What a step needs of its inputs alone; any number of leading
        axes."""
        raise NotImplementedError

    def recurrent_step(self, projected, states, training=False):
        """One step from the projected input and `states`.

        Returns `(h_t, new_states)` with `new_states[0]` being `h_t`.
        """
        raise NotImplementedError

    def dropped_inputs(self, inputs, training):
        """`inputs` (one step, or a sequence with time on axis 1) times the
        sequence's input dropout mask in training: the one place where
        input dropout is applied, for the cell's own `call`, the engine and
        the fused kernels alike. The mask is the one drawn for this
        sequence (see `keras_recur.layers.rnn.dropout`)."""
        if not (training and self.dropout > 0):
            return inputs
        step_inputs = inputs if len(inputs.shape) == 2 else inputs[:, 0]
        mask = self.get_dropout_mask(step_inputs)
        if len(inputs.shape) == 3:
            mask = ops.expand_dims(mask, 1)
        return inputs * mask

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

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        inputs = self.dropped_inputs(inputs, training)
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
            "units": self.units,
            "seed": self.seed,
        }
