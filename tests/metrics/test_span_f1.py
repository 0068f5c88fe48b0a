"""SpanF1 against seqeval's span F1 (its default mode: conlleval's chunk
rules, extended to E and S), under every scheme the CRF can be held to."""

import keras
import numpy as np
import pytest
from seqeval.metrics import f1_score

import keras_recur
from tests.testing import to_numpy

TAGS = {
    "BIO": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOB1": ["O", "I-PER", "B-PER", "I-LOC", "B-LOC"],
    "BIOUL": ["O", "B-PER", "I-PER", "L-PER", "U-PER", "U-LOC"],
    "BIOES": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "B", "E"],
    "BMES": ["B-W", "M-W", "E-W", "S-W", "S-P"],
}
# seqeval's default mode reads B, I, E, S and O: BIOUL's L and U play E
# and S, BMES's M plays I.
ROLES = {"L": "E", "U": "S", "M": "I"}


def seqeval_f1(names, y_true, y_pred, mask):
    seqeval_names = [ROLES.get(n[0], n[0]) + n[1:] for n in names]

    def named(rows):
        return [
            [seqeval_names[k] if m else "O" for k, m in zip(row, row_mask)]
            for row, row_mask in zip(rows, mask)
        ]

    return f1_score(named(y_true), named(y_pred))


@pytest.mark.parametrize("scheme", sorted(TAGS))
def test_matches_seqeval_on_random_tags(scheme):
    names = TAGS[scheme]
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, len(names), (40, 9))
    # Predictions close to the truth, so that many spans match.
    y_pred = np.where(
        rng.random(y_true.shape) < 0.2,
        rng.integers(0, len(names), y_true.shape),
        y_true,
    )
    mask = rng.random(y_true.shape) < 0.9
    metric = keras_recur.metrics.SpanF1(names, scheme)
    metric.update_state(y_true[:20], y_pred[:20], mask[:20])
    scores = keras.ops.one_hot(y_pred[20:], len(names))
    metric.update_state(y_true[20:], scores, mask[20:])
    want = seqeval_f1(names, y_true, y_pred, mask)
    assert 0.3 < want < 0.95
    np.testing.assert_allclose(
        float(to_numpy(metric.result())), want, rtol=1e-6
    )
    metric.reset_state()
    assert float(to_numpy(metric.result())) == 0.0


def test_bad_tag_names_are_named():
    for names in (["O", "PER"], [], "O", ["O", "O"]):
        with pytest.raises(ValueError, match="Received: .*tag_names="):
            keras_recur.metrics.SpanF1(names)
    with pytest.raises(ValueError, match="Received: tag 'L-X' in tag_names="):
        keras_recur.metrics.SpanF1(["O", "L-X"], "BIO")
    with pytest.raises(ValueError, match="scheme='IOE2'"):
        keras_recur.metrics.SpanF1(["O"], "IOE2")


def test_config_round_trip():
    metric = keras_recur.metrics.SpanF1(TAGS["BIOES"], "BIOES", name="f")
    clone = keras_recur.metrics.SpanF1.from_config(metric.get_config())
    assert clone.scheme == "BIOES" and clone.name == "f"
    assert clone.tag_names == TAGS["BIOES"]
