"""An encoder-decoder with attention: teacher-forced training, then greedy
and beam-search decoding."""

import collections
import functools
import numbers

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.layers.attention.attention_decoder import AttentionDecoder
from keras_recur.scores import NEVER
from keras_recur.validation import check_non_negative_float
from keras_recur.validation import check_non_negative_int
from keras_recur.validation import check_positive_float
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_seed
from keras_recur.validation import layer_argument

Decoded = collections.namedtuple(
    "Decoded", ["tokens", "scores", "lengths", "attention", "normalized_scores"]
)
Decoded.__doc__ = """What the decoding methods return, for each sequence
(and with `beam_search(num_return_sequences=n)`, for each of its `n` best
hypotheses, on an axis after the batch's: `(batch, n, ...)`).

tokens: (batch, max_length) int32 token ids; after the end token, the end
    token again.
scores: (batch,) total log-probability of the tokens up to and including
    the end token, under the model (without penalties).
lengths: (batch,) number of tokens up to and including the end token
    (max_length when it never came).
attention: (batch, max_length, Tx) attention weights of each output step
    (zeros after the end token).
normalized_scores: (batch,) what `beam_search` ranks by: `scores` divided
    by GNMT's length penalty, plus its coverage penalty; `scores` itself
    for `greedy_decode` and `sample`.
"""

_LAYERS = (
    "source_embedding",
    "encoder",
    "target_embedding",
    "decoder",
    "output_layer",
)


def _forbid(log_probs, t, history, end_token, min_length, ngram_size):
    """`log_probs` (rows, vocabulary) at step `t`, with `NEVER` for the end
    token before step `min_length` and for every token that would repeat an
    n-gram (`ngram_size`) of the row's tokens before step `t` (`history`,
    (rows, max_length))."""
    if min_length:
        is_end = ops.arange(ops.shape(log_probs)[-1]) == end_token
        log_probs = ops.where(is_end & (t < min_length), NEVER, log_probs)
    if ngram_size:
        repeats = _repeated_ngrams(
            history, t, ngram_size, ops.shape(log_probs)[-1]
        )
        log_probs = ops.where(repeats, NEVER, log_probs)
    return log_probs


def _repeated_ngrams(history, t, n, vocabulary):
    """(rows, vocabulary) booleans: whether a token at step `t` would
    complete an n-gram that `history[:, :t]` already holds (fairseq's
    `no_repeat_ngram_size`)."""
    rows, steps = ops.shape(history)[0], history.shape[1]
    starts = steps - n + 1  # the n-grams that fit in max_length
    if starts < 1:
        return ops.zeros((rows, vocabulary), "bool")
    # The n-gram at i ended before step t...
    match = ops.expand_dims(ops.arange(starts) + n - 1 < t, 0)
    for k in range(n - 1):
        # ...and begins with the n - 1 tokens before step t.
        before = ops.take(history, ops.maximum(t - n + 1 + k, 0), axis=1)
        window = history[:, k : k + starts]
        match = match & (window == ops.expand_dims(before, 1))
    # Count, per row, the n-grams that end in each token: a segment sum
    # over (row, token), which holds (rows, vocabulary) and no more.
    match = ops.broadcast_to(match, (rows, starts))  # for n = 1
    row = ops.repeat(ops.arange(rows, dtype="int32"), starts)
    token = ops.reshape(history[:, n - 1 :], (-1,))
    counts = ops.segment_sum(
        ops.reshape(ops.cast(match, "float32"), (-1,)),
        row * vocabulary + token,
        num_segments=rows * vocabulary,
    )
    return ops.reshape(counts, (rows, vocabulary)) > 0


def _coverage(attention_sum, source_mask):
    """GNMT's coverage term `sum_i log(min(sum_j p_ij, 1))` over the
    source positions i (the unmasked ones) of attention summed over the
    output steps j: (..., Tx) to (...)."""
    terms = ops.log(ops.minimum(attention_sum, 1.0))
    if source_mask is not None:
        terms = ops.where(source_mask, terms, 0.0)
    return ops.sum(terms, axis=-1)


