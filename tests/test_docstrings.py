"""Every public class documents Args, Call arguments, a runnable Example and
(what it implements) the paper it comes from."""

import doctest
import inspect
import re

import keras
import numpy as np
import pytest

import keras_recur
from tests.testing import backend_free

# Docstrings, registration and the examples in them are the same code on
# every backend; the layers they show are tested on each.
pytestmark = backend_free

FUNCTIONS = [
    keras_recur.models.fit_readout,
    keras_recur.models.generate,
    keras_recur.allowed_transitions,
    keras_recur.tag_schemes.spans,
]
PUBLIC = [getattr(keras_recur, name) for name in keras_recur.layers.__all__]
PUBLIC = [member for member in PUBLIC if member not in FUNCTIONS]
PUBLIC += [
    keras_recur.models.Seq2Seq,
    keras_recur.models.Tagger,
    keras_recur.metrics.SpanF1,
    keras_recur.training.HessianFree,
    keras_recur.training.VanishingGradientRegularization,
]
# The decoding strategies: plain classes (not layers: nothing to call or
# save), with their arguments documented and their examples run.
STRATEGIES = [
    keras_recur.models.Strategy,
    keras_recur.models.Greedy,
    keras_recur.models.Sampling,
    keras_recur.models.BeamSearch,
    keras_recur.models.KerasHubSampler,
]
try:  # keras-tuner is an extra; tox's keras-oldest runs without it
    from keras_recur import tuning

    HYPERMODELS = [
        tuning.SequenceRegressor,
        tuning.SequenceClassifier,
        tuning.SequenceTagger,
        tuning.Seq2SeqHyperModel,
        tuning.RecurrentHyperModel,
    ]
except ImportError:
    HYPERMODELS = []


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


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda c: c.__name__)
def test_strategy_documents_and_runs_its_example(strategy):
    assert "Args:" in strategy.__doc__
    globs = {"keras_recur": keras_recur}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder(recurse=False).find(
        strategy, globs=globs
    ):
        runner.run(test)
    assert runner.failures == 0
    if strategy not in (keras_recur.models.Strategy,):
        assert "Example:" in strategy.__doc__


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_public_function_documents_and_runs_its_example(function):
    for section in ("Args:", "Example:", "Reference:"):
        assert section in function.__doc__, f"{function.__name__}: {section}"
    globs = {"keras": keras, "np": np, "keras_recur": keras_recur}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(function, globs=globs):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


# Extension points, subclassed rather than instantiated or saved.
BASES = (
    keras_recur.layers.AttentionMechanism,
    keras_recur.layers.DenseGatesCell,
    keras_recur.layers.LSTMCellBase,
    keras_recur.layers.LinearRecurrentCell,
    keras_recur.layers.MinimalGatesCell,
    keras_recur.layers.RecurrentCell,
    keras_recur.layers.RecurrentLayer,
)


@pytest.mark.parametrize(
    "cls", [c for c in PUBLIC if c not in BASES], ids=lambda c: c.__name__
)
def test_cites_its_paper(cls):
    # Keras' `Reference:` section: the paper, and where to read it.
    section = cls.__doc__.split("\n    Reference:\n", 1)
    assert len(section) == 2, f"{cls.__name__} lacks Reference:"
    assert re.search(r"^    - .+\(\d{4}\)", section[1], re.M), section[1]
    assert "<https://" in section[1], section[1]


@pytest.mark.parametrize(
    "cls", [c for c in PUBLIC if c not in BASES], ids=lambda c: c.__name__
)
def test_registered_for_loading(cls):
    name = keras.saving.get_registered_name(cls)
    assert name == f"keras_recur>{cls.__name__}"
    assert keras.saving.get_registered_object(name) is cls


def documented_arguments(cls):
    """The names in the `Args:` section of `cls`'s docstring."""
    doc = inspect.cleandoc(cls.__doc__)
    section = doc.split("\nArgs:\n", 1)[1]
    section = re.split(r"\n(?=\S)", section, maxsplit=1)[0]
    return set(re.findall(r"^    (\*{0,2}\w+):", section, re.MULTILINE))


@pytest.mark.parametrize(
    "cls",
    [*PUBLIC, *HYPERMODELS, *STRATEGIES],
    ids=lambda c: c.__name__,
)
def test_every_argument_is_documented_and_exists(cls):
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        pytest.skip(f"{cls.__name__} is a base; its subclasses are checked")
    # A layer that builds its cell documents its own arguments; its cell's
    # are on the cell's page.
    documented = documented_arguments(cls)
    cell_class = getattr(cls, "cell_class", None)
    if cell_class is not None:
        documented |= documented_arguments(cell_class) - {"**kwargs"}
    names = {
        f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name for p in parameters
    }
    assert not names - documented, f"undocumented: {names - documented}"
    assert not documented - names - {"**kwargs"}, (
        f"documented but not arguments: {documented - names}"
    )
