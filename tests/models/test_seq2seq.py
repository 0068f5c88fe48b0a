"""Seq2Seq decoding: greedy, beam search (n-best, GNMT's penalties, length
and repetition control) against an exhaustive search scored through the
teacher-forced model; sampling against the truncated softmax (chi-square);
jit, saving and bad arguments."""

import functools
import itertools
import os

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import BACKEND
from tests.testing import GeneralAttention
from tests.testing import jit_compiled
from tests.testing import randomize
from tests.testing import to_numpy

VOCABULARY, START, END = 4, 1, 2
SOURCE = np.array([[3, 1, 2, 3, 0], [2, 2, 0, 0, 0], [1, 3, 3, 2, 1]])


def make_model(cell=None, target_mask_zero=False, seed=0, attention=None):
    model = keras_recur.Seq2Seq(
        keras.layers.Embedding(VOCABULARY, 3, mask_zero=True),
        keras.layers.Bidirectional(keras_recur.GRU(3, return_sequences=True)),
        keras.layers.Embedding(VOCABULARY, 3, mask_zero=target_mask_zero),
        keras_recur.AttentionDecoder(
            cell or keras_recur.PeepholeLSTMCell(4),
            attention or keras_recur.BahdanauAttention(3),
        ),
        keras.layers.Dense(VOCABULARY),
    )
    model.build((SOURCE.shape, (None, 3)))
    randomize(model, np.random.default_rng(seed), scale=1.0)
    return model


def numpy_decoded(decoded):
    return {name: to_numpy(value) for name, value in decoded._asdict().items()}


def teacher_forced(model, sources, hypotheses, steps):
    """log p(token_t | tokens before it) of each hypothesis (padded to
    `steps` with the end token) given its source (a row of `sources`),
    (hypotheses, steps), and each step's attention, (hypotheses, steps, Tx):
    from the model's training-time layers (its decoder rebuilt to return the
    attention), a path that shares no code with the decoders."""
    padded = np.array([list(h) + [END] * (steps - len(h)) for h in hypotheses])
    target_in = np.concatenate(
        [np.full((len(padded), 1), START), padded[:, :-1]], 1
    ).astype("int32")
    with keras.saving.custom_object_scope(
        {"GeneralAttention": GeneralAttention}
    ):
        decoder = keras_recur.AttentionDecoder.from_config(
            {**model.decoder.get_config(), "return_attention": True}
        )
    memory, memory_mask = model.encode(sources)
    embedded = model.target_embedding(target_in)
    mask = model.target_embedding.compute_mask(target_in)
    decoder(embedded, memory, mask=mask, memory_mask=memory_mask)
    decoder.set_weights(model.decoder.get_weights())
    outputs, attention = decoder(
        embedded, memory, mask=mask, memory_mask=memory_mask
    )
    logits = to_numpy(model.output_layer(outputs)).astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    chosen = np.take_along_axis(log_probs, padded[..., None], -1)[..., 0]
    return chosen, to_numpy(attention).astype(np.float64)


def teacher_forced_log_probs(model, source, hypotheses, steps):
    sources = np.repeat(source[None], len(hypotheses), axis=0)
    return teacher_forced(model, sources, hypotheses, steps)[0]


def breaks_constraints(hypothesis, min_length, ngram_size):
    """Whether a hypothesis has the end token before `min_length` tokens,
    or an n-gram twice."""
    if END in hypothesis[:min_length]:
        return True
    if ngram_size:
        ngrams = [
            hypothesis[i : i + ngram_size]
            for i in range(len(hypothesis) - ngram_size + 1)
        ]
        return len(set(ngrams)) < len(ngrams)
    return False


