"""A recurrent decoder with attention: Bahdanau's (2014), which queries with
its previous state, or Luong's (2015), which queries with its current output
and emits an attentional vector."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.attention.attention_mechanism import AttentionMechanism
from keras_recur.layers.rnn import recurrence
from keras_recur.layers.rnn.dropout import sequence_dropout_masks
from keras_recur.validation import check_batch_time
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import checked_initial_state
from keras_recur.validation import layer_argument


@keras.saving.register_keras_serializable(package="keras_recur")
class AttentionDecoder(keras.layers.Layer):
    """Runs an RNN cell over decoder inputs, attending over a memory.

    The mechanism decides the step. Bahdanau, Cho & Bengio (2014), with
    `BahdanauAttention` (and any mechanism that queries with the previous
    state): the query is the previous decoder state, and the output is the
    cell's output beside the context:

    ```
    context_i, a_i = attention(query=h_{i-1}, memory)
    h_i, states_i = cell(concat([inputs_i, context_i]), states_{i-1})
    output_i = concat([h_i, context_i])
    ```

    `h_{i-1}` is the first element of the previous state (zeros, or
    `initial_state`, at the first step).

    Luong, Pham & Manning (2015), with `LuongAttention` (a mechanism whose
    `queries_with_current_output` is True): the cell runs first, its
    output queries, and the output is the attentional vector, which with
    `input_feeding` (the default) also enters the next step's cell input:

    ```
    h_i, states_i = cell(concat([inputs_i, output_{i-1}]), states_{i-1})
    context_i, a_i = attention(query=h_i, memory)
    output_i = tanh(concat([context_i, h_i]) W_c)
    ```

    `output_0` is zeros; with input feeding it is carried as the last
    state. The memory is projected by the attention once per sequence, not
    once per step.

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
        attention_layer_size: Luong's decoding only: the size of the
            attentional vector (the columns of `W_c`, the weight
            `attention_kernel`, which has no bias as in the paper).
            Default: `None`, the cell's output size. A `ValueError` with a
            mechanism that queries with the previous state.
        input_feeding: Luong's decoding only: feed the previous attentional
            vector to the cell. Default: `None`, which is `True` for such a
            mechanism; a `ValueError` with a mechanism that queries with the
            previous state.
        **kwargs: Base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: Decoder inputs `(batch, Ty, features)`, for teacher forcing
            (the embedded previous target tokens).
        memory: Encoder outputs `(batch, Tx, dim)`.
        initial_state: Optional list of the cell's initial states (with
            input feeding, optionally followed by the previous attentional
            vector, as `return_state` returns them; zeros otherwise).
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
        The outputs `(batch, Ty, units + dim)` (Luong's:
        `(batch, Ty, attention_layer_size)`), or the last one, then the
        final states if `return_state` (the cell's, then with input feeding
        the last attentional vector), then the attention weights
        `(batch, Ty, Tx)` if `return_attention`.

    Example:

    >>> decoder = keras_recur.layers.AttentionDecoder(
    ...     keras.layers.GRUCell(16), keras_recur.layers.BahdanauAttention(8)
    ... )
    >>> targets = np.zeros((2, 7, 4), "float32")
    >>> memory = np.ones((2, 5, 6), "float32")
    >>> tuple(decoder(targets, memory).shape)
    (2, 7, 22)
    >>> luong = keras_recur.layers.AttentionDecoder(
    ...     keras.layers.GRUCell(16), keras_recur.layers.LuongAttention()
    ... )
    >>> tuple(luong(targets, memory).shape)
    (2, 7, 16)

    Reference:

    - Bahdanau, Cho & Bengio (2014). Neural machine translation by jointly
      learning to align and translate.
      <https://arxiv.org/abs/1409.0473>
    - Luong, Pham & Manning (2015). Effective approaches to attention-based
      neural machine translation.
      <https://arxiv.org/abs/1508.04025>
    """

    def __init__(
        self,
        cell,
        attention,
        return_sequences=True,
        return_state=False,
        return_attention=False,
        attention_layer_size=None,
        input_feeding=None,
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
        # The mechanism chooses the step (see the two classes below).
        decoding = (
            LuongDecoding()
            if attention.queries_with_current_output
            else BahdanauDecoding()
        )
        attention_layer_size, input_feeding = decoding.checked_options(
            attention, cell, attention_layer_size, input_feeding
        )
        super().__init__(**kwargs)
        self.decoding = decoding
        self.attention_layer_size = attention_layer_size
        self.input_feeding = input_feeding
        self.cell = cell
        self.attention = attention
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.return_attention = return_attention
        self.supports_masking = True

    @property
    def cell_state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    @property
    def state_size(self):
        """The cell's state sizes, then with input feeding the size of the
        attentional vector carried to the next step."""
        feed = [self.attention_layer_size] if self.input_feeding else []
        return self.cell_state_size + feed

    def output_dim(self, memory_dim):
        """The size of each step's output over a memory of `memory_dim`."""
        return self.decoding.output_dim(self, memory_dim)

    def build(self, inputs_shape, memory_shape):
        inputs_shape, memory_shape = tuple(inputs_shape), tuple(memory_shape)
        for name, shape in (("inputs", inputs_shape), ("memory", memory_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"`{name}` must be (batch, steps, features) with known "
                    f"features. Received: {name}.shape={shape}"
                )
        batch, memory_dim = inputs_shape[0], memory_shape[-1]
        self.cell_input_dim, query_dim = self.decoding.build(
            self, inputs_shape[-1], memory_dim
        )
        if not self.cell.built:
            self.cell.build((batch, self.cell_input_dim))
        if not self.attention.built:
            self.attention.build([(batch, query_dim), memory_shape])

    def get_initial_state(self, batch_size):
        """The cell's zero states (and a zero attentional vector)."""
        states = list(self.cell.get_initial_state(batch_size=batch_size))
        if self.input_feeding:
            states.append(self._zero_feed(batch_size))
        return states

    def _zero_feed(self, batch_size):
        return ops.zeros(
            (batch_size, self.attention_layer_size), self.compute_dtype
        )

    def prepare_memory(self, memory, initial_state=None):
        """What every step needs, made once per sequence: the projected
        keys and the checked initial states (zeros if None)."""
        if initial_state is not None and not isinstance(
            initial_state, (list, tuple)
        ):
            initial_state = [initial_state]
        if initial_state is None:
            states = self.get_initial_state(ops.shape(memory)[0])
        elif self.input_feeding and len(initial_state) == len(
            self.cell_state_size
        ):
            # The cell's states alone (an encoder's): the feed starts at 0.
            states = checked_initial_state(
                self.name, self.cell_state_size, initial_state, memory.shape[0]
            )
            states.append(self._zero_feed(ops.shape(memory)[0]))
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

        def attend(query):
            context, weights = self.attention.attend(
                ops.expand_dims(query, 1),
                memory,
                projected_keys,
                memory_mask,
                attention_dropout,
            )
            return context[:, 0], weights[:, 0]

        return self.decoding.step(self, inputs_t, states, attend, training)

    def cell_step(self, parts, states, training):
        """The cell on the concatenated `parts`: (its output, new states)."""
        dtype = parts[-1].dtype
        cell_inputs = ops.concatenate([ops.cast(p, dtype) for p in parts], -1)
        output, new_states = self.cell(cell_inputs, states, training=training)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        return output, list(new_states)

    def call(
        self,
        inputs,
        memory,
        initial_state=None,
        mask=None,
        memory_mask=None,
        training=None,
    ):
        if mask is not None:
            check_batch_time(
                "mask", mask, tuple(inputs.shape[:2]), "the inputs"
            )
        if memory_mask is not None:
            check_batch_time(
                "memory_mask",
                memory_mask,
                tuple(memory.shape[:2]),
                "the memory",
            )
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

        # The previous output rides along as a state: a masked step repeats
        # it, as Keras' RNN layers do.
        output_dim = self.output_dim(memory.shape[-1])
        previous_output = ops.zeros((batch, output_dim), self.compute_dtype)

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
                *new_states, output = recurrence.keep_where_masked(
                    kept, [*new_states, output], [*states, previous_output]
                )
                weights = ops.where(kept, weights, 0.0)
            return [*new_states, output], (output, weights)

        # Only the shape of a step's cell input matters to the mask, which
        # is drawn in training only.
        step_inputs = (
            ops.zeros((batch, self.cell_input_dim), inputs.dtype)
            if training
            else None
        )
        with sequence_dropout_masks(
            self.cell, step_inputs, states[0], training
        ):
            carry, (outputs, weights) = backend.scan(
                scan_step, [*states, previous_output], xs
            )
        states = carry[:-1]
        outputs = ops.transpose(outputs, (1, 0, 2))
        result = [outputs if self.return_sequences else carry[-1]]
        if self.return_state:
            result += states
        if self.return_attention:
            result.append(ops.transpose(weights, (1, 0, 2)))
        return result[0] if len(result) == 1 else result

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
            "attention_layer_size": self.attention_layer_size,
            "input_feeding": self.input_feeding,
        }


