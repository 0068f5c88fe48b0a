"""keras_recur.models.decoding on a small model with a history (logits from
the last token and the counts of all tokens read): every strategy's rules
and beam search's options against an exhaustive search and NumPy
transcriptions (diverse beam search: Vijayakumar et al.'s Algorithm 1),
the early stop against running every step, KerasHub's samplers, jit, and
bad arguments by name. Seq2Seq's decoding (tests/models/test_seq2seq.py)
runs on the same loop."""

import functools
import itertools

import numpy as np
import pytest
from keras import ops

from keras_recur.models import decoding
from tests.testing import BACKEND
from tests.testing import backend_free
from tests.testing import jit_compiled
from tests.testing import to_numpy

VOCABULARY, START, END = 4, 1, 2
BATCH = 2
COUNT_WEIGHT = 0.5


def make_table(seed):
    return np.random.default_rng(seed).normal(
        size=(BATCH, VOCABULARY, VOCABULARY)
    )


def model_step(table):
    """The model: logits = table[row, last token] + 0.5 * counts of the
    tokens read so far (the start token included); its state the
    counts, so a beam must move states with hypotheses."""
    table = ops.convert_to_tensor(table, "float32")

    def step(tokens, states, context):
        (counts,) = states
        (rows,) = context
        counts = counts + ops.one_hot(tokens, VOCABULARY)
        logits = ops.take(
            ops.reshape(table, (-1, VOCABULARY)),
            rows * VOCABULARY + tokens,
            axis=0,
        )
        return logits + COUNT_WEIGHT * counts, [counts], None

    return step


def run(table, strategy, max_length, seen=None, end_token=END):
    decoded = decoding.decode(
        model_step(table),
        [ops.zeros((BATCH, VOCABULARY), "float32")],
        ops.full((BATCH,), START, "int32"),
        strategy,
        max_length,
        end_token,
        VOCABULARY,
        context=(ops.arange(BATCH, dtype="int32"),),
        seen_tokens=seen,
    )
    return {
        name: to_numpy(value)
        for name, value in decoded._asdict().items()
        if value is not None
    }


def numpy_logits(table, row, read):
    return table[row, read[-1]] + COUNT_WEIGHT * np.bincount(
        read, minlength=VOCABULARY
    )


def log_softmax(x):
    return x - np.log(np.exp(x - x.max()).sum()) - x.max()


def allowed_log_probs(logits, t, history, seen, rules):
    """The rules in NumPy: CTRL's penalty as Transformers applies it, then
    NEVER for what min_length, n-gram blocking, banned and forced tokens
    forbid."""
    logits = logits.copy()
    theta = rules.get("repetition_penalty", 1.0)
    for token in seen:
        logits[token] = (
            logits[token] / theta
            if logits[token] > 0
            else logits[token] * theta
        )
    allowed = log_softmax(logits)
    for token in range(VOCABULARY):
        if token in rules.get("banned_tokens", ()):
            allowed[token] = -np.inf
        forced = rules.get("forced_tokens", {}).get(t)
        if forced is not None and token != forced:
            allowed[token] = -np.inf
        if token == END and t < rules.get("min_length", 0):
            allowed[token] = -np.inf
        n = rules.get("no_repeat_ngram_size", 0)
        if n and t >= n - 1:
            gram = (*history[t - n + 1 :], token)
            earlier = {tuple(history[i : i + n]) for i in range(t - n + 1)}
            if gram in earlier:
                allowed[token] = -np.inf
    return allowed


def exhaustive(table, row, max_length, rules, seen=(), alpha=0.0, form="gnmt"):
    """Every hypothesis (cut after the end token) the rules allow, as
    (ranking, tokens, model log-probability), best first."""
    ranked = []
    for tokens in itertools.product(range(VOCABULARY), repeat=max_length):
        if END in tokens:
            tokens = tokens[: tokens.index(END) + 1]
        rank = score = 0.0
        for t, token in enumerate(tokens):
            logits = numpy_logits(table, row, [START, *tokens[:t]])
            allowed = allowed_log_probs(
                logits, t, tokens[:t], set(seen) | set(tokens[:t]), rules
            )
            rank += allowed[token]
            score += log_softmax(logits)[token]
        if np.isinf(rank) or any(h[1] == tokens for h in ranked):
            continue
        length = len(tokens)
        normalizer = (5.0 + length) / 6.0 if form == "gnmt" else float(length)
        ranked.append((rank / normalizer**alpha, tokens, score))
    return sorted(ranked, key=lambda h: -h[0])


