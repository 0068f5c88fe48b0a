"""An encoder-decoder with attention: teacher-forced training, then greedy
and beam-search decoding."""

import collections
import functools
import numbers

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.attention.attention_decoder import AttentionDecoder
from keras_recur.validation import check_positive_int
from keras_recur.validation import layer_argument

Decoded = collections.namedtuple(
    "Decoded", ["tokens", "scores", "lengths", "attention"]
)
Decoded.__doc__ = """What the decoding methods return, for each sequence.

tokens: (batch, max_length) int32 token ids; after the end token, the end
    token again.
scores: (batch,) total log-probability of the tokens up to and including
    the end token (without length penalty).
lengths: (batch,) number of tokens up to and including the end token
    (max_length when it never came).
attention: (batch, max_length, Tx) attention weights of each output step
    (zeros after the end token).
"""

_LAYERS = (
    "source_embedding",
    "encoder",
    "target_embedding",
    "decoder",
    "output_layer",
)
# A score that never wins, finite so that arithmetic on it stays finite.
_NEVER = -1e9


def _inference(decode):
    """Decoding is inference: no autograd graph is recorded, and what it
    returns carries no gradient, on every backend."""

    @functools.wraps(decode)
    def decode_without_gradient(*args, **kwargs):
        with backend.no_gradient():
            decoded = decode(*args, **kwargs)
        return Decoded(*(ops.stop_gradient(value) for value in decoded))

    return decode_without_gradient


