"""Tag schemes' spans against seqeval (a reference nobody here wrote): its
strict mode, which reads each scheme by its definition, on every sequence
the scheme allows, and its default mode (conlleval's rules, extended to E
and S) on any sequence, allowed or not."""

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import BILOU
from seqeval.scheme import IOB1
from seqeval.scheme import IOB2
from seqeval.scheme import IOBES
from seqeval.scheme import Entities

from keras_recur import tag_schemes
from tests import reference
from tests.testing import backend_free

pytestmark = backend_free

# Bare tags (word segmentation's "B", "E") among typed ones where the scheme
# has room for them: seqeval types them "_".
TAGS = {
    "BIO": ["O", "B-A", "I-A", "B-B", "I-B", "B", "I"],
    "IOB1": ["O", "I-A", "B-A", "I-B", "B-B"],
    "BIOUL": ["O", "B-A", "I-A", "L-A", "U-A", "B-B", "I-B", "L-B", "U-B"],
    "BIOES": ["S-A", "B-A", "I-A", "E-A", "O", "S", "B", "E"],
    "BMES": ["B-A", "M-A", "E-A", "S-A", "B-B", "M-B", "E-B", "S-B"],
}
STRICT = {"BIO": IOB2, "IOB1": IOB1, "BIOUL": BILOU, "BIOES": IOBES}


def seqeval_names(scheme, names):
    """seqeval knows BMES as IOBES with M for I (its IOBES has no M)."""
    if scheme != "BMES":
        return list(names)
    return [
        name.replace("M", "I", 1) if name[0] == "M" else name for name in names
    ]


def as_ours(found):
    return [
        ("" if kind == "_" else kind, first, last)
        for kind, first, last in found
    ]


@pytest.mark.parametrize("scheme", sorted(TAGS))
def test_spans_of_allowed_sequences_are_seqevals_strict_ones(scheme):
    # reference.scheme_sequences writes typed chunks only.
    names = [name for name in TAGS[scheme] if name == "O" or "-" in name]
    strict = STRICT.get(scheme, IOBES)
    sequences = [
        [names[i] for i in ids]
        for length in range(1, 5)
        for ids in sorted(reference.scheme_sequences(scheme, names, length))
    ]
    assert len(sequences) >= 50
    entities = Entities(
        [seqeval_names(scheme, s) for s in sequences], strict
    ).entities
    for sequence, found in zip(sequences, entities):
        want = as_ours((e.tag, e.start, e.end - 1) for e in found)
        assert tag_schemes.spans(scheme, sequence) == want, sequence


@pytest.mark.parametrize("scheme", sorted(TAGS))
def test_spans_of_any_sequence_are_seqevals_default_ones(scheme):
    # Default mode reads E and S; BIOUL's L and U play them.
    roles = {"L": "E", "U": "S", "M": "I"}
    names = TAGS[scheme]
    rng = np.random.default_rng(0)
    for _ in range(300):
        sequence = [names[i] for i in rng.integers(len(names), size=6)]
        renamed = [roles.get(n[0], n[0]) + n[1:] for n in sequence]
        want = as_ours(get_entities(renamed))
        assert tag_schemes.spans(scheme, sequence) == want, sequence