RULES = [
    dict(repetition_penalty=1.6),
    dict(banned_tokens=(3,), forced_tokens={1: 0}),
    dict(repetition_penalty=0.7, min_length=1, no_repeat_ngram_size=2),
    dict(forced_tokens={0: 3, 2: 2}, repetition_penalty=2.0),
]


@pytest.mark.parametrize("rules", RULES)
def test_beam_search_with_the_rules_returns_the_exhaustive_n_best(rules):
    table = make_table(1)
    max_length, best = 3, 4
    alpha, form = (0.8, "power") if "min_length" in rules else (0.0, "gnmt")
    seen = np.zeros((BATCH, VOCABULARY), bool)
    seen[0, 3] = True  # a prompt's token, for the repetition penalty
    decoded = run(
        table,
        decoding.BeamSearch(
            VOCABULARY**max_length,
            length_penalty=alpha,
            length_normalization=form,
            num_return_sequences=best,
            **rules,
        ),
        max_length,
        seen=seen,
    )
    for row in range(BATCH):
        ranking = exhaustive(
            table,
            row,
            max_length,
            rules,
            np.flatnonzero(seen[row]),
            alpha,
            form,
        )
        assert len(ranking) >= best
        for rank, (normalized, tokens, score) in enumerate(ranking[:best]):
            length = len(tokens)
            assert decoded["lengths"][row, rank] == length
            np.testing.assert_array_equal(
                decoded["tokens"][row, rank][:length], tokens
            )
            np.testing.assert_allclose(
                decoded["normalized_scores"][row, rank], normalized, atol=1e-4
            )
            np.testing.assert_allclose(
                decoded["scores"][row, rank], score, atol=1e-4
            )


@pytest.mark.parametrize("rules", RULES[::3])
def test_greedy_and_top_1_sampling_follow_the_best_allowed_token(rules):
    table = make_table(2)
    max_length = 6
    greedy = run(table, decoding.Greedy(**rules), max_length)
    top_1 = run(
        table, decoding.Sampling(3.0, top_k=1, seed=0, **rules), max_length
    )
    for row in range(BATCH):
        tokens = []
        for t in range(max_length):
            if tokens and tokens[-1] == END:
                tokens.append(END)
                continue
            logits = numpy_logits(table, row, [START, *tokens])
            allowed = allowed_log_probs(logits, t, tokens, set(tokens), rules)
            tokens.append(int(np.argmax(allowed)))
        np.testing.assert_array_equal(greedy["tokens"][row], tokens)
        np.testing.assert_array_equal(top_1["tokens"][row], tokens)
    np.testing.assert_allclose(greedy["scores"], top_1["scores"], atol=1e-5)


def diverse_beam_reference(table, row, width, groups, strength, max_length):
    """Vijayakumar et al. (2016), Algorithm 1, with Hamming diversity: the
    groups take turns at each step; a group's candidates lose `strength`
    for each earlier group's hypothesis that chose the same token at this
    step (a finished hypothesis continues with the end token, unpenalised).
    Returns every hypothesis as (ranking, tokens), best first."""
    size = width // groups
    beams = [[(0.0, ())] for _ in range(groups)]
    for _ in range(max_length):
        chosen_now = []
        for g in range(groups):
            candidates = []
            for rank, tokens in beams[g]:
                if tokens and tokens[-1] == END:
                    candidates.append((rank, (*tokens, END)))
                    continue
                log_probs = log_softmax(
                    numpy_logits(table, row, [START, *tokens])
                )
                for token in range(VOCABULARY):
                    penalty = strength * chosen_now.count(token)
                    candidates.append(
                        (rank + log_probs[token] - penalty, (*tokens, token))
                    )
            beams[g] = sorted(candidates, key=lambda c: -c[0])[:size]
            chosen_now += [tokens[-1] for _, tokens in beams[g]]
    return sorted(
        (hypothesis for beam in beams for hypothesis in beam),
        key=lambda c: -c[0],
    )


