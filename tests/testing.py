"""The helpers the tests share: backend facts, NumPy conversion, random
weights, gradients (autodiff and finite differences), `run_layer_test`
(what every public layer must do), a spy on the engine's path, and the
shapes and data of the attention tests. Test modules import from here (and
from `tests.variants`, `tests.reference`), never from one another."""

import copy
import json
import os
from unittest import mock

import keras
import numpy as np
import pytest

import keras_recur
from tests import reference

BACKEND = keras.backend.backend()
# The checkout: examples/ and benchmarks/ are run from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Whether the wrapper-level tests run every variant here (PyTorch, whose
# fused kernels differ by cell) or one per code path (TensorFlow, JAX, and
# the environments of other Keras versions, which set
# KERAS_RECUR_EVERY_VARIANT=0: a Keras version changes the wrapper, not a
# cell's equations). See docs/contributing.md, "Tests".
EVERY_VARIANT = BACKEND == "torch" and (
    os.environ.get("KERAS_RECUR_EVERY_VARIANT", "1") == "1"
)

# What does not depend on the backend (argument checks, NumPy references,
# documentation, keras-tuner's oracle and processes, an example's second
# task) runs in one environment, not three: see tests/conftest.py.
backend_free = pytest.mark.backend_free


# Every argument the recurrent layers share with keras.layers.LSTM/GRU, away
# from its default.
CHANGED_ARGUMENTS = dict(
    activation="relu",
    recurrent_activation="hard_sigmoid",
    use_bias=False,
    kernel_initializer="he_normal",
    recurrent_initializer="glorot_normal",
    bias_initializer="ones",
    kernel_regularizer="l1",
    recurrent_regularizer="l2",
    bias_regularizer="l1",
    activity_regularizer="l2",
    kernel_constraint="non_neg",
    recurrent_constraint="unit_norm",
    bias_constraint="max_norm",
    dropout=0.25,
    recurrent_dropout=0.5,
    seed=3,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
    stateful=True,
    unroll=True,
    use_cudnn=False,
)


def public_layer_classes():
    """name -> class of every class that `keras_recur.layers` exports."""
    exported = {
        n: getattr(keras_recur.layers, n) for n in keras_recur.layers.__all__
    }
    return {n: c for n, c in exported.items() if isinstance(c, type)}


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def randomize(layer, rng, scale=0.5):
    """Gives every weight of a built layer random normal values."""
    layer.set_weights(
        [
            rng.normal(0.0, scale, w.shape).astype("float32")
            for w in layer.weights
        ]
    )


def numeric_gradient(loss, values, index, eps=1e-6):
    """Central differences of `loss(values)` w.r.t. `values[index]`."""
    grad = np.zeros_like(values[index])
    for position in np.ndindex(grad.shape):
        grad[position] = numeric_partial(loss, values, index, position, eps)
    return grad


def numeric_partial(loss, values, index, position, eps=1e-6):
    """The central difference of `loss(values)` w.r.t. one entry,
    `values[index][position]`."""
    shifted = [v.copy() for v in values]
    shifted[index][position] += eps
    up = loss(shifted)
    shifted[index][position] -= 2 * eps
    return (up - loss(shifted)) / (2 * eps)


def gradients(loss_fn, variables):
    """d loss_fn() / d variables, with the backend's own autodiff."""
    return gradients_and_outputs(lambda: (loss_fn(), ()), variables)[0]


def gradients_and_outputs(function, variables):
    """Runs `function()`, which returns `(loss, outputs)`, once, and gives
    d loss / d variables (the backend's own autodiff) and the outputs, as
    NumPy: one pass, where a separate call for the outputs would compile
    and run the layer again."""
    if not variables:  # a fixed reservoir: nothing to differentiate
        return [], keras.tree.map_structure(to_numpy, function()[1])
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, outputs = function()
        grads = tape.gradient(loss, variables)
    elif BACKEND == "torch":
        for v in variables:
            v.value.grad = None
        loss, outputs = function()
        loss.backward()
        grads = [v.value.grad for v in variables]
    elif BACKEND == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values))
            ):
                return function()

        originals = [v.value for v in variables]
        grads, outputs = jax.grad(pure, has_aux=True)(originals)
    else:
        raise NotImplementedError(BACKEND)
    outputs = keras.tree.map_structure(to_numpy, outputs)
    return [to_numpy(g) for g in grads], outputs


def assert_gradients_match(loss_fn, reference_loss, layer, atol=2e-4):
    """Autodiff of `loss_fn()` w.r.t. each of `layer`'s trainable weights
    against central differences of `reference_loss(values)` (NumPy, the
    weights' float64 values in the same order)."""
    values = [np.asarray(w, np.float64) for w in layer.get_weights()]
    for index, got in enumerate(gradients(loss_fn, layer.trainable_variables)):
        want = numeric_gradient(reference_loss, values, index)
        np.testing.assert_allclose(
            got,
            want,
            atol=atol,
            rtol=1e-3,
            err_msg=f"gradient of {layer.weights[index].name}",
        )


