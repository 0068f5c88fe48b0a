"""Decoding: one loop that grows token sequences from a model's next-token
scores, and the strategies that choose the tokens.

A model takes part through one function, `step(tokens, model_states,
context) -> (logits, model_states, record)`: the scores of the next token
given the last one (unnormalised; log-probabilities are logits too), its
carried states, and optionally a (rows, k) record of the step (a decoder's
attention weights). `decode` runs it for `max_length` steps under a
strategy:

- `Greedy`: the most likely token.
- `Sampling`: a draw from the softmax at a temperature, cut to the top k
  and the top p.
- `BeamSearch`: the best `beam_width` hypotheses by log-probability, with
  GNMT's length and coverage penalties (or the `len ** alpha`
  normalisation), the n best, diverse groups, and an exact early stop.
- A KerasHub sampler (`keras_hub.samplers`) wherever a strategy is taken.

Every strategy applies the same rules to the scores before it chooses:
`min_length`, `no_repeat_ngram_size`, a `repetition_penalty` (CTRL's),
`banned_tokens` and `forced_tokens`. `Seq2Seq`'s decoding methods and
`generate` (decoder-only models) are built on `decode`.
"""

import collections

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.scores import NEVER
from keras_recur.validation import check_bool
from keras_recur.validation import check_non_negative_float
from keras_recur.validation import check_non_negative_int
from keras_recur.validation import check_one_of
from keras_recur.validation import check_positive_float
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_seed
from keras_recur.validation import check_token

Decoded = collections.namedtuple(
    "Decoded", ["tokens", "scores", "lengths", "attention", "normalized_scores"]
)
Decoded.__doc__ = """What decoding returns, for each sequence (and with
`BeamSearch(num_return_sequences=n)`, for each of its `n` best hypotheses,
on an axis after the batch's: `(batch, n, ...)`).

tokens: (batch, max_length) int32 token ids; after the end token, the end
    token again.
scores: (batch,) total log-probability of the tokens up to and including
    the end token, under the model (without penalties).
lengths: (batch,) number of tokens up to and including the end token
    (max_length when it never came).
attention: (batch, max_length, Tx) attention weights of each output step
    (zeros after the end token); `None` for a model without attention
    (`generate`).
normalized_scores: (batch,) what a beam search ranks by: the sum of the
    log-probabilities it chose by (after the rules' penalties) divided by
    the length normalisation, plus the coverage penalty; `scores` itself
    for the other strategies.
"""