@pytest.mark.parametrize("groups, strength", [(2, 0.0), (2, 1.5), (4, 0.7)])
def test_diverse_beam_search_follows_the_papers_algorithm(groups, strength):
    table = make_table(3)
    width, max_length = 4, 4
    decoded = run(
        table,
        decoding.BeamSearch(
            width,
            num_groups=groups,
            diversity_strength=strength,
            num_return_sequences=width,
            early_stopping=False,
        ),
        max_length,
    )
    for row in range(BATCH):
        want = diverse_beam_reference(
            table, row, width, groups, strength, max_length
        )
        np.testing.assert_allclose(
            decoded["normalized_scores"][row], [r for r, _ in want], atol=1e-4
        )
        np.testing.assert_array_equal(
            decoded["tokens"][row], [t for _, t in want]
        )
    if strength == 0.0:
        # Without the penalty every group is the same beam search.
        plain = run(
            table,
            decoding.BeamSearch(width // groups),
            max_length,
        )
        np.testing.assert_array_equal(decoded["tokens"][:, 0], plain["tokens"])


@pytest.mark.parametrize(
    "arguments, saves_steps",
    [
        (dict(num_return_sequences=3), True),
        # A length penalty loosens the bound: here the n best settle no
        # sooner than every hypothesis ends.
        (dict(length_penalty=1.0, num_return_sequences=2), False),
        (
            dict(
                length_penalty=0.6, length_normalization="power", num_groups=2
            ),
            True,
        ),
        (
            dict(num_groups=3, diversity_strength=0.5, repetition_penalty=1.3),
            True,
        ),
    ],
)
def test_the_early_stop_returns_what_running_every_step_returns(
    arguments, saves_steps
):
    # The end token likely (column END of the table raised): hypotheses
    # finish early and the n best settle before the last step.
    table = make_table(9)
    table[:, :, END] += 2.0
    max_length = 8
    steps = {"early": 0, "all": 0}

    def counted(name, step):
        def step_and_count(*args):
            steps[name] += 1
            return step(*args)

        return step_and_count

    results = {}
    for name, early in (("early", True), ("all", False)):
        results[name] = {
            key: to_numpy(value)
            for key, value in decoding.decode(
                counted(name, model_step(table)),
                [ops.zeros((BATCH, VOCABULARY), "float32")],
                ops.full((BATCH,), START, "int32"),
                decoding.BeamSearch(6, early_stopping=early, **arguments),
                max_length,
                END,
                VOCABULARY,
                context=(ops.arange(BATCH, dtype="int32"),),
            )
            ._asdict()
            .items()
            if value is not None
        }
    for key, value in results["all"].items():
        np.testing.assert_allclose(results["early"][key], value, atol=1e-6)
    if BACKEND == "torch":  # a Python loop: each step runs or is skipped
        # Without the early stop the loop still skips the steps after every
        # hypothesis has ended.
        assert steps["early"] <= steps["all"] <= max_length
        assert (steps["early"] < steps["all"]) == saves_steps


def test_keras_hub_samplers_are_strategies():
    samplers = pytest.importorskip("keras_hub.samplers")
    table = make_table(5)
    max_length = 5
    greedy = run(table, decoding.Greedy(), max_length)
    for sampler in (samplers.GreedySampler(), samplers.TopKSampler(k=1)):
        got = run(table, sampler, max_length)
        np.testing.assert_array_equal(got["tokens"], greedy["tokens"])
        np.testing.assert_allclose(got["scores"], greedy["scores"], atol=1e-5)
    # A seeded RandomSampler: its generator's state is carried through the
    # loop and written back, so two decodings draw anew, and a sampler
    # with the same seed replays them.
    draws = [
        run(table, sampler, 12)["tokens"]
        for sampler in [samplers.RandomSampler(seed=3)] * 2
    ]
    replayed = run(table, samplers.RandomSampler(seed=3), 12)["tokens"]
    np.testing.assert_array_equal(replayed, draws[0])
    assert not np.array_equal(draws[0], draws[1])
    # With the rules: a KerasHubSampler wrapper.
    wrapped = decoding.KerasHubSampler(
        samplers.GreedySampler(), banned_tokens=(greedy["tokens"][0, 0],)
    )
    assert (
        run(table, wrapped, max_length)["tokens"][0, 0]
        != (greedy["tokens"][0, 0])
    )
    beam = run(table, samplers.BeamSampler(num_beams=3), max_length)
    want = run(table, decoding.BeamSearch(3), max_length)
    np.testing.assert_array_equal(beam["tokens"], want["tokens"])
    with pytest.raises(ValueError, match="ContrastiveSampler"):
        decoding.as_strategy(samplers.ContrastiveSampler())


def test_decoding_with_every_option_compiles_under_jit():
    if BACKEND == "torch":
        pytest.skip("jit compilation is TensorFlow's and JAX's")
    table = make_table(6)
    beam = decoding.BeamSearch(
        4,
        length_penalty=0.5,
        num_groups=2,
        diversity_strength=0.8,
        num_return_sequences=2,
        repetition_penalty=1.4,
        banned_tokens=(0,),
        forced_tokens={1: 3},
        min_length=1,
    )
    sampling = decoding.Sampling(
        top_p=0.9, seed=1, repetition_penalty=1.4, no_repeat_ngram_size=2
    )

    def decode_both(table):
        return [
            run(table, strategy, 5, end_token=END)
            for strategy in (beam, sampling)
        ]

    def decode_both_tensors(table):
        return [
            decoding.decode(
                model_step(table),
                [ops.zeros((BATCH, VOCABULARY), "float32")],
                ops.full((BATCH,), START, "int32"),
                strategy,
                5,
                END,
                VOCABULARY,
                context=(ops.arange(BATCH, dtype="int32"),),
            ).tokens
            for strategy in (beam, sampling)
        ]

    compiled = jit_compiled(decode_both_tensors)
    beam_tokens, sampled = (to_numpy(x) for x in compiled(table))
    np.testing.assert_array_equal(beam_tokens, decode_both(table)[0]["tokens"])
    np.testing.assert_array_equal(sampled, to_numpy(compiled(table)[1]))
    assert np.all(beam_tokens[..., 1] == 3) and not np.any(beam_tokens == 0)


@backend_free
@pytest.mark.parametrize(
    "make, message",
    [
        (
            functools.partial(decoding.Greedy, repetition_penalty=0),
            "repetition_penalty=0",
        ),
        (
            functools.partial(decoding.Greedy, banned_tokens=3),
            "banned_tokens=3",
        ),
        (
            functools.partial(decoding.Greedy, banned_tokens=[-1]),
            "banned_tokens=-1",
        ),
        (
            functools.partial(decoding.Greedy, forced_tokens={-2: 1}),
            "forced_tokens=-2",
        ),
        (
            functools.partial(
                decoding.Greedy, forced_tokens={1: 3}, banned_tokens=[3]
            ),
            "forced_tokens=",
        ),
        (
            functools.partial(decoding.BeamSearch, 4, num_groups=3),
            "num_groups=3",
        ),
        (
            functools.partial(decoding.BeamSearch, 4, diversity_strength=-1.0),
            "diversity_strength=-1.0",
        ),
        (
            functools.partial(decoding.BeamSearch, length_normalization="avg"),
            "length_normalization='avg'",
        ),
        (
            functools.partial(decoding.BeamSearch, early_stopping=1),
            "early_stopping=1",
        ),
        (
            functools.partial(decoding.as_strategy, "greedy"),
            "strategy='greedy'",
        ),
    ],
)
def test_strategies_reject_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "strategy, message",
    [
        (decoding.Greedy(banned_tokens=[VOCABULARY]), "banned_tokens=4"),
        (decoding.Greedy(forced_tokens={1: 9}), "forced_tokens=9"),
        (decoding.Greedy(forced_tokens={5: 1}), "forced_tokens="),
        (decoding.BeamSearch(2, coverage_penalty=1.0), "coverage_penalty=1.0"),
    ],
)
def test_decode_checks_the_rules_against_the_model(strategy, message):
    with pytest.raises(ValueError, match=message):
        run(make_table(0), strategy, 3)
