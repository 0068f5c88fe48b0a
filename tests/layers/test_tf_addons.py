"""TF-Addons' own numbers: weights and outputs that TensorFlow Addons 0.23
computed (tests/fixtures/tf_addons/generate.py, run once in a side
environment; CI never installs TF-Addons) load into the layers that claim
its compatibility, which then compute the same outputs."""

import os

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import ROOT
from tests.testing import to_numpy

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tf_addons")
UNITS = 6


def fixture(name):
    """(inputs, TF-Addons' get_weights() in its order, outputs)."""
    saved = np.load(os.path.join(FIXTURES, f"{name}.npz"))

    def numbered(prefix):
        count = sum(key.startswith(prefix) for key in saved.files)
        return [saved[f"{prefix}{i}"] for i in range(count)]

    return numbered("input_"), numbered("weight_"), numbered("output_")


CELLS = {
    "peephole_lstm_cell": lambda: keras_recur.PeepholeLSTMCell(UNITS),
    "layer_norm_lstm_cell": lambda: keras_recur.LayerNormLSTMCell(UNITS),
    # TF-Addons drew the reservoir; its weights carry it over.
    "esn_cell": lambda: keras_recur.ESNCell(UNITS, connectivity=0.5),
}


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_cell_takes_tf_addons_weights_with_set_weights(name):
    (x,), weights, (want,) = fixture(name)
    layer = keras.layers.RNN(CELLS[name](), return_sequences=True)
    layer.build(x.shape)
    layer.set_weights(weights)
    np.testing.assert_allclose(to_numpy(layer(x)), want, atol=1e-5)


ATTENTION = {
    "bahdanau": lambda: keras_recur.BahdanauAttention(UNITS),
    "bahdanau_normalized": lambda: keras_recur.BahdanauAttention(
        UNITS, normalize=True
    ),
    "luong": lambda: keras_recur.LuongAttention(),
    "luong_scaled": lambda: keras_recur.LuongAttention(scale=True),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_takes_tf_addons_weights_in_their_order(name):
    (query, memory, lengths), weights, (alignments,) = fixture(name)
    attention = ATTENTION[name]()
    attention.build([query.shape, memory.shape])
    if len(weights) > 1:
        # TF-Addons lists its own weights before its layers' kernels.
        with pytest.raises(ValueError):
            attention.set_weights(weights)
    attention.set_tf_addons_weights(weights)
    memory_mask = np.arange(memory.shape[1])[None, :] < lengths[:, None]
    _, got = attention(
        [query, memory], mask=[None, memory_mask], return_attention_scores=True
    )
    np.testing.assert_allclose(to_numpy(got), alignments, atol=1e-6)
    with pytest.raises(ValueError, match="TF-Addons' .* weights.*Received"):
        attention.set_tf_addons_weights(weights[:-1])
