"""Fixtures only; the shared helpers are in tests/testing.py and the layer
configurations in tests/variants.py. The backend is fixed by KERAS_BACKEND
before import; tox runs this whole suite once per backend, each in its own
process."""

import keras
import pytest


@pytest.fixture(autouse=True)
def _fresh_session():
    # Without a full garbage collection, as Keras' own TestCase.setUp: it
    # took half a second a test, a fifth of the suite's time (Python's
    # collector still runs on its own).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
