"""keras_recur.models.generate: stepping each cell once per token gives
exactly what re-running the whole model on the growing sequences gives,
for every cell of the catalogue and a mixed stack, with ragged prompts;
beam search against an exhaustive search scored by the model; seeds;
the repetition penalty over the prompt; bad models and prompts by name."""

import itertools

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur import catalogue
from keras_recur.models import BeamSearch
from keras_recur.models import Greedy
from keras_recur.models import Sampling
from keras_recur.models import generate
from tests.testing import BACKEND
from tests.testing import jit_compiled
from tests.testing import randomize
from tests.testing import to_numpy

VOCABULARY = 6
# Right-padded with 0, which the embedding masks: three prompt lengths.
PROMPTS = np.array([[3, 4, 5, 1], [2, 5, 0, 0], [5, 0, 0, 0]], "int32")
STEPS = 4


def language_model(recurrent_layers, seed=0, between=lambda: []):
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCABULARY, 4, mask_zero=True),
            *itertools.chain.from_iterable(
                [layer, *between()] for layer in recurrent_layers
            ),
            keras.layers.Dense(VOCABULARY, activation="softmax"),
        ]
    )
    randomize(model, np.random.default_rng(seed), scale=0.9)
    return model


def rerun_log_probs(model, sequences):
    """The model's log-probabilities of the next token after each of
    `sequences` (lists of tokens), from one call on all of them, padded:
    the whole prefix runs again."""
    steps = max(len(s) for s in sequences)
    padded = np.array([s + [0] * (steps - len(s)) for s in sequences], "int32")
    probabilities = to_numpy(model(padded)).astype(np.float64)
    last = np.array([len(s) - 1 for s in sequences])
    return np.log(probabilities[np.arange(len(sequences)), last])


def rerun_greedy(model, prompts, steps, penalty=1.0):
    """Greedy decoding by re-running the whole model on the growing
    sequences, token 0 (padding) banned; CTRL's penalty, as Transformers
    applies it, on the log-probabilities of the tokens seen."""
    sequences = [[t for t in prompt if t] for prompt in prompts]
    scores = np.zeros(len(sequences))
    for _ in range(steps):
        log_probs = rerun_log_probs(model, sequences)
        chosen_by = log_probs.copy()
        for row, sequence in enumerate(sequences):
            seen = sorted(set(sequence))
            chosen_by[row, seen] = np.where(
                chosen_by[row, seen] > 0,
                chosen_by[row, seen] / penalty,
                chosen_by[row, seen] * penalty,
            )
        chosen_by[:, 0] = -np.inf
        for row, token in enumerate(chosen_by.argmax(-1)):
            sequences[row].append(int(token))
            scores[row] += log_probs[row, token]
    return np.array([s[-steps:] for s in sequences]), scores


def cell_layers():
    layers = {
        name: (lambda record=record: record.layer(5, return_sequences=True))
        for name, record in catalogue.CELLS.items()
    }
    layers["keras.GRU"] = lambda: keras.layers.GRU(5, return_sequences=True)
    layers["keras.SimpleRNN"] = lambda: keras.layers.SimpleRNN(
        5, return_sequences=True
    )
    return layers


@pytest.mark.parametrize("name", sorted(cell_layers()))
def test_stepped_generation_equals_rerunning_the_model(name):
    model = language_model([cell_layers()[name]()], seed=len(name))
    generated = generate(model, PROMPTS, STEPS, Greedy(banned_tokens=[0]))
    tokens, scores = rerun_greedy(model, PROMPTS, STEPS)
    np.testing.assert_array_equal(to_numpy(generated.tokens), tokens)
    np.testing.assert_allclose(to_numpy(generated.scores), scores, atol=1e-4)
    assert to_numpy(generated.lengths).tolist() == [STEPS] * len(PROMPTS)


def test_a_mixed_stack_and_the_prompts_repetition_penalty():
    # Keras' and keras_recur's layers, a linear one, a layer stacking
    # cells, and per-step layers between them.
    model = language_model(
        [
            keras_recur.MinGRU(5, return_sequences=True),
            keras.layers.LSTM(6, return_sequences=True),
            keras.layers.RNN(
                [keras_recur.GRUCell(4), keras_recur.LRUCell(3)],
                return_sequences=True,
            ),
        ],
        seed=3,
        between=lambda: [
            keras.layers.LayerNormalization(),
            keras.layers.Dropout(0.5),
        ],
    )
    for penalty in (1.0, 3.0):
        generated = generate(
            model,
            PROMPTS,
            STEPS,
            Greedy(banned_tokens=[0], repetition_penalty=penalty),
        )
        tokens, scores = rerun_greedy(model, PROMPTS, STEPS, penalty)
        np.testing.assert_array_equal(to_numpy(generated.tokens), tokens)
        np.testing.assert_allclose(
            to_numpy(generated.scores), scores, atol=1e-4
        )


