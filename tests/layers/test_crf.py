"""The CRF against references nobody here wrote: enumeration of every tag
sequence (NumPy, float64), pytorch-crf, and central finite differences;
then its Keras use (masks, Tagger's fit with jit, saving) and bad input."""

import itertools
import json
import re

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference
from tests.testing import BACKEND
from tests.testing import assert_crf_matches_enumeration
from tests.testing import backend_free
from tests.testing import gradients
from tests.testing import jit_compiled
from tests.testing import numeric_gradient
from tests.testing import to_numpy

# Right padding, left padding, a hole, no padding, every step padded.
MASK = np.array(
    [
        [1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1],
        [1, 0, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0],
    ],
    bool,
)


def random_crf(rng, num_tags, boundary=True, scale=1.0):
    crf = keras_recur.layers.CRF(num_tags, use_boundary_transitions=boundary)
    crf.build((None, None, num_tags))
    crf.set_weights(
        [rng.normal(0, scale, w.shape).astype("float32") for w in crf.weights]
    )
    return crf


@pytest.mark.parametrize("boundary", [True, False])
def test_matches_enumeration_of_every_tag_sequence(boundary):
    rng = np.random.default_rng(0)
    num_tags = 3
    crf = random_crf(rng, num_tags, boundary)
    emissions = rng.normal(size=(*MASK.shape, num_tags)).astype("float32")
    tags = rng.integers(0, num_tags, MASK.shape)
    decoded = assert_crf_matches_enumeration(crf, emissions, tags, MASK)
    # Calling the layer decodes, with the mask Keras would pass.
    np.testing.assert_array_equal(to_numpy(crf(emissions, mask=MASK)), decoded)


SCHEME_TAGS = {
    "BIO": ["O", "B-A", "I-A", "B-B", "I-B"],
    "IOB1": ["O", "I-A", "B-A", "I-B", "B-B"],
    "BIOUL": ["O", "B-A", "I-A", "L-A", "U-A", "B-B", "I-B", "L-B", "U-B"],
    "BIOES": ["S-A", "B-A", "I-A", "E-A", "O"],
    "BMES": ["B-A", "M-A", "E-A", "S-A", "B-B", "M-B", "E-B", "S-B"],
}


def sequences_allowed_by(pairs, num_tags, length):
    """The tag-id sequences of `length` whose every transition, first and
    last tag is among `pairs` (start = num_tags, end = num_tags + 1)."""
    pairs = set(pairs)
    return {
        s
        for s in itertools.product(range(num_tags), repeat=length)
        if (num_tags, s[0]) in pairs
        and (s[-1], num_tags + 1) in pairs
        and all(pair in pairs for pair in zip(s, s[1:]))
    }


@backend_free  # NumPy only
@pytest.mark.parametrize("scheme", sorted(SCHEME_TAGS))
def test_allowed_transitions_are_exactly_the_schemes_chunkings(scheme):
    tags = SCHEME_TAGS[scheme]
    pairs = keras_recur.layers.allowed_transitions(scheme, tags)
    for length in range(1, 5):
        assert sequences_allowed_by(pairs, len(tags), length) == (
            reference.scheme_sequences(scheme, tags, length)
        ), length
    # AllenNLP's form: a {id: name} dict; word segmentation's bare tags.
    assert (
        keras_recur.layers.allowed_transitions(scheme, dict(enumerate(tags)))
        == pairs
    )
    bare = keras_recur.layers.allowed_transitions("BMES", list("BMES"))
    assert sequences_allowed_by(bare, 4, 3) == {
        (3, 3, 3),
        (0, 2, 3),
        (3, 0, 2),
        (0, 1, 2),  # S S S, BE S, S BE, BME
    }


