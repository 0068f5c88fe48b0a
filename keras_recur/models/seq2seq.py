"""An encoder-decoder with attention: teacher-forced training, then greedy
and beam-search decoding."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.attention.attention_decoder import AttentionDecoder
from keras_recur.models import decoding
from keras_recur.models.decoding import Decoded  # noqa: F401 (its home was here)
from keras_recur.validation import check_token
from keras_recur.validation import layer_argument

_LAYERS = (
    "source_embedding",
    "encoder",
    "target_embedding",
    "decoder",
    "output_layer",
)


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

    def decode(self, source, start_token, end_token, max_length, strategy=None):
        """Decodes `source` under a decoding strategy.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            strategy: A `keras_recur.models.Greedy`, `Sampling` or
                `BeamSearch` (or a subclass), or a `keras_hub.samplers`
                sampler. Default: `None`, `Greedy()`.

        Returns:
            A `Decoded(tokens, scores, lengths, attention,
            normalized_scores)`.
        """
        vocabulary = self.target_embedding.input_dim
        check_token("start_token", start_token, vocabulary)
        strategy = decoding.as_strategy(
            decoding.Greedy() if strategy is None else strategy
        )
        # Checked before the encoder runs (decode checks them too).
        check_token("end_token", end_token, vocabulary)
        strategy.check(vocabulary, max_length, end_token)
        with backend.no_gradient():
            memory, memory_mask = self.encode(source)
            keys, states = self.decoder.prepare_memory(memory)

        def step(tokens, states, context):
            memory, keys, memory_mask = context
            output, states, weights = self.decoder.step(
                self.target_embedding(tokens), states, memory, keys, memory_mask
            )
            return self.output_layer(output), states, weights

        return decoding.decode(
            step,
            states,
            ops.full((ops.shape(memory)[0],), start_token, "int32"),
            strategy,
            max_length,
            end_token,
            vocabulary,
            context=(memory, keys, memory_mask),
            record_size=ops.shape(memory)[1],
            record_mask=memory_mask,
        )

    def greedy_decode(
        self,
        source,
        start_token,
        end_token,
        max_length,
        min_length=0,
        no_repeat_ngram_size=0,
    ):
        """Decodes by taking the most likely token at every step:
        `decode` with `Greedy`.

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
        strategy = decoding.Greedy(
            min_length=min_length, no_repeat_ngram_size=no_repeat_ngram_size
        )
        return self.decode(source, start_token, end_token, max_length, strategy)

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
        """Decodes by drawing every token from the model's distribution:
        `decode` with `Sampling`.

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            temperature: The log-probabilities are divided by it. Default:
                1.0.
            top_k: Only the `top_k` most likely tokens (and those tied with
                the last) are drawn; `None` for all. Default: `None`.
            top_p: Only the fewest most likely tokens whose probability
                sums to `top_p` at least are drawn (nucleus sampling,
                Holtzman et al. 2020); 1 for all. Default: 1.0.
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
        strategy = decoding.Sampling(
            temperature,
            top_k,
            top_p,
            seed,
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        return self.decode(source, start_token, end_token, max_length, strategy)

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
        """Decodes with a beam search, keeping `beam_width` hypotheses:
        `decode` with `BeamSearch` (see there for the ranking, GNMT's).

        Args:
            source: Int tensor (batch, Tx) of source tokens.
            start_token: Token id fed at the first step.
            end_token: Token id that ends a sequence.
            max_length: Python int, the number of steps (static).
            beam_width: Number of hypotheses kept. Default: 4.
            length_penalty: GNMT's exponent `alpha` >= 0. Default: 0.
            coverage_penalty: GNMT's weight `beta` >= 0. Default: 0.
            num_return_sequences: `None` (the best hypothesis of each
                sequence), or how many of the best to return, at most
                `beam_width`: then each field of the result has an axis of
                that length after the batch's, best first. Default: `None`.
            min_length: See `greedy_decode`. Default: 0.
            no_repeat_ngram_size: See `greedy_decode`. Default: 0.

        Returns:
            A `Decoded(tokens, scores, lengths, attention,
            normalized_scores)`: `normalized_scores` is the ranking score,
            `scores` the log-probability alone. Where fewer distinct
            hypotheses exist than are asked for (a small vocabulary, a
            short `max_length`, or `min_length` and `no_repeat_ngram_size`
            forbidding the rest), the missing ones come last with both
            scores `-inf`, tokens, length and attention 0, as
            `CRF.decode(top_k=)` returns them.
        """
        strategy = decoding.BeamSearch(
            beam_width,
            length_penalty,
            coverage_penalty,
            num_return_sequences,
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        return self.decode(source, start_token, end_token, max_length, strategy)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in _LAYERS
            },
        }