def exhaustive_rankings(
    model, max_length, alpha, beta=0.0, min_length=0, ngram_size=0
):
    """For each row of SOURCE, every hypothesis (cut after its end token)
    that the constraints allow, as (normalized score, hypothesis,
    log-probability), best first: GNMT's score, log p / ((5 + length) / 6)
    ** alpha + beta * sum over the unmasked source positions of
    log(min(summed attention, 1)). One batch scores them all."""
    hypotheses = sorted(
        {
            tokens[: tokens.index(END) + 1] if END in tokens else tokens
            for tokens in itertools.product(
                range(VOCABULARY), repeat=max_length
            )
        }
    )
    hypotheses = [
        h
        for h in hypotheses
        if not breaks_constraints(h, min_length, ngram_size)
    ]
    log_probs, attention = teacher_forced(
        model,
        np.repeat(SOURCE, len(hypotheses), axis=0),
        hypotheses * len(SOURCE),
        max_length,
    )
    rankings = []
    for row, source in enumerate(SOURCE):
        ranked = []
        for index, hypothesis in enumerate(hypotheses):
            at = row * len(hypotheses) + index
            length = len(hypothesis)
            score = log_probs[at, :length].sum()
            covered = attention[at, :length].sum(0)[source != 0]
            rank = score / ((5.0 + length) / 6.0) ** alpha
            rank += beta * np.log(np.minimum(covered, 1.0)).sum()
            ranked.append((rank, hypothesis, score))
        rankings.append(sorted(ranked, key=lambda ranked_one: -ranked_one[0]))
    return rankings


MECHANISMS = {
    "bahdanau": lambda: None,  # make_model's default
    # Luong's decoding: the state carries the attentional vector it feeds.
    "luong": lambda: keras_recur.LuongAttention(scale=True),
    # Any AttentionMechanism: one written against the interface alone.
    "general": GeneralAttention,
}


@pytest.mark.parametrize(
    "alpha, attention",
    [(0.0, "bahdanau"), (4.0, "bahdanau"), (4.0, "general"), (4.0, "luong")],
)
def test_wide_beam_finds_the_exhaustive_best(alpha, attention):
    model = make_model(attention=MECHANISMS[attention]())
    max_length = 3
    # Width V^(L-1) keeps every hypothesis until the last step.
    decoded = numpy_decoded(
        model.beam_search(
            SOURCE,
            START,
            END,
            max_length,
            beam_width=VOCABULARY ** (max_length - 1),
            length_penalty=alpha,
        )
    )
    penalty_changes_a_winner = False
    rankings = exhaustive_rankings(model, max_length, alpha)
    unpenalized = exhaustive_rankings(model, max_length, 0.0)
    for row in range(len(SOURCE)):
        _, hypothesis, score = rankings[row][0]
        length = len(hypothesis)
        assert decoded["lengths"][row] == length
        np.testing.assert_array_equal(
            decoded["tokens"][row],
            list(hypothesis) + [END] * (max_length - length),
        )
        np.testing.assert_allclose(decoded["scores"][row], score, atol=1e-4)
        penalty_changes_a_winner |= unpenalized[row][0][1] != hypothesis
    if attention == "bahdanau":
        # With these weights, alpha=4 prefers a longer hypothesis in some
        # row, so the check above covers the length penalty.
        assert penalty_changes_a_winner == (alpha > 0)


@pytest.mark.parametrize(
    "alpha, beta, min_length, ngram_size, max_length",
    [
        (0.0, 0.0, 0, 0, 3),
        (1.5, 0.4, 0, 0, 3),
        (0.6, 0.0, 2, 1, 3),
        (0.0, 1.0, 1, 2, 4),
    ],
)
def test_wide_beam_returns_the_exhaustive_n_best(
    alpha, beta, min_length, ngram_size, max_length
):
    model = make_model(seed=8)
    best = 5
    decoded = numpy_decoded(
        model.beam_search(
            SOURCE,
            START,
            END,
            max_length,
            # Wider than the number of hypotheses: the beam prunes none.
            beam_width=VOCABULARY**max_length,
            length_penalty=alpha,
            coverage_penalty=beta,
            num_return_sequences=best,
            min_length=min_length,
            no_repeat_ngram_size=ngram_size,
        )
    )
    assert decoded["tokens"].shape == (len(SOURCE), best, max_length)
    rankings = exhaustive_rankings(
        model, max_length, alpha, beta, min_length, ngram_size
    )
    for row, ranking in enumerate(rankings):
        for rank, (normalized, hypothesis, score) in enumerate(ranking[:best]):
            length = len(hypothesis)
            assert decoded["lengths"][row, rank] == length
            np.testing.assert_array_equal(
                decoded["tokens"][row, rank][:length], hypothesis
            )
            np.testing.assert_allclose(
                decoded["scores"][row, rank], score, atol=1e-4
            )
            np.testing.assert_allclose(
                decoded["normalized_scores"][row, rank], normalized, atol=1e-4
            )