def test_allowed_transitions_constrain_the_crf_exactly():
    rng = np.random.default_rng(7)
    tag_names = SCHEME_TAGS["BIO"]
    num_tags = len(tag_names)
    pairs = keras_recur.layers.allowed_transitions("BIO", tag_names)
    allowed = {
        n: reference.scheme_sequences("BIO", tag_names, n) for n in range(1, 6)
    }
    # Scores that favour breaking BIO (I after O, first tag I).
    for boundary in (True, False):
        crf = keras_recur.layers.CRF(
            num_tags,
            use_boundary_transitions=boundary,
            allowed_transitions=pairs,
        )
        crf.build((None, None, num_tags))
        crf.set_weights(
            [rng.normal(size=w.shape).astype("float32") for w in crf.weights]
        )
        emissions = rng.normal(size=(*MASK.shape, num_tags)).astype("float32")
        emissions[..., [2, 4]] += 2.0
        tags = np.zeros(MASK.shape, int)
        for b, row in enumerate(MASK):
            if row.any():
                choices = sorted(allowed[row.sum()])
                tags[b, row] = choices[rng.integers(len(choices))]
        decoded = assert_crf_matches_enumeration(
            crf, emissions, tags, MASK, allowed=allowed
        )
        unconstrained = keras_recur.layers.CRF(
            num_tags, use_boundary_transitions=boundary
        )
        unconstrained.build((None, None, num_tags))
        unconstrained.set_weights(crf.get_weights())
        free, _ = unconstrained.decode(emissions, MASK)
        # The constraints changed the answer for some row, never the mask.
        assert np.any(to_numpy(free) != decoded)
        assert np.all(decoded[~MASK] == 0)


def test_top_k_beyond_the_allowed_sequences_scores_minus_infinity():
    # BIO over O, B-A, I-A allows 2 sequences of one step (O, B-A): the
    # third best of the one-step row scores -inf, with tags 0 (a forbidden
    # path with a finite score came back before).
    tag_names = ["O", "B-A", "I-A"]
    pairs = keras_recur.layers.allowed_transitions("BIO", tag_names)
    allowed = {
        n: reference.scheme_sequences("BIO", tag_names, n) for n in range(1, 4)
    }
    crf = keras_recur.layers.CRF(3, allowed_transitions=pairs)
    crf.build((None, None, 3))
    mask = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    rng = np.random.default_rng(9)
    emissions = rng.normal(size=(*mask.shape, 3)).astype("float32")
    tags = np.zeros(mask.shape, int)
    assert_crf_matches_enumeration(
        crf, emissions, tags, mask, allowed=allowed, top_k=3
    )


@pytest.mark.skipif(BACKEND == "torch", reason="XLA: TensorFlow and JAX")
def test_constrained_top_k_compiles_under_jit():
    rng = np.random.default_rng(8)
    crf = keras_recur.layers.CRF(
        5,
        allowed_transitions=keras_recur.layers.allowed_transitions(
            "BIO", SCHEME_TAGS["BIO"]
        ),
    )
    crf.build((None, None, 5))  # outside the compiled function
    emissions = rng.normal(size=(*MASK.shape, 5)).astype("float32")

    def decode(emissions, mask):
        tags, scores = crf.decode(emissions, mask, top_k=3)
        return tags, scores, crf.log_likelihood(emissions, tags[:, 0], mask)

    for got, want in zip(
        jit_compiled(decode)(emissions, MASK), decode(emissions, MASK)
    ):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


def test_top_k_ties_shortfalls_and_the_empty_row():
    crf = keras_recur.layers.CRF(3, transitions_initializer="zeros")
    emissions = np.zeros((3, 2, 3), "float32")
    mask = np.array([[1, 1], [1, 0], [0, 0]], bool)
    tags, scores = (to_numpy(x) for x in crf.decode(emissions, mask, 4))
    # Every sequence ties at 0: ordered by the last tag, then the one
    # before it, lowest first; one step has 3 sequences, no step one.
    np.testing.assert_array_equal(tags[0], [[0, 0], [1, 0], [2, 0], [0, 1]])
    np.testing.assert_array_equal(tags[1], [[0, 0], [1, 0], [2, 0], [0, 0]])
    np.testing.assert_array_equal(tags[2], np.zeros((4, 2)))
    inf = np.inf
    np.testing.assert_array_equal(
        scores, [[0, 0, 0, 0], [0, 0, 0, -inf], [0, -inf, -inf, -inf]]
    )
    # top_k=1 is decode, shape aside.
    best, best_scores = crf.decode(emissions, mask)
    one, one_scores = crf.decode(emissions, mask, top_k=1)
    np.testing.assert_array_equal(to_numpy(one)[:, 0], to_numpy(best))
    np.testing.assert_array_equal(
        to_numpy(one_scores)[:, 0], to_numpy(best_scores)
    )


