"""Code written for keras.layers.LSTM / GRU works unchanged on the layers:
the same arguments (names, defaults, positions), the same attributes,
use_cudnn, the legacy implementation argument, and masks kept flowing."""

import ast
import inspect

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import BACKEND
from tests.testing import CHANGED_ARGUMENTS
from tests.testing import recurrence_path
from tests.testing import to_numpy
from tests.variants import KERAS_VARIANTS
from tests.variants import LAYERS
from tests.variants import VARIANTS

# (our layer, its extra arguments, the Keras layer it stands in for)
PAIRS = [
    (VARIANTS[name].layer, VARIANTS[name].arguments, VARIANTS[name][3])
    for name in KERAS_VARIANTS
]
IDS = KERAS_VARIANTS
OWN_ARGUMENTS = {
    VARIANTS[name].layer: VARIANTS[name].own_arguments
    for name in KERAS_VARIANTS
}


def keras_parameters(keras_class):
    return [
        p
        for p in inspect.signature(keras_class).parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_every_keras_argument_with_its_default_and_position(
    ours, extra, theirs
):
    signature = inspect.signature(ours)
    parameters = list(signature.parameters.values())
    # __init__ itself lists them (help(), IDEs that introspect).
    init_parameters = inspect.signature(ours.__init__).parameters
    assert list(init_parameters)[1:] == list(signature.parameters)
    for index, want in enumerate(keras_parameters(theirs)):
        got = parameters[index]
        assert (got.name, got.default) == (want.name, want.default), index
        assert got.kind is got.POSITIONAL_OR_KEYWORD
    # Our own arguments are keyword-only, after Keras' ones.
    own = parameters[len(keras_parameters(theirs)) :]
    assert own[-1].kind is own[-1].VAR_KEYWORD
    assert all(p.kind is p.KEYWORD_ONLY for p in own[:-1])
    assert {p.name for p in own[:-1]} == OWN_ARGUMENTS[ours]


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_positional_arguments_bind_as_in_keras(ours, extra, theirs):
    names = [p.name for p in keras_parameters(theirs)]
    values = {
        "units": 3,
        "activation": "relu",
        "recurrent_activation": "hard_sigmoid",
        "use_bias": False,
    }
    positional = [values[name] for name in names[: len(values)]]
    layer, reference = ours(*positional, **extra), theirs(*positional)
    for name in values:
        assert getattr(layer, name) == getattr(reference, name), name


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_every_keras_attribute_reads_the_same(ours, extra, theirs):
    if theirs is keras.layers.LSTM:
        changed = {**CHANGED_ARGUMENTS, "unit_forget_bias": False}
    else:
        changed = {**CHANGED_ARGUMENTS, "reset_after": False}
    changed.update({k: v for k, v in extra.items() if k in changed})
    extra = {k: v for k, v in extra.items() if k not in changed}
    layer, reference = ours(4, **changed, **extra), theirs(4, **changed)
    read = 0
    for name in reference.get_config():
        if name in ("name", "dtype", "cell") or not hasattr(reference, name):
            continue
        want = keras.saving.serialize_keras_object(getattr(reference, name))
        got = keras.saving.serialize_keras_object(getattr(layer, name))
        assert got == want, name
        read += 1
    assert read >= 20
    assert layer.use_cudnn is False
    for name in extra:
        assert getattr(layer, name) == extra[name]
    # Tab completion sees them too.
    assert {"units", "dropout", "kernel_initializer"} <= set(dir(layer))


@pytest.mark.parametrize(
    "ours", [keras_recur.PeepholeLSTM, keras_recur.CoupledLSTM]
)
def test_peephole_arguments_read_on_the_layer(ours):
    layer = ours(4, peephole_initializer="ones", peephole_constraint="non_neg")
    assert isinstance(layer.peephole_initializer, keras.initializers.Ones)
    assert isinstance(layer.peephole_constraint, keras.constraints.NonNeg)
    assert layer.peephole_regularizer is None


def test_unknown_attribute_raises_attribute_error():
    layer = keras_recur.GRU(4)
    with pytest.raises(AttributeError, match="no_such_thing"):
        layer.no_such_thing  # noqa: B018
    assert not hasattr(layer, "peephole_initializer")


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_a_keras_layer_config_builds_the_layer(ours, extra, theirs):
    # A config written for the Keras layer, with tf.keras' legacy key.
    # Every value a Keras version wrote: 0 (Keras 2.0; Keras' own
    # gru_test.py::test_legacy_implementation_argument loads it), 1 and 2.
    for implementation in (0, 1, 2):
        config = {
            **theirs(5, dropout=0.1).get_config(),
            "implementation": implementation,
        }
        config.pop("cell", None)
        layer = ours.from_config({**config, **extra})
        assert (layer.units, layer.dropout) == (5, 0.1)
        assert "implementation" not in layer.get_config()
    with pytest.raises(ValueError, match="Received: implementation=3"):
        ours(5, implementation=3)


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_unknown_keyword_names_the_layer(ours, extra, theirs):
    with pytest.raises(ValueError, match=f"passed to {ours.__name__}: .*bogus"):
        ours(4, bogus=1, **extra)


@pytest.mark.parametrize("value", ["yes", 1, 0, None, "True"])
def test_use_cudnn_is_validated(value):
    with pytest.raises(ValueError, match=f"Received: use_cudnn={value!r}"):
        keras_recur.GRU(4, use_cudnn=value)


@pytest.mark.parametrize("name", KERAS_VARIANTS)
def test_use_cudnn_is_saved_and_chooses_the_path(name):
    ours, extra = VARIANTS[name].layer, VARIANTS[name].arguments
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    layers = {
        value: ours(4, use_cudnn=value, **extra)
        for value in ("auto", True, False)
    }
    for value, layer in layers.items():
        assert ours.from_config(layer.get_config()).use_cudnn == value
    fused = recurrence_path(layers["auto"], x) == "fused"
    # PyTorch's fused LSTM and GRU functions; no kernel computes the norms.
    assert fused == (BACKEND == "torch" and VARIANTS[name].fused)
    layers[False].build(x.shape)
    layers[False].set_weights(layers["auto"].get_weights())
    np.testing.assert_allclose(
        to_numpy(layers[False](x)), to_numpy(layers["auto"](x)), atol=1e-5
    )
    assert recurrence_path(layers[False], x) == "scan"
    if fused:
        assert recurrence_path(layers[True], x) == "fused"
    else:
        with pytest.raises(ValueError, match=f"use_cudnn=True.*{BACKEND}"):
            layers[True](x)


def test_use_cudnn_true_says_why_no_fused_kernel_serves():
    x = np.zeros((2, 5, 3), "float32")
    layer = keras_recur.GRU(4, use_cudnn=True, reset_after=False)
    reason = "reset_after=True" if BACKEND == "torch" else "no fused gru"
    with pytest.raises(ValueError, match=reason):
        layer(x)
    layer = keras_recur.PeepholeLSTM(4, use_cudnn=True, activation="relu")
    reason = "tanh" if BACKEND == "torch" else "no fused lstm"
    with pytest.raises(ValueError, match=reason):
        layer(x)


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_masks_flow_through_stacked_layers(ours, extra, theirs):
    # Keras 3.16's RNN stops passing masks on by default; these layers do.
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 20, (3, 6))
    tokens[1, 4:] = tokens[2, 2:] = 0
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(20, 3, mask_zero=True),
            ours(4, return_sequences=True, **extra),
            ours(2, **extra),
        ]
    )
    assert model.layers[1].supports_masking
    padded = to_numpy(model(tokens))
    for row, length in ((1, 4), (2, 2)):
        cut = to_numpy(model(tokens[row : row + 1, :length]))
        np.testing.assert_allclose(padded[row : row + 1], cut, atol=1e-5)


