"""Multiplicative attention (Luong, Pham & Manning 2015), as TF-Addons'."""

import keras
from keras import initializers
from keras import ops

from keras_recur.layers.attention.attention_mechanism import AttentionMechanism
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_weight_list
from keras_recur.validation import resolve


@keras.saving.register_keras_serializable(package="keras_recur")
class LuongAttention(AttentionMechanism):
    """Luong's "general" (multiplicative) attention, weight-compatible with
    TF-Addons'.

    Scores every key `k_j` against the query `q` through one learned matrix,
    optionally times a learned scalar `g` (`scale=True`):

    ```
    e_j = [g *] q . (k_j W)        (Luong's h_t^T W_a h_s)
    a = softmax_j(e)               (masked values get exactly zero weight)
    context = sum_j a_j value_j
    ```

    Luong's query is the decoder's CURRENT output `h_t`, and his decoder
    emits the attentional vector `tanh(W_c [context; h_t])`: this mechanism
    says so to `AttentionDecoder` (`queries_with_current_output`), which
    then decodes that way (see its `attention_layer_size` and
    `input_feeding`). The keys are projected once per sequence.

    Weights, in order: `memory_kernel` (key_dim, units), then with `scale`
    `attention_g` (), starting at 1: the shapes of
    `tfa.seq2seq.LuongAttention`'s. TF-Addons lists `attention_g` first:
    `set_tf_addons_weights` takes its `get_weights()` as they are.

    Args:
        units: Positive integer, the size of the projected keys, which must
            be the query's size; `None` (default) takes the query's size
            when the layer is built.
        scale: Whether to learn the scalar `g`. Default: `False`.
        kernel_initializer: Initializer of `memory_kernel`.
            Default: `"glorot_uniform"`.
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

    >>> attention = keras_recur.layers.LuongAttention(scale=True)
    >>> query = np.zeros((2, 16), "float32")  # a decoder output
    >>> memory = np.ones((2, 5, 6), "float32")  # encoder outputs
    >>> context, weights = attention(
    ...     [query, memory], return_attention_scores=True
    ... )
    >>> tuple(context.shape), [w.name for w in attention.weights]
    ((2, 6), ['memory_kernel', 'attention_g'])

    Reference:

    - Luong, Pham & Manning (2015). Effective approaches to attention-based
      neural machine translation.
      <https://arxiv.org/abs/1508.04025>
    """

    queries_with_current_output = True

    def __init__(
        self,
        units=None,
        scale=False,
        kernel_initializer="glorot_uniform",
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        if units is not None:
            check_positive_int("units", units)
            units = int(units)
        check_bool("scale", scale)
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.units = units
        self.scale = scale
        self.kernel_initializer = resolve(
            "kernel_initializer", kernel_initializer
        )

    def build(self, input_shape):
        query_shape, _, key_shape = self.unpack_shapes(input_shape)
        query_dim = query_shape[-1]
        if self.units is not None and self.units != query_dim:
            raise ValueError(
                "LuongAttention scores q . (k W), so `units` must be the "
                f"query's size, {query_dim}. Received: units={self.units}"
            )
        self.memory_kernel = self.add_weight(
            shape=(key_shape[-1], query_dim),
            name="memory_kernel",
            initializer=self.kernel_initializer,
        )
        if self.scale:
            self.attention_g = self.add_weight(
                shape=(), name="attention_g", initializer="ones"
            )

    def set_tf_addons_weights(self, weights):
        """Loads `tfa.seq2seq.LuongAttention(...).get_weights()`, in
        TF-Addons' order: `[(attention_g,) memory_layer kernel]`. The layer
        must be built."""
        names = ["attention_g"] if self.scale else []
        check_weight_list(
            "LuongAttention", weights, names + ["memory_layer kernel"]
        )
        *own, memory_kernel = weights
        self.set_weights([memory_kernel, *own])

    def project_keys(self, key):
        """`k W`: (batch, Tv, key_dim) -> (batch, Tv, query_dim)."""
        return ops.matmul(key, self.memory_kernel)

    def score(self, query, projected_keys):
        """Scores `e` (batch, Tq, Tv) of queries (batch, Tq, query_dim)."""
        scores = ops.einsum("bqd,bvd->bqv", query, projected_keys)
        if self.scale:
            scores = self.attention_g * scores
        return scores

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "scale": self.scale,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
        }
