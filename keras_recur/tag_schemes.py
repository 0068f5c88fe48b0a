"""Tagging schemes: the tags each scheme has, which tag may follow which,
and where a tag sequence's labelled spans (chunks) are.

`keras_recur.layers.CRF`'s `allowed_transitions`,
`keras_recur.metrics.SpanF1` and `keras_recur.tuning.SequenceTagger` read
every scheme from here, so whatever a CRF can be held to can be scored.

A tag is a prefix alone (`"B"`) or followed by `-<type>` (`"B-PER"`); `"O"`
stands alone. Each prefix plays one of five roles: outside (O), begin (B),
inside (I), end (E) and single-step chunk (S). BIOUL is BIOES with L for E
and U for S; BMES (word segmentation) is BIOES with M for I and no O.

Spans follow CoNLL's `conlleval` rules as seqeval extends them to E and S
(seqeval's default, lenient mode): a chunk starts at B or S, at an I or E
that does not continue a chunk of its type, and ends before O, B or S, after
E or S, and where the type changes. A sequence the scheme allows (see
`allowed_transitions`) has exactly the chunks that wrote it; any other
sequence (a softmax head's, say) is still read, as conlleval reads it.
"""

import collections

from keras_recur.validation import check_one_of

# Each scheme's prefixes, and the role each plays.
ROLES = {
    "BIO": {"O": "O", "B": "B", "I": "I"},
    "IOB1": {"O": "O", "B": "B", "I": "I"},
    "BIOUL": {"O": "O", "B": "B", "I": "I", "L": "E", "U": "S"},
    "BIOES": {"O": "O", "B": "B", "I": "I", "E": "E", "S": "S"},
    "BMES": {"B": "B", "M": "I", "E": "E", "S": "S"},
}
SCHEMES = tuple(ROLES)

# The roles a sequence may start with and end with. BIO begins a chunk with
# B; IOB1 with I (B only splits two adjacent chunks of one type); the
# others close every chunk with E or S.
_FIRST = {"BIO": "OB", "IOB1": "OI"}
_LAST = {"BIO": "OBI", "IOB1": "OBI"}


def parse_tag(scheme, tag, where=""):
    """A tag name as (role, type) under `scheme`: under BIOUL `"L-PER"` is
    `("E", "PER")`; `"O"` is `("O", "")` and a bare prefix has type `""`.
    `where` ends the message of a bad name (" in tags=[...]")."""
    prefixes = "".join(ROLES[scheme])
    prefix, rest = (tag[:1], tag[1:]) if isinstance(tag, str) else ("", "")
    valid = prefix != "" and prefix in prefixes
    valid = valid and (rest == "" or prefix != "O" and len(rest) > 1)
    if not valid or rest and rest[0] != "-":
        raise ValueError(
            f"Under the {scheme} scheme a tag is one of {', '.join(prefixes)} "
            "alone or followed by '-<type>'"
            f"{' (O alone)' if 'O' in prefixes else ''}. Received: tag "
            f"{tag!r}{where}"
        )
    return ROLES[scheme][prefix], rest[1:]


def check_tag_names(scheme, tag_names, argument="tag_names"):
    """`tag_names` (the name of each tag id, in order: a list, or a dict
    from every id 0, 1, ... to its name) as a list, each name once and
    valid under `scheme`."""
    check_one_of("scheme", scheme, SCHEMES)
    if isinstance(tag_names, dict):
        if set(tag_names) != set(range(len(tag_names))):
            raise ValueError(
                f"`{argument}` as a dict must name every tag id from 0 to "
                f"{len(tag_names) - 1}, in the ids' order. Received: "
                f"{argument} with ids {sorted(tag_names, key=str)}"
            )
        tag_names = [tag_names[i] for i in range(len(tag_names))]
    try:
        names = [] if isinstance(tag_names, str) else list(tag_names)
    except TypeError:
        names = []
    if not names:
        raise ValueError(
            f"`{argument}` must be a non-empty list of tag names. "
            f"Received: {argument}={tag_names!r}"
        )
    counts = collections.Counter(names)
    repeated = sorted((n for n, count in counts.items() if count > 1), key=str)
    if repeated:
        raise ValueError(
            f"`{argument}` must name each tag once (a name's transitions and "
            f"spans would be ambiguous). Received: {repeated} more than once "
            f"in {argument}={tag_names!r}"
        )
    for name in names:
        parse_tag(scheme, name, where=f" in {argument}={tag_names!r}")
    return names


def may_follow(scheme, before, after):
    """Whether tag `after` may follow tag `before`, each (role, type);
    `before` is None at the first tag and `after` None after the last."""
    if before is None:
        return after[0] in _FIRST.get(scheme, "OBS")
    if after is None:
        return before[0] in _LAST.get(scheme, "OES")
    (b, b_type), (a, a_type) = before, after
    continues = b_type == a_type
    if scheme == "BIO":
        return a in "OB" or a == "I" and b in "BI" and continues
    if scheme == "IOB1":
        return a in "OI" or a == "B" and b in "BI" and continues
    # BIOES, BIOUL, BMES: a chunk ends (E, S) before another begins.
    return b in "OES" and a in "OBS" or b in "BI" and a in "IE" and continues