@pytest.mark.parametrize("ours, extra, theirs", PAIRS, ids=IDS)
def test_cell_takes_keras_cell_arguments_in_their_positions(
    ours, extra, theirs
):
    keras_cell = (
        keras.layers.GRUCell
        if theirs is keras.layers.GRU
        else (keras.layers.LSTMCell)
    )
    parameters = list(inspect.signature(ours.cell_class).parameters.values())
    for index, want in enumerate(keras_parameters(keras_cell)):
        got = parameters[index]
        assert (got.name, got.default) == (want.name, want.default), index
        assert got.kind is got.POSITIONAL_OR_KEYWORD
    own = parameters[len(keras_parameters(keras_cell)) : -1]
    assert all(p.kind is p.KEYWORD_ONLY for p in own)
    layer_own = OWN_ARGUMENTS[ours]
    assert {p.name for p in own} == layer_own


def static_init_arguments(cls):
    """The `__init__` arguments of `cls` as a static tool (pyright, griffe
    without inspection) reads them: from the source's syntax tree, without
    running it."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
    (node,) = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef) and n.name == cls.__name__
    ]
    (init,) = [
        n
        for n in node.body
        if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    ]
    arguments = init.args
    names = [a.arg for a in arguments.args[1:] + arguments.kwonlyargs]
    return names + ([f"**{arguments.kwarg.arg}"] if arguments.kwarg else [])


@pytest.mark.parametrize(
    "cls",
    [c for layer in LAYERS for c in (layer, layer.cell_class)],
    ids=lambda c: c.__name__,
)
def test_signature_is_written_in_the_source(cls):
    # What help(), IDEs and the API pages show is the literal __init__.
    names = [
        f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name
        for p in inspect.signature(cls).parameters.values()
    ]
    assert static_init_arguments(cls) == names


@pytest.mark.parametrize("layer_class", LAYERS, ids=lambda c: c.__name__)
def test_cell_arguments_read_on_the_layer_and_cannot_be_assigned(layer_class):
    layer = layer_class(4)
    parameters = inspect.signature(layer_class.cell_class).parameters
    names = [n for n, p in parameters.items() if p.kind is not p.VAR_KEYWORD]
    assert len(names) >= 8  # the LRU has fewest
    for name in names:
        assert getattr(layer, name) is getattr(layer.cell, name), name
        with pytest.raises(AttributeError):
            setattr(layer, name, "a new value")
    # The cell keeps its value (and the config with it).
    assert layer.units == 4 and layer.get_config()["units"] == 4


# Keras 3.16 (keras-team/keras#23235) stops keras.layers.RNN, its LSTM and
# GRU, and Bidirectional from passing a mask on to the next layer; tox's
# keras-nightly environment runs this file with it.
KERAS_PASSES_MASKS_ON = tuple(map(int, keras.__version__.split(".")[:2])) < (
    3,
    16,
)


@pytest.mark.parametrize("name", ["peephole", "gru"])
def test_masks_under_keras_3_16_next_to_keras_own_layers(name):
    ours, extra = VARIANTS[name].layer, VARIANTS[name].arguments
    theirs = VARIANTS[name].keras_counterpart
    # Our layers pass the mask on, on every Keras: the layer after them
    # must skip the padded steps as they did.
    assert ours(4, return_sequences=True, **extra).supports_masking
    assert theirs(4, return_sequences=True).supports_masking is (
        KERAS_PASSES_MASKS_ON
    )
    # Bidirectional is Keras': around our layer too, it passes a mask on
    # exactly where Keras does (not from 3.16 on).
    wrapped = keras.layers.Bidirectional(ours(4, return_sequences=True))
    assert wrapped.supports_masking is KERAS_PASSES_MASKS_ON
    tokens = np.array([[3, 5, 7, 2], [4, 6, 0, 0]])
    embedding = keras.layers.Embedding(9, 3, mask_zero=True)
    mask = embedding.compute_mask(tokens)
    outputs = wrapped(embedding(tokens), mask=mask)
    passed_on = wrapped.compute_mask(outputs, mask)
    if KERAS_PASSES_MASKS_ON:
        np.testing.assert_array_equal(to_numpy(passed_on), to_numpy(mask))
    # Each direction still reads the mask it is given.
    cut = wrapped(embedding(tokens[1:, :2]))
    np.testing.assert_allclose(
        to_numpy(outputs)[1, :2], to_numpy(cut)[0], atol=1e-5
    )