@pytest.mark.parametrize("min_length, ngram_size", [(0, 0), (1, 1)])
def test_a_beam_wider_than_the_hypotheses_returns_the_rest_as_none(
    min_length, ngram_size
):
    # Two steps over 4 tokens: 13 hypotheses (those ending at the first
    # step are cut there), fewer under the constraints. The rest came back
    # as repeated sequences scored with the internal sentinel (-1e9).
    model = make_model(seed=8)
    width = 20
    decoded = numpy_decoded(
        model.beam_search(
            SOURCE,
            START,
            END,
            2,
            beam_width=width,
            num_return_sequences=width,
            min_length=min_length,
            no_repeat_ngram_size=ngram_size,
        )
    )
    rankings = exhaustive_rankings(model, 2, 0.0, 0.0, min_length, ngram_size)
    for row, ranking in enumerate(rankings):
        found = len(ranking)
        assert found < width
        np.testing.assert_allclose(
            decoded["scores"][row, :found],
            [score for _, _, score in ranking],
            atol=1e-4,
        )
        for name in ("scores", "normalized_scores"):
            assert np.all(decoded[name][row, found:] == -np.inf)
        for name in ("tokens", "lengths", "attention"):
            assert np.all(decoded[name][row, found:] == 0)


@pytest.mark.parametrize(
    "cell",
    [keras_recur.MinGRUCell, keras_recur.MinLSTMCell, keras_recur.LRUCell],
)
def test_decoding_steps_the_cells_linear_in_their_state(cell):
    model = make_model(cell=cell(4), seed=4)
    max_length = 3
    decoded = numpy_decoded(
        model.beam_search(
            SOURCE,
            START,
            END,
            max_length,
            beam_width=VOCABULARY ** (max_length - 1),
            length_penalty=0.0,
        )
    )
    for row, ranking in enumerate(exhaustive_rankings(model, max_length, 0.0)):
        _, hypothesis, score = ranking[0]
        assert decoded["lengths"][row] == len(hypothesis)
        np.testing.assert_allclose(decoded["scores"][row], score, atol=1e-4)


@pytest.mark.parametrize("min_length, ngram_size", [(0, 0), (3, 2)])
def test_greedy_follows_the_most_likely_allowed_token(min_length, ngram_size):
    model = make_model(seed=1)
    max_length = 5
    decoded = numpy_decoded(
        model.greedy_decode(
            SOURCE,
            START,
            END,
            max_length,
            min_length=min_length,
            no_repeat_ngram_size=ngram_size,
        )
    )
    for row, source in enumerate(SOURCE):
        length = decoded["lengths"][row]
        hypothesis = list(decoded["tokens"][row][:length])
        assert (END not in hypothesis[:-1]) and (
            hypothesis[-1] == END or length == max_length
        )
        assert all(t == END for t in decoded["tokens"][row][length:])
        # Each token is the argmax of the teacher-forced distribution over
        # the tokens that keep the hypothesis within the constraints.
        target_in = np.array([[START, *hypothesis][:max_length]], "int32")
        logits = to_numpy(model((source[None], target_in)))[0][:length]
        for t, step_logits in enumerate(logits):
            allowed = [
                token
                for token in range(VOCABULARY)
                if not breaks_constraints(
                    (*hypothesis[:t], token), min_length, ngram_size
                )
            ]
            assert hypothesis[t] == max(allowed, key=lambda v: step_logits[v])
        want = teacher_forced_log_probs(
            model, source, [hypothesis], max_length
        )[0, :length]
        np.testing.assert_allclose(
            decoded["scores"][row], want.sum(), atol=1e-4
        )
        # No attention after the end; a distribution over the source before.
        attention = decoded["attention"][row]
        assert np.all(attention[length:] == 0)
        np.testing.assert_allclose(attention[:length].sum(-1), 1.0, rtol=1e-5)
        assert np.all(attention[:length][:, SOURCE[row] == 0] == 0)


# The chi-square distribution's 0.999 quantiles (standard tables), by degrees
# of freedom: a correct sampler exceeds them once in a thousand seeds.
CHI_SQUARE_999 = {1: 10.828, 2: 13.816, 3: 16.266}