class Strategy:
    """The base of the decoding strategies: the rules every strategy
    applies to the next token's scores before it chooses.

    A strategy that chooses each sequence's token on its own (as `Greedy`
    and `Sampling` do) subclasses this and writes `choose`; `BeamSearch`
    is the strategy over hypotheses.

    Args:
        min_length: The end token is forbidden before this many tokens
            (fairseq's `min_len`). Default: 0.
        no_repeat_ngram_size: With `n > 0`, no n-gram of tokens occurs
            twice in a sequence: a token that would complete one already
            there is forbidden (fairseq's option). Default: 0.
        repetition_penalty: CTRL's penalty `theta` on every token that
            occurred before (in the prompt or the output): its logit is
            divided by `theta` where positive and multiplied where negative
            (as Transformers applies it). 1 applies none; CTRL uses 1.2.
            Default: 1.0.
        banned_tokens: Token ids never chosen. Default: `()`.
        forced_tokens: `{position: token}`: the token chosen at each of
            these output positions (0 is the first), whatever the model
            prefers (Transformers' `forced_decoder_ids`). Default: `None`.
    """

    # How many hypotheses a sequence keeps (`BeamSearch`'s beam_width).
    width = 1

    def __init__(
        self,
        *,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        banned_tokens=(),
        forced_tokens=None,
    ):
        check_non_negative_int("min_length", min_length)
        check_non_negative_int("no_repeat_ngram_size", no_repeat_ngram_size)
        check_positive_float("repetition_penalty", repetition_penalty)
        if isinstance(banned_tokens, (str, bytes)) or not isinstance(
            banned_tokens, collections.abc.Iterable
        ):
            raise ValueError(
                "`banned_tokens` must be a sequence of token ids. "
                f"Received: banned_tokens={banned_tokens!r}"
            )
        banned_tokens = tuple(banned_tokens)
        for token in banned_tokens:
            check_non_negative_int("banned_tokens", token)
        forced_tokens = dict(forced_tokens or {})
        for position, token in forced_tokens.items():
            check_non_negative_int("forced_tokens", position)
            check_non_negative_int("forced_tokens", token)
            if token in banned_tokens:
                raise ValueError(
                    f"`forced_tokens` forces token {token}, which "
                    "`banned_tokens` bans. "
                    f"Received: forced_tokens={forced_tokens!r}"
                )
        self.min_length = min_length
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.repetition_penalty = float(repetition_penalty)
        self.banned_tokens = banned_tokens
        self.forced_tokens = forced_tokens

    def check(self, vocabulary_size, max_length, end_token):
        """Checks the rules against a decoding's vocabulary, steps and end
        token, before any work."""
        check_positive_int("max_length", max_length)
        if end_token is not None and self.min_length >= max_length:
            raise ValueError(
                "`min_length` must be less than `max_length` "
                f"({max_length}), or the end token could never come. "
                f"Received: min_length={self.min_length}"
            )
        for token in self.banned_tokens:
            check_token("banned_tokens", token, vocabulary_size)
        for position, token in self.forced_tokens.items():
            check_token("forced_tokens", token, vocabulary_size)
            if position >= max_length:
                raise ValueError(
                    f"`forced_tokens` positions must be less than "
                    f"`max_length` ({max_length}). "
                    f"Received: forced_tokens={self.forced_tokens!r}"
                )

    @property
    def penalizes_repetition(self):
        return self.repetition_penalty != 1.0

    def allowed_log_probs(self, logits, t, history, seen, end_token):
        """What the strategy chooses by at step `t`: the log-softmax of
        `logits` (rows, vocabulary) after the repetition penalty on the
        tokens `seen` (rows, vocabulary) before, with `NEVER` for what the
        rules forbid given each row's `history` (rows, max_length)."""
        vocabulary = ops.arange(ops.shape(logits)[-1])
        if self.penalizes_repetition:
            penalty = self.repetition_penalty
            logits = ops.where(
                seen,
                ops.where(logits > 0, logits / penalty, logits * penalty),
                logits,
            )
        log_probs = ops.log_softmax(logits, axis=-1)
        forbidden = ops.zeros(ops.shape(log_probs), "bool")
        if self.min_length and end_token is not None:
            forbidden = forbidden | (
                (vocabulary == end_token) & (t < self.min_length)
            )
        if self.no_repeat_ngram_size:
            forbidden = forbidden | _repeated_ngrams(
                history, t, self.no_repeat_ngram_size, ops.shape(logits)[-1]
            )
        if self.banned_tokens:
            banned = np.zeros(logits.shape[-1], bool)
            banned[list(self.banned_tokens)] = True
            forbidden = forbidden | ops.convert_to_tensor(banned)
        if self.forced_tokens:
            forced = np.full(history.shape[-1], -1, "int32")
            for position, token in self.forced_tokens.items():
                forced[position] = token
            forced_now = ops.take(ops.convert_to_tensor(forced), t)
            forbidden = forbidden | (
                (forced_now >= 0) & (vocabulary != forced_now)
            )
        return ops.where(forbidden, NEVER, log_probs)

    def initial_state(self):
        """What the strategy carries from step to step (a KerasHub
        sampler's seed): a list of tensors."""
        return []

    def noise(self, steps, rows):
        """Per-step inputs drawn before the loop, (steps, rows, ...), or
        None: `Sampling`'s uniform numbers."""
        return None

    def next_tokens(self, log_probs, noise, state):
        """`(tokens, state)`: the (rows,) tokens chosen from `log_probs`
        (rows, vocabulary), by default `choose(log_probs, noise)`."""
        return self.choose(log_probs, noise), state

    def choose(self, log_probs, noise):
        """The (rows,) tokens chosen from `log_probs` (rows, vocabulary),
        given this step's `noise` (see `noise`)."""
        raise NotImplementedError

    def finish(self, state):
        """Called with the final carried state after the loop."""

    def rule_config(self):
        return {
            "min_length": self.min_length,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "repetition_penalty": self.repetition_penalty,
            "banned_tokens": list(self.banned_tokens),
            "forced_tokens": dict(self.forced_tokens),
        }

    def get_config(self):
        return self.rule_config()

    def __repr__(self):
        arguments = ", ".join(
            f"{k}={v!r}" for k, v in self.get_config().items()
        )
        return f"{type(self).__name__}({arguments})"


