"""Additive attention with learned projections (Bahdanau, Cho & Bengio 2014)."""

import math

import keras
from keras import initializers
from keras import ops

from keras_recur.layers.attention.attention_mechanism import AttentionMechanism
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_weight_list
from keras_recur.validation import resolve


@keras.saving.register_keras_serializable(package="keras_recur")
class BahdanauAttention(AttentionMechanism):
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
    `project_keys`, then scores every step's query (the interface of
    `AttentionMechanism`). Unlike `keras.layers.AdditiveAttention`,
    which has no projections, this is the model of the paper.

    Weights, in order: `query_kernel` (query_dim, units), `memory_kernel`
    (key_dim, units), `attention_v` (units,), and with `normalize`
    `attention_g` () and `attention_b` (units,): the shapes of
    `tfa.seq2seq.BahdanauAttention`'s. TF-Addons lists them in another
    order (its own weights before its query and memory layers' kernels):
    `set_tf_addons_weights` takes its `get_weights()` as they are.

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

    Reference:

    - Bahdanau, Cho & Bengio (2014). Neural machine translation by jointly
      learning to align and translate.
      <https://arxiv.org/abs/1409.0473>
    - Salimans & Kingma (2016). Weight normalization (`normalize=True`).
      <https://arxiv.org/abs/1602.07868>
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
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.units = int(units)
        self.normalize = normalize
        self.kernel_initializer = resolve(
            "kernel_initializer", kernel_initializer
        )

    def build(self, input_shape):
        query_shape, _, key_shape = self.unpack_shapes(input_shape)
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

    def set_tf_addons_weights(self, weights):
        """Loads `tfa.seq2seq.BahdanauAttention(...).get_weights()`, in
        TF-Addons' order: `[attention_v, (attention_g, attention_b,)
        query_layer kernel, memory_layer kernel]`. The layer must be built.
        """
        names = ["attention_v"]
        if self.normalize:
            names += ["attention_g", "attention_b"]
        names += ["query_layer kernel", "memory_layer kernel"]
        check_weight_list("BahdanauAttention", weights, names)
        *own, query_kernel, memory_kernel = weights
        self.set_weights([query_kernel, memory_kernel, *own])

    def project_keys(self, key):
        """`k W_k`: (batch, Tv, key_dim) -> (batch, Tv, units)."""
        return ops.matmul(key, self.memory_kernel)

    def score(self, query, projected_keys):
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

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "normalize": self.normalize,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
        }
