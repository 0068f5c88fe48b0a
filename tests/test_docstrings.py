"""Every public class documents Args, Call arguments and a runnable Example."""

import doctest
import inspect

import keras
import numpy as np
import pytest

import keras_recur

PUBLIC = [getattr(keras_recur, name) for name in keras_recur.layers.__all__]
PUBLIC.append(keras_recur.models.Seq2Seq)


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_docstring_sections_and_example_run(cls):
    doc = cls.__doc__
    for section in ("Args:", "Call arguments:", "Example:"):
        assert section in doc, f"{cls.__name__} lacks {section}"
    globs = {
        "keras": keras,
        "np": np,
        "keras_recur": keras_recur,
        "inspect": inspect,
    }
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(cls, cls.__name__, globs=globs)
    assert sum(len(t.examples) for t in tests) > 0
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


# Extension points, subclassed rather than instantiated or saved.
BASES = (
    keras_recur.layers.AttentionMechanism,
    keras_recur.layers.LSTMCellBase,
    keras_recur.layers.RecurrentCell,
    keras_recur.layers.RecurrentLayer,
)


@pytest.mark.parametrize(
    "cls", [c for c in PUBLIC if c not in BASES], ids=lambda c: c.__name__
)
def test_registered_for_loading(cls):
    name = keras.saving.get_registered_name(cls)
    assert name == f"keras_recur>{cls.__name__}"
    assert keras.saving.get_registered_object(name) is cls
