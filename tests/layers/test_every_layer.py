"""`run_layer_test` for every public layer of keras_recur.layers."""

import keras
import numpy as np
import pytest

from keras_recur import layers
from tests.testing import EVERY_VARIANT
from tests.testing import backend_free
from tests.testing import public_layer_classes
from tests.testing import run_layer_test

RNG = np.random.default_rng(0)
SEQUENCE = RNG.normal(size=(3, 5, 2)).astype("float32")
MEMORY = RNG.normal(size=(3, 4, 6)).astype("float32")
QUERY = RNG.normal(size=(3, 2, 7)).astype("float32")
SEQUENCE3 = RNG.normal(size=(3, 5, 3)).astype("float32")

# name -> (the layer to test, its inputs, whether they are one list)
CASES = {
    "PeepholeLSTM": (
        lambda: layers.PeepholeLSTM(4, return_sequences=True, dropout=0.1),
        [SEQUENCE],
        False,
    ),
    "CoupledLSTM": (
        lambda: layers.CoupledLSTM(4, use_peepholes=True, return_state=True),
        [SEQUENCE],
        False,
    ),
    "GRU": (lambda: layers.GRU(4, go_backwards=True), [SEQUENCE], False),
    "LayerNormLSTM": (
        lambda: layers.LayerNormLSTM(4, recurrent_dropout=0.1),
        [SEQUENCE],
        False,
    ),
    "EchoStateNetwork": (
        lambda: layers.EchoStateNetwork(4, 0.5, 0.7, return_sequences=True),
        [SEQUENCE],
        False,
    ),
    "RidgeReadout": (
        lambda: layers.RidgeReadout(3, ridge=0.1).fit(SEQUENCE, SEQUENCE3),
        [SEQUENCE],
        False,
    ),
    "MinGRU": (
        lambda: layers.MinGRU(4, return_sequences=True, dropout=0.1),
        [SEQUENCE],
        False,
    ),
    "MinLSTM": (
        lambda: layers.MinLSTM(4, log_space=True, return_state=True),
        [SEQUENCE],
        False,
    ),
    "LRU": (
        lambda: layers.LRU(4, state_dim=3, r_min=0.5, go_backwards=True),
        [SEQUENCE],
        False,
    ),
    "ClockworkRNN": (
        lambda: layers.ClockworkRNN(
            4, periods=[1, 3], return_state=True, recurrent_dropout=0.1
        ),
        [SEQUENCE],
        False,
    ),
    "ClockworkRNNCell": (
        lambda: keras.layers.RNN(
            layers.ClockworkRNNCell(4, periods=[1, 2], clock_origin=1)
        ),
        [SEQUENCE],
        False,
    ),
    "DepthGatedLSTM": (
        # (Its returned memories grow with depth, to about 20 here: too
        # coarse in float16 for the mixed-precision check's 1e-2.)
        lambda: layers.DepthGatedLSTM(
            4, depth=3, return_sequences=True, use_peepholes=True, dropout=0.1
        ),
        [SEQUENCE],
        False,
    ),
    "DepthGatedLSTMCell": (
        lambda: keras.layers.RNN(
            layers.DepthGatedLSTMCell(
                4, coupled_forget_gate=True, input_depth_gate=True
            )
        ),
        [SEQUENCE],
        False,
    ),
    "GridLSTM": (
        lambda: layers.GridLSTM(
            4, depth=3, return_state=True, recurrent_dropout=0.1
        ),
        [SEQUENCE],
        False,
    ),
    "GridLSTMCell": (
        lambda: keras.layers.RNN(
            layers.GridLSTMCell(4, tied=True, priority="time"),
            return_sequences=True,
        ),
        [SEQUENCE],
        False,
    ),
    "GridLSTM1D": (
        lambda: layers.GridLSTM1D(4, depth=4, tied=True),
        [SEQUENCE],
        False,
    ),
    "MinGRUCell": (
        lambda: keras.layers.RNN(layers.MinGRUCell(4, log_space=True)),
        [SEQUENCE],
        False,
    ),
    "MinLSTMCell": (
        lambda: keras.layers.RNN(layers.MinLSTMCell(4)),
        [SEQUENCE],
        False,
    ),
    "LRUCell": (
        lambda: keras.layers.RNN(layers.LRUCell(4, r_min=0.5)),
        [SEQUENCE],
        False,
    ),
    "LayerNormLSTMCell": (
        lambda: keras.layers.RNN(layers.LayerNormLSTMCell(4)),
        [SEQUENCE],
        False,
    ),
    "ESNCell": (
        lambda: keras.layers.RNN(layers.ESNCell(4, connectivity=0.5)),
        [SEQUENCE],
        False,
    ),
    "PeepholeLSTMCell": (
        lambda: keras.layers.RNN(layers.PeepholeLSTMCell(4)),
        [SEQUENCE],
        False,
    ),
    "CoupledLSTMCell": (
        lambda: keras.layers.RNN(layers.CoupledLSTMCell(4)),
        [SEQUENCE],
        False,
    ),
    "GRUCell": (
        lambda: keras.layers.RNN(layers.GRUCell(4, reset_after=False)),
        [SEQUENCE],
        False,
    ),
    "BahdanauAttention": (
        lambda: layers.BahdanauAttention(5, normalize=True),
        [QUERY, MEMORY],
        True,
    ),
    "LuongAttention": (
        lambda: layers.LuongAttention(scale=True),
        [QUERY, MEMORY],
        True,
    ),
    "AttentionDecoder": (
        lambda: layers.AttentionDecoder(
            layers.PeepholeLSTMCell(4), layers.BahdanauAttention(3)
        ),
        [SEQUENCE, MEMORY],
        False,
    ),
}
# The layers whose compiled checks (a training step, saving, mixed
# precision; see run_layer_test) run on TensorFlow and JAX too: one per
# family (the LSTM loop, the GRU, the reservoir and its readout, a real and
# a complex linear recurrence, a cell in Keras' own RNN, an attention
# mechanism and the decoder). PyTorch runs them for every layer; every
# layer gets the cheap checks on every backend.
COMPILED_ON_EVERY_BACKEND = {
    "PeepholeLSTM",
    "GRU",
    "EchoStateNetwork",
    "RidgeReadout",
    "MinGRU",
    "LRU",
    "LRUCell",
    "BahdanauAttention",
    "AttentionDecoder",
}
# Extension points: subclassed, not used as they are.
BASES = {"AttentionMechanism", "LSTMCellBase", "RecurrentCell"}
BASES |= {"DenseGatesCell", "RecurrentLayer"}
BASES |= {"LinearRecurrentCell", "MinimalGatesCell"}


# Its output is int tags, which no loss differentiates; its config, symbolic
# call, training, mixed precision and saving are tested there.
TESTED_IN_ITS_OWN_FILE = {"CRF": "tests/layers/test_crf.py"}


@backend_free
def test_every_public_layer_has_a_case():
    layers = set(public_layer_classes())
    assert set(CASES) | set(TESTED_IN_ITS_OWN_FILE) == layers - BASES
    assert COMPILED_ON_EVERY_BACKEND <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer(name, tmp_path):
    make_layer, inputs, as_list = CASES[name]
    compiled = EVERY_VARIANT or name in COMPILED_ON_EVERY_BACKEND
    run_layer_test(
        make_layer, inputs, tmp_path, as_list=as_list, compiled=compiled
    )
