"""Metrics of sequence labelling."""

import itertools

import keras
from keras import ops

from keras_recur import backend
from keras_recur import tag_schemes

__all__ = ["SpanF1"]

# tag_schemes' chunk rules as tables over (role before, role after, same
# type), so that a metric can look them up for every step at once.
_ROLES = "OBIES"
_STARTS, _ENDS = (
    [
        rule(*pair, same)
        for pair in itertools.product(_ROLES, repeat=2)
        for same in (False, True)
    ]
    for rule in (tag_schemes.starts_chunk, tag_schemes.ends_chunk)
)


@keras.saving.register_keras_serializable(package="keras_recur")
class SpanF1(keras.metrics.Metric):
    """F1 of labelled spans (chunks), as CoNLL's `conlleval` scores named
    entities and chunks, under any tagging scheme the CRF can be held to.

    The spans are `keras_recur.tag_schemes.spans`': under BIO a span
    starts at `B-X`, or at an `I-X` that does not continue an `X` span (as
    conlleval), and runs over the `I-X` that follow; under BIOES (BIOUL)
    `E-X` (`L-X`) also closes it and `S-X` (`U-X`) is a span of one step.
    A predicted span counts as correct when a true span has the same first
    and last step and type. F1 is `2 * correct / (predicted spans + true
    spans)`, over every sequence seen since the last reset (micro average,
    seqeval's and conlleval's); 0 when there are no spans at all.

    Args:
        tag_names: The name of each tag id, in order: `"O"`, or a prefix of
            the scheme followed by `-<type>` (`"B-PER"`) or alone, each name
            once.
        scheme: The tagging scheme: `"BIO"` (IOB2), `"IOB1"`, `"BIOUL"`,
            `"BIOES"` or `"BMES"`. Default: `"BIO"`.
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
    >>> f1 = keras_recur.metrics.SpanF1(["O", "S-X", "B-X", "E-X"], "BIOES")
    >>> f1.update_state([[2, 3, 1]], [[1, 1, 1]])  # B E S against S S S
    >>> round(float(f1.result()), 3)  # 1 of 3 predicted right, 1 of 2 found
    0.4

    Reference:

    - Tjong Kim Sang & De Meulder (2003). Introduction to the CoNLL-2003 shared
      task (span F1, as conlleval scores it).
      <https://aclanthology.org/W03-0419/>
    """

    def __init__(self, tag_names, scheme="BIO", name="span_f1", dtype=None):
        tag_names = tag_schemes.check_tag_names(scheme, tag_names)
        super().__init__(name=name, dtype=dtype)
        self.tag_names = tag_names
        self.scheme = scheme
        parsed = [tag_schemes.parse_tag(scheme, tag) for tag in tag_names]
        types = sorted({kind for role, kind in parsed if role != "O"})
        self._role_of_tag = [_ROLES.index(role) for role, _ in parsed]
        self._type_of_tag = [
            -1 if role == "O" else types.index(kind) for role, kind in parsed
        ]
        self.correct = self.add_variable(
            (), initializer="zeros", name="correct"
        )
        self.predicted = self.add_variable(
            (), initializer="zeros", name="predicted"
        )
        self.actual = self.add_variable((), initializer="zeros", name="actual")

    def _spans(self, tags, mask):
        """Per step: the span type (-1 outside), whether a span starts
        there, and whether one ends there (`tag_schemes`' rules, looked up
        for each pair of neighbouring steps)."""
        outside = _ROLES.index("O")
        roles = ops.where(
            mask,
            ops.take(ops.array(self._role_of_tag, "int32"), tags),
            outside,
        )
        types = ops.where(
            mask, ops.take(ops.array(self._type_of_tag, "int32"), tags), -1
        )

        def shifted(values, by, fill):
            pad = ((0, 0), (1, 0)) if by > 0 else ((0, 0), (0, 1))
            kept = values[:, :-1] if by > 0 else values[:, 1:]
            return ops.pad(kept, pad, constant_values=fill)

        def rule(table, first_roles, second_roles, first_types, second_types):
            same = ops.cast(first_types == second_types, "int32")
            index = (first_roles * len(_ROLES) + second_roles) * 2 + same
            return ops.take(ops.array(table), index)

        before = (shifted(roles, 1, outside), shifted(types, 1, -1))
        after = (shifted(roles, -1, outside), shifted(types, -1, -1))
        starts = rule(_STARTS, before[0], roles, before[1], types)
        ends = rule(_ENDS, roles, after[0], types, after[1])
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
        return {
            "tag_names": self.tag_names,
            "scheme": self.scheme,
            **super().get_config(),
        }
