"""Metrics of sequence labelling."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.validation import check_tag_names

__all__ = ["SpanF1"]


@keras.saving.register_keras_serializable(package="keras_recur")
class SpanF1(keras.metrics.Metric):
    """F1 of labelled spans (chunks) in BIO (IOB2) tags, as CoNLL's
    `conlleval` scores named entities and chunks.

    A span starts at `B-X`, or at `I-X` not preceded by `B-X`/`I-X` (as
    conlleval), and runs over the `I-X` that follow. A predicted span counts
    as correct when a true span has the same first and last step and type.
    F1 is `2 * correct / (predicted spans + true spans)`, over every
    sequence seen since the last reset (micro average); 0 when there are no
    spans at all.

    Args:
        tag_names: The name of each tag id, in order: `"O"`, `"B-<type>"`
            or `"I-<type>"`.
        name: Name of the metric. Default: `"span_f1"`.
        dtype: Dtype of the result. Default: `None` (float32).

    Call arguments:
        y_true: True tag ids `(batch, time)`.
        y_pred: Predicted tag ids `(batch, time)`, or tag scores
            `(batch, time, num_tags)` (their argmax is taken).
        sample_weight: Optional `(batch, time)`; steps of weight 0 are
            outside every span (`keras_recur.models.Tagger` passes its mask
            here).

    Example:

    >>> f1 = keras_recur.metrics.SpanF1(["O", "B-PER", "I-PER", "B-LOC"])
    >>> f1.update_state([[1, 2, 0, 3]], [[1, 2, 0, 1]])
    >>> float(f1.result())  # 1 of 2 predicted spans right, 1 of 2 found
    0.5

    Reference:

    - Tjong Kim Sang & De Meulder (2003). Introduction to the CoNLL-2003 shared
      task (span F1, as conlleval scores it).
      <https://aclanthology.org/W03-0419/>
    """

    def __init__(self, tag_names, name="span_f1", dtype=None):
        tag_names = check_tag_names(tag_names)
        super().__init__(name=name, dtype=dtype)
        self.tag_names = tag_names
        types = sorted({tag[2:] for tag in tag_names if tag != "O"})
        self._type_of_tag = [
            -1 if tag == "O" else types.index(tag[2:]) for tag in tag_names
        ]
        self._begins = [tag.startswith("B-") for tag in tag_names]
        self.correct = self.add_variable(
            (), initializer="zeros", name="correct"
        )
        self.predicted = self.add_variable(
            (), initializer="zeros", name="predicted"
        )
        self.actual = self.add_variable((), initializer="zeros", name="actual")

    def _spans(self, tags, mask):
        """Per step: the span type (-1 outside), whether a span starts
        there, and whether one ends there."""
        types = ops.where(
            mask, ops.take(ops.array(self._type_of_tag, "int32"), tags), -1
        )
        begins = ops.take(ops.array(self._begins), tags)
        before = ops.pad(types[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
        starts = (types >= 0) & (begins | (before != types))
        after = ops.pad(types[:, 1:], ((0, 0), (0, 1)), constant_values=-1)
        starts_after = (
            ops.pad(ops.cast(starts[:, 1:], "int32"), ((0, 0), (0, 1))) > 0
        )
        ends = (types >= 0) & ((after != types) | starts_after)
        return types, starts, ends

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "int32")
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == 3:
            y_pred = ops.argmax(y_pred, axis=-1)
        y_pred = ops.cast(y_pred, "int32")
        mask = ops.ones_like(y_true, "bool")
        if sample_weight is not None:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(weight.shape) == 1:
                weight = ops.expand_dims(weight, 1)
            mask = ops.broadcast_to(weight > 0, ops.shape(y_true))
        true_types, true_starts, true_ends = self._spans(y_true, mask)
        pred_types, pred_starts, pred_ends = self._spans(y_pred, mask)
        agree = (true_types == pred_types) & (true_starts == pred_starts)

        # Whether every step of the predicted span so far agrees with the
        # truth: reset at each predicted start.
        def step(states, inputs):
            (so_far,) = states
            starts, agrees = inputs
            so_far = agrees & (starts | so_far)
            return [so_far], (so_far,)

        _, (agreed,) = backend.scan(
            step,
            [ops.zeros(ops.shape(y_true)[:1], "bool")],
            (ops.transpose(pred_starts), ops.transpose(agree)),
        )
        correct = ops.transpose(agreed) & pred_ends & true_ends

        def count(flags):
            return ops.cast(ops.sum(ops.cast(flags, "int32")), self.dtype)

        self.correct.assign_add(count(correct))
        self.predicted.assign_add(count(pred_starts))
        self.actual.assign_add(count(true_starts))

    def result(self):
        spans = self.predicted + self.actual
        return ops.where(
            spans > 0, 2.0 * self.correct / ops.maximum(spans, 1.0), 0.0
        )

    def get_config(self):
        return {"tag_names": self.tag_names, **super().get_config()}