def test_an_all_padded_row_is_the_empty_sequence_never_nan():
    rng = np.random.default_rng(1)
    crf = random_crf(rng, 4)
    emissions = rng.normal(size=(2, 3, 4))
    mask = np.array([[0, 0, 0], [1, 1, 0]], bool)
    tags = np.zeros((2, 3), int)
    log_likelihood = to_numpy(crf.log_likelihood(emissions, tags, mask))
    decoded, best = (to_numpy(x) for x in crf.decode(emissions, mask))
    assert log_likelihood[0] == 0.0 and best[0] == 0.0
    assert np.all(decoded[0] == 0)
    assert np.all(to_numpy(crf.marginals(emissions, mask))[0] == 0.0)
    assert np.all(np.isfinite(log_likelihood))
    grads = gradients(
        lambda: -keras.ops.sum(crf.log_likelihood(emissions, tags, mask)),
        crf.trainable_variables,
    )
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_long_sequences_and_many_tags_stay_finite():
    rng = np.random.default_rng(2)
    crf = random_crf(rng, 40, scale=3.0)
    emissions = 30.0 * rng.normal(size=(2, 400, 40)).astype("float32")
    tags = rng.integers(0, 40, (2, 400))
    log_likelihood = to_numpy(crf.log_likelihood(emissions, tags, None))
    assert np.all(np.isfinite(log_likelihood)) and np.all(log_likelihood < 0)
    marginals = to_numpy(crf.marginals(emissions))
    np.testing.assert_allclose(marginals.sum(-1), 1.0, atol=1e-4)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    num_tags = 3
    crf = random_crf(rng, num_tags)
    emissions = rng.normal(size=(*MASK.shape, num_tags)).astype("float32")
    tags = rng.integers(0, num_tags, MASK.shape)

    def reference_loss(values):
        return -np.sum(
            reference.crf_log_likelihood(emissions, tags, MASK, values)
        )

    got = gradients(
        lambda: -keras.ops.sum(crf.log_likelihood(emissions, tags, MASK)),
        crf.trainable_variables,
    )
    values = [np.asarray(v, np.float64) for v in crf.get_weights()]
    for index, grad in enumerate(got):
        want = numeric_gradient(reference_loss, values, index)
        np.testing.assert_allclose(grad, want, atol=1e-4)


def test_matches_pytorch_crf():
    torch = pytest.importorskip("torch")
    import torchcrf  # tox installs pytorch-crf wherever torch is

    rng = np.random.default_rng(4)
    num_tags, batch, steps = 6, 8, 11
    crf = random_crf(rng, num_tags)
    transitions, start, end = crf.get_weights()
    pytorch_crf = torchcrf.CRF(num_tags, batch_first=True)
    with torch.no_grad():
        pytorch_crf.transitions.copy_(torch.tensor(transitions))
        pytorch_crf.start_transitions.copy_(torch.tensor(start))
        pytorch_crf.end_transitions.copy_(torch.tensor(end))
    emissions = rng.normal(size=(batch, steps, num_tags)).astype("float32")
    # pytorch-crf takes right padding only (its first step must count).
    lengths = rng.integers(1, steps + 1, batch)
    mask = np.arange(steps) < lengths[:, None]
    tags = rng.integers(0, num_tags, (batch, steps))
    to_torch = torch.tensor
    want = pytorch_crf(
        to_torch(emissions),
        to_torch(tags),
        to_torch(mask),
        reduction="none",
    )
    np.testing.assert_allclose(
        to_numpy(crf.log_likelihood(emissions, tags, mask)),
        want.detach().numpy(),
        atol=1e-4,
    )
    decoded, best = (to_numpy(x) for x in crf.decode(emissions, mask))
    paths = pytorch_crf.decode(to_torch(emissions), to_torch(mask))
    for row, path in zip(decoded, paths):
        np.testing.assert_array_equal(row[: len(path)], path)
    # The Viterbi score is the best path's score: log p(path) + log Z.
    path_log_likelihood = pytorch_crf(
        to_torch(emissions),
        to_torch(decoded.astype("int64")),
        to_torch(mask),
        reduction="none",
    )
    log_z = to_numpy(crf.log_likelihood(emissions, decoded, mask)) - best
    np.testing.assert_allclose(
        best, path_log_likelihood.detach().numpy() - log_z, atol=1e-4
    )


