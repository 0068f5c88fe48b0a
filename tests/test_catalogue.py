"""The catalogue of cells (keras_recur.catalogue) against the code and the
pages: every public recurrent layer has its record, every record's facts
are the layer's, and the tuning docstring, the home page and the README
name every cell."""

import doctest
import inspect
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur import catalogue
from keras_recur.layers import LinearRecurrentCell
from keras_recur.layers import RecurrentLayer
from tests.testing import ROOT
from tests.testing import backend_free
from tests.testing import public_layer_classes
from tests.variants import VARIANTS

OURS = {n: r for n, r in catalogue.CELLS.items() if not r.keras_own}


@backend_free
def test_every_public_recurrent_layer_has_a_record():
    public = {
        name
        for name, layer in public_layer_classes().items()
        if issubclass(layer, RecurrentLayer) and "cell_class" in vars(layer)
    }
    assert set(OURS) == public
    for name, record in OURS.items():
        assert record.layer is getattr(keras_recur, name)
        assert record.cell is record.layer.cell_class
        assert record.linear == issubclass(record.cell, LinearRecurrentCell)
        assert record.keras_family in ("lstm", "gru", "rnn")


@backend_free
def test_every_cell_has_a_variant_under_test():
    assert set(OURS) == {v.layer.__name__ for v in VARIANTS.values()}


@backend_free
@pytest.mark.parametrize("name", sorted(OURS))
def test_hyperparameters_are_arguments_and_their_spaces_check(name):
    record = OURS[name]
    arguments = inspect.signature(record.layer).parameters
    for argument, hyperparameter in record.hyperparameters.items():
        assert argument in arguments
        space = hyperparameter.space
        values = space if isinstance(space, tuple) else (space,)
        for value in values:
            assert hyperparameter.check(argument, value) == value
        assert hyperparameter.doc
    # What the tuner sets on every cell is never a cell's own.
    assert not {"units", "dropout", "recurrent_dropout"} & set(
        record.hyperparameters
    )


@backend_free
@pytest.mark.parametrize("name", sorted(OURS))
def test_trained_and_recurrent_kernel_are_the_layers(name):
    record = OURS[name]
    layer = record.layer(3)
    layer.build((2, 4, 2))
    assert bool(layer.trainable_weights) == record.trained
    # (The Clockwork RNN's comes in blocks, recurrent_kernel_0, ...; the
    # Grid LSTM has one per dimension, time_recurrent_kernel_0, ...)
    has_recurrent_kernel = any(
        "recurrent_kernel" in w.name for w in layer.weights
    )
    assert has_recurrent_kernel == record.recurrent_kernel
    assert ("dropout" in inspect.signature(record.layer).parameters) == (
        record.trained
    )
    # (A fixed reservoir has a recurrent kernel and nothing to drop.)
    assert (
        "recurrent_dropout" in inspect.signature(record.layer).parameters
    ) == (record.trained and record.recurrent_kernel)
    x = np.zeros((2, 4, 2), "float32")
    assert keras.ops.convert_to_numpy(layer(x)).shape == (2, 3)


@backend_free
@pytest.mark.parametrize(
    "text",
    [
        "keras_recur/tuning/__init__.py",
        "keras_recur/tuning/hypermodels.py",
        "docs/index.md",
        "README.md",
    ],
)
def test_the_pages_name_every_cell(text):
    content = pathlib.Path(ROOT, text).read_text()
    missing = [n for n in OURS if not re.search(f'[`"]{n}[`"]', content)]
    assert missing == []


@backend_free
def test_the_module_example_runs():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder(recurse=False).find(catalogue):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
