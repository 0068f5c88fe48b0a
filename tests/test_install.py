"""What the package under test is: the installed distribution, its one
version, and (in the single-backend environments) the only backend there.

tox sets KERAS_RECUR_TEST_WHEEL=1 where it installed the built wheel and
KERAS_RECUR_SINGLE_BACKEND=1 where it installed one backend only; without
them (a developer's editable install with every backend) those two checks
skip.
"""

import importlib.metadata
import importlib.util
import os

import pytest

import keras_recur
from tests.testing import BACKEND
from tests.testing import ROOT


def test_version_is_single_sourced():
    assert importlib.metadata.version("keras-recur") == keras_recur.__version__


@pytest.mark.skipif(
    os.environ.get("KERAS_RECUR_TEST_WHEEL") != "1",
    reason="tox's environments test the installed wheel",
)
def test_the_package_under_test_is_the_installed_wheel():
    location = os.path.dirname(os.path.abspath(keras_recur.__file__))
    assert location != os.path.join(ROOT, "keras_recur"), location
    assert os.path.basename(os.path.dirname(location)) == "site-packages"
    distribution = importlib.metadata.distribution("keras-recur")
    # An editable install records where its source lives; a wheel does not.
    assert distribution.read_text("direct_url.json") is None or (
        '"editable": true' not in distribution.read_text("direct_url.json")
    )
    installed = {str(path) for path in distribution.files}
    for folder, _, files in os.walk(os.path.join(ROOT, "keras_recur")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.relpath(os.path.join(folder, name), ROOT)
                assert path.replace(os.sep, "/") in installed, path
    assert any(path.endswith("licenses/LICENSE") for path in installed)


@pytest.mark.skipif(
    os.environ.get("KERAS_RECUR_SINGLE_BACKEND") != "1",
    reason="tox's single-backend environments",
)
def test_only_this_backend_is_installed():
    for backend in ("tensorflow", "jax", "torch"):
        installed = importlib.util.find_spec(backend) is not None
        assert installed == (backend == BACKEND), backend