def recurrence_path(layer, *args, **kwargs):
    """Calls `layer(*args, **kwargs)` (a layer, or any function that calls
    one) and tells which code of the engine ran: `"fused"` (the cell's
    fused kernel), `"scan"` or `"unrolled"` (the general loop)."""
    return call_and_recurrence_path(layer, *args, **kwargs)[1]


def call_and_recurrence_path(function, *args, **kwargs):
    """`function(*args, **kwargs)` and the path of the engine it ran (see
    `recurrence_path`). It spies on the loop as Keras' gru_test.py spies on
    its cuDNN path: the general path is the one that calls
    `keras_recur.backend.scan`."""
    from keras_recur import backend

    with mock.patch.object(backend, "scan", wraps=backend.scan) as loop:
        result = function(*args, **kwargs)
    if not loop.called:
        return result, "fused"
    unroll = loop.call_args.args[3] if len(loop.call_args.args) > 3 else False
    return result, "unrolled" if unroll else "scan"


# --- run_layer_test --------------------------------------------------------


def _tensors(value):
    return value if isinstance(value, (list, tuple)) else [value]


def _close(got, want, atol):
    for g, w in zip(_tensors(got), _tensors(want)):
        np.testing.assert_allclose(
            to_numpy(g).astype("float64"),
            to_numpy(w).astype("float64"),
            atol=atol,
        )


def run_layer_test(
    make_layer,
    inputs,
    tmp_path,
    as_list=False,
    mixed_precision_atol=1e-2,
    compiled=True,
):
    """Checks, for the layer that `make_layer()` builds, called on the
    NumPy arrays `inputs` (one positional argument each, or with `as_list`
    one list argument, as attention layers take `[query, value]`):

    - config round trip: `from_config(get_config())` gives the same config,
      and the config is JSON;
    - a symbolic call gives the shapes and dtypes of the eager call, and a
      functional model around it computes the eager numbers;

    and, with `compiled` (the checks that compile a training step or a
    prediction on TensorFlow and JAX):

    - one training step of that model changes every trainable weight;
    - under mixed_float16 the outputs are float16, the weights float32, and
      the numbers those of float32 within `mixed_precision_atol`;
    - the model saved as `.keras` and loaded predicts the same.
    """

    def call(layer, tensors):
        return layer(list(tensors)) if as_list else layer(*tensors)

    layer = make_layer()
    config = layer.get_config()
    json.dumps(config)
    # (keras.layers.RNN.from_config takes the cell out of its argument.)
    clone = type(layer).from_config(copy.deepcopy(config))
    assert clone.get_config() == config

    eager = call(layer, inputs)
    symbolic_inputs = [
        keras.Input(x.shape[1:], dtype=str(x.dtype)) for x in inputs
    ]
    symbolic = call(make_layer(), symbolic_inputs)
    for s, e in zip(_tensors(symbolic), _tensors(eager)):
        assert tuple(s.shape[1:]) == tuple(e.shape[1:])
        assert keras.backend.standardize_dtype(s.dtype) == (
            keras.backend.standardize_dtype(e.dtype)
        )
    model = keras.Model(symbolic_inputs, symbolic)
    model.set_weights(layer.get_weights())
    _close(model(inputs), eager, atol=1e-5)
    if not compiled:
        return

    # One step of training moves every trainable weight.
    outputs = _tensors(symbolic)
    head = keras.layers.Add()(
        [keras.ops.mean(o, axis=-1, keepdims=True)[..., :1] for o in outputs]
    )
    trainer = keras.Model(symbolic_inputs, head)
    trainer.compile(keras.optimizers.SGD(0.5), "mse")
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    target = np.ones(tuple(head.shape[1:]), "float32")[None]
    target = np.repeat(target, len(inputs[0]), axis=0)
    trainer.fit(inputs, target, epochs=1, batch_size=len(inputs[0]), verbose=0)
    for weight, old in zip(model.trainable_weights, before):
        assert not np.allclose(to_numpy(weight), old), weight.path

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    _close(
        loaded.predict(inputs, verbose=0),
        model.predict(inputs, verbose=0),
        1e-6,
    )

    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = make_layer()
        call(mixed, inputs)
        mixed.set_weights(model.get_weights())
        mixed_outputs = call(mixed, inputs)
        assert all(w.dtype == "float32" for w in mixed.weights)
        for output in _tensors(mixed_outputs):
            assert keras.backend.standardize_dtype(output.dtype) == "float16"
        _close(mixed_outputs, model(inputs), mixed_precision_atol)
    finally:
        keras.config.set_dtype_policy("float32")


# --- Recurrent layers' data ----------------------------------------------

# Masks of a (3, 6) batch: one full row, one right-padded, one nearly empty.
MASK = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], bool)