class Greedy(Strategy):
    """Greedy decoding: the most likely allowed token at every step.

    Args:
        min_length: See `Strategy` (the rules of every strategy).
        no_repeat_ngram_size: See `Strategy`.
        repetition_penalty: See `Strategy`.
        banned_tokens: See `Strategy`.
        forced_tokens: See `Strategy`.

    Example:

    >>> strategy = keras_recur.models.Greedy(repetition_penalty=1.2)
    >>> strategy.repetition_penalty
    1.2
    """

    def __init__(
        self,
        *,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        banned_tokens=(),
        forced_tokens=None,
    ):
        super().__init__(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            banned_tokens=banned_tokens,
            forced_tokens=forced_tokens,
        )

    def choose(self, log_probs, noise):
        return ops.argmax(log_probs, axis=-1)


class Sampling(Strategy):
    """Ancestral sampling: each token drawn from the model's distribution
    at a temperature, cut to the `top_k` most likely tokens and to the top
    p of the probability mass (nucleus sampling).

    Args:
        temperature: The log-probabilities are divided by it: below 1 the
            draw leans to likely tokens, above 1 it spreads. Default: 1.0.
        top_k: Only the `top_k` most likely tokens (and those tied with
            the last) are drawn; `None` for all. Default: `None`.
        top_p: Only the fewest most likely tokens whose probability sums to
            `top_p` at least (and those tied with the last) are drawn;
            1 for all. Default: 1.0.
        seed: `None`, an int (the same tokens at every decoding) or a
            `keras.random.SeedGenerator` (new tokens at every decoding, in
            a reproducible order). Default: `None`, Keras' global seed
            generator (under jit on JAX, pass an int).
        min_length: See `Strategy` (the rules of every strategy).
        no_repeat_ngram_size: See `Strategy`.
        repetition_penalty: See `Strategy`.
        banned_tokens: See `Strategy`.
        forced_tokens: See `Strategy`.

    Example:

    >>> strategy = keras_recur.models.Sampling(temperature=0.8, top_p=0.9)
    >>> strategy.top_p
    0.9

    Reference:

    - Holtzman et al. (2020). The curious case of neural text degeneration
      (top-p sampling).
      <https://arxiv.org/abs/1904.09751>
    """

    def __init__(
        self,
        temperature=1.0,
        top_k=None,
        top_p=1.0,
        seed=None,
        *,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        banned_tokens=(),
        forced_tokens=None,
    ):
        super().__init__(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            banned_tokens=banned_tokens,
            forced_tokens=forced_tokens,
        )
        check_positive_float("temperature", temperature)
        if top_k is not None:
            check_positive_int("top_k", top_k)
        check_positive_float("top_p", top_p, at_most=1.0)
        check_seed(seed, generator=True)
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.seed = seed

    def check(self, vocabulary_size, max_length, end_token):
        super().check(vocabulary_size, max_length, end_token)
        if self.top_k is not None and self.top_k > vocabulary_size:
            raise ValueError(
                f"`top_k` must be at most the vocabulary size "
                f"({vocabulary_size}). Received: top_k={self.top_k}"
            )

    def noise(self, steps, rows):
        return keras.random.uniform((steps, rows), seed=self.seed)

    def choose(self, log_probs, noise):
        probabilities = truncated_probabilities(
            log_probs, self.temperature, self.top_k, self.top_p
        )
        cdf = ops.cumsum(probabilities, axis=-1)
        # The first token whose CDF exceeds u times the total (below 1
        # after a top-p cut, off 1 by rounding): never one of probability 0.
        threshold = ops.expand_dims(noise, 1) * cdf[:, -1:]
        return ops.sum(ops.cast(cdf <= threshold, "int32"), axis=-1)

    def get_config(self):
        seed = self.seed
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "seed": seed
            if not isinstance(seed, keras.random.SeedGenerator)
            else None,
            **self.rule_config(),
        }


