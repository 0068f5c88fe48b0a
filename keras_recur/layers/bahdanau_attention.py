"""Additive attention with learned projections (Bahdanau, Cho & Bengio 2014)."""

import math

import keras
from keras import initializers
from keras import ops

from keras_recur.layers.base import check_bool
from keras_recur.layers.base import check_positive_int
from keras_recur.layers.base import check_rate
from keras_recur.layers.base import check_seed
from keras_recur.layers.base import resolve


@keras.saving.register_keras_serializable(package="keras_recur")
class BahdanauAttention(keras.layers.Layer):
    """Bahdanau (additive) attention, weight-compatible with TF-Addons'.

    Scores every key `k_j` against the query `q` through learned projections
    and a learned vector `v`, then averages the values with the softmax of
    the scores:

    ```
    e_j = v . tanh(q W_q + k_j W_k)
    a = softmax_j(e)            (masked values get exactly zero weight)
    context = sum_j a_j value_j
    ```

    With `normalize=True` (weight normalisation, as TF-Addons):
    `e_j = (g v / ||v||) . tanh(q W_q + k_j W_k + b)`, with the scalar `g`
    starting at `sqrt(1 / units)` and `b` at zeros.

    The keys are projected once per call, however many queries there are;
    `AttentionDecoder` projects them once per sequence through
    `project_keys` and `attend`. Unlike `keras.layers.AdditiveAttention`,
    which has no projections, this is the model of the paper.

    Weights, in order: `query_kernel` (query_dim, units), `memory_kernel`
    (key_dim, units), `attention_v` (units,), and with `normalize`
    `attention_g` () and `attention_b` (units,): the order and shapes of
    `tfa.seq2seq.BahdanauAttention` (its query_layer and memory_layer
    kernels, attention_v, attention_g, attention_b), so its weights load
    with `set_weights`.

    Args:
        units: Positive integer, size of the projections and of `v`.
        normalize: Whether to use weight normalisation. Default: `False`.
        kernel_initializer: Initializer of `query_kernel`, `memory_kernel`
            and `attention_v`. Default: `"glorot_uniform"`.
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

    >>> attention = keras_recur.layers.BahdanauAttention(8)
    >>> query = np.zeros((2, 16), "float32")  # a decoder state
    >>> memory = np.ones((2, 5, 6), "float32")  # encoder outputs
    >>> context, weights = attention(
    ...     [query, memory], return_attention_scores=True
    ... )
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(
        self,
        units,
        normalize=False,
        kernel_initializer="glorot_uniform",
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        check_positive_int("units", units)
        check_bool("normalize", normalize)
        check_rate("dropout", dropout)
        check_seed(seed)
        super().__init__(**kwargs)
        self.units = int(units)
        self.normalize = normalize
        self.kernel_initializer = resolve(
            "kernel_initializer", kernel_initializer
        )
        self.dropout = float(dropout)
        self.seed = seed
        if self.dropout > 0:  # its state would be a weight otherwise
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        query_shape, _, key_shape = _unpack_shapes(input_shape)
        self.query_kernel = self.add_weight(
            shape=(query_shape[-1], self.units),
            name="query_kernel",
            initializer=self.kernel_initializer,
        )
        self.memory_kernel = self.add_weight(
            shape=(key_shape[-1], self.units),
            name="memory_kernel",
            initializer=self.kernel_initializer,
        )
        self.attention_v = self.add_weight(
            shape=(self.units,),
            name="attention_v",
            initializer=self.kernel_initializer,
        )
        if self.normalize:
            self.attention_g = self.add_weight(
                shape=(),
                name="attention_g",
                initializer=initializers.Constant(math.sqrt(1.0 / self.units)),
            )
            self.attention_b = self.add_weight(
                shape=(self.units,), name="attention_b", initializer="zeros"
            )

    def project_keys(self, key):
        """`k W_k`: (batch, Tv, key_dim) -> (batch, Tv, units)."""
        return ops.matmul(key, self.memory_kernel)

    def scores(self, query, projected_keys):
        """Scores `e` (batch, Tq, Tv) of queries (batch, Tq, query_dim)."""
        projected_query = ops.matmul(query, self.query_kernel)
        features = ops.expand_dims(projected_query, 2) + ops.expand_dims(
            projected_keys, 1
        )
        v = self.attention_v
        if self.normalize:
            features = features + self.attention_b
            v = self.attention_g * v / ops.sqrt(ops.sum(v * v))
        return ops.sum(v * ops.tanh(features), axis=-1)

    def attend(
        self, query, value, projected_keys, value_mask=None, dropout_mask=None
    ):
        """Context (batch, Tq, dim) and weights (batch, Tq, Tv) of queries
        (batch, Tq, query_dim) over keys already projected."""
        scores = self.scores(query, projected_keys)
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
        query, value, key = _unpack(inputs)
        query_mask, value_mask = _unpack_mask(mask)
        single_query = len(query.shape) == 2
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
        query_mask, _ = _unpack_mask(mask)
        if query_mask is None or len(_unpack(inputs)[0].shape) == 2:
            return None
        return query_mask

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "normalize": self.normalize,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "dropout": self.dropout,
            "seed": self.seed,
        }


def _unpack(inputs):
    """`[query, value]` or `[query, value, key]` -> (query, value, key)."""
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(
            "`inputs` of BahdanauAttention must be a list [query, value] or "
            f"[query, value, key]. Received: inputs={inputs!r}"
        )
    _unpack_shapes([tuple(x.shape) for x in inputs])
    return inputs[0], inputs[1], inputs[2] if len(inputs) == 3 else inputs[1]


def _unpack_shapes(input_shape):
    shapes = list(input_shape)
    if len(shapes) not in (2, 3) or not all(
        isinstance(shape, (list, tuple)) for shape in shapes
    ):
        raise ValueError(
            "`inputs` of BahdanauAttention must be a list [query, value] or "
            f"[query, value, key]. Received: input shapes {shapes}"
        )
    query, value = tuple(shapes[0]), tuple(shapes[1])
    key = tuple(shapes[2]) if len(shapes) == 3 else value
    _check_shapes(query, value, key)
    return query, value, key


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


def _unpack_mask(mask):
    """`[query_mask, value_mask]` (a key mask, third, stands in for a
    missing value mask: keys and values share their steps)."""
    if mask is None:
        return None, None
    if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
        raise ValueError(
            "`mask` of BahdanauAttention must be a list [query_mask, "
            f"value_mask]. Received: mask={mask!r}"
        )
    query_mask, value_mask = mask[0], mask[1]
    if value_mask is None and len(mask) == 3:
        value_mask = mask[2]
    return query_mask, value_mask