def sampling_reference(log_probs, temperature, top_k, top_p):
    """The truncated, renormalised softmax in NumPy: temperature, then the
    top_k most likely, then the fewest most likely summing to top_p."""
    probabilities = np.exp(log_probs / temperature)
    probabilities /= probabilities.sum()
    order = np.argsort(-probabilities)
    keep = np.zeros(len(probabilities), bool)
    keep[order[: top_k or len(probabilities)]] = True
    probabilities = (
        np.where(keep, probabilities, 0.0) / probabilities[keep].sum()
    )
    before = np.cumsum(probabilities[order]) - probabilities[order]
    keep = np.zeros(len(probabilities), bool)
    keep[order[before < top_p]] = True
    probabilities = np.where(keep, probabilities, 0.0)
    return probabilities / probabilities.sum()


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [(0.7, None, 1.0), (1.5, 2, 1.0), (1.0, None, 0.6), (2.0, 3, 0.9)],
)
def test_sampling_draws_the_truncated_distribution(temperature, top_k, top_p):
    model = make_model(seed=9)
    draws = 3000
    sources = np.repeat(SOURCE[:1], draws, axis=0)
    decoded = numpy_decoded(
        model.sample(
            sources,
            START,
            END,
            2,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=11,
        )
    )
    logits = to_numpy(model((SOURCE[:1], np.array([[START]], "int32"))))
    log_probs = logits[0, 0].astype(np.float64)
    log_probs -= np.log(np.exp(log_probs).sum())
    want = sampling_reference(log_probs, temperature, top_k, top_p)
    counts = np.bincount(decoded["tokens"][:, 0], minlength=VOCABULARY)
    assert np.all(counts[want == 0] == 0)
    kept = want > 0
    expected = draws * want[kept]
    chi_square = ((counts[kept] - expected) ** 2 / expected).sum()
    if kept.sum() > 1:
        assert chi_square < CHI_SQUARE_999[kept.sum() - 1]
    # The scores are the model's own log-probabilities of the drawn tokens.
    np.testing.assert_allclose(
        decoded["scores"][decoded["lengths"] == 1],
        log_probs[END],
        atol=1e-5,
    )


def test_sampling_is_seeded_and_top_1_is_greedy():
    model = make_model(seed=10)

    def sample(**arguments):
        return numpy_decoded(model.sample(SOURCE, START, END, 6, **arguments))

    first, again = sample(seed=3), sample(seed=3)
    for name in ("tokens", "scores", "attention"):
        np.testing.assert_array_equal(first[name], again[name])
    generator = keras.random.SeedGenerator(5)
    draws = [sample(seed=generator, temperature=5.0)["tokens"] for _ in "ab"]
    replay = keras.random.SeedGenerator(5)
    replayed = [sample(seed=replay, temperature=5.0)["tokens"] for _ in "ab"]
    np.testing.assert_array_equal(draws, replayed)
    assert not np.array_equal(draws[0], draws[1])
    greedy = numpy_decoded(model.greedy_decode(SOURCE, START, END, 6))
    top_1 = sample(top_k=1, temperature=3.0, seed=4)
    for name in ("tokens", "lengths"):
        np.testing.assert_array_equal(top_1[name], greedy[name])
    np.testing.assert_allclose(top_1["scores"], greedy["scores"], atol=1e-5)


def test_sampling_tends_to_greedy_as_the_temperature_goes_to_zero():
    # Divided by a tiny temperature the log-probabilities overflowed (XLA's
    # softmax gave NaN, the draw the padding id at every step); 1e-50 is 0
    # in float32. Under jit on TensorFlow and JAX, as XLA computes there.
    model = make_model(seed=10)
    greedy = numpy_decoded(model.greedy_decode(SOURCE, START, END, 6))

    def sample(source, temperature):
        sampled = model.sample(
            source, START, END, 6, temperature=temperature, seed=2
        )
        return sampled.tokens, sampled.scores

    for temperature in (1e-10, 1e-30, 1e-50):
        run = functools.partial(sample, temperature=temperature)
        if BACKEND != "torch":
            run = jit_compiled(run)
        tokens, scores = (to_numpy(x) for x in run(SOURCE))
        np.testing.assert_array_equal(tokens, greedy["tokens"])
        np.testing.assert_allclose(scores, greedy["scores"], atol=1e-5)