def _truncated_probabilities(log_probs, temperature, top_k, top_p):
    """The sampling distribution up to its total (the draw divides by it):
    softmax(log_probs / temperature), cut to the `top_k` most likely tokens
    (and those tied with the last), then to the fewest most likely tokens
    whose probability sums to `top_p` at least (and those tied with the
    last).

    The row's maximum is subtracted first, so that a tiny temperature sends
    the other tokens to -inf and keeps the most likely at 0: the draw tends
    to the greedy token (ties drawn evenly) as the temperature goes to 0,
    rather than overflowing to NaN. A temperature below float32's smallest
    normal number divides as that number (it would round to 0)."""
    log_probs = ops.cast(log_probs, "float32")
    temperature = max(float(temperature), float(np.finfo("float32").tiny))
    highest = ops.max(log_probs, axis=-1, keepdims=True)
    logits = (log_probs - highest) / temperature
    if top_k is not None:
        kth = ops.top_k(logits, top_k)[0][:, -1:]
        logits = ops.where(logits < kth, float("-inf"), logits)
    probabilities = ops.softmax(logits, axis=-1)
    if top_p < 1.0:
        # Best first; after a top-k cut only the top_k are above zero.
        ranked = ops.top_k(
            probabilities, top_k or ops.shape(probabilities)[-1]
        )[0]
        before = ops.cumsum(ranked, axis=-1) - ranked
        smallest_kept = ops.min(
            ops.where(before < top_p, ranked, float("inf")),
            axis=-1,
            keepdims=True,
        )
        probabilities = ops.where(
            probabilities >= smallest_kept, probabilities, 0.0
        )
    return probabilities


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
    (`greedy_decode`, `sample`, `beam_search`) runs the same decoder step
    on its own predictions, for a static number of steps, so it compiles
    under jit on TensorFlow and JAX.

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
    >>> three_best = model.beam_search(
    ...     source, 1, 2, max_length=6, beam_width=3, num_return_sequences=3
    ... )
    >>> tuple(three_best.tokens.shape), tuple(three_best.scores.shape)
    ((2, 3, 6), (2, 3))
    >>> sampled = model.sample(source, 1, 2, max_length=6, top_p=0.9, seed=0)
    >>> tuple(sampled.tokens.shape)
    (2, 6)

    Reference:

    - Sutskever, Vinyals & Le (2014). Sequence to sequence learning with neural
      networks.
      <https://arxiv.org/abs/1409.3215>
    - Bahdanau, Cho & Bengio (2014). Neural machine translation by jointly
      learning to align and translate.
      <https://arxiv.org/abs/1409.0473>
    - Wu et al. (2016). Google's neural machine translation system (the beam's
      length and coverage penalties).
      <https://arxiv.org/abs/1609.08144>
    - Holtzman et al. (2020). The curious case of neural text degeneration
      (top-p sampling).
      <https://arxiv.org/abs/1904.09751>
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
    def greedy_decode(
        self,
        source,
        start_token,
        end_token,
        max_length,
        min_length=0,
        no_repeat_ngram_size=0,
    ):
        """Decodes by taking the most likely token at every step.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            min_length: The end token is forbidden before this many tokens
                (fairseq's `min_len`). Default: 0.
            no_repeat_ngram_size: With `n > 0`, no n-gram of tokens occurs
                twice in a sequence: a token that would complete one
                already there is forbidden (fairseq's option). Default: 0.

        Returns:
            A `Decoded(tokens, scores, lengths, attention,
            normalized_scores)`.
        """
        self._check_decoding(
            start_token, end_token, max_length, min_length, no_repeat_ngram_size
        )

        def most_likely(log_probs, unused_noise):
            return ops.argmax(log_probs, axis=-1)

        return self._decode_each_row(
            source,
            start_token,
            end_token,
            max_length,
            min_length,
            no_repeat_ngram_size,
            most_likely,
        )

    @_inference
    def sample(
        self,
        source,
        start_token,
        end_token,
        max_length,
        temperature=1.0,
        top_k=None,
        top_p=1.0,
        min_length=0,
        no_repeat_ngram_size=0,
        seed=None,
    ):
        """Decodes by sampling every token from the model's distribution,
        sharpened or flattened by `temperature` and cut by `top_k` and
        `top_p` (nucleus sampling, Holtzman et al. 2020), in that order.

        The uniform numbers of the whole decoding are drawn before the loop
        from `seed` (through `keras.random`), and each step's token is the
        inverse of the truncated distribution's CDF at its number: a seed
        gives the same tokens at every call on a backend, under jit too
        (where TensorFlow's XLA draws other numbers than its eager kernels).

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            temperature: Positive number dividing the log-probabilities
                before the softmax; as it goes to 0 the draw becomes the
                greedy token (below float32's smallest normal number,
                1.2e-38, it is that token). Default: 1.
            top_k: `None`, or a positive int: only the `top_k` most likely
                tokens (and any tied with the last) are drawn. Default:
                `None`. With 1 this is greedy decoding.
            top_p: A number in (0, 1]: only the fewest most likely tokens
                whose probabilities sum to `top_p` at least are drawn.
                Default: 1 (all).
            min_length: See `greedy_decode`. Default: 0.
            no_repeat_ngram_size: See `greedy_decode`. Default: 0.
            seed: `None`, an int (the same tokens at every call) or a
                `keras.random.SeedGenerator` (new tokens at every call, in a
                reproducible order). Default: `None`, Keras' global seed
                generator (under jit on JAX, pass an int).

        Returns:
            A `Decoded(tokens, scores, lengths, attention,
            normalized_scores)`; `scores` are the model's log-probabilities
            of the drawn tokens (before temperature and truncation).
        """
        self._check_decoding(
            start_token, end_token, max_length, min_length, no_repeat_ngram_size
        )
        check_positive_float("temperature", temperature)
        if top_k is not None:
            check_positive_int("top_k", top_k)
            vocabulary = self.target_embedding.input_dim
            if top_k > vocabulary:
                raise ValueError(
                    f"`top_k` must be at most the vocabulary size "
                    f"({vocabulary}). Received: top_k={top_k}"
                )
        check_positive_float("top_p", top_p, at_most=1.0)
        check_seed(seed, generator=True)
        batch = ops.shape(source)[0]
        uniform = keras.random.uniform((max_length, batch), seed=seed)

        def drawn(log_probs, step_uniform):
            probabilities = _truncated_probabilities(
                log_probs, temperature, top_k, top_p
            )
            cdf = ops.cumsum(probabilities, axis=-1)
            # The first token whose CDF exceeds u times the total (below 1
            # after a top-p cut, off 1 by rounding): never one of
            # probability 0.
            threshold = ops.expand_dims(step_uniform, 1) * cdf[:, -1:]
            return ops.sum(ops.cast(cdf <= threshold, "int32"), axis=-1)

        return self._decode_each_row(
            source,
            start_token,
            end_token,
            max_length,
            min_length,
            no_repeat_ngram_size,
            drawn,
            uniform,
        )

    def _decode_each_row(
        self,
        source,
        start_token,
        end_token,
        max_length,
        min_length,
        no_repeat_ngram_size,
        choose,
        noise=None,
    ):
        """The loop of `greedy_decode` and `sample`: at every step each row
        takes `choose(log_probs, noise_t)` (int tokens), of log-probabilities
        where `min_length` and `no_repeat_ngram_size` forbid tokens."""
        memory, memory_mask = self.encode(source)
        keys, states = self.decoder.prepare_memory(memory)
        batch = ops.shape(memory)[0]
        positions = ops.arange(max_length)

        def step(carry, inputs):
            t, step_noise = inputs if noise is not None else (inputs, None)
            *states, tokens, finished, scores, lengths, history = carry
            log_probs, new_states, weights = self._next_log_probs(
                tokens, states, memory, keys, memory_mask
            )
            allowed = _forbid(
                log_probs,
                t,
                history,
                end_token,
                min_length,
                no_repeat_ngram_size,
            )
            chosen = ops.cast(choose(allowed, step_noise), "int32")
            tokens = ops.where(finished, end_token, chosen)
            chosen_log_prob = ops.take_along_axis(
                log_probs, ops.expand_dims(chosen, 1), axis=1
            )[:, 0]
            scores = scores + ops.where(finished, 0.0, chosen_log_prob)
            lengths = lengths + ops.cast(ops.logical_not(finished), "int32")
            weights = ops.where(ops.expand_dims(finished, -1), 0.0, weights)
            finished = ops.logical_or(finished, tokens == end_token)
            history = ops.where(
                positions == t, ops.expand_dims(tokens, 1), history
            )
            carry = [*new_states, tokens, finished, scores, lengths, history]
            return carry, (ops.cast(weights, "float32"),)

        carry, (weights,) = backend.scan(
            step,
            [
                *states,
                ops.full((batch,), start_token, "int32"),
                ops.zeros((batch,), "bool"),
                ops.zeros((batch,), "float32"),
                ops.zeros((batch,), "int32"),
                ops.zeros((batch, max_length), "int32"),
            ],
            positions if noise is None else (positions, noise),
        )
        *_, scores, lengths, history = carry
        return Decoded(
            tokens=history,
            scores=scores,
            lengths=lengths,
            attention=ops.transpose(weights, (1, 0, 2)),
            normalized_scores=scores,
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
        coverage_penalty=0.0,
        num_return_sequences=None,
        min_length=0,
        no_repeat_ngram_size=0,
    ):
        """Decodes with a beam search, keeping `beam_width` hypotheses.

        Hypotheses are ranked by GNMT's score (Wu et al. 2016),

        ```
        log p(y | x) / ((5 + |y|) / 6) ** length_penalty
            + coverage_penalty * sum_i log(min(sum_j a_ij, 1))
        ```

        where `a_ij` is the attention of output step j on source position i
        (the unmasked ones); 0 for both penalties ranks by log-probability
        alone. A hypothesis that produced the end token stops growing: it
        keeps its score, length and coverage. With `beam_width=1` this is
        greedy decoding.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            beam_width: Number of hypotheses kept. Default: 4.
            length_penalty: The exponent `alpha` >= 0. Default: 0.
            coverage_penalty: The weight `beta` >= 0. Default: 0.
            num_return_sequences: `None` (the best hypothesis of each
                sequence), or how many of the best to return, at most
                `beam_width` (OpenNMT's `n_best`, fairseq's `nbest`): then
                each field of the result has an axis of that length after
                the batch's, best first. Default: `None`.
            min_length: See `greedy_decode`. Default: 0.
            no_repeat_ngram_size: See `greedy_decode`. Default: 0.

        Returns:
            A `Decoded(tokens, scores, lengths, attention,
            normalized_scores)`: `normalized_scores` is the ranking score
            above, `scores` the log-probability alone. Where fewer distinct
            hypotheses exist than are asked for (a small vocabulary, a
            short `max_length`, or `min_length` and `no_repeat_ngram_size`
            forbidding the rest), the missing ones come last with both
            scores `-inf`, tokens, length and attention 0, as
            `CRF.decode(top_k=)` returns them.
        """
        self._check_decoding(
            start_token, end_token, max_length, min_length, no_repeat_ngram_size
        )
        check_positive_int("beam_width", beam_width)
        check_non_negative_float("length_penalty", length_penalty)
        check_non_negative_float("coverage_penalty", coverage_penalty)
        if num_return_sequences is not None:
            check_positive_int("num_return_sequences", num_return_sequences)
            if num_return_sequences > beam_width:
                raise ValueError(
                    "`num_return_sequences` must be at most `beam_width` "
                    f"({beam_width}). Received: "
                    f"num_return_sequences={num_return_sequences}"
                )
        width = beam_width
        memory, memory_mask = self.encode(source)
        batch, source_steps = ops.shape(memory)[0], ops.shape(memory)[1]
        source_mask = (
            None if memory_mask is None else ops.expand_dims(memory_mask, 1)
        )
        # Every hypothesis is a row of a (batch * width) batch.
        memory = ops.repeat(memory, width, axis=0)
        if memory_mask is not None:
            memory_mask = ops.repeat(memory_mask, width, axis=0)
        keys, states = self.decoder.prepare_memory(memory)
        first_row = ops.arange(batch) * width
        vocabulary = self.target_embedding.input_dim
        is_end = ops.arange(vocabulary) == end_token
        positions = ops.arange(max_length)

        def length_penalty_of(lengths):
            return ops.power(
                (5.0 + ops.cast(lengths, "float32")) / 6.0, length_penalty
            )

        carry = [
            *states,
            ops.full((batch * width,), start_token, "int32"),
            # Only the first hypothesis is alive at the start, so that the
            # first step does not choose the same token `width` times.
            ops.tile(
                ops.where(ops.arange(width) == 0, 0.0, NEVER)[None],
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
            log_probs = _forbid(
                log_probs,
                t,
                ops.reshape(history, (batch * width, max_length)),
                end_token,
                min_length,
                no_repeat_ngram_size,
            )
            log_probs = ops.reshape(log_probs, (batch, width, vocabulary))
            # A finished hypothesis continues only with the end token, free.
            log_probs = ops.where(
                finished[..., None], ops.where(is_end, 0.0, NEVER), log_probs
            )
            weights = ops.reshape(
                ops.cast(weights, "float32"), (batch, width, -1)
            )
            weights = ops.where(finished[..., None], 0.0, weights)
            totals = scores[..., None] + log_probs
            grown = lengths + ops.cast(ops.logical_not(finished), "int32")
            ranking = totals / length_penalty_of(grown)[..., None]
            if coverage_penalty:
                # The attention of this step does not depend on its token.
                covered = ops.sum(attention, axis=2) + weights
                ranking = ranking + coverage_penalty * ops.expand_dims(
                    _coverage(covered, source_mask), -1
                )
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
            weights = ops.take_along_axis(weights, origin[..., None], axis=1)
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
        normalized = scores / length_penalty_of(lengths)
        if coverage_penalty:
            normalized = normalized + coverage_penalty * _coverage(
                ops.sum(attention, axis=2), source_mask
            )
        # A slot that only a forbidden continuation could fill (fewer
        # distinct hypotheses than the beam) scores about NEVER, which no
        # sequence of real log-probabilities reaches: it returns as none.
        real = scores > NEVER / 2
        scores = ops.where(real, scores, float("-inf"))
        normalized = ops.where(real, normalized, float("-inf"))
        lengths = ops.where(real, lengths, 0)
        history = ops.where(real[..., None], history, 0)
        attention = ops.where(real[..., None, None], attention, 0.0)
        # top_k sorts: the hypotheses are in the order of their ranking.
        best = slice(None, num_return_sequences) if num_return_sequences else 0
        return Decoded(
            tokens=history[:, best],
            scores=scores[:, best],
            lengths=lengths[:, best],
            attention=attention[:, best],
            normalized_scores=normalized[:, best],
        )

    def _check_decoding(
        self, start_token, end_token, max_length, min_length, ngram_size
    ):
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
        check_non_negative_int("min_length", min_length)
        if min_length >= max_length:
            raise ValueError(
                "`min_length` must be less than `max_length` "
                f"({max_length}), or the end token could never come. "
                f"Received: min_length={min_length}"
            )
        check_non_negative_int("no_repeat_ngram_size", ngram_size)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in _LAYERS
            },
        }