def test_config_round_trip_and_symbolic_call():
    crf = keras_recur.layers.CRF(
        5,
        use_boundary_transitions=False,
        allowed_transitions=keras_recur.layers.allowed_transitions(
            "BIO", SCHEME_TAGS["BIO"]
        ),
        transitions_initializer="zeros",
        transitions_regularizer="l2",
    )
    config = crf.get_config()
    json.dumps(config)
    clone = keras_recur.layers.CRF.from_config(config)
    assert clone.get_config() == config
    assert clone.use_boundary_transitions is False
    assert clone.allowed_transitions == crf.allowed_transitions
    symbolic = crf(keras.Input((None, 5)))
    assert tuple(symbolic.shape) == (None, None)
    assert keras.backend.standardize_dtype(symbolic.dtype) == "int32"
    assert [w.name for w in crf.weights] == ["transitions"]
    assert len(crf.losses) == 1  # the regularizer


def test_masks_from_keras_left_padding_and_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    rng = np.random.default_rng(5)
    tokens = np.array([[0, 0, 3, 4, 5], [6, 7, 8, 9, 1]])  # left padded
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    emissions = keras.layers.Dense(3)(embedded)
    crf = keras_recur.layers.CRF(3)
    model = keras.Model(inputs, [crf(emissions), emissions])
    crf.set_weights([rng.normal(size=w.shape) for w in crf.weights])
    tags, scores = (to_numpy(x) for x in model(tokens))
    assert tags.dtype == np.int32
    want, _ = crf.decode(scores, tokens != 0)
    np.testing.assert_array_equal(tags, to_numpy(want))
    assert np.all(tags[0, :2] == 0)
    log_likelihood = crf.log_likelihood(scores, tags, tokens != 0)
    assert keras.backend.standardize_dtype(log_likelihood.dtype) == "float32"


