"""Bad input gets a ValueError naming the argument and the value received."""

import re

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import backend_free
from tests.variants import VARIANTS
from tests.variants import make_layer

LAYERS = [
    keras_recur.PeepholeLSTM,
    keras_recur.CoupledLSTM,
    keras_recur.GRU,
    keras_recur.LayerNormLSTM,
]
CELLS = [layer.cell_class for layer in LAYERS]
# Constructor checks, which run before any backend code.
ARGUMENT_CHECKS = backend_free


@ARGUMENT_CHECKS
@pytest.mark.parametrize("cls", LAYERS + CELLS)
@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"units": 0}, "units=0"),
        ({"units": -3}, "units=-3"),
        ({"units": 2.5}, "units=2.5"),
        ({"units": "4"}, "units='4'"),
        ({"units": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"units": 4, "dropout": -0.1}, "dropout=-0.1"),
        ({"units": 4, "recurrent_dropout": 1.5}, "recurrent_dropout=1.5"),
        ({"units": 4, "activation": "tanhh"}, "activation='tanhh'"),
        (
            {"units": 4, "recurrent_activation": "sigmod"},
            "recurrent_activation='sigmod'",
        ),
        (
            {"units": 4, "kernel_initializer": "glorot"},
            "kernel_initializer='glorot'",
        ),
        (
            {"units": 4, "recurrent_initializer": "orthogonl"},
            "recurrent_initializer='orthogonl'",
        ),
        ({"units": 4, "bias_initializer": "onez"}, "bias_initializer='onez'"),
        ({"units": 4, "kernel_regularizer": "l3"}, "kernel_regularizer='l3'"),
        ({"units": 4, "seed": "7"}, "seed='7'"),
    ],
)
def test_bad_arguments_are_named(cls, arguments, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        cls(**arguments)


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "cls", [keras_recur.PeepholeLSTM, keras_recur.CoupledLSTM]
)
def test_bad_peephole_initializer_is_named(cls):
    with pytest.raises(ValueError, match="peephole_initializer='nope'"):
        cls(4, peephole_initializer="nope")


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "cls", [keras_recur.CoupledLSTM, keras_recur.CoupledLSTMCell]
)
def test_use_peepholes_must_be_a_bool(cls):
    with pytest.raises(ValueError, match="use_peepholes='no'"):
        cls(4, use_peepholes="no")


@pytest.mark.parametrize("cls", LAYERS)
def test_input_must_be_rank_3(cls):
    with pytest.raises(ValueError, match=r"ndim=3.*\(2, 3\)"):
        cls(4)(np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("cls", LAYERS)
def test_feature_size_cannot_change_after_build(cls):
    layer = cls(4)
    layer(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"value 3.*\(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4), "float32"))


@pytest.mark.parametrize("cls", LAYERS)
def test_initial_state_count_and_shapes_are_checked(cls):
    layer = cls(4)
    x = np.zeros((2, 5, 3), "float32")
    count = len(layer.cell.state_size)
    good = [np.zeros((2, 4), "float32")] * count
    layer(x, initial_state=good)
    with pytest.raises(ValueError, match=r"initial_state.*Received.*\(2, 4\)"):
        layer(x, initial_state=good + [np.zeros((2, 4), "float32")])
    with pytest.raises(ValueError, match=r"initial_state.*Received.*\(2, 7\)"):
        layer(x, initial_state=[np.zeros((2, 7), "float32")] * count)
    with pytest.raises(ValueError, match=r"initial_state.*Received.*\(3, 4\)"):
        layer(x, initial_state=[np.zeros((3, 4), "float32")] * count)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("unroll", [False, True])
def test_a_mask_of_another_length_is_refused(variant, unroll):
    # Every path: the fused kernels, the scan and the unrolled loop (which
    # used to zip the steps with a shorter mask and drop the rest).
    layer = make_layer(variant, 4, (3, 6, 2), unroll=unroll)
    x = np.zeros((3, 6, 2), "float32")
    for shape in ((3, 5), (3, 7), (2, 6), (3, 6, 1)):
        message = r"`mask` must have the shape.*\(3, 6\).*" + re.escape(
            str(shape)
        )
        with pytest.raises(ValueError, match=message):
            layer(x, mask=np.ones(shape, bool))


@pytest.mark.parametrize("cls", LAYERS)
def test_stateful_needs_a_fixed_batch_size(cls):
    with pytest.raises(ValueError, match=r"stateful.*\(None, 5, 3\)"):
        keras.Sequential([keras.Input((5, 3)), cls(4, stateful=True)])


@pytest.mark.parametrize("cls", LAYERS)
def test_unroll_needs_a_fixed_number_of_steps(cls):
    with pytest.raises(ValueError, match=r"unroll.*\(None, None, 3\)"):
        keras.Sequential([keras.Input((None, 3)), cls(4, unroll=True)])


@ARGUMENT_CHECKS
def test_unknown_argument_is_named():
    with pytest.raises(ValueError, match="'unit_forget_bias': True"):
        keras_recur.GRU(4, unit_forget_bias=True)


@ARGUMENT_CHECKS
@pytest.mark.parametrize(
    "cls, arguments, message",
    [
        (keras_recur.GRU, {"reset_after": 1}, "reset_after=1"),
        (keras_recur.CoupledLSTMCell, {"use_bias": "no"}, "use_bias='no'"),
        (keras_recur.GRUCell, {"reset_after": "no"}, "reset_after='no'"),
        (
            keras_recur.PeepholeLSTM,
            {"unit_forget_bias": "yes"},
            "unit_forget_bias='yes'",
        ),
        (
            keras_recur.CoupledLSTM,
            {"return_sequences": 1},
            "return_sequences=1",
        ),
        (keras_recur.GRU, {"go_backwards": None}, "go_backwards=None"),
        (keras_recur.PeepholeLSTM, {"stateful": "no"}, "stateful='no'"),
    ],
)
def test_flags_must_be_booleans(cls, arguments, message):
    # Once coerced with bool(): "no" would have meant True.
    with pytest.raises(ValueError, match=message):
        cls(4, **arguments)
