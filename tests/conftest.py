"""Fixtures only; the shared helpers are in tests/testing.py and the layer
configurations in tests/variants.py. The backend is fixed by KERAS_BACKEND
before import; tox runs this whole suite once per backend, each in its own
process."""

import os

import keras
import pytest

# The backend-free tests (`tests.testing.backend_free`) run where
# KERAS_RECUR_BACKEND_FREE=1 (tox's torch environment) and are deselected
# where it is 0; unset, they run on PyTorch, the fastest to start.
_RUN_BACKEND_FREE = os.environ.get(
    "KERAS_RECUR_BACKEND_FREE", str(int(keras.backend.backend() == "torch"))
)


def pytest_collection_modifyitems(config, items):
    if _RUN_BACKEND_FREE == "1":
        return
    free = [item for item in items if "backend_free" in item.keywords]
    if free:
        config.hook.pytest_deselected(items=free)
        items[:] = [
            item for item in items if "backend_free" not in item.keywords
        ]


@pytest.fixture(autouse=True)
def _fresh_session():
    # Without a full garbage collection, as Keras' own TestCase.setUp: it
    # took half a second a test, a fifth of the suite's time (Python's
    # collector still runs on its own).
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(autouse=True, scope="module")
def _compiled_programs_freed():
    # On JAX every eager call of a loop compiles a new program; the suite's
    # thousands of loaded executables crashed XLA late in the jax env
    # (2026-12-07; suspected: the process's memory-map limit). Freeing them
    # after each file keeps the count bounded; the persistent compilation
    # cache still serves a program compiled again.
    yield
    if keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()
