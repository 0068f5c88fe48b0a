"""The interface of an attention mechanism, and what every mechanism shares."""

import keras
from keras import ops

from keras_recur.validation import check_batch_time
from keras_recur.validation import check_rate
from keras_recur.validation import check_seed


class AttentionMechanism(keras.layers.Layer):
    """Base of the attention mechanisms that `AttentionDecoder` and
    `Seq2Seq` accept (not used directly).

    A mechanism implements three methods; this base class does the rest
    (masked softmax, dropout of the weights, the weighted sum of the values,
    the `[query, value, key]` call convention, mask handling, config):

    - `build(input_shape)`, with `input_shape` `[query_shape, value_shape]`
      or `[query_shape, value_shape, key_shape]`;
    - `project_keys(key)`: what the keys (batch, Tv, key_dim) become before
      scoring, computed once per sequence however many queries follow (a
      decoder calls it once, then scores at every step);
    - `score(query, projected_keys)`: scores (batch, Tq, Tv) of queries
      (batch, Tq, query_dim).

    The class attribute `queries_with_current_output` tells
    `AttentionDecoder` which step to run: `False` (here) for Bahdanau's,
    which queries with the previous state, `True` for Luong's, which
    queries with the cell's current output and emits an attentional vector.

    Args:
        dropout: Float in [0, 1): fraction of the attention weights dropped
            in training (the rest are scaled up). Default: 0.
        seed: Integer seed of the dropout. Default: `None`.
        **kwargs: Base layer arguments (name, dtype, trainable).

    Call arguments:
        inputs: `[query, value]` or `[query, value, key]`. `query` is
            `(batch, query_dim)` for one decoder step or
            `(batch, Tq, query_dim)`; `value` is `(batch, Tv, dim)`; `key`
            is `(batch, Tv, key_dim)` and defaults to `value`.
        mask: Optional `[query_mask, value_mask]` of booleans
            `(batch, Tq)` and `(batch, Tv)`. Masked values get zero weight;
            the context of a masked query is zeros.
        return_attention_scores: Also return the attention weights.
            Default: `False`.
        training: Whether dropout is applied.

    Returns:
        The context `(batch, dim)` or `(batch, Tq, dim)`; with
        `return_attention_scores`, also the weights `(batch, Tv)` or
        `(batch, Tq, Tv)`.

    Example:

    A dot-product mechanism (Luong's "dot" score) is three short methods:

    >>> class DotAttention(keras_recur.layers.AttentionMechanism):
    ...     def build(self, input_shape):
    ...         pass
    ...     def project_keys(self, key):
    ...         return key
    ...     def score(self, query, projected_keys):
    ...         return keras.ops.einsum("bqd,bvd->bqv", query, projected_keys)
    >>> decoder = keras_recur.layers.AttentionDecoder(
    ...     keras.layers.GRUCell(6), DotAttention()
    ... )
    >>> tuple(decoder(np.zeros((2, 3, 4)), np.ones((2, 5, 6))).shape)
    (2, 3, 12)
    """

    queries_with_current_output = False

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        check_rate("dropout", dropout)
        check_seed(seed)
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.seed = seed
        if self.dropout > 0:  # its state would be a weight otherwise
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def project_keys(self, key):
        """The keys (batch, Tv, key_dim) as `score` takes them."""
        raise NotImplementedError

    def score(self, query, projected_keys):
        """Scores (batch, Tq, Tv) of queries (batch, Tq, query_dim)."""
        raise NotImplementedError

    def attend(
        self, query, value, projected_keys, value_mask=None, dropout_mask=None
    ):
        """Context (batch, Tq, dim) and weights (batch, Tq, Tv) of queries
        (batch, Tq, query_dim) over keys already projected."""
        scores = self.score(query, projected_keys)
        if value_mask is not None:
            value_mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)
            # Low enough that exp() of it underflows to 0 next to any real
            # score, and representable in float16.
            lowest = -65504.0 if scores.dtype == "float16" else -1e9
            scores = ops.where(value_mask, scores, lowest)
        weights = ops.softmax(scores, axis=-1)
        if value_mask is not None:
            # Exactly zero, also where every value is masked.
            weights = ops.where(value_mask, weights, 0.0)
        if dropout_mask is not None:
            weights = weights * dropout_mask
        return ops.matmul(weights, ops.cast(value, weights.dtype)), weights

    def dropout_mask(self, shape):
        """Multiplier of the attention weights in training: zeros for the
        dropped ones, `1 / (1 - dropout)` for the rest (None without
        dropout). Drawn before a decoding loop, for all its steps."""
        if self.dropout == 0:
            return None
        ones = ops.ones(shape, dtype=self.compute_dtype)
        return keras.random.dropout(
            ones, self.dropout, seed=self.seed_generator
        )

    def call(
        self, inputs, mask=None, return_attention_scores=False, training=None
    ):
        query, value, key = self._unpack(inputs)
        query_mask, value_mask = self._unpack_mask(mask)
        single_query = len(query.shape) == 2
        if query_mask is not None and not single_query:
            check_batch_time(
                "query_mask", query_mask, tuple(query.shape[:2]), "the query"
            )
        if value_mask is not None:
            check_batch_time(
                "value_mask", value_mask, tuple(value.shape[:2]), "the value"
            )
        if single_query:
            query = ops.expand_dims(query, 1)
        dropout_mask = None
        if training:
            batch, queries, values = (
                ops.shape(query)[0],
                ops.shape(query)[1],
                ops.shape(value)[1],
            )
            dropout_mask = self.dropout_mask((batch, queries, values))
        context, weights = self.attend(
            query, value, self.project_keys(key), value_mask, dropout_mask
        )
        if query_mask is not None and not single_query:
            context = context * ops.expand_dims(
                ops.cast(query_mask, context.dtype), -1
            )
        if single_query:
            context, weights = context[:, 0], weights[:, 0]
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, inputs, mask=None):
        query_mask, _ = self._unpack_mask(mask)
        if query_mask is None or len(self._unpack(inputs)[0].shape) == 2:
            return None
        return query_mask

    def get_config(self):
        return {
            **super().get_config(),
            "dropout": self.dropout,
            "seed": self.seed,
        }

    def _unpack(self, inputs):
        """`[query, value]` or `[query, value, key]` -> (query, value, key)."""
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"`inputs` of {type(self).__name__} must be a list "
                "[query, value] or [query, value, key]. "
                f"Received: inputs={inputs!r}"
            )
        self.unpack_shapes([tuple(x.shape) for x in inputs])
        return (
            inputs[0],
            inputs[1],
            inputs[2] if len(inputs) == 3 else inputs[1],
        )

    def unpack_shapes(self, input_shape):
        """`[query, value(, key)]` shapes, checked -> (query, value, key)."""
        shapes = list(input_shape)
        if len(shapes) not in (2, 3) or not all(
            isinstance(shape, (list, tuple)) for shape in shapes
        ):
            raise ValueError(
                f"`inputs` of {type(self).__name__} must be a list "
                "[query, value] or [query, value, key]. "
                f"Received: input shapes {shapes}"
            )
        query, value = tuple(shapes[0]), tuple(shapes[1])
        key = tuple(shapes[2]) if len(shapes) == 3 else value
        _check_shapes(query, value, key)
        return query, value, key

    def _unpack_mask(self, mask):
        """`[query_mask, value_mask]` (a key mask, third, stands in for a
        missing value mask: keys and values share their steps)."""
        if mask is None:
            return None, None
        if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
            raise ValueError(
                f"`mask` of {type(self).__name__} must be a list "
                f"[query_mask, value_mask]. Received: mask={mask!r}"
            )
        query_mask, value_mask = mask[0], mask[1]
        if value_mask is None and len(mask) == 3:
            value_mask = mask[2]
        return query_mask, value_mask


def _check_shapes(query, value, key):
    if len(query) not in (2, 3) or query[-1] is None:
        raise ValueError(
            "`query` must be (batch, query_dim) or (batch, Tq, query_dim) "
            f"with a known query_dim. Received: query.shape={query}"
        )
    for name, shape in (("value", value), ("key", key)):
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                f"`{name}` must be (batch, Tv, dim) with a known dim. "
                f"Received: {name}.shape={shape}"
            )
    if None not in (value[1], key[1]) and value[1] != key[1]:
        raise ValueError(
            "`key` and `value` must have the same number of steps. "
            f"Received: key.shape={key}, value.shape={value}"
        )