@keras.saving.register_keras_serializable(package="keras_recur")
class Seq2Seq(keras.Model):
    """Sequence-to-sequence model with Bahdanau attention.

    Source tokens are embedded and encoded into a memory; the decoder reads
    the previous target token's embedding and attends over the memory; a
    Dense layer gives the next token's logits. Trained with `fit` on
    teacher-forced pairs `(source, target_in) -> target_out`, where
    `target_in` is the target shifted right behind a start token. Decoding
    (`greedy_decode`, `beam_search`) runs the same decoder step on its own
    predictions, for a static number of steps, so it compiles under jit on
    TensorFlow and JAX.

    Padding is token 0 when the embeddings have `mask_zero=True`: padded
    source positions get no attention, padded target steps are skipped.

    Args:
        source_embedding: `keras.layers.Embedding` of the source tokens.
        encoder: Layer mapping embedded sources (batch, Tx, e) to the memory
            (batch, Tx, dim), for example
            `Bidirectional(GRU(u, return_sequences=True))`.
        target_embedding: `keras.layers.Embedding` of the target tokens.
        decoder: An `AttentionDecoder` with the default returns (the
            output sequence only).
        output_layer: Layer giving logits over the target vocabulary from
            the decoder outputs, usually `Dense(vocabulary_size)`.
        **kwargs: Base model arguments (name, ...).

    Call arguments:
        inputs: `(source, target_in)`, int tensors (batch, Tx) and
            (batch, Ty).
        training: Whether dropout applies.

    Example:

    >>> encoder = keras_recur.GRU(8, return_sequences=True)
    >>> model = keras_recur.models.Seq2Seq(
    ...     keras.layers.Embedding(12, 8, mask_zero=True),
    ...     keras.layers.Bidirectional(encoder),
    ...     keras.layers.Embedding(12, 8, mask_zero=True),
    ...     keras_recur.AttentionDecoder(
    ...         keras_recur.GRUCell(16), keras_recur.BahdanauAttention(8)
    ...     ),
    ...     keras.layers.Dense(12),
    ... )
    >>> source = np.array([[5, 6, 7, 0], [4, 4, 0, 0]])
    >>> tuple(model((source, np.array([[1, 9, 9], [1, 8, 0]]))).shape)
    (2, 3, 12)
    >>> decoded = model.beam_search(
    ...     source, start_token=1, end_token=2, max_length=6, beam_width=3
    ... )
    >>> tuple(decoded.tokens.shape), tuple(decoded.attention.shape)
    ((2, 6), (2, 6, 4))

    Reference:

    - Sutskever, Vinyals & Le (2014). Sequence to sequence learning with neural
      networks.
      <https://arxiv.org/abs/1409.3215>
    - Bahdanau, Cho & Bengio (2014). Neural machine translation by jointly
      learning to align and translate.
      <https://arxiv.org/abs/1409.0473>
    - Wu et al. (2016). Google's neural machine translation system (the beam's
      length penalty).
      <https://arxiv.org/abs/1609.08144>
    """

    def __init__(
        self,
        source_embedding,
        encoder,
        target_embedding,
        decoder,
        output_layer,
        **kwargs,
    ):
        super().__init__(**kwargs)
        given = dict(
            zip(
                _LAYERS,
                (
                    source_embedding,
                    encoder,
                    target_embedding,
                    decoder,
                    output_layer,
                ),
            )
        )
        for name, layer in given.items():
            setattr(self, name, layer_argument(name, layer))
        for name in ("source_embedding", "target_embedding"):
            if not isinstance(getattr(self, name), keras.layers.Embedding):
                raise ValueError(
                    f"`{name}` must be a keras.layers.Embedding. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        decoder = self.decoder
        if not isinstance(decoder, AttentionDecoder) or (
            not decoder.return_sequences
            or decoder.return_state
            or decoder.return_attention
        ):
            raise ValueError(
                "`decoder` must be an AttentionDecoder returning its output "
                "sequence only (return_sequences=True, return_state=False, "
                f"return_attention=False). Received: decoder={decoder!r}"
            )
        # The memory has the source's steps, so the source mask is its mask
        # too; a model used as the encoder (a stack) would otherwise warn
        # that it drops the mask it is given.
        self.encoder.supports_masking = True

    def build(self, inputs_shape):
        source_shape, target_shape = (tuple(s) for s in inputs_shape)
        for layer, shape in (
            (self.source_embedding, source_shape),
            (self.target_embedding, target_shape),
        ):
            if not layer.built:
                layer.build(shape)
        embedded = self.source_embedding.compute_output_shape(source_shape)
        if not self.encoder.built:
            self.encoder.build(embedded)
        memory = self.encoder.compute_output_shape(embedded)
        target = self.target_embedding.compute_output_shape(target_shape)
        if not self.decoder.built:
            self.decoder.build(target, memory)
        units = self.decoder.output_dim(memory[-1])
        if not self.output_layer.built:
            self.output_layer.build((*target[:-1], units))
        self.built = True

    def encode(self, source, training=None):
        """Memory (batch, Tx, dim) and its mask (None without mask_zero)."""
        source_mask = self.source_embedding.compute_mask(source)
        memory = self.encoder(
            self.source_embedding(source), mask=source_mask, training=training
        )
        return memory, source_mask

    def call(self, inputs, training=None):
        source, target_in = inputs
        memory, memory_mask = self.encode(source, training)
        outputs = self.decoder(
            self.target_embedding(target_in),
            memory,
            mask=self.target_embedding.compute_mask(target_in),
            memory_mask=memory_mask,
            training=training,
        )
        return self.output_layer(outputs)

    def _next_log_probs(self, tokens, states, memory, keys, memory_mask):
        """One decoder step on the previous tokens: log-probabilities of
        the next token, new states and attention weights."""
        output, states, weights = self.decoder.step(
            self.target_embedding(tokens), states, memory, keys, memory_mask
        )
        logits = ops.cast(self.output_layer(output), "float32")
        return ops.log_softmax(logits, axis=-1), states, weights

    @_inference
    def greedy_decode(self, source, start_token, end_token, max_length):
        """Decodes by taking the most likely token at every step.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).

        Returns:
            A `Decoded(tokens, scores, lengths, attention)`.
        """
        self._check_decoding(start_token, end_token, max_length)
        memory, memory_mask = self.encode(source)
        keys, states = self.decoder.prepare_memory(memory)
        batch = ops.shape(memory)[0]
        tokens = ops.full((batch,), start_token, "int32")
        finished = ops.zeros((batch,), "bool")
        scores = ops.zeros((batch,), "float32")
        lengths = ops.zeros((batch,), "int32")

        def step(carry, _):
            *states, tokens, finished, scores, lengths = carry
            log_probs, new_states, weights = self._next_log_probs(
                tokens, states, memory, keys, memory_mask
            )
            best = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
            tokens = ops.where(finished, end_token, best)
            scores = scores + ops.where(
                finished, 0.0, ops.max(log_probs, axis=-1)
            )
            lengths = lengths + ops.cast(ops.logical_not(finished), "int32")
            weights = ops.where(ops.expand_dims(finished, -1), 0.0, weights)
            finished = ops.logical_or(finished, tokens == end_token)
            carry = [*new_states, tokens, finished, scores, lengths]
            return carry, (tokens, ops.cast(weights, "float32"))

        carry, (tokens, weights) = backend.scan(
            step,
            [*states, tokens, finished, scores, lengths],
            ops.arange(max_length),
        )
        return Decoded(
            tokens=ops.transpose(tokens),
            scores=carry[-2],
            lengths=carry[-1],
            attention=ops.transpose(weights, (1, 0, 2)),
        )

    @_inference
    def beam_search(
        self,
        source,
        start_token,
        end_token,
        max_length,
        beam_width=4,
        length_penalty=0.0,
    ):
        """Decodes with a beam search, keeping `beam_width` hypotheses.

        Hypotheses are ranked by log-probability divided by GNMT's length
        penalty `((5 + length) / 6) ** length_penalty` (Wu et al. 2016;
        0 ranks by log-probability alone). A hypothesis that produced the
        end token stops growing: it keeps its score and length. With
        `beam_width=1` this is greedy decoding.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            beam_width: Number of hypotheses kept. Default: 4.
            length_penalty: The exponent `alpha` >= 0. Default: 0.

        Returns:
            A `Decoded(tokens, scores, lengths, attention)` of the best
            hypothesis of each sequence.
        """
        self._check_decoding(start_token, end_token, max_length)
        check_positive_int("beam_width", beam_width)
        if (
            isinstance(length_penalty, bool)
            or not isinstance(length_penalty, numbers.Real)
            or not 0 <= length_penalty < float("inf")
        ):
            raise ValueError(
                "`length_penalty` must be a finite number >= 0. "
                f"Received: length_penalty={length_penalty!r}"
            )
        width = beam_width
        memory, memory_mask = self.encode(source)
        batch, source_steps = ops.shape(memory)[0], ops.shape(memory)[1]
        # Every hypothesis is a row of a (batch * width) batch.
        memory = ops.repeat(memory, width, axis=0)
        if memory_mask is not None:
            memory_mask = ops.repeat(memory_mask, width, axis=0)
        keys, states = self.decoder.prepare_memory(memory)
        first_row = ops.arange(batch) * width
        vocabulary = self.target_embedding.input_dim
        is_end = ops.arange(vocabulary) == end_token
        positions = ops.arange(max_length)

        carry = [
            *states,
            ops.full((batch * width,), start_token, "int32"),
            # Only the first hypothesis is alive at the start, so that the
            # first step does not choose the same token `width` times.
            ops.tile(
                ops.where(ops.arange(width) == 0, 0.0, _NEVER)[None],
                (batch, 1),
            ),
            ops.zeros((batch, width), "bool"),
            ops.zeros((batch, width), "int32"),
            ops.zeros((batch, width, max_length), "int32"),
            ops.zeros((batch, width, max_length, source_steps), "float32"),
        ]

        def step(carry, t):
            *states, tokens, scores, finished, lengths, history, attention = (
                carry
            )
            log_probs, new_states, weights = self._next_log_probs(
                tokens, states, memory, keys, memory_mask
            )
            log_probs = ops.reshape(log_probs, (batch, width, vocabulary))
            # A finished hypothesis continues only with the end token, free.
            log_probs = ops.where(
                finished[..., None], ops.where(is_end, 0.0, _NEVER), log_probs
            )
            totals = scores[..., None] + log_probs
            grown = lengths + ops.cast(ops.logical_not(finished), "int32")
            penalty = ops.power(
                (5.0 + ops.cast(grown, "float32")) / 6.0, length_penalty
            )
            ranking = totals / penalty[..., None]
            # The best `width` of all (hypothesis, token) continuations.
            flat = (batch, width * vocabulary)
            totals = ops.reshape(totals, flat)
            _, chosen = ops.top_k(ops.reshape(ranking, flat), width)
            origin = chosen // vocabulary
            tokens = ops.cast(chosen % vocabulary, "int32")
            scores = ops.take_along_axis(totals, chosen, axis=1)
            lengths = ops.take_along_axis(grown, origin, axis=1)
            was_finished = ops.take_along_axis(finished, origin, axis=1)
            finished = ops.logical_or(was_finished, tokens == end_token)
            rows = ops.reshape(first_row[:, None] + origin, (-1,))
            states = [ops.take(state, rows, axis=0) for state in new_states]
            weights = ops.reshape(
                ops.take(ops.cast(weights, "float32"), rows, axis=0),
                (batch, width, -1),
            )
            weights = ops.where(was_finished[..., None], 0.0, weights)
            now = positions == t
            history = ops.where(
                now,
                tokens[..., None],
                ops.take_along_axis(history, origin[..., None], axis=1),
            )
            attention = ops.where(
                now[:, None],
                weights[:, :, None],
                ops.take_along_axis(attention, origin[..., None, None], axis=1),
            )
            carry = [
                *states,
                ops.reshape(tokens, (-1,)),
                scores,
                finished,
                lengths,
                history,
                attention,
            ]
            return carry, ()

        carry, _ = backend.scan(step, carry, positions)
        scores, _, lengths, history, attention = carry[-5:]
        # top_k sorts: the first hypothesis ranks best.
        return Decoded(
            tokens=history[:, 0],
            scores=scores[:, 0],
            lengths=lengths[:, 0],
            attention=attention[:, 0],
        )

    def _check_decoding(self, start_token, end_token, max_length):
        vocabulary = self.target_embedding.input_dim
        for name, value in (
            ("start_token", start_token),
            ("end_token", end_token),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or not 0 <= value < vocabulary
            ):
                raise ValueError(
                    f"`{name}` must be a token id in [0, {vocabulary}). "
                    f"Received: {name}={value!r}"
                )
        check_positive_int("max_length", max_length)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in _LAYERS
            },
        }
