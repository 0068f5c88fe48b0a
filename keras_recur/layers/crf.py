"""A linear-chain conditional random field (Lafferty et al. 2001) over
per-step tag scores, as in BiLSTM-CRF taggers (Huang et al. 2015)."""

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.validation import check_batch_time
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import resolve


def _logsumexp(pairs, unused_step_mask):
    """The forward algorithm's sum over the previous tag; collects none."""
    return ops.logsumexp(pairs, axis=1), ()


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
    `end` are learned with `use_boundary_transitions` (else zero). Masked
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

    def _weights(self):
        """`transitions`, `start`, `end` in float32 (a mixed precision call
        would read them in float16); `start` and `end` zeros without
        boundary transitions."""
        zeros = ops.zeros((self.num_tags,), "float32")
        weights = [self.transitions, zeros, zeros]
        if self.use_boundary_transitions:
            weights[1:] = [self.start_transitions, self.end_transitions]
        return [ops.cast(w, "float32") for w in weights]

    def _chain(self, emissions, mask, combine, collect_alphas=False):
        """The forward recursion with `combine` = logsumexp (forward
        algorithm) or max (Viterbi) over the previous tag.

        Returns the final `alpha` (batch, num_tags), whether each row had an
        unmasked step, and what `combine` collects at every step (then
        every step's `alpha`, with `collect_alphas`).
        """
        transitions, start, _ = self._weights()
        batch = ops.shape(emissions)[1]
        alpha = ops.zeros((batch, self.num_tags), "float32") + start
        # Per step, whether an unmasked step came before (then the step
        # chains from a previous tag): computed once, outside the loop.
        counts = ops.cumsum(ops.cast(mask, "int32"), axis=0)
        mask = ops.expand_dims(mask, 2)
        chained = ops.expand_dims(counts > 1, 2) & mask
        started = ops.expand_dims(counts > ops.cast(mask[..., 0], "int32"), 2)

        def step(states, inputs):
            (alpha,) = states
            emission, step_mask, step_started, step_chained = inputs
            # pairs[b, i, j]: the path so far ends in tag i, then tag j.
            pairs = ops.expand_dims(alpha, 2) + transitions
            through, collected = combine(pairs, step_chained)
            # A row's first unmasked step has no previous tag; `alpha` there
            # still holds `start`.
            new_alpha = ops.where(step_started, through, alpha) + emission
            alpha = ops.where(step_mask, new_alpha, alpha)
            if collect_alphas:
                collected = (*collected, alpha)
            return [alpha], collected

        (alpha,), collected = backend.scan(
            step, [alpha], (emissions, mask, started, chained)
        )
        return alpha, counts[-1] > 0, collected

    def _log_partition(self, emissions, mask):
        alpha, started, _ = self._chain(emissions, mask, _logsumexp)
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

    def decode(self, emissions, mask=None):
        """Viterbi: the best tags, int32 `(batch, time)` (0 where masked),
        and their score `s(tags)` (batch,) float32."""
        emissions, mask = self._inputs(emissions, mask)
        every_tag = ops.arange(self.num_tags, dtype="int32")

        def best_previous(pairs, step_mask):
            # Where the step is masked or first, the backpointer is the
            # identity, so the backtrace walks through it unchanged.
            pointers = ops.where(
                step_mask,
                ops.cast(ops.argmax(pairs, axis=1), "int32"),
                every_tag,
            )
            return ops.max(pairs, axis=1), (pointers,)

        alpha, started, (pointers,) = self._chain(
            emissions, mask, best_previous
        )
        _, _, end = self._weights()
        final = alpha + end
        score = ops.where(started, ops.max(final, axis=1), 0.0)
        last = ops.cast(ops.argmax(final, axis=1), "int32")

        def backtrack(states, step_pointers):
            (tag,) = states
            previous = ops.take_along_axis(
                step_pointers, ops.expand_dims(tag, 1), axis=1
            )[:, 0]
            return [previous], (tag,)

        _, (tags,) = backend.scan(backtrack, [last], ops.flip(pointers, 0))
        tags = ops.transpose(ops.flip(tags, 0))
        return ops.where(ops.transpose(mask), tags, 0), score

    def marginals(self, emissions, mask=None):
        """`p(y_t = j | emissions)` by forward-backward, float32
        `(batch, time, num_tags)`; 0 at masked steps."""
        emissions, mask = self._inputs(emissions, mask)
        # alpha_t (with e_t) at every step; a masked step repeats the
        # previous one, and its marginal is zeroed below.
        _, _, (alphas,) = self._chain(
            emissions, mask, _logsumexp, collect_alphas=True
        )
        transitions, _, end = self._weights()
        batch = ops.shape(emissions)[1]

        def backward(states, inputs):
            # following[b, j] = e_{t'}[j] + beta_{t'}[j] at the next unmasked
            # step t' (after t), once there is one.
            following, has_following = states
            emission, step_mask = inputs
            step_mask = ops.expand_dims(step_mask, 1)
            through = ops.logsumexp(
                transitions + ops.expand_dims(following, 1), axis=2
            )
            beta = ops.where(has_following, through, end)
            following = ops.where(step_mask, emission + beta, following)
            return [following, has_following | step_mask], (beta,)

        _, (betas,) = backend.scan(
            backward,
            [
                ops.zeros((batch, self.num_tags), "float32"),
                ops.zeros((batch, 1), "bool"),
            ],
            (ops.flip(emissions, 0), ops.flip(mask, 0)),
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
            **{
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in (
                    "transitions_initializer",
                    "transitions_regularizer",
                    "transitions_constraint",
                )
            },
        }
