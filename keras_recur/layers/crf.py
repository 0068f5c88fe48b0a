"""A linear-chain conditional random field (Lafferty et al. 2001) over
per-step tag scores, as in BiLSTM-CRF taggers (Huang et al. 2015)."""

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.scores import NEVER
from keras_recur.validation import check_batch_time
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import resolve

# Viterbi only compares scores (max and argmax, no subtraction), where -inf
# is safe (see keras_recur.scores): a forbidden sequence then scores -inf,
# as `decode` documents.
COMPARED_ONLY = float("-inf")


def _transition_masks(num_tags, pairs):
    """`pairs` (see `allowed_transitions`), checked, as sorted tuples of
    ints, and as boolean NumPy masks of the transitions (num_tags, num_tags),
    the first tags and the last tags."""
    start, end = num_tags, num_tags + 1
    allowed = np.zeros((num_tags + 2, num_tags + 2), bool)
    try:
        pairs = [tuple(pair) for pair in pairs]
    except TypeError:
        pairs = None
    for pair in pairs or [None]:
        valid = (
            pair is not None
            and len(pair) == 2
            and all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                for i in pair
            )
            and 0 <= pair[0] <= start
            and (0 <= pair[1] < num_tags or pair[1] == end)
        )
        if not valid or pair == (start, end):
            raise ValueError(
                "`allowed_transitions` must be a non-empty list of (from, to) "
                f"pairs of tag ids in [0, num_tags={num_tags}), with "
                f"{start} for the start and {end} for the end (see "
                "keras_recur.layers.allowed_transitions). Received: "
                f"{pair!r} in allowed_transitions"
            )
        allowed[pair] = True
    masks = (
        allowed[:num_tags, :num_tags],
        allowed[start, :num_tags],
        allowed[:num_tags, end],
    )
    _check_some_sequence_is_allowed(*masks, start, end)
    return sorted(set((int(i), int(j)) for i, j in pairs)), masks


def _check_some_sequence_is_allowed(transitions, first, last, start, end):
    """Refuses constraints that allow no tag sequence of any length: no
    first tag, no last tag, or no path from a first tag to a last one (the
    CRF would decode a forbidden path and give it a probability)."""
    missing = None
    if not first.any():
        missing = f"no first tag (no ({start}, j) pair)"
    elif not last.any():
        missing = f"no last tag (no (i, {end}) pair)"
    else:
        reached = first.copy()
        while True:
            grown = reached | transitions[reached].any(axis=0)
            if (grown == reached).all():
                break
            reached = grown
        if not (reached & last).any():
            missing = (
                f"no path: the tags reachable from the first tags "
                f"{np.flatnonzero(first).tolist()}, "
                f"{np.flatnonzero(reached).tolist()}, include no last tag "
                f"{np.flatnonzero(last).tolist()}"
            )
    if missing:
        raise ValueError(
            "`allowed_transitions` must allow some tag sequence: a first "
            "tag, a last tag and a path between them. Received: "
            f"allowed_transitions with {missing}"
        )


def _top(scores, k):
    """The `k` largest of `scores` (batch, n, m) along axis 1, best first,
    ties to the lower index (argmax's rule on every backend, where top_k's
    ties are unspecified on PyTorch): values and integer indices, each
    (batch, m * k), flattened as (column, rank)."""
    values, indices = [], []
    for rank in range(k):
        value, index = backend.max_and_argmax(scores, axis=1)
        values.append(value)
        indices.append(index)
        if rank < k - 1:
            taken = ops.one_hot(index, scores.shape[1], axis=1)
            scores = ops.where(taken > 0, float("-inf"), scores)
    if k == 1:
        return values[0], indices[0]
    flat = (-1, scores.shape[2] * k)
    return (
        ops.reshape(ops.stack(values, axis=-1), flat),
        ops.reshape(ops.stack(indices, axis=-1), flat),
    )