def allowed_transitions(scheme, tags):
    """The tag transitions a tagging scheme allows, for `CRF`'s
    `allowed_transitions`: AllenNLP's `allowed_transitions`.

    With `n = len(tags)`, the pairs `(i, j)` say that tag `j` may follow tag
    `i`; `(n, j)` that a sequence may start with tag `j` and `(i, n + 1)`
    that it may end with tag `i`. Under BIO an `I-x` follows only `B-x` or
    `I-x`; under IOB1 a `B-x` follows only `B-x` or `I-x`; under BIOUL
    (BIOES) a chunk is `U-x` (`S-x`) or `B-x I-x... L-x` (`E-x`), and under
    BMES, which has no `O`, `S-x` or `B-x M-x... E-x`.

    Args:
        scheme: `"BIO"` (IOB2), `"IOB1"`, `"BIOUL"`, `"BIOES"` or `"BMES"`.
        tags: The name of each tag id, in order (a list, or a dict from
            every id 0, 1, ... to its name): `"O"`, or a prefix of the
            scheme followed by `-<type>` (`"B-PER"`) or alone (`"B"`), each
            name once.

    Returns:
        A list of `(from, to)` pairs of ints.

    Example:

    >>> pairs = keras_recur.layers.allowed_transitions(
    ...     "BIO", ["O", "B-X", "I-X"]
    ... )
    >>> (0, 2) in pairs, (1, 2) in pairs, (3, 2) in pairs  # O, B-X, start
    (False, True, False)

    Reference:

    - AllenNLP's `allennlp.modules.conditional_random_field`.
      <https://github.com/allenai/allennlp>
    """
    parsed = [
        parse_tag(scheme, tag)
        for tag in check_tag_names(scheme, tags, argument="tags")
    ]
    start, end = len(parsed), len(parsed) + 1
    pairs = [
        (i, j)
        for i, before in enumerate(parsed)
        for j, after in enumerate(parsed)
        if may_follow(scheme, before, after)
    ]
    pairs += [
        (start, j)
        for j, after in enumerate(parsed)
        if may_follow(scheme, None, after)
    ]
    pairs += [
        (i, end)
        for i, before in enumerate(parsed)
        if may_follow(scheme, before, None)
    ]
    return sorted(pairs)


def starts_chunk(before_role, role, same_type):
    """Whether a chunk starts at a tag of `role` after one of `before_role`
    ("O" at the first step); `same_type`: whether the two types agree."""
    if role == "O":
        return False
    return (
        role in "BS"
        or before_role in "OES"  # an I or E that continues nothing
        or not same_type
    )


def ends_chunk(role, after_role, same_type):
    """Whether a chunk ends at a tag of `role` before one of `after_role`
    ("O" after the last step); `same_type`: whether the two types agree."""
    if role == "O":
        return False
    return role in "ES" or after_role in "OBS" or not same_type


def spans(scheme, tags):
    """The labelled spans (chunks) of a tag sequence, as CoNLL's conlleval
    finds them, extended to E and S as seqeval's default mode does.

    A chunk starts at B or S, at an I or E that does not continue a chunk
    of its type, and ends before O, B or S, after E or S, and where the
    type changes (BIOUL's L and U play E and S, BMES's M plays I). A
    sequence the scheme allows has exactly the chunks that wrote it; any
    other is read as conlleval reads it (`I-X` after `O` starts a chunk).
    `keras_recur.metrics.SpanF1` scores these spans.

    Args:
        scheme: `"BIO"` (IOB2), `"IOB1"`, `"BIOUL"`, `"BIOES"` or `"BMES"`.
        tags: A sequence of tag names (`"B-PER"`, `"O"`, bare `"B"`).

    Returns:
        A list of `(type, first step, last step)`, in order; a bare tag's
        type is `""`.

    Example:

    >>> from keras_recur import tag_schemes
    >>> tag_schemes.spans("BIOES", ["B-PER", "E-PER", "O", "S-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    >>> tag_schemes.spans("BIO", ["I-PER", "I-PER", "B-PER"])  # conlleval
    [('PER', 0, 1), ('PER', 2, 2)]

    Reference:

    - Tjong Kim Sang & Buchholz (2000). Introduction to the CoNLL-2000
      shared task: chunking (conlleval).
      <https://aclanthology.org/W00-0726/>
    - seqeval's `get_entities`, which adds E and S.
      <https://github.com/chakki-works/seqeval>
    """
    check_one_of("scheme", scheme, SCHEMES)
    parsed = [parse_tag(scheme, tag) for tag in tags]
    outside = ("O", None)
    found, first = [], None
    for t, (role, kind) in enumerate(parsed):
        before = parsed[t - 1] if t else outside
        after = parsed[t + 1] if t + 1 < len(parsed) else outside
        if starts_chunk(before[0], role, before[1] == kind):
            first = t
        if ends_chunk(role, after[0], after[1] == kind):
            found.append((kind, first, t))
    return found