# The softmax head has no CRF: the Keras model around it is the same on
# every backend, so it trains once.
@pytest.mark.parametrize(
    "head", ["crf", pytest.param("softmax", marks=backend_free)]
)
def test_tagger_fits_with_jit_and_saves(head, tmp_path):
    rng = np.random.default_rng(6)
    tokens = rng.integers(1, 12, (64, 7))
    tokens[::2, 5:] = 0
    tags = np.where(tokens == 0, 0, tokens % 3)
    network = keras.Sequential(
        [
            keras.layers.Embedding(12, 8, mask_zero=True),
            keras.layers.Bidirectional(
                keras_recur.layers.GRU(8, return_sequences=True)
            ),
            keras.layers.Dense(3),
        ]
    )
    crf = keras_recur.layers.CRF(3) if head == "crf" else None
    tagger = keras_recur.models.Tagger(network, crf=crf)
    tagger.compile(
        keras.optimizers.Adam(0.05),
        metrics=[keras.metrics.Accuracy()],
        jit_compile=BACKEND != "torch",
    )
    history = tagger.fit(tokens, tags, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    predicted = tagger.predict(tokens, verbose=0)
    assert np.all(predicted["tags"][tokens == 0] == 0)
    # The loss is the mean sequence NLL (padding ignored).
    scores, mask = predicted["scores"], predicted["mask"]
    if head == "crf":
        want = -to_numpy(crf.log_likelihood(scores, tags, mask))
    else:
        log_p = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
        picked = np.take_along_axis(log_p, tags[..., None], -1)[..., 0]
        want = -np.sum(np.where(mask, picked, 0.0), axis=1)
    got_all = tagger.evaluate(tokens, tags, batch_size=64, verbose=0)
    got = got_all[0]
    np.testing.assert_allclose(got, np.mean(want), rtol=1e-3, atol=1e-5)
    # sample_weight weighs whole sequences; per step it is refused.
    weights = np.linspace(0.0, 2.0, len(tokens)).astype("float32")
    weighted = tagger.evaluate(
        tokens, tags, sample_weight=weights, batch_size=64, verbose=0
    )[0]
    np.testing.assert_allclose(
        weighted, np.mean(weights * want), rtol=1e-3, atol=1e-5
    )

    tagger.save(tmp_path / "tagger.keras")
    loaded = keras.saving.load_model(tmp_path / "tagger.keras")
    # Loaded compiled, its optimizer state with it.
    np.testing.assert_allclose(
        loaded.evaluate(tokens, tags, batch_size=64, verbose=0), got_all
    )
    again = loaded.predict(tokens, verbose=0)
    np.testing.assert_array_equal(again["tags"], predicted["tags"])
    np.testing.assert_allclose(again["scores"], predicted["scores"], atol=1e-6)
    with pytest.raises(ValueError, match=r"sample_weight with shape \(64, 7\)"):
        tagger.compute_loss(
            y=tags,
            y_pred=tagger(tokens),
            sample_weight=keras.ops.ones(tokens.shape),
        )


def test_bad_input_is_named():
    crf = keras_recur.layers.CRF(3)
    emissions = np.zeros((2, 4, 3), "float32")
    cases = [
        (lambda: keras_recur.layers.CRF(0), "num_tags=0"),
        (lambda: keras_recur.layers.CRF(3, use_boundary_transitions=1), "=1"),
        (lambda: crf.decode(emissions, top_k=0), "top_k=0"),
        (
            lambda: keras_recur.layers.CRF(3, allowed_transitions=[(0, 3)]),
            "(0, 3) in allowed_transitions",  # into the start
        ),
        (
            lambda: keras_recur.layers.CRF(3, allowed_transitions=[(4, 0)]),
            "(4, 0) in allowed_transitions",  # out of the end
        ),
        (
            lambda: keras_recur.layers.CRF(3, allowed_transitions=[]),
            "None in allowed_transitions",
        ),
        (
            lambda: keras_recur.layers.allowed_transitions("BILOU", ["O"]),
            "scheme='BILOU'",
        ),
        (
            lambda: keras_recur.layers.allowed_transitions("BIO", ["O", "X-A"]),
            "tag 'X-A'",
        ),
        (
            lambda: keras_recur.layers.allowed_transitions("BMES", ["O"]),
            "tag 'O'",
        ),
        (
            lambda: keras_recur.layers.allowed_transitions("BIO", "O"),
            "tags='O'",
        ),
        (
            lambda: keras_recur.layers.allowed_transitions(
                "BIO", {0: "O", 1: "B-X", 3: "I-X"}
            ),
            "ids [0, 1, 3]",  # not renumbered
        ),
        (
            lambda: keras_recur.layers.allowed_transitions(
                "BIO", ["O", "B-X", "B-X"]
            ),
            "['B-X'] more than once",
        ),
        (
            lambda: keras_recur.layers.CRF(
                3, allowed_transitions=[(0, 1), (1, 4)]
            ),
            "no first tag (no (3, j) pair)",
        ),
        (
            lambda: keras_recur.layers.CRF(
                3, allowed_transitions=[(3, 0), (0, 1)]
            ),
            "no last tag (no (i, 4) pair)",
        ),
        (
            lambda: keras_recur.layers.CRF(
                3, allowed_transitions=[(3, 0), (0, 0), (1, 2), (2, 4)]
            ),
            "reachable from the first tags [0], [0], include no last tag [2]",
        ),
        (lambda: crf.decode(np.zeros((2, 4, 5))), "(2, 4, 5)"),
        (lambda: crf.decode(np.zeros((2, 3))), "(2, 3)"),
        (lambda: crf.decode(emissions, np.ones((2, 5), bool)), "(2, 5)"),
        (lambda: crf.decode(emissions, np.ones((2, 3), bool)), "(2, 3)"),
        (
            lambda: crf.log_likelihood(emissions, np.zeros((2, 3), int)),
            "tags with shape (2, 3)",
        ),
        (
            lambda: crf.log_likelihood(emissions, np.full((2, 4), 3)),
            "tags from 3 to 3",
        ),
        (
            lambda: keras_recur.models.Tagger(keras.layers.Dense(3)).compile(
                "adam", loss="mse"
            ),
            "loss='mse'",
        ),
        (
            lambda: keras_recur.models.Tagger("not a network"),
            "network='not a network'",
        ),
        (
            lambda: keras_recur.models.Tagger(keras.layers.Dense(3), crf=3),
            "crf=3",
        ),
    ]
    for make, message in cases:
        with pytest.raises(
            ValueError, match=r"Received: .*" + re.escape(message)
        ):
            make()