def test_sampling_keeps_to_the_constraints():
    model = make_model(seed=12)
    decoded = numpy_decoded(
        model.sample(
            np.repeat(SOURCE, 40, axis=0),
            START,
            END,
            5,
            temperature=4.0,
            min_length=2,
            no_repeat_ngram_size=1,
            seed=6,
        )
    )
    for tokens, length in zip(decoded["tokens"], decoded["lengths"]):
        assert not breaks_constraints(tuple(tokens[:length]), 2, 1)
    assert len({tuple(t) for t in decoded["tokens"]}) > 10


@pytest.mark.parametrize("seed", [2, 3])
def test_beam_of_one_equals_greedy(seed):
    model = make_model(cell=keras.layers.GRUCell(4), seed=seed)
    greedy = numpy_decoded(model.greedy_decode(SOURCE, START, END, 6))
    beam = numpy_decoded(
        model.beam_search(
            SOURCE, START, END, 6, beam_width=1, length_penalty=0.7
        )
    )
    for name in ("tokens", "lengths"):
        np.testing.assert_array_equal(beam[name], greedy[name])
    for name in ("scores", "attention"):
        np.testing.assert_allclose(beam[name], greedy[name], atol=1e-5)


def test_finished_hypotheses_stop_growing():
    model = make_model(seed=4)
    decoded = numpy_decoded(
        model.beam_search(SOURCE, START, END, 7, beam_width=3)
    )
    for row in range(len(SOURCE)):
        tokens, length = decoded["tokens"][row], decoded["lengths"][row]
        if length < 7:
            assert tokens[length - 1] == END
            assert np.all(tokens[length:] == END)
            assert np.all(decoded["attention"][row][length:] == 0)
        assert END not in tokens[: length - 1]


def test_decoding_compiles_under_jit():
    if BACKEND == "torch":
        pytest.skip("jit compilation is TensorFlow's and JAX's")
    model = make_model(seed=5)

    def decode(source):
        greedy = model.greedy_decode(source, START, END, 5)
        beam = model.beam_search(
            source,
            START,
            END,
            5,
            beam_width=3,
            length_penalty=0.5,
            coverage_penalty=0.3,
            num_return_sequences=2,
            min_length=1,
            no_repeat_ngram_size=2,
        )
        return greedy.tokens, greedy.scores, beam.tokens, beam.normalized_scores

    for got, want in zip(jit_compiled(decode)(SOURCE), decode(SOURCE)):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)

    def sample(source):
        sampled = model.sample(
            source, START, END, 5, top_k=3, top_p=0.8, min_length=2, seed=1
        )
        return sampled.tokens, sampled.lengths

    # XLA draws other random numbers than TensorFlow's eager kernels from a
    # seed; under jit, a seed reproduces its tokens too.
    compiled = jit_compiled(sample)
    (tokens, lengths), (again, _) = compiled(SOURCE), compiled(SOURCE)
    np.testing.assert_array_equal(to_numpy(tokens), to_numpy(again))
    for row, length in zip(to_numpy(tokens), to_numpy(lengths)):
        assert END not in row[:2] and length >= 3


def test_seq2seq_saves_and_loads(tmp_path):
    model = make_model(target_mask_zero=True, seed=6)
    target_in = np.array([[1, 3, 3], [1, 2, 0], [1, 3, 0]], "int32")
    path = os.path.join(tmp_path, "seq2seq.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(restored((SOURCE, target_in))),
        to_numpy(model((SOURCE, target_in))),
        atol=1e-6,
    )
    for method in ("greedy_decode", "beam_search"):
        got = numpy_decoded(getattr(restored, method)(SOURCE, START, END, 4))
        want = numpy_decoded(getattr(model, method)(SOURCE, START, END, 4))
        np.testing.assert_array_equal(got["tokens"], want["tokens"])


