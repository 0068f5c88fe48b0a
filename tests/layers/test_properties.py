"""Property-based tests: hypothesis draws the sizes (batch and time down to
1), masks (right and left padding, holes, rows with no step), directions,
initial states and dtypes, and each layer must agree with its NumPy
reference (tests/reference.py) on every drawn case.

Derandomized, with a fixed budget of examples, so that CI runs the same
cases every time; edge cases, and any case that once failed, are kept as
`@example`s."""

import numpy as np
import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_recur
from tests import reference
from tests.testing import BACKEND
from tests.testing import assert_crf_matches_enumeration
from tests.testing import to_numpy
from tests.variants import VARIANTS
from tests.variants import make_layer
from tests.variants import reference_step
from tests.variants import state_count

# Each example builds and calls a layer (on JAX, compiles its loop anew for
# every drawn shape): the budget keeps the three tests to seconds per
# backend, half of it on JAX, whose examples draw the same code paths as
# TensorFlow's.
EXAMPLES = 10 if BACKEND == "jax" else 20
BUDGET = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None
)
MASK_KINDS = ("none", "right", "left", "holes")
# One tag, or one value to attend to, is a valid case; Keras' softmax warns
# that a softmax over one element is always 1 (it is: the test checks it).
ONE_ELEMENT_SOFTMAX = pytest.mark.filterwarnings(
    "ignore:You are using a softmax over axis"
)


@st.composite
def masks(draw, batch, steps):
    """None, right or left padding (lengths 0 to steps), or any pattern."""
    kind = draw(st.sampled_from(MASK_KINDS))
    if kind == "none":
        return None
    if kind == "holes":
        cells = st.lists(st.booleans(), min_size=steps, max_size=steps)
        rows = draw(st.lists(cells, min_size=batch, max_size=batch))
        return np.array(rows, bool)
    lengths = np.array(
        draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    )
    positions = np.arange(steps)[None, :]
    if kind == "right":
        return positions < lengths[:, None]
    return positions >= steps - lengths[:, None]


@st.composite
def recurrent_cases(draw):
    batch, steps = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    return dict(
        variant=draw(st.sampled_from(sorted(VARIANTS))),
        shape=(batch, steps, draw(st.integers(1, 4))),
        units=draw(st.integers(1, 4)),
        mask=draw(masks(batch, steps)),
        go_backwards=draw(st.booleans()),
        unroll=draw(st.booleans()),
        initial_state=draw(st.booleans()),
        # JAX has no float64 by default (see test_equations.py).
        dtype=draw(
            st.sampled_from(
                ["float32"] if BACKEND == "jax" else ["float32", "float64"]
            )
        ),
        seed=draw(st.integers(0, 2**16)),
    )


@BUDGET
@given(recurrent_cases())
def test_recurrent_layers_match_numpy(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=case["shape"]).astype(case["dtype"])
    layer = make_layer(
        case["variant"],
        case["units"],
        x.shape,
        return_sequences=True,
        return_state=True,
        go_backwards=case["go_backwards"],
        unroll=case["unroll"],
        dtype=case["dtype"],
    )
    layer.set_weights(
        [
            rng.normal(0.0, 0.5, w.shape).astype(case["dtype"])
            for w in layer.weights
        ]
    )
    count = state_count(case["variant"])
    states = [np.zeros((x.shape[0], case["units"]), case["dtype"])] * count
    if case["initial_state"]:
        states = [
            rng.normal(0.0, 0.5, s.shape).astype(case["dtype"]) for s in states
        ]
    got = layer(x, initial_state=states, mask=case["mask"])
    want_outputs, want_states = reference.run(
        reference_step(case["variant"], layer.get_weights()),
        x,
        states,
        case["mask"],
        case["go_backwards"],
    )
    atol = 1e-5 if case["dtype"] == "float32" else 1e-12
    np.testing.assert_allclose(to_numpy(got[0]), want_outputs, atol=atol)
    for got_state, want_state in zip(got[1:], want_states):
        np.testing.assert_allclose(to_numpy(got_state), want_state, atol=atol)


@st.composite
def crf_cases(draw):
    batch, steps = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    mask = draw(masks(batch, steps))
    return dict(
        shape=(batch, steps, draw(st.integers(1, 3))),
        mask=np.ones((batch, steps), bool) if mask is None else mask,
        boundary=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@ONE_ELEMENT_SOFTMAX
# Fewer cases: each new shape compiles anew on JAX (7 s a case there in CI),
# and test_crf.py enumerates every tag sequence of its fixed shapes as well,
# its top_k paths too.
@settings(BUDGET, max_examples=EXAMPLES * 2 // 5)
@given(crf_cases())
def test_crf_matches_enumeration(case):
    rng = np.random.default_rng(case["seed"])
    num_tags, mask = case["shape"][-1], case["mask"]
    crf = keras_recur.layers.CRF(
        num_tags, use_boundary_transitions=case["boundary"]
    )
    crf.build((None, None, num_tags))
    crf.set_weights(
        [rng.normal(0.0, 1.0, w.shape).astype("float32") for w in crf.weights]
    )
    emissions = rng.normal(size=case["shape"]).astype("float32")
    tags = rng.integers(0, num_tags, mask.shape)
    assert_crf_matches_enumeration(crf, emissions, tags, mask, top_k=2)


@st.composite
def attention_cases(draw):
    batch, values = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    mask = draw(masks(batch, values))
    return dict(
        mechanism=draw(st.sampled_from(["bahdanau", "luong"])),
        option=draw(st.booleans()),  # normalize, or scale
        batch=batch,
        values=values,
        query_dim=draw(st.integers(1, 4)),
        dim=draw(st.integers(1, 4)),
        # A row with every value masked gets no weight and a zero context.
        mask=mask,
        seed=draw(st.integers(0, 2**16)),
    )


@ONE_ELEMENT_SOFTMAX
@BUDGET
@given(attention_cases())
# Edge cases: weight normalisation, one feature, a row with nothing to
# attend to.
@example(
    dict(
        mechanism="bahdanau",
        option=True,
        batch=2,
        values=3,
        query_dim=2,
        dim=1,
        mask=np.array([[True, False, True], [False, False, False]]),
        seed=0,
    )
)
def test_attention_matches_numpy(case):
    rng = np.random.default_rng(case["seed"])
    query = rng.normal(size=(case["batch"], case["query_dim"]))
    value = rng.normal(size=(case["batch"], case["values"], case["dim"]))
    query, value = query.astype("float32"), value.astype("float32")
    if case["mechanism"] == "bahdanau":
        layer = keras_recur.BahdanauAttention(3, normalize=case["option"])
    else:
        layer = keras_recur.LuongAttention(scale=case["option"])
    layer.build([query.shape, value.shape])
    layer.set_weights(
        [rng.normal(0.0, 0.7, w.shape).astype("float32") for w in layer.weights]
    )
    context, weights = layer(
        [query, value],
        mask=[None, case["mask"]],
        return_attention_scores=True,
    )
    values = [np.asarray(w, np.float64) for w in layer.get_weights()]
    if case["mechanism"] == "bahdanau":
        names = ["query_kernel", "memory_kernel", "v", "g", "b"]
        want_context, want_weights = reference.bahdanau_attention(
            query, value, dict(zip(names, values)), value_mask=case["mask"]
        )
    else:
        kernel, *g = values
        want_context, want_weights = reference.general_attention(
            query, value, kernel, case["mask"], scale=g[0] if g else 1.0
        )
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)
    np.testing.assert_allclose(to_numpy(context), want_context, atol=1e-5)
