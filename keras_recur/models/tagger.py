"""A sequence tagger: per-step tag scores from any network, then a CRF or
a softmax, trained with `fit` on integer tags."""

import keras
from keras import ops

from keras_recur.layers.crf import CRF
from keras_recur.validation import layer_argument


def _rank(tensor):
    """The static rank, or None where unknown (TensorFlow, when a function
    was retraced for several shapes)."""
    try:
        return len(tensor.shape)
    except ValueError:
        return None


class _MaskOf(keras.layers.Layer):
    """The Keras mask of its input as booleans (all True where none)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.ones(ops.shape(inputs)[:2], "bool")
        return ops.cast(mask, "bool")

    def compute_output_spec(self, inputs, mask=None):
        return keras.KerasTensor(tuple(inputs.shape)[:2], dtype="bool")


@keras.saving.register_keras_serializable(package="keras_recur")
class Tagger(keras.Model):
    """Tags every step of a sequence: `network` scores the tags, a CRF
    (`crf`) or an independent softmax per step (no `crf`) picks them.

    The loss inside `fit` is the negative log-likelihood of each sequence's
    tags, averaged over the batch: the CRF's (forward algorithm), or the sum
    of the per-step cross-entropies of the softmax. Masked steps (the mask
    Keras propagates from `Embedding(mask_zero=True)` or `Masking` in the
    network) count in neither. Metrics given to `compile` see the decoded
    tags (Viterbi's, or each step's argmax) with the mask as sample weight,
    so `keras.metrics.Accuracy()` is token accuracy over unmasked steps
    and `keras_recur.metrics.SpanF1` scores labelled spans, whatever the
    head.

    Args:
        network: A Keras layer or model mapping the inputs to tag scores
            `(batch, time, num_tags)`.
        crf: A `keras_recur.layers.CRF`, or `None` for a softmax head.
            Default: `None`.
        **kwargs: Base model arguments (name, trainable).

    Call arguments:
        inputs: What `network` takes.
        training: Whether `network` runs in training mode (dropout).

    Returns:
        A dict: `"tags"` int32 `(batch, time)` (0 at masked steps),
        `"scores"` the network's tag scores, `"mask"` booleans
        `(batch, time)`; `predict` returns the same keys as NumPy arrays.

    Example:

    >>> network = keras.Sequential([
    ...     keras.layers.Embedding(20, 8, mask_zero=True),
    ...     keras.layers.Bidirectional(
    ...         keras_recur.layers.GRU(8, return_sequences=True)
    ...     ),
    ...     keras.layers.Dense(3),
    ... ])
    >>> tagger = keras_recur.models.Tagger(
    ...     network, crf=keras_recur.layers.CRF(3)
    ... )
    >>> tagger.compile("adam", metrics=[keras.metrics.Accuracy()])
    >>> tokens = np.array([[4, 5, 6, 0], [7, 8, 0, 0]])  # 0 pads
    >>> tags = np.array([[1, 2, 2, 0], [1, 0, 0, 0]])
    >>> history = tagger.fit(tokens, tags, epochs=2, verbose=0)
    >>> tagger.predict(tokens, verbose=0)["tags"].shape
    (2, 4)

    Reference:

    - Lample et al. (2016). Neural architectures for named entity recognition
      (the BiLSTM-CRF).
      <https://arxiv.org/abs/1603.01360>
    """

    def __init__(self, network, crf=None, **kwargs):
        super().__init__(**kwargs)
        network = layer_argument(
            "network", network, description="a Keras layer or model"
        )
        if crf is not None:
            crf = layer_argument(
                "crf", crf, CRF, "a keras_recur.layers.CRF or None"
            )
        self.network = network
        self.crf = crf
        self._mask_of = _MaskOf()

    def build(self, inputs_shape):
        if not self.network.built:
            self.network.build(inputs_shape)
        scores_shape = self.network.compute_output_shape(inputs_shape)
        if self.crf is not None and not self.crf.built:
            self.crf.build(scores_shape)

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """`keras.Model.compile`, without `loss`: a Tagger's loss is its
        head's negative log-likelihood."""
        if loss is not None:
            raise ValueError(
                "A Tagger trains on its head's negative log-likelihood and "
                f"takes no `loss`. Received: loss={loss!r}"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips compiling a loaded model whose compile() is overridden
        # (it cannot know the override's arguments); these are Keras' own.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        scores = self.network(inputs, training=training)
        mask = self._mask_of(scores)
        if self.crf is not None:
            tags = self.crf(scores)
        else:
            tags = ops.where(
                mask, ops.cast(ops.argmax(scores, axis=-1), "int32"), 0
            )
        return {"tags": tags, "scores": scores, "mask": mask}

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        scores, mask = y_pred["scores"], y_pred["mask"]
        if sample_weight is not None and _rank(sample_weight) not in (1, None):
            raise ValueError(
                "A Tagger weighs whole sequences: `sample_weight` must have "
                "the shape (batch,). Received: sample_weight with shape "
                f"{tuple(sample_weight.shape)}"
            )
        if self.crf is not None:
            log_likelihood = self.crf.log_likelihood(scores, y, mask)
        else:
            cross_entropy = keras.losses.sparse_categorical_crossentropy(
                y, ops.cast(scores, "float32"), from_logits=True
            )
            log_likelihood = -ops.sum(
                ops.where(mask, cross_entropy, 0.0), axis=1
            )
        losses = -log_likelihood
        if sample_weight is not None:
            # Reshaped, so that a per-step weight of unknown rank fails
            # rather than broadcasts.
            losses = losses * ops.reshape(
                ops.cast(sample_weight, losses.dtype), ops.shape(losses)
            )
        loss = ops.mean(losses)
        if self.losses:
            loss = loss + ops.cast(ops.sum(self.losses), loss.dtype)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        weights = ops.cast(y_pred["mask"], "float32")
        if sample_weight is not None:
            weights = weights * ops.expand_dims(
                ops.cast(sample_weight, "float32"), 1
            )
        return super().compute_metrics(
            x, y, y_pred["tags"], sample_weight=weights
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "network": keras.saving.serialize_keras_object(self.network),
            "crf": keras.saving.serialize_keras_object(self.crf),
        }