# --- Attention: shapes, data and the decoder's cells ---------------------

BATCH, TX, TY, DIM, QUERY_DIM, FEATURES = 3, 5, 4, 6, 7, 2
# BahdanauAttention's units in the attention tests.
ATTENTION_UNITS = 4
MEMORY_MASK = np.array(
    [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool
)
DECODER_MASK = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], bool)


def data(rng, *shape):
    return rng.normal(size=shape).astype("float32")


CELLS = {
    "keras_gru": lambda: keras.layers.GRUCell(5),
    "keras_lstm": lambda: keras.layers.LSTMCell(5),
    "peephole_lstm": lambda: keras_recur.PeepholeLSTMCell(5),
    # The cells linear in their state step once in the decoder too.
    "min_gru": lambda: keras_recur.MinGRUCell(5),
    "lru": lambda: keras_recur.LRUCell(5),
}


def reference_cell_step(name, values):
    """NumPy step of the decoder's cell from its weights (layer order)."""
    if name == "keras_gru":
        w = dict(zip(["kernel", "recurrent_kernel", "bias"], values))
        return lambda x, h: reference.gru_step(x, h, w, reset_after=True)
    if name == "min_gru":
        w = dict(zip(["kernel", "bias"], values))
        return lambda x, h: reference.min_gru_step(x, h, w)
    if name == "lru":
        names = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im"]
        w = dict(zip([*names, "C_re", "C_im", "D"], values))
        return lambda x, *states: reference.lru_step(x, *states, w)
    keys = ["kernel", "recurrent_kernel", "bias", "p_i", "p_f", "p_o"]
    w = dict(zip(keys, values))
    if name == "keras_lstm":
        return lambda x, h, c: reference.keras_lstm_step(x, h, c, w)
    return lambda x, h, c: reference.peephole_lstm_step(x, h, c, w)


class GeneralAttention(keras_recur.layers.AttentionMechanism):
    """Luong's "general" score, written against the documented interface
    only: the decoder and Seq2Seq take it unchanged."""

    def build(self, input_shape):
        query_shape, _, key_shape = self.unpack_shapes(input_shape)
        self.kernel = self.add_weight(
            shape=(key_shape[-1], query_shape[-1]), name="kernel"
        )

    def project_keys(self, key):
        return keras.ops.matmul(key, self.kernel)

    def score(self, query, projected_keys):
        return keras.ops.einsum("bqd,bvd->bqv", query, projected_keys)


# --- The CRF --------------------------------------------------------------


def jit_compiled(fn):
    """`fn` compiled with XLA: `jax.jit` or `tf.function(jit_compile=True)`
    (PyTorch decodes eagerly: callers skip it)."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


def assert_crf_matches_enumeration(
    crf, emissions, tags, mask, atol=1e-5, allowed=None, top_k=4
):
    """The CRF's log-likelihood of `tags`, Viterbi path and score, its
    `top_k` best paths, and marginals against the enumeration of every tag
    sequence (NumPy, float64), or of those in `allowed` (tag-id tuples per
    length). Returns the decoded tags."""
    values = crf.get_weights()
    np.testing.assert_allclose(
        to_numpy(crf.log_likelihood(emissions, tags, mask)),
        reference.crf_log_likelihood(emissions, tags, mask, values, allowed),
        atol=atol,
    )
    decoded, best = (to_numpy(x) for x in crf.decode(emissions, mask))
    paths, scores = (to_numpy(x) for x in crf.decode(emissions, mask, top_k))
    want_paths, want_scores = reference.crf_top_k(
        emissions, mask, values, top_k, allowed
    )
    np.testing.assert_array_equal(paths, want_paths)
    np.testing.assert_allclose(scores, want_scores, atol=atol)
    marginals = to_numpy(crf.marginals(emissions, mask))
    rows = reference.crf_sequences(emissions, mask, values, allowed)
    for b, (steps, sequences, scores) in enumerate(rows):
        want = np.zeros(mask.shape[1], int)
        want[steps] = sequences[int(np.argmax(scores))]
        np.testing.assert_array_equal(decoded[b], want)
        np.testing.assert_allclose(best[b], np.max(scores), atol=atol)
        probabilities = np.exp(scores - np.log(np.sum(np.exp(scores))))
        want_marginals = np.zeros(marginals.shape[1:])
        for sequence, p in zip(sequences, probabilities):
            want_marginals[steps, sequence] += p
        np.testing.assert_allclose(marginals[b], want_marginals, atol=atol)
    return decoded


# --- Examples ------------------------------------------------------------


def environment(**extra):
    """The examples' environment: this backend, the installed package (as a
    user runs them), no distributed-search variables unless given."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONUNBUFFERED": "1"}
    for name in list(env):
        if name.startswith("KERASTUNER_"):
            del env[name]
    # Importing Keras in this process set it to "1"; a user's shell has not.
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.update(extra)
    return env
