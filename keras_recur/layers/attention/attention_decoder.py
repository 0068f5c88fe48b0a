"""A recurrent decoder that attends with its previous state (Bahdanau 2014)."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.attention.attention_mechanism import AttentionMechanism
from keras_recur.validation import check_bool
from keras_recur.validation import checked_initial_state
from keras_recur.validation import layer_argument


@keras.saving.register_keras_serializable(package="keras_recur")
class AttentionDecoder(keras.layers.Layer):
    """Runs an RNN cell over decoder inputs, attending over a memory.

    Step `i`, as in Bahdanau, Cho & Bengio (2014), where the query is the
    previous decoder state (TF-Addons' AttentionWrapper queried with the
    current output instead):

    ```
    context_i, a_i = attention(query=h_{i-1}, memory)
    h_i, states_i = cell(concat([inputs_i, context_i]), states_{i-1})
    output_i = concat([h_i, context_i])
    ```

    `h_{i-1}` is the first element of the previous state (zeros, or
    `initial_state`, at the first step). The memory is projected by the
    attention's `W_k` once per sequence, not once per step.

    Args:
        cell: A Keras RNN cell: a keras_recur cell or `keras.layers.LSTMCell`,
            `GRUCell`, `SimpleRNNCell` (anything with `state_size`).
        attention: An attention mechanism: `BahdanauAttention`, or any
            subclass of `AttentionMechanism` (which projects the memory once
            per sequence and scores each step's query).
        return_sequences: Return the outputs of every step rather than the
            last one. Default: `True`.
        return_state: Also return the final states. Default: `False`.
        return_attention: Also return the attention weights of every step.
            Default: `False`.
        **kwargs: Base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: Decoder inputs `(batch, Ty, features)`, for teacher forcing
            (the embedded previous target tokens).
        memory: Encoder outputs `(batch, Tx, dim)`.
        initial_state: Optional list of the cell's initial states.
        mask: Optional boolean `(batch, Ty)` mask of the decoder inputs. A
            masked step keeps the states and repeats the previous output,
            and its attention weights are zeros. Keras fills in the masks of
            a layer with several tensor inputs only for arguments named
            after them, so pass this one (for example
            `embedding.compute_mask(tokens)`).
        memory_mask: Optional boolean `(batch, Tx)` mask of the memory;
            masked positions get zero attention. When None and `memory`
            carries a Keras mask, that mask is used.
        training: Whether dropout (of the cell and the attention) applies.

    Returns:
        The outputs `(batch, Ty, units + dim)` (or the last one,
        `(batch, units + dim)`), then the final states if `return_state`,
        then the attention weights `(batch, Ty, Tx)` if `return_attention`.

    Example:

    >>> decoder = keras_recur.layers.AttentionDecoder(
    ...     keras.layers.GRUCell(16), keras_recur.layers.BahdanauAttention(8)
    ... )
    >>> targets = np.zeros((2, 7, 4), "float32")
    >>> memory = np.ones((2, 5, 6), "float32")
    >>> tuple(decoder(targets, memory).shape)
    (2, 7, 22)
    """

    def __init__(
        self,
        cell,
        attention,
        return_sequences=True,
        return_state=False,
        return_attention=False,
        **kwargs,
    ):
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, keras.layers.Layer) or not hasattr(
            cell, "state_size"
        ):
            raise ValueError(
                "`cell` must be a Keras RNN cell (a layer with `state_size`)."
                f" Received: cell={cell!r}"
            )
        attention = layer_argument(
            "attention",
            attention,
            AttentionMechanism,
            "a keras_recur AttentionMechanism (such as BahdanauAttention)",
        )
        check_bool("return_sequences", return_sequences)
        check_bool("return_state", return_state)
        check_bool("return_attention", return_attention)
        super().__init__(**kwargs)
        self.cell = cell
        self.attention = attention
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.return_attention = return_attention
        self.supports_masking = True

    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def build(self, inputs_shape, memory_shape):
        inputs_shape, memory_shape = tuple(inputs_shape), tuple(memory_shape)
        for name, shape in (("inputs", inputs_shape), ("memory", memory_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"`{name}` must be (batch, steps, features) with known "
                    f"features. Received: {name}.shape={shape}"
                )
        batch = inputs_shape[0]
        if not self.cell.built:
            self.cell.build((batch, inputs_shape[-1] + memory_shape[-1]))
        if not self.attention.built:
            self.attention.build([(batch, self.state_size[0]), memory_shape])

    def get_initial_state(self, batch_size):
        """The cell's zero states."""
        return list(self.cell.get_initial_state(batch_size=batch_size))

    def prepare_memory(self, memory, initial_state=None):
        """What every step needs, made once per sequence: the projected
        keys and the checked initial states (zeros if None)."""
        if initial_state is None:
            states = self.get_initial_state(ops.shape(memory)[0])
        else:
            states = checked_initial_state(
                self.name, self.state_size, initial_state, memory.shape[0]
            )
        return self.attention.project_keys(memory), states

    def step(
        self,
        inputs_t,
        states,
        memory,
        projected_keys,
        memory_mask=None,
        attention_dropout=None,
        training=None,
    ):
        """One decoder step: `(output_t, new_states, weights_t)`.

        `inputs_t` is (batch, features); `projected_keys` comes from
        `prepare_memory`; `attention_dropout` is a (batch, Tx) multiplier
        drawn by the attention's `dropout_mask`, or None.
        """
        if attention_dropout is not None:
            attention_dropout = ops.expand_dims(attention_dropout, 1)
        context, weights = self.attention.attend(
            ops.expand_dims(states[0], 1),
            memory,
            projected_keys,
            memory_mask,
            attention_dropout,
        )
        context, weights = context[:, 0], weights[:, 0]
        cell_inputs = ops.concatenate(
            [ops.cast(inputs_t, context.dtype), context], axis=-1
        )
        cell_output, new_states = self.cell(
            cell_inputs, list(states), training=training
        )
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        output = ops.concatenate([cell_output, context], axis=-1)
        return output, list(new_states), weights

    def call(
        self,
        inputs,
        memory,
        initial_state=None,
        mask=None,
        memory_mask=None,
        training=None,
    ):
        projected_keys, states = self.prepare_memory(memory, initial_state)
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        xs = {"inputs": ops.transpose(inputs, (1, 0, 2))}
        if mask is not None:
            mask = ops.cast(mask, "bool")
            xs["mask"] = ops.expand_dims(ops.transpose(mask, (1, 0)), -1)
        if training:
            dropout = self.attention.dropout_mask(
                (steps, batch, ops.shape(memory)[1])
            )
            if dropout is not None:
                xs["attention_dropout"] = dropout
            self._draw_cell_dropout_masks(inputs, memory, states)

        # The previous output rides along as a state: a masked step repeats
        # it, as Keras' RNN layers do.
        output_size = self.cell.output_size + memory.shape[-1]
        previous_output = ops.zeros((batch, output_size), self.compute_dtype)

        def scan_step(carry, xs_t):
            states, previous_output = carry[:-1], carry[-1]
            output, new_states, weights = self.step(
                xs_t["inputs"],
                states,
                memory,
                projected_keys,
                memory_mask,
                xs_t.get("attention_dropout"),
                training,
            )
            if "mask" in xs_t:
                kept = xs_t["mask"]
                new_states = [
                    ops.where(kept, new, old)
                    for new, old in zip(new_states, states)
                ]
                output = ops.where(kept, output, previous_output)
                weights = ops.where(kept, weights, 0.0)
            return [*new_states, output], (output, weights)

        carry, (outputs, weights) = backend.scan(
            scan_step, [*states, previous_output], xs
        )
        self._reset_cell_dropout_masks()
        states = carry[:-1]
        outputs = ops.transpose(outputs, (1, 0, 2))
        result = [outputs if self.return_sequences else carry[-1]]
        if self.return_state:
            result += states
        if self.return_attention:
            result.append(ops.transpose(weights, (1, 0, 2)))
        return result[0] if len(result) == 1 else result

    def _draw_cell_dropout_masks(self, inputs, memory, states):
        # As keras.layers.RNN does: a cell's masks are drawn once per
        # sequence, outside the (traced) loop, then reused by every step.
        if getattr(self.cell, "dropout", 0) > 0:
            first = ops.concatenate(
                [inputs[:, 0], ops.cast(memory[:, 0], inputs.dtype)], -1
            )
            self.cell.get_dropout_mask(first)
        if getattr(self.cell, "recurrent_dropout", 0) > 0:
            self.cell.get_recurrent_dropout_mask(states[0])

    def _reset_cell_dropout_masks(self):
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if hasattr(self.cell, reset):
                getattr(self.cell, reset)()

    def compute_mask(self, inputs, previous_mask=None):
        output_mask = previous_mask if self.return_sequences else None
        if not (self.return_state or self.return_attention):
            return output_mask
        masks = [output_mask]
        if self.return_state:
            masks += [None] * len(self.state_size)
        if self.return_attention:
            masks.append(None)
        return masks

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "attention": keras.saving.serialize_keras_object(self.attention),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "return_attention": self.return_attention,
        }