def test_seq2seq_learns_to_copy():
    rng = np.random.default_rng(7)
    vocabulary = 8  # 0 pad, 1 start, 2 end, 3-7 content
    source = rng.integers(3, vocabulary, size=(256, 4)).astype("int32")
    target_out = np.concatenate([source, np.full((256, 1), END)], 1)
    target_in = np.concatenate([np.full((256, 1), START), source], 1)
    model = keras_recur.Seq2Seq(
        keras.layers.Embedding(vocabulary, 8, mask_zero=True),
        keras.layers.Bidirectional(keras_recur.GRU(16, return_sequences=True)),
        keras.layers.Embedding(vocabulary, 8, mask_zero=True),
        keras_recur.AttentionDecoder(
            keras_recur.CoupledLSTMCell(32), keras_recur.BahdanauAttention(16)
        ),
        keras.layers.Dense(vocabulary),
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        (source, target_in), target_out, epochs=25, batch_size=32, verbose=0
    )
    decoded = numpy_decoded(model.greedy_decode(source[:32], START, END, 5))
    accuracy = np.mean(np.all(decoded["tokens"] == target_out[:32], axis=1))
    assert accuracy > 0.8


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(start_token=VOCABULARY), "start_token=4"),
        (dict(end_token=-1), "end_token=-1"),
        (dict(max_length=0), "max_length=0"),
        (dict(max_length=2.0), "max_length=2.0"),
        (dict(beam_width=0), "beam_width=0"),
        (dict(length_penalty=-0.5), "length_penalty=-0.5"),
        (dict(length_penalty=float("nan")), "length_penalty=nan"),
        (dict(length_penalty=float("inf")), "length_penalty=inf"),
        (dict(coverage_penalty=-1), "coverage_penalty=-1"),
        (dict(num_return_sequences=0), "num_return_sequences=0"),
        (dict(num_return_sequences=3), "num_return_sequences=3"),
        (dict(min_length=-1), "min_length=-1"),
        (dict(min_length=3), "min_length=3"),
        (dict(no_repeat_ngram_size=1.5), "no_repeat_ngram_size=1.5"),
    ],
)
def test_beam_search_rejects_bad_arguments(arguments, message):
    model = make_model()
    call = dict(start_token=START, end_token=END, max_length=3, beam_width=2)
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        model.beam_search(SOURCE, **call)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(temperature=0), "temperature=0"),
        (dict(top_k=0), "top_k=0"),
        (dict(top_k=VOCABULARY + 1), "top_k=5"),
        (dict(top_p=0.0), "top_p=0.0"),
        (dict(top_p=1.5), "top_p=1.5"),
        (dict(seed="1"), "seed='1'"),
        (dict(min_length=4), "min_length=4"),
        (dict(no_repeat_ngram_size=-2), "no_repeat_ngram_size=-2"),
    ],
)
def test_sampling_rejects_bad_arguments(arguments, message):
    model = make_model()
    call = dict(start_token=START, end_token=END, max_length=3)
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        model.sample(SOURCE, **call)


def test_seq2seq_rejects_a_decoder_returning_more():
    decoder = keras_recur.AttentionDecoder(
        keras.layers.GRUCell(4),
        keras_recur.BahdanauAttention(3),
        return_state=True,
    )
    with pytest.raises(ValueError, match="decoder="):
        keras_recur.Seq2Seq(
            keras.layers.Embedding(5, 3),
            keras_recur.GRU(3, return_sequences=True),
            keras.layers.Embedding(5, 3),
            decoder,
            keras.layers.Dense(5),
        )
    with pytest.raises(ValueError, match="source_embedding="):
        keras_recur.Seq2Seq(
            keras.layers.Dense(3),
            keras_recur.GRU(3, return_sequences=True),
            keras.layers.Embedding(5, 3),
            keras_recur.AttentionDecoder(
                keras.layers.GRUCell(4), keras_recur.BahdanauAttention(3)
            ),
            keras.layers.Dense(5),
        )


@pytest.mark.parametrize("method", ["greedy_decode", "beam_search", "sample"])
def test_decoding_records_no_gradient(method):
    # Decoding is inference: no autograd graph, tensors NumPy reads as they
    # are, on every backend.
    model = make_model()
    decoded = getattr(model, method)(SOURCE, START, END, max_length=4)
    for name, value in decoded._asdict().items():
        assert np.asarray(value).shape[0] == len(SOURCE), name
        if BACKEND == "torch":
            assert not value.requires_grad and value.grad_fn is None, name
