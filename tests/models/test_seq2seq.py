"""Seq2Seq decoding: greedy and beam search against an exhaustive search
scored through the teacher-forced model, jit, saving and bad arguments."""

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


def teacher_forced_log_probs(model, source, hypotheses, steps):
    """log p(token_t | tokens before it) of each hypothesis (padded to
    `steps` with the end token), from the model's training-time call: a path
    that shares no code with the decoders. Returns (hypotheses, steps)."""
    padded = np.array([list(h) + [END] * (steps - len(h)) for h in hypotheses])
    target_in = np.concatenate(
        [np.full((len(padded), 1), START), padded[:, :-1]], 1
    ).astype("int32")
    sources = np.repeat(source[None], len(padded), axis=0)
    logits = to_numpy(model((sources, target_in))).astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.take_along_axis(log_probs, padded[..., None], -1)[..., 0]


def exhaustive_best(model, source, max_length, alpha):
    """Every hypothesis (cut after its end token), scored and ranked as the
    beam search ranks: log-probability / ((5 + length) / 6) ** alpha."""
    hypotheses = sorted(
        {
            tokens[: tokens.index(END) + 1] if END in tokens else tokens
            for tokens in itertools.product(
                range(VOCABULARY), repeat=max_length
            )
        }
    )
    log_probs = teacher_forced_log_probs(model, source, hypotheses, max_length)
    best = None
    for hypothesis, row in zip(hypotheses, log_probs):
        length = len(hypothesis)
        score = row[:length].sum()
        rank = score / ((5.0 + length) / 6.0) ** alpha
        if best is None or rank > best[0]:
            best = (rank, hypothesis, score)
    return best


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
    for row, source in enumerate(SOURCE):
        _, hypothesis, score = exhaustive_best(model, source, max_length, alpha)
        length = len(hypothesis)
        assert decoded["lengths"][row] == length
        np.testing.assert_array_equal(
            decoded["tokens"][row],
            list(hypothesis) + [END] * (max_length - length),
        )
        np.testing.assert_allclose(decoded["scores"][row], score, atol=1e-4)
        unpenalized = exhaustive_best(model, source, max_length, 0.0)[1]
        penalty_changes_a_winner |= unpenalized != hypothesis
    if attention == "bahdanau":
        # With these weights, alpha=4 prefers a longer hypothesis in some
        # row, so the check above covers the length penalty.
        assert penalty_changes_a_winner == (alpha > 0)


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
    for row, source in enumerate(SOURCE):
        _, hypothesis, score = exhaustive_best(model, source, max_length, 0.0)
        assert decoded["lengths"][row] == len(hypothesis)
        np.testing.assert_allclose(decoded["scores"][row], score, atol=1e-4)


def test_greedy_follows_the_most_likely_token():
    model = make_model(seed=1)
    max_length = 5
    decoded = numpy_decoded(model.greedy_decode(SOURCE, START, END, max_length))
    for row, source in enumerate(SOURCE):
        length = decoded["lengths"][row]
        hypothesis = list(decoded["tokens"][row][:length])
        assert (END not in hypothesis[:-1]) and (
            hypothesis[-1] == END or length == max_length
        )
        assert all(t == END for t in decoded["tokens"][row][length:])
        # Each token is the argmax of the teacher-forced distribution.
        target_in = np.array([[START, *hypothesis][:max_length]], "int32")
        logits = to_numpy(model((source[None], target_in)))[0][:length]
        np.testing.assert_array_equal(logits.argmax(-1), hypothesis)
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
        beam = model.beam_search(source, START, END, 5, beam_width=3)
        return greedy.tokens, greedy.scores, beam.tokens, beam.scores

    for got, want in zip(jit_compiled(decode)(SOURCE), decode(SOURCE)):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


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
    ],
)
def test_decoding_rejects_bad_arguments(arguments, message):
    model = make_model()
    call = dict(start_token=START, end_token=END, max_length=3, beam_width=2)
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        model.beam_search(SOURCE, **call)


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


@pytest.mark.parametrize("method", ["greedy_decode", "beam_search"])
def test_decoding_records_no_gradient(method):
    # Decoding is inference: no autograd graph, tensors NumPy reads as they
    # are, on every backend.
    model = make_model()
    decoded = getattr(model, method)(SOURCE, START, END, max_length=4)
    for name, value in decoded._asdict().items():
        assert np.asarray(value).shape[0] == len(SOURCE), name
        if BACKEND == "torch":
            assert not value.requires_grad and value.grad_fn is None, name