class BeamSearch(Strategy):
    """Beam search: the `beam_width` best hypotheses kept at every step.

    Hypotheses are ranked by GNMT's score (Wu et al. 2016),

    ```
    log p(y | x) / ((5 + |y|) / 6) ** length_penalty
        + coverage_penalty * sum_i log(min(sum_j a_ij, 1))
    ```

    where `a_ij` is the attention of output step j on source position i
    (the unmasked ones; a model with attention only); 0 for both penalties
    ranks by log-probability alone. `length_normalization="power"` divides
    by `|y| ** length_penalty` instead, as OpenNMT-py's "avg", fairseq's
    `lenpen` and Transformers' `length_penalty` do. `|y|` counts the end
    token. A hypothesis that produced the end token stops growing: it keeps
    its score, length and coverage. With `beam_width=1` this is greedy
    decoding.

    Diverse beam search (Vijayakumar et al. 2016) splits the beam into
    `num_groups` groups of `beam_width / num_groups`, each a beam search of
    its own; at every step the groups choose in turn, and each token's
    log-probability in a group is lowered by `diversity_strength` times the
    number of earlier groups' hypotheses that chose it at this step
    (Hamming diversity; finished hypotheses are not penalised). The
    penalty is part of a hypothesis's ranking score, as in Transformers.

    Args:
        beam_width: Number of hypotheses kept. Default: 4.
        length_penalty: The exponent `alpha` >= 0. Default: 0.
        coverage_penalty: The weight `beta` >= 0. Default: 0.
        num_return_sequences: `None` (the best hypothesis of each
            sequence), or how many of the best to return, at most
            `beam_width` (OpenNMT's `n_best`, fairseq's `nbest`): then each
            field of the result has an axis of that length after the
            batch's, best first. Default: `None`.
        length_normalization: `"gnmt"` or `"power"` (above). Default:
            `"gnmt"`.
        num_groups: Number of diverse groups, dividing `beam_width`; 1 is
            the plain beam search. Default: 1.
        diversity_strength: `lambda` >= 0 of diverse beam search. Default: 0.
        early_stopping: Stop once every sequence's `num_return_sequences`
            best (or its best) are finished and no unfinished hypothesis
            can overtake them: its ranking score can only fall as it grows
            (log-probabilities and penalties are at most 0; the length
            normalisation is bounded by its value at `max_length`; the
            coverage term by 0). The result is the same as without it;
            only the steps after are saved. Default: `True`.
        min_length: See `Strategy` (the rules of every strategy).
        no_repeat_ngram_size: See `Strategy`.
        repetition_penalty: See `Strategy`.
        banned_tokens: See `Strategy`.
        forced_tokens: See `Strategy`.

    Example:

    >>> strategy = keras_recur.models.BeamSearch(
    ...     beam_width=4, num_groups=2, diversity_strength=0.5
    ... )
    >>> strategy.width
    4

    Reference:

    - Wu et al. (2016). Google's neural machine translation system (the
      length and coverage penalties).
      <https://arxiv.org/abs/1609.08144>
    - Vijayakumar et al. (2016). Diverse beam search: decoding diverse
      solutions from neural sequence models.
      <https://arxiv.org/abs/1610.02424>
    """

    def __init__(
        self,
        beam_width=4,
        length_penalty=0.0,
        coverage_penalty=0.0,
        num_return_sequences=None,
        length_normalization="gnmt",
        num_groups=1,
        diversity_strength=0.0,
        early_stopping=True,
        *,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        banned_tokens=(),
        forced_tokens=None,
    ):
        super().__init__(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            banned_tokens=banned_tokens,
            forced_tokens=forced_tokens,
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
        check_one_of(
            "length_normalization", length_normalization, ("gnmt", "power")
        )
        check_positive_int("num_groups", num_groups)
        if beam_width % num_groups:
            raise ValueError(
                f"`num_groups` must divide `beam_width` ({beam_width}). "
                f"Received: num_groups={num_groups}"
            )
        check_non_negative_float("diversity_strength", diversity_strength)
        check_bool("early_stopping", early_stopping)
        self.beam_width = beam_width
        self.length_penalty = length_penalty
        self.coverage_penalty = coverage_penalty
        self.num_return_sequences = num_return_sequences
        self.length_normalization = length_normalization
        self.num_groups = num_groups
        self.diversity_strength = diversity_strength
        self.early_stopping = early_stopping

    @property
    def width(self):
        return self.beam_width

    def length_normalizer(self, lengths):
        """What a hypothesis's summed log-probability is divided by."""
        lengths = ops.cast(lengths, "float32")
        if self.length_normalization == "gnmt":
            lengths = (5.0 + lengths) / 6.0
        return ops.power(lengths, self.length_penalty)

    def get_config(self):
        return {
            "beam_width": self.beam_width,
            "length_penalty": self.length_penalty,
            "coverage_penalty": self.coverage_penalty,
            "num_return_sequences": self.num_return_sequences,
            "length_normalization": self.length_normalization,
            "num_groups": self.num_groups,
            "diversity_strength": self.diversity_strength,
            "early_stopping": self.early_stopping,
            **self.rule_config(),
        }


class KerasHubSampler(Strategy):
    """A KerasHub sampler (`keras_hub.samplers`: `GreedySampler`,
    `RandomSampler`, `TopKSampler`, `TopPSampler` or a subclass writing
    `get_next_token`) as a strategy: at every step it chooses from
    `sampler.compute_probabilities(log_probs)` (its temperature) with
    `sampler.get_next_token`; its seed generator's state is carried
    through the loop and written back after it. `decode` and `generate`
    wrap a sampler given as the strategy in this; wrap it yourself to add
    the rules.

    Args:
        sampler: The KerasHub sampler.
        min_length: See `Strategy` (the rules of every strategy).
        no_repeat_ngram_size: See `Strategy`.
        repetition_penalty: See `Strategy`.
        banned_tokens: See `Strategy`.
        forced_tokens: See `Strategy`.

    Example:

    ```python
    strategy = keras_recur.models.KerasHubSampler(
        keras_hub.samplers.TopKSampler(k=5, seed=1), repetition_penalty=1.2
    )
    ```
    """

    def __init__(
        self,
        sampler,
        *,
        min_length=0,
        no_repeat_ngram_size=0,
        repetition_penalty=1.0,
        banned_tokens=(),
        forced_tokens=None,
    ):
        super().__init__(
            min_length=min_length,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            banned_tokens=banned_tokens,
            forced_tokens=forced_tokens,
        )
        self.sampler = sampler

    def initial_state(self):
        return [ops.convert_to_tensor(v.value) for v in self.sampler.variables]

    def next_tokens(self, log_probs, noise, state):
        variables = self.sampler.variables
        with keras.StatelessScope(
            state_mapping=list(zip(variables, state))
        ) as scope:
            tokens = self.sampler.get_next_token(
                self.sampler.compute_probabilities(log_probs)
            )
        # A variable the draw did not touch keeps its carried value.
        advanced = [scope.get_current_value(v) for v in variables]
        state = [
            old if new is None else new for new, old in zip(advanced, state)
        ]
        return ops.cast(tokens, "int32"), state

    def finish(self, state):
        for variable, value in zip(self.sampler.variables, state):
            variable.assign(value)

    def get_config(self):
        return {"sampler": self.sampler.get_config(), **self.rule_config()}


def as_strategy(strategy):
    """`strategy` itself, or a KerasHub sampler as a strategy (its
    `BeamSampler` as `BeamSearch`); anything else is refused by name."""
    if isinstance(strategy, Strategy):
        return strategy
    module = type(strategy).__module__
    if module.startswith("keras_hub.") and hasattr(strategy, "get_next_token"):
        # The per-token samplers use the base class's loop; the others
        # (contrastive, speculative) need what a recurrent model does not
        # give (hidden states of the whole prefix, a draft model).
        name = type(strategy).__name__
        if hasattr(strategy, "num_beams"):
            if strategy.temperature != 1.0:
                raise ValueError(
                    "A KerasHub BeamSampler is run as keras_recur's "
                    "BeamSearch, which ranks by the model's own "
                    "log-probabilities: its temperature must be 1. "
                    f"Received: strategy={name}(temperature="
                    f"{strategy.temperature})"
                )
            return BeamSearch(
                beam_width=strategy.num_beams,
                num_return_sequences=(
                    strategy.num_beams if strategy.return_all_beams else None
                ),
            )
        base_call = _keras_hub_base_call(strategy)
        if type(strategy).__call__ is base_call:
            return KerasHubSampler(strategy)
        raise ValueError(
            f"The KerasHub sampler {name} runs its own loop over a model's "
            "whole hidden states; keras_recur takes the samplers that "
            "choose one token at a time (Greedy, Random, TopK, TopP). "
            f"Received: strategy={strategy!r}"
        )
    raise ValueError(
        "`strategy` must be a keras_recur.models decoding strategy "
        "(Greedy, Sampling, BeamSearch) or a keras_hub.samplers sampler. "
        f"Received: strategy={strategy!r}"
    )


def _keras_hub_base_call(sampler):
    for cls in type(sampler).__mro__:
        if cls.__name__ == "Sampler" and cls.__module__.startswith(
            "keras_hub."
        ):
            return cls.__call__
    return None


def truncated_probabilities(log_probs, temperature, top_k, top_p):
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


def _coverage(attention_sum, mask):
    """GNMT's coverage term `sum_i log(min(sum_j p_ij, 1))` over the
    source positions i (the unmasked ones) of attention summed over the
    output steps j: (..., Tx) to (...)."""
    terms = ops.log(ops.minimum(attention_sum, 1.0))
    if mask is not None:
        terms = ops.where(mask, terms, 0.0)
    return ops.sum(terms, axis=-1)


def decode(
    step,
    model_states,
    start_tokens,
    strategy,
    max_length,
    end_token,
    vocabulary_size,
    context=(),
    seen_tokens=None,
    record_size=None,
    record_mask=None,
):
    """Grows `max_length` tokens for each sequence under `strategy`.

    Args:
        step: `step(tokens, model_states, context) -> (logits,
            model_states, record)`: the model's scores (rows, vocabulary)
            of the next token given the last `tokens` (rows,), its new
            states (the nest it was given), and the step's record (rows,
            `record_size`) or None.
        model_states: Nest of tensors (batch, ...), the model's states
            before the first step; the loop repeats them for a beam and
            reorders them as hypotheses are chosen.
        start_tokens: (batch,) int tokens fed at the first step.
        strategy: A `Strategy` or a KerasHub sampler.
        max_length: Python int, the number of steps (static).
        end_token: Token id that ends a sequence, or `None` (none ends).
        vocabulary_size: Python int.
        context: Nest of tensors (batch, ...) that `step` reads and never
            changes (a memory); repeated for a beam, never reordered.
        seen_tokens: (batch, vocabulary) booleans, the tokens before the
            first step that the repetition penalty counts (a prompt's), or
            None.
        record_size: The width of `step`'s record (a tensor's dimension
            may do), or None when it records nothing.
        record_mask: (batch, record_size) booleans: the positions the
            coverage penalty sums over, or None for all.

    Returns:
        A `Decoded`, computed with no autograd graph and carrying no
        gradient.
    """
    strategy = as_strategy(strategy)
    if end_token is not None:
        check_token("end_token", end_token, vocabulary_size)
    strategy.check(vocabulary_size, max_length, end_token)
    coverage_penalty = getattr(strategy, "coverage_penalty", 0.0)
    if coverage_penalty and record_size is None:
        raise ValueError(
            "`coverage_penalty` sums a model's attention, and this model "
            f"has none. Received: coverage_penalty={coverage_penalty}"
        )
    with backend.no_gradient():
        decoded = _Loop(
            step,
            strategy,
            max_length,
            end_token,
            vocabulary_size,
            record_size,
            record_mask,
        ).run(model_states, start_tokens, context, seen_tokens)
    return Decoded(
        *(
            value if value is None else ops.stop_gradient(value)
            for value in decoded
        )
    )


class _Loop:
    """`decode`'s loop: a carry named by what it holds, laid out (batch,
    width, ...) for every strategy (width 1 but for a beam), and one step
    that runs the model, applies the rules, chooses, and moves each
    hypothesis's history to the slot it now fills."""

    def __init__(
        self,
        step,
        strategy,
        max_length,
        end_token,
        vocabulary_size,
        record_size,
        record_mask,
    ):
        self.model_step = step
        self.strategy = strategy
        self.beam = isinstance(strategy, BeamSearch)
        self.width = strategy.width
        self.max_length = max_length
        self.end_token = end_token
        self.vocabulary_size = vocabulary_size
        self.record_size = record_size
        self.record_mask = record_mask

    def repeated(self, nest):
        if self.width == 1:
            return nest
        return keras.tree.map_structure(
            lambda x: ops.repeat(x, self.width, axis=0), nest
        )

    def run(self, model_states, start_tokens, context, seen_tokens):
        start_tokens = ops.cast(start_tokens, "int32")
        batch = ops.shape(start_tokens)[0]
        self.batch = batch
        self.context = self.repeated(context)
        width, vocabulary = self.width, self.vocabulary_size
        if self.record_mask is not None:
            self.record_mask = ops.expand_dims(self.record_mask, 1)
        # Each group's first hypothesis alone is alive at the start, so that
        # the first step does not choose the same token in every slot.
        group_size = width // getattr(self.strategy, "num_groups", 1)
        alive_at_start = np.where(
            np.arange(width) % group_size == 0, 0.0, NEVER
        )
        fill = 0 if self.end_token is None else self.end_token
        carry = {
            "model": self.repeated(model_states),
            "tokens": self.repeated(start_tokens),
            "scores": ops.zeros((batch, width), "float32"),
            "ranks": ops.tile(
                ops.convert_to_tensor(alive_at_start[None], "float32"),
                (batch, 1),
            ),
            "finished": ops.zeros((batch, width), "bool"),
            "lengths": ops.zeros((batch, width), "int32"),
            "history": ops.full((batch, width, self.max_length), fill, "int32"),
            "strategy": self.strategy.initial_state(),
            "done": ops.convert_to_tensor(False),
        }
        if self.strategy.penalizes_repetition:
            seen = (
                ops.zeros((batch, vocabulary), "bool")
                if seen_tokens is None
                else ops.cast(seen_tokens, "bool")
            )
            carry["seen"] = ops.reshape(
                self.repeated(seen), (batch, width, vocabulary)
            )
        if self.record_size is not None:
            carry["record"] = ops.zeros(
                (batch, width, self.max_length, self.record_size), "float32"
            )
        xs = {"t": ops.arange(self.max_length, dtype="int32")}
        noise = self.strategy.noise(self.max_length, batch * width)
        if noise is not None:
            xs["noise"] = noise

        def loop_step(carry, xs_t):
            carry = ops.cond(
                carry["done"],
                lambda: carry,
                lambda: self.step(carry, xs_t["t"], xs_t.get("noise")),
            )
            return carry, ()

        carry, _ = backend.scan(loop_step, carry, xs)
        self.strategy.finish(carry["strategy"])
        return self.result(carry)

    def step(self, carry, t, noise):
        batch, width, vocabulary = self.batch, self.width, self.vocabulary_size
        rows = (batch * width,)
        logits, model_states, record = self.model_step(
            carry["tokens"], carry["model"], self.context
        )
        model_states = keras.tree.pack_sequence_as(
            carry["model"], keras.tree.flatten(model_states)
        )
        logits = ops.cast(logits, "float32")
        log_probs = ops.log_softmax(logits, axis=-1)
        allowed = self.strategy.allowed_log_probs(
            logits,
            t,
            ops.reshape(carry["history"], (*rows, self.max_length)),
            None
            if "seen" not in carry
            else ops.reshape(carry["seen"], (*rows, vocabulary)),
            self.end_token,
        )
        shape = (batch, width, vocabulary)
        log_probs, allowed = (
            ops.reshape(x, shape) for x in (log_probs, allowed)
        )
        finished = carry["finished"]
        if self.end_token is not None:
            # A finished hypothesis continues with the end token, free.
            only_end = ops.where(
                ops.arange(vocabulary) == self.end_token, 0.0, NEVER
            )
            log_probs = ops.where(finished[..., None], only_end, log_probs)
            allowed = ops.where(finished[..., None], only_end, allowed)
        grown = carry["lengths"] + ops.cast(ops.logical_not(finished), "int32")
        if record is not None:
            record = ops.reshape(
                ops.cast(record, "float32"), (batch, width, -1)
            )
            record = ops.where(finished[..., None], 0.0, record)
        strategy_state = carry["strategy"]
        if self.beam:
            origin, tokens, ranks = self.beam_choice(
                carry, allowed, grown, record
            )
        else:
            tokens, strategy_state = self.strategy.next_tokens(
                allowed[:, 0], noise, strategy_state
            )
            tokens = ops.reshape(ops.cast(tokens, "int32"), (batch, 1))
            origin = None
            # One hypothesis a row: nothing ranks it (the result reports
            # the model's scores).
            ranks = carry["ranks"]

        def moved(x):
            # Each slot's value from the hypothesis it continues.
            if origin is None:
                return x
            index = ops.reshape(
                origin, (*ops.shape(origin), *[1] * (x.ndim - 2))
            )
            return ops.take_along_axis(x, index, axis=1)

        chosen_log_probs = ops.take_along_axis(
            moved(log_probs), tokens[..., None], axis=2
        )[..., 0]
        finished = moved(finished)
        if self.end_token is not None:
            finished_now = finished | (tokens == self.end_token)
        else:
            finished_now = finished
        now = ops.arange(self.max_length) == t
        new = {
            "model": model_states,
            "tokens": ops.reshape(tokens, rows),
            "scores": moved(carry["scores"]) + chosen_log_probs,
            "ranks": ranks,
            "finished": finished_now,
            "lengths": moved(grown),
            "history": ops.where(
                now, tokens[..., None], moved(carry["history"])
            ),
            "strategy": strategy_state,
        }
        if origin is not None:
            flat_origin = ops.reshape(
                ops.arange(batch)[:, None] * width + origin, rows
            )
            new["model"] = keras.tree.map_structure(
                lambda state: ops.take(state, flat_origin, axis=0), model_states
            )
        if "seen" in carry:
            new["seen"] = moved(carry["seen"]) | ops.cast(
                ops.one_hot(tokens, vocabulary), "bool"
            )
        if "record" in carry:
            new["record"] = ops.where(
                now[:, None], moved(record)[:, :, None], moved(carry["record"])
            )
        new["done"] = self.done(new)
        return new

    def beam_choice(self, carry, allowed, grown, record):
        """The best `width` continuations (per group) of all (hypothesis,
        token) pairs: their origins, tokens and ranking sums."""
        strategy = self.strategy
        batch, width, vocabulary = self.batch, self.width, self.vocabulary_size
        normalizer = strategy.length_normalizer(grown)[..., None]
        coverage = 0.0
        if strategy.coverage_penalty:
            # The attention of this step does not depend on its token.
            covered = ops.sum(carry["record"], axis=2) + record
            coverage = strategy.coverage_penalty * ops.expand_dims(
                _coverage(covered, self.record_mask), -1
            )
        group_size = width // strategy.num_groups
        chosen_by_earlier = ops.zeros((batch, vocabulary), "float32")
        origins, tokens, ranks = [], [], []
        for group in range(strategy.num_groups):
            slots = slice(group * group_size, (group + 1) * group_size)
            gained = allowed[:, slots]
            if strategy.diversity_strength and group:
                gained = ops.where(
                    carry["finished"][:, slots, None],
                    gained,
                    gained
                    - strategy.diversity_strength * chosen_by_earlier[:, None],
                )
            totals = carry["ranks"][:, slots, None] + gained
            ranking = totals / normalizer[:, slots]
            if strategy.coverage_penalty:
                ranking = ranking + coverage[:, slots]
            flat = (batch, group_size * vocabulary)
            _, chosen = ops.top_k(ops.reshape(ranking, flat), group_size)
            group_tokens = ops.cast(chosen % vocabulary, "int32")
            origins.append(group * group_size + chosen // vocabulary)
            tokens.append(group_tokens)
            ranks.append(
                ops.take_along_axis(ops.reshape(totals, flat), chosen, axis=1)
            )
            chosen_by_earlier = chosen_by_earlier + ops.sum(
                ops.one_hot(group_tokens, vocabulary), axis=1
            )
        origin = ops.cast(ops.concatenate(origins, axis=1), "int32")
        return (
            origin,
            ops.concatenate(tokens, axis=1),
            ops.concatenate(ranks, axis=1),
        )

    def ranking(self, carry):
        """Each slot's ranking score as it stands: (batch, width)."""
        ranking = carry["ranks"]
        if self.beam:
            ranking = ranking / self.strategy.length_normalizer(
                carry["lengths"]
            )
            if self.strategy.coverage_penalty:
                ranking = ranking + self.strategy.coverage_penalty * _coverage(
                    ops.sum(carry["record"], axis=2), self.record_mask
                )
        return ranking

    def done(self, carry):
        """Whether no later step can change the result."""
        finished = carry["finished"]
        all_finished = ops.all(finished)
        if not (self.beam and self.strategy.early_stopping):
            return all_finished
        # Settled: the n-th best finished hypothesis ranks at least as high
        # as any unfinished one can ever reach.
        best = self.strategy.num_return_sequences or 1
        finished_ranking = ops.where(
            finished, self.ranking(carry), float("-inf")
        )
        nth_finished = ops.top_k(finished_ranking, best)[0][:, -1]
        reachable = carry["ranks"] / self.strategy.length_normalizer(
            ops.full(ops.shape(finished), self.max_length, "int32")
        )
        best_unfinished = ops.max(
            ops.where(finished, float("-inf"), reachable), axis=1
        )
        settled = nth_finished >= best_unfinished
        return all_finished | ops.all(settled)

    def result(self, carry):
        scores, ranks, lengths = (
            carry["scores"],
            carry["ranks"],
            carry["lengths"],
        )
        history = carry["history"]
        attention = carry.get("record")
        if not self.beam:
            normalized = scores
            picked = 0
        else:
            normalized = self.ranking(carry)
            # A slot that only a forbidden continuation could fill (fewer
            # distinct hypotheses than the beam) scores about NEVER, which
            # no sequence of real log-probabilities reaches: it returns as
            # none.
            real = ranks > NEVER / 2
            scores = ops.where(real, scores, float("-inf"))
            normalized = ops.where(real, normalized, float("-inf"))
            lengths = ops.where(real, lengths, 0)
            history = ops.where(real[..., None], history, 0)
            if attention is not None:
                attention = ops.where(real[..., None, None], attention, 0.0)
            # Best first (groups each come sorted, not the whole beam).
            _, order = ops.top_k(normalized, self.width)

            def ordered(x):
                index = ops.reshape(
                    order, (*ops.shape(order), *[1] * (x.ndim - 2))
                )
                return ops.take_along_axis(x, index, axis=1)

            scores, normalized, lengths, history = (
                ordered(x) for x in (scores, normalized, lengths, history)
            )
            if attention is not None:
                attention = ordered(attention)
            n = self.strategy.num_return_sequences
            picked = slice(None, n) if n else 0
        return Decoded(
            tokens=history[:, picked],
            scores=scores[:, picked],
            lengths=lengths[:, picked],
            attention=None if attention is None else attention[:, picked],
            normalized_scores=normalized[:, picked],
        )