class BahdanauDecoding:
    """Bahdanau et al. (2014)'s step: the previous state queries, and the
    output is the cell's output beside the context."""

    def checked_options(
        self, attention, cell, attention_layer_size, input_feeding
    ):
        for name, value in (
            ("attention_layer_size", attention_layer_size),
            ("input_feeding", input_feeding),
        ):
            if value is not None:
                raise ValueError(
                    f"`{name}` is for attention that queries with the "
                    "decoder's current output (LuongAttention); "
                    f"{type(attention).__name__} queries with the "
                    f"previous state. Received: {name}={value!r}"
                )
        return None, None

    def output_dim(self, decoder, memory_dim):
        return _output_size(decoder.cell) + memory_dim

    def build(self, decoder, inputs_dim, memory_dim):
        """Returns (the cell's input size, the query's size)."""
        return inputs_dim + memory_dim, decoder.cell_state_size[0]

    def step(self, decoder, inputs_t, states, attend, training):
        context, weights = attend(states[0])
        h, new_states = decoder.cell_step(
            [inputs_t, context], list(states), training
        )
        return ops.concatenate([h, context], axis=-1), new_states, weights


class LuongDecoding:
    """Luong et al. (2015)'s step: the cell runs first and its output
    queries; the output is the attentional vector
    `tanh([c; h] W_c)`, fed to the next step with input feeding."""

    def checked_options(
        self, attention, cell, attention_layer_size, input_feeding
    ):
        if attention_layer_size is None:
            attention_layer_size = _output_size(cell)
        check_positive_int("attention_layer_size", attention_layer_size)
        input_feeding = True if input_feeding is None else input_feeding
        check_bool("input_feeding", input_feeding)
        return int(attention_layer_size), input_feeding

    def output_dim(self, decoder, memory_dim):
        return decoder.attention_layer_size

    def build(self, decoder, inputs_dim, memory_dim):
        """Adds `W_c` (the decoder's `attention_kernel`, no bias as in the
        paper); returns (the cell's input size, the query's size)."""
        query_dim = _output_size(decoder.cell)
        decoder.attention_kernel = decoder.add_weight(
            shape=(memory_dim + query_dim, decoder.attention_layer_size),
            name="attention_kernel",
        )
        feed = decoder.attention_layer_size if decoder.input_feeding else 0
        return inputs_dim + feed, query_dim

    def step(self, decoder, inputs_t, states, attend, training):
        cell_states = list(states[: len(decoder.cell_state_size)])
        feed = [states[-1]] if decoder.input_feeding else []
        h, new_states = decoder.cell_step(
            [inputs_t, *feed], cell_states, training
        )
        context, weights = attend(h)
        features = ops.concatenate([context, ops.cast(h, context.dtype)], -1)
        kernel = ops.cast(decoder.attention_kernel, features.dtype)
        attentional = ops.tanh(ops.matmul(features, kernel))
        if decoder.input_feeding:
            new_states.append(attentional)
        return attentional, new_states, weights


def _output_size(cell):
    """The size of a cell's output (Keras cells without `output_size`
    output their first state)."""
    size = getattr(cell, "output_size", None)
    if size is None:
        size = cell.state_size
        size = size[0] if isinstance(size, (list, tuple)) else size
    return size