def test_beam_generation_finds_the_exhaustive_best():
    model = language_model([keras_recur.PeepholeLSTM(5, return_sequences=True)])
    steps, end = 3, 1
    generated = generate(
        model,
        PROMPTS,
        steps,
        BeamSearch(VOCABULARY**2, num_return_sequences=3, banned_tokens=[0]),
        end_token=end,
    )
    for row, prompt in enumerate(PROMPTS):
        prefix = [t for t in prompt if t]
        continuations = sorted(
            {
                c[: c.index(end) + 1] if end in c else c
                for c in itertools.product(range(1, VOCABULARY), repeat=steps)
            }
        )
        scores = np.zeros(len(continuations))
        for t in range(steps):
            reaching = [c for c in continuations if len(c) > t]
            log_probs = rerun_log_probs(
                model, [prefix + list(c[:t]) for c in reaching]
            )
            at = [continuations.index(c) for c in reaching]
            scores[at] += log_probs[
                np.arange(len(reaching)), [c[t] for c in reaching]
            ]
        best = np.argsort(-scores)[:3]
        np.testing.assert_allclose(
            to_numpy(generated.scores)[row], scores[best], atol=1e-4
        )
        for rank, index in enumerate(best):
            length = len(continuations[index])
            np.testing.assert_array_equal(
                to_numpy(generated.tokens)[row, rank][:length],
                continuations[index],
            )


def test_sampling_reproduces_its_tokens_from_a_seed():
    model = language_model([keras_recur.GRU(5, return_sequences=True)])

    def sample(seed):
        strategy = Sampling(temperature=2.0, seed=seed)
        return to_numpy(generate(model, PROMPTS, 8, strategy).tokens)

    np.testing.assert_array_equal(sample(4), sample(4))
    generator, replay = (keras.random.SeedGenerator(9) for _ in "ab")
    draws = [sample(generator) for _ in "ab"]
    np.testing.assert_array_equal([sample(replay) for _ in "ab"], draws)
    assert not np.array_equal(draws[0], draws[1])


def test_generation_compiles_under_jit_and_records_no_gradient():
    model = language_model(
        [
            keras_recur.LRU(5, return_sequences=True),
            keras_recur.CoupledLSTM(5, return_sequences=True),
        ],
        seed=5,
    )
    strategy = BeamSearch(3, repetition_penalty=1.5, banned_tokens=[0])

    def beam(prompts):
        generated = generate(model, prompts, STEPS, strategy, end_token=1)
        return generated.tokens, generated.scores

    eager = beam(PROMPTS)
    if BACKEND == "torch":
        for value in eager:
            assert not value.requires_grad and value.grad_fn is None
        return
    for got, want in zip(jit_compiled(beam)(PROMPTS), eager):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


def test_generate_refuses_what_it_cannot_step():
    def stack(*layers):
        return keras.Sequential(
            [
                keras.Input((None,), dtype="int32"),
                keras.layers.Embedding(VOCABULARY, 4),
                *layers,
                keras.layers.Dense(VOCABULARY, activation="softmax"),
            ]
        )

    gru = keras_recur.GRU
    for model, message in [
        (
            stack(keras.layers.Bidirectional(gru(3, return_sequences=True))),
            "mixes the steps",
        ),
        (
            stack(keras.layers.Conv1D(3, 2), gru(3, return_sequences=True)),
            "Conv1D",
        ),
        (stack(gru(3)), "must return sequences"),
        (
            stack(gru(3, return_sequences=True, go_backwards=True)),
            "run forwards",
        ),
        (stack(keras.layers.Dense(3)), "must hold a recurrent layer"),
    ]:
        with pytest.raises(ValueError, match=message):
            generate(model, PROMPTS, 2)
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(VOCABULARY, 4)(inputs)
    hidden = gru(4, return_sequences=True)(embedded)
    branching = keras.Model(
        inputs,
        keras.layers.Dense(VOCABULARY)(
            keras.layers.Concatenate()([embedded, hidden])
        ),
    )
    with pytest.raises(ValueError, match="chain of layers"):
        generate(branching, PROMPTS, 2, from_logits=True)
    model = stack(gru(3, return_sequences=True))
    with pytest.raises(TypeError, match="model="):
        generate(model.layers, PROMPTS, 2)
    with pytest.raises(ValueError, match="prompt.shape=\\(4,\\)"):
        generate(model, PROMPTS[0], 2)
    with pytest.raises(TypeError, match="prompt.dtype=float32"):
        generate(model, PROMPTS.astype("float32"), 2)
    with pytest.raises(ValueError, match="end_token=6"):
        generate(model, PROMPTS, 2, end_token=VOCABULARY)
    with pytest.raises(ValueError, match="max_length=0"):
        generate(model, PROMPTS, 0)
    with pytest.raises(ValueError, match="from_logits='yes'"):
        generate(model, PROMPTS, 2, from_logits="yes")