@keras.saving.register_keras_serializable(package="keras_recur")
class CRF(keras.layers.Layer):
    """A linear-chain CRF: the best tag sequence given per-step tag scores.

    With emission scores `e_t` (batch, time, num_tags), say from a
    `Dense(num_tags)` over a bidirectional recurrent layer, the score of a
    tag sequence `y` over the unmasked steps `t_1 < ... < t_n` is

    ```
    s(y) = start[y_1] + sum_k e_{t_k}[y_k] + sum_k T[y_{k-1}, y_k] + end[y_n]
    p(y) = exp(s(y)) / Z,   Z = sum over every tag sequence y' of exp(s(y'))
    ```

    `T` is the learned `transitions` matrix (from tag, to tag); `start` and
    `end` are learned with `use_boundary_transitions` (else zero). With
    `allowed_transitions` (say from `keras_recur.layers.allowed_transitions`
    for BIO tags) every other transition, first tag and last tag scores
    `-1e9` (`keras_recur.scores.NEVER`) instead: Viterbi never picks one,
    and `Z` sums over the allowed sequences only (exactly, in float32).
    Masked
    steps are skipped: the chain runs over the unmasked steps in order, so
    right padding, left padding and holes are all exact. `log Z` is the
    forward algorithm in log space (stable for long sequences and many
    tags), the best sequence Viterbi's, the marginals forward-backward's;
    each is one `keras_recur.backend.scan` over time. They compute in
    float32 whatever the layer's dtype policy (mixed precision sums many
    log-scores).

    Calling the layer decodes: it returns the Viterbi tags. Train with the
    negative of `log_likelihood`, which `keras_recur.models.Tagger` does
    inside `fit`.

    A row with every step masked has one tag sequence, the empty one: its
    log-likelihood and Viterbi score are 0, its tags 0 and marginals 0.

    Weights, in order: `transitions` (num_tags, num_tags), then with
    `use_boundary_transitions` `start_transitions` and `end_transitions`
    (num_tags,); the layout of pytorch-crf's `CRF` (transitions[i, j]
    scores tag i followed by tag j).

    Args:
        num_tags: Positive integer, the number of tags (the last dimension
            of the emission scores).
        use_boundary_transitions: Whether to learn scores for the first and
            the last tag of a sequence. Default: `True`.
        allowed_transitions: `None` (every transition allowed), or the
            `(from, to)` tag pairs allowed, with `num_tags` for the start
            and `num_tags + 1` for the end, as
            `keras_recur.layers.allowed_transitions` returns them; they
            must allow some sequence (a first tag, a last tag and a path
            between them). Default: `None`.
        transitions_initializer: Initializer of the three weights.
            Default: `"glorot_uniform"`.
        transitions_regularizer: Regularizer of the three weights.
            Default: `None`.
        transitions_constraint: Constraint of the three weights.
            Default: `None`.
        **kwargs: Base layer arguments (name, dtype, trainable).

    Call arguments:
        emissions: Tag scores `(batch, time, num_tags)`.
        mask: Optional booleans `(batch, time)`, True where a step counts;
            Keras passes the mask of `Embedding(mask_zero=True)` or
            `Masking` here.

    Returns:
        The Viterbi tags, int32 `(batch, time)`, 0 at masked steps.

    Example:

    >>> crf = keras_recur.layers.CRF(3)
    >>> emissions = np.random.default_rng(0).normal(size=(2, 4, 3))
    >>> mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    >>> tags = crf(emissions, mask=mask)
    >>> tuple(tags.shape), keras.backend.standardize_dtype(tags.dtype)
    ((2, 4), 'int32')
    >>> tags, scores = crf.decode(emissions, mask)  # the tags and s(tags)
    >>> tuple(crf.log_likelihood(emissions, tags, mask).shape)
    (2,)
    >>> paths, path_scores = crf.decode(emissions, mask, top_k=2)  # 2 best
    >>> tuple(paths.shape), tuple(path_scores.shape)
    ((2, 2, 4), (2, 2))

    Reference:

    - Lafferty, McCallum & Pereira (2001). Conditional random fields:
      probabilistic models for segmenting and labeling sequence data. ICML.
      <https://repository.upenn.edu/cis_papers/159/>
    - Lample et al. (2016). Neural architectures for named entity recognition
      (the BiLSTM-CRF).
      <https://arxiv.org/abs/1603.01360>
    """

    def __init__(
        self,
        num_tags,
        use_boundary_transitions=True,
        allowed_transitions=None,
        transitions_initializer="glorot_uniform",
        transitions_regularizer=None,
        transitions_constraint=None,
        **kwargs,
    ):
        check_positive_int("num_tags", num_tags)
        check_bool("use_boundary_transitions", use_boundary_transitions)
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.use_boundary_transitions = use_boundary_transitions
        self.allowed_transitions = None
        if allowed_transitions is not None:
            self.allowed_transitions, self._allowed_masks = _transition_masks(
                self.num_tags, allowed_transitions
            )
        self.transitions_initializer = resolve(
            "transitions_initializer", transitions_initializer
        )
        self.transitions_regularizer = resolve(
            "transitions_regularizer", transitions_regularizer
        )
        self.transitions_constraint = resolve(
            "transitions_constraint", transitions_constraint
        )
        self.supports_masking = True

    def build(self, input_shape=None):
        if input_shape is not None:
            self._check_emissions_shape(tuple(input_shape))

        def weight(name, shape):
            return self.add_weight(
                shape=shape,
                name=name,
                initializer=self.transitions_initializer,
                regularizer=self.transitions_regularizer,
                constraint=self.transitions_constraint,
                dtype="float32",
            )

        tags = self.num_tags
        self.transitions = weight("transitions", (tags, tags))
        if self.use_boundary_transitions:
            self.start_transitions = weight("start_transitions", (tags,))
            self.end_transitions = weight("end_transitions", (tags,))

    def _check_emissions_shape(self, shape):
        if len(shape) != 3 or shape[-1] not in (None, self.num_tags):
            raise ValueError(
                f"CRF '{self.name}' takes emission scores of shape "
                f"(batch, time, num_tags={self.num_tags}). "
                f"Received: emissions with shape {shape}"
            )

    def _inputs(self, emissions, mask):
        """Time-major float32 emissions and boolean mask, checked."""
        emissions = ops.convert_to_tensor(emissions)
        shape = tuple(emissions.shape)
        self._check_emissions_shape(shape)
        if not self.built:
            self.build(shape)
        emissions = ops.cast(emissions, "float32")
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], "bool")
        else:
            mask = ops.convert_to_tensor(mask)
            check_batch_time("mask", mask, shape[:2], "the emissions")
            mask = ops.cast(mask, "bool")
        return ops.transpose(emissions, (1, 0, 2)), ops.transpose(mask)

    def _weights(self, never=NEVER):
        """`transitions`, `start`, `end` in float32 (a mixed precision call
        would read them in float16); `start` and `end` zeros without
        boundary transitions; `never` where not allowed: `NEVER` where
        scores are summed (log Z and its gradient), `-inf` where they are
        only compared (Viterbi), so that a forbidden sequence scores -inf
        there."""
        zeros = ops.zeros((self.num_tags,), "float32")
        weights = [self.transitions, zeros, zeros]
        if self.use_boundary_transitions:
            weights[1:] = [self.start_transitions, self.end_transitions]
        weights = [ops.cast(w, "float32") for w in weights]
        if self.allowed_transitions is not None:
            weights = [
                ops.where(allowed, w, never)
                for allowed, w in zip(self._allowed_masks, weights)
            ]
        return weights

    def _moves(self, emissions, mask, never=NEVER):
        """The score of each step's move from tag i to tag j, emission
        included: `moves(inputs)[t, b, i, j]`.

        A step that chains from a previous unmasked step moves by
        `transitions[i, j] + e_t[j]`. A row's first unmasked step starts
        from `start` (the recursion's initial value) and a masked step
        keeps the scores it has: both stay on tag i, where every other move
        scores -inf, so that the recursions need no branch per step: one
        add and one reduction.

        Returns `moves`, its time-major `inputs` (for `backend.scan`'s
        `prepare`, which computes every step's moves at once or one step at
        a time, as the backend runs faster), and whether each row has an
        unmasked step.
        """
        transitions, _, _ = self._weights(never)
        counts = ops.cumsum(ops.cast(mask, "int32"), axis=0)
        chained = ops.expand_dims((counts > 1) & mask, (2, 3))
        emitted = ops.where(ops.expand_dims(mask, 2), emissions, 0.0)
        stay = ops.where(ops.eye(self.num_tags) > 0, 0.0, float("-inf"))

        def moves(inputs):
            step_chained, step_emitted = inputs
            return ops.where(step_chained, transitions, stay) + step_emitted

        return moves, (chained, ops.expand_dims(emitted, 2)), counts[-1] > 0

    def _start(self, inputs, never=NEVER):
        """`alpha` before the first step: `start` in every row."""
        _, start, _ = self._weights(never)
        batch = ops.shape(inputs[1])[1]
        return ops.zeros((batch, self.num_tags), "float32") + start

    def _forward(self, moves, inputs, collect_alphas=False):
        """The forward algorithm: `alpha_t[b, j]`, the log of the summed
        exp-scores of every path up to step t that ends on tag j.

        Returns the last `alpha` and, with `collect_alphas`, every step's
        `alpha` (time-major).
        """

        def step(states, step_moves):
            (alpha,) = states
            alpha = ops.logsumexp(ops.expand_dims(alpha, 2) + step_moves, 1)
            return [alpha], (alpha,) if collect_alphas else ()

        (alpha,), collected = backend.scan(
            step, [self._start(inputs)], inputs, prepare=moves
        )
        return alpha, collected

    def _log_partition(self, emissions, mask):
        moves, inputs, started = self._moves(emissions, mask)
        alpha, _ = self._forward(moves, inputs)
        _, _, end = self._weights()
        log_z = ops.logsumexp(alpha + end, axis=1)
        return ops.where(started, log_z, 0.0)

    def _sequence_score(self, emissions, tags, mask):
        """`s(tags)` (batch,) of batch-major `tags`, vectorised: the
        unmasked steps are moved to the front, in order, so that consecutive
        ones are neighbours."""
        transitions, start, end = self._weights()
        emissions, mask = (
            ops.transpose(emissions, (1, 0, 2)),
            ops.transpose(mask),
        )
        emitted = ops.take_along_axis(
            emissions, ops.expand_dims(tags, 2), axis=2
        )[:, :, 0]
        steps = ops.shape(tags)[1]
        positions = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
        order = ops.argsort(ops.where(mask, positions, positions + steps))
        tags = ops.take_along_axis(tags, order, axis=1)
        count = ops.sum(ops.cast(mask, "int32"), axis=1)
        pairs = ops.take(
            ops.reshape(transitions, (-1,)),
            tags[:, :-1] * self.num_tags + tags[:, 1:],
        )
        last = ops.take_along_axis(
            tags, ops.expand_dims(ops.maximum(count - 1, 0), 1), axis=1
        )[:, 0]
        boundaries = ops.take(start, tags[:, 0]) + ops.take(end, last)
        return (
            ops.sum(ops.where(mask, emitted, 0.0), axis=1)
            + ops.sum(
                ops.where(positions[:, 1:] < count[:, None], pairs, 0.0), axis=1
            )
            + ops.where(count > 0, boundaries, 0.0)
        )

    def _tags(self, tags, emissions_tm):
        if isinstance(tags, (np.ndarray, list)):
            tags = np.asarray(tags)
            if tags.size and not 0 <= tags.min() <= tags.max() < self.num_tags:
                raise ValueError(
                    f"`tags` must be in [0, num_tags={self.num_tags}). "
                    f"Received: tags from {tags.min()} to {tags.max()}"
                )
        tags = ops.convert_to_tensor(tags)
        check_batch_time(
            "tags",
            tags,
            (emissions_tm.shape[1], emissions_tm.shape[0]),
            "the emissions",
        )
        return ops.cast(tags, "int32")

    def log_likelihood(self, emissions, tags, mask=None):
        """`log p(tags | emissions)` of each sequence, (batch,) float32.

        Its negative, averaged over the batch, is the training loss.
        `tags` are ints in `[0, num_tags)`, `(batch, time)` (NumPy tags are
        checked); at masked steps they are ignored.
        """
        emissions, mask = self._inputs(emissions, mask)
        tags = self._tags(tags, emissions)
        score = self._sequence_score(emissions, tags, mask)
        return score - self._log_partition(emissions, mask)

    def decode(self, emissions, mask=None, top_k=None):
        """Viterbi: the best tags, int32 `(batch, time)` (0 where masked),
        and their score `s(tags)` (batch,) float32.

        With `top_k`, the `top_k` best tag sequences of each row, best
        first: tags `(batch, top_k, time)` and scores `(batch, top_k)`
        (AllenNLP's `viterbi_tags(top_k=)`). Equal scores are ordered by
        their last tag, then the one before it, and so on, lowest first
        (Viterbi's own rule). Where a row has fewer than `top_k` sequences
        (`num_tags ** steps`, or fewer that `allowed_transitions` allows),
        the rest score `-inf` and their tags are 0; so does a row that no
        allowed sequence fits (without `top_k` too).
        """
        if top_k is not None:
            check_positive_int("top_k", top_k)
        emissions, mask = self._inputs(emissions, mask)
        k = 1 if top_k is None else int(top_k)
        tags, tags_by_rank = self.num_tags, self.num_tags * k
        moves, inputs, started = self._moves(emissions, mask, COMPARED_ONLY)

        # The k best paths into each tag, flattened as (tag, rank): index
        # tag * k + rank. Before the first step only rank 0 exists.
        alpha = self._start(inputs, COMPARED_ONLY)
        if k > 1:
            impossible = ops.full((1, 1, k - 1), float("-inf"))
            alpha = ops.expand_dims(alpha, 2)
            alpha = ops.concatenate([alpha, alpha + impossible], axis=2)
            alpha = ops.reshape(alpha, (-1, tags_by_rank))

        def step(states, step_moves):
            (alpha,) = states
            # paths[b, i * k + r, j]: the r-th best path into tag i, then j.
            # A step that stays (see `_moves`) keeps each path's pointer.
            if k == 1:
                paths = ops.expand_dims(alpha, 2) + step_moves
            else:
                paths = ops.reshape(
                    ops.reshape(alpha, (-1, tags, k, 1))
                    + ops.expand_dims(step_moves, 2),
                    (-1, tags_by_rank, tags),
                )
            scores, pointers = _top(paths, k)
            return [scores], (pointers,)

        (alpha,), (pointers,) = backend.scan(
            step, [alpha], inputs, prepare=moves
        )
        _, _, end = self._weights(COMPARED_ONLY)
        scores, last = _top(ops.expand_dims(alpha + ops.repeat(end, k), 2), k)
        empty = ops.where(ops.arange(k) == 0, 0.0, float("-inf"))
        scores = ops.where(ops.expand_dims(started, 1), scores, empty)

        def backtrack(states, step_pointers):
            (path,) = states
            previous = backend.take_along_axis(step_pointers, path, axis=1)
            return [previous], (path,)

        _, (paths,) = backend.scan(backtrack, [last], ops.flip(pointers, 0))
        tags = ops.cast(paths // k, "int32")
        # (time, batch, k) to (batch, k, time).
        tags = ops.transpose(ops.flip(tags, 0), (1, 2, 0))
        keep = ops.expand_dims(ops.transpose(mask), 1) & ops.expand_dims(
            scores > float("-inf"), 2
        )
        tags = ops.where(keep, tags, 0)
        if top_k is None:
            return tags[:, 0], scores[:, 0]
        return tags, scores

    def marginals(self, emissions, mask=None):
        """`p(y_t = j | emissions)` by forward-backward, float32
        `(batch, time, num_tags)`; 0 at masked steps."""
        emissions, mask = self._inputs(emissions, mask)
        # alpha_t[j]: every path up to step t ending on tag j (e_t included);
        # beta_t[j]: every path after step t from tag j (end included). Both
        # follow `_moves`, so a masked step repeats its neighbour's.
        moves, inputs, _ = self._moves(emissions, mask)
        _, (alphas,) = self._forward(moves, inputs, collect_alphas=True)
        _, _, end = self._weights()

        def backward(states, step_moves):
            # Emits beta_t, then steps back over t's move to beta_{t-1}.
            (beta,) = states
            before = ops.logsumexp(step_moves + ops.expand_dims(beta, 1), 2)
            return [before], (beta,)

        _, (betas,) = backend.scan(
            backward,
            [ops.zeros_like(alphas[0]) + end],
            tuple(ops.flip(x, 0) for x in inputs),
            prepare=moves,
        )
        # Normalised per step (softmax subtracts the max exactly; log Z
        # rounds to the float32 spacing of scores as large as these sums).
        probabilities = ops.softmax(alphas + ops.flip(betas, 0), axis=2)
        probabilities = ops.where(ops.expand_dims(mask, 2), probabilities, 0.0)
        return ops.transpose(probabilities, (1, 0, 2))

    def call(self, emissions, mask=None):
        tags, _ = self.decode(emissions, mask)
        return tags

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:2]

    def compute_output_spec(self, emissions, mask=None):
        return keras.KerasTensor(tuple(emissions.shape)[:2], dtype="int32")

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "use_boundary_transitions": self.use_boundary_transitions,
            "allowed_transitions": (
                None
                if self.allowed_transitions is None
                else [list(pair) for pair in self.allowed_transitions]
            ),
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in (
                    "transitions_initializer",
                    "transitions_regularizer",
                    "transitions_constraint",
                )
            },
        }
