"""SpanF1 against a plain-Python transcription of conlleval's chunk rules."""

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import to_numpy

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def chunks(names):
    """conlleval: (first, last, type) of each chunk of an IOB2 sequence."""
    found, start, kind = [], None, None
    for t, name in enumerate([*names, "O"]):
        prefix, tag_type = (name[0], name[2:]) if name != "O" else ("O", None)
        continues = prefix == "I" and tag_type == kind
        if start is not None and not continues:
            found.append((start, t - 1, kind))
            start, kind = None, None
        if prefix in "BI" and not continues:
            start, kind = t, tag_type
    return set(found)


def reference_f1(y_true, y_pred, mask):
    correct = predicted = actual = 0
    for true_row, pred_row, row_mask in zip(y_true, y_pred, mask):
        true_spans = chunks(
            [TAGS[k] if m else "O" for k, m in zip(true_row, row_mask)]
        )
        pred_spans = chunks(
            [TAGS[k] if m else "O" for k, m in zip(pred_row, row_mask)]
        )
        correct += len(true_spans & pred_spans)
        predicted += len(pred_spans)
        actual += len(true_spans)
    return 2 * correct / (predicted + actual) if predicted + actual else 0.0


def test_matches_conlleval_chunks_on_random_tags():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, len(TAGS), (40, 9))
    # Predictions close to the truth, so that many spans match.
    y_pred = np.where(
        rng.random(y_true.shape) < 0.2, rng.integers(0, 5, y_true.shape), y_true
    )
    mask = rng.random(y_true.shape) < 0.9
    metric = keras_recur.metrics.SpanF1(TAGS)
    metric.update_state(y_true[:20], y_pred[:20], mask[:20])
    metric.update_state(
        y_true[20:], keras.ops.one_hot(y_pred[20:], 5), mask[20:]
    )
    want = reference_f1(y_true, y_pred, mask)
    assert 0.3 < want < 0.95
    np.testing.assert_allclose(
        float(to_numpy(metric.result())), want, rtol=1e-6
    )
    metric.reset_state()
    assert float(to_numpy(metric.result())) == 0.0


def test_bad_tag_names_are_named():
    for names in (["O", "PER"], [], "O"):
        with pytest.raises(ValueError, match="Received: tag_names="):
            keras_recur.metrics.SpanF1(names)
