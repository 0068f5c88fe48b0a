"""The backend interface: every backend module defines every name of
`keras_recur.backend.INTERFACE` (read from the source, so that all four are
checked wherever the suite runs), the dispatcher looks none up with a
default, and `common.py`, what any other Keras backend runs, computes what
it claims."""

import ast
import pathlib

import keras
import numpy as np
import pytest

from keras_recur import backend
from keras_recur.backend import common
from tests import testing

BACKEND_DIR = pathlib.Path(backend.__file__).parent
MODULES = [*backend.BACKEND_MODULES, "common"]


def module_level_names(path):
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@testing.backend_free
@pytest.mark.parametrize("module", MODULES)
def test_every_backend_module_defines_the_interface(module):
    defined = module_level_names(BACKEND_DIR / f"{module}.py")
    assert set(backend.INTERFACE) - defined == set()


@testing.backend_free
def test_the_dispatcher_defines_each_name_and_looks_up_none():
    source = (BACKEND_DIR / "__init__.py").read_text()
    assert set(backend.INTERFACE) <= module_level_names(
        BACKEND_DIR / "__init__.py"
    )
    # No `getattr(module, name, default)`: a missing name is an error.
    assert "getattr(" not in source


def test_the_running_backend_module_has_every_name():
    module = backend.backend_module(keras.backend.backend())
    assert [
        n for n in backend.INTERFACE if not callable(getattr(module, n))
    ] == []


def test_common_logcumsumexp_against_numpy():
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype("float32")
    want = np.log(np.cumsum(np.exp(x.astype("float64")), axis=1))
    got = keras.ops.convert_to_numpy(common.logcumsumexp(x, 1))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_common_linear_recurrence_against_a_loop():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(2, 2, 6, 3)).astype("float32")
    h0 = rng.normal(size=(2, 3)).astype("float32")
    want, h = [], h0
    for t in range(6):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    got = common.sequential_linear_recurrence(a, b, h0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), np.stack(want, 1), rtol=1e-6
    )


@pytest.mark.parametrize("kernel, arguments", [("gru", 5), ("lstm", 6)])
def test_common_fused_kernels_name_the_backend(kernel, arguments):
    with pytest.raises(NotImplementedError, match=keras.backend.backend()):
        getattr(common, kernel)(*[None] * arguments)


def test_custom_gradient_has_one_calling_convention():
    @backend.custom_gradient
    def doubled_gradient(x):
        def grad(upstream):
            return 2.0 * upstream

        return x * 1.0, grad

    x = keras.Variable(np.array([1.0, 2.0], "float32"))

    def loss():
        # (A tensor, not the variable: TensorFlow asks a custom gradient of
        # a variable for the variable's gradient too.)
        return keras.ops.sum(doubled_gradient(x * 1.0))

    (got,) = testing.gradients(loss, [x])
    np.testing.assert_allclose(got, [2.0, 2.0])


def test_jvp_and_vjp_against_explicit_jacobians():
    # f(W, b) = tanh(x W + b): J v = (1 - t^2) * (x V_W + v_b), and the
    # transposed product of a cotangent c is (x^T ((1 - t^2) c), sum(...)).
    rng = np.random.default_rng(0)
    x, w, b, v_w, v_b, c = (
        rng.normal(size=s).astype("float32")
        for s in [(4, 3), (3, 2), (2,), (3, 2), (2,), (4, 2)]
    )
    slope = 1.0 - np.tanh(x @ w + b) ** 2

    def f(weights):
        return keras.ops.tanh(keras.ops.matmul(x, weights[0]) + weights[1])

    value, product = backend.jvp(f, [w, b], [v_w, v_b])
    np.testing.assert_allclose(value, np.tanh(x @ w + b), rtol=1e-5)
    np.testing.assert_allclose(
        product, slope * (x @ v_w + v_b), rtol=1e-4, atol=1e-6
    )
    value, pullback = backend.vjp(f, [w, b])
    for _ in range(2):  # a pullback may be called again
        got_w, got_b = pullback(keras.ops.convert_to_tensor(c))
        np.testing.assert_allclose(
            got_w, x.T @ (slope * c), rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(
            got_b, (slope * c).sum(0), rtol=1e-4, atol=1e-6
        )

    # Nested: a Hessian-vector product as the jvp of a vjp. For
    # g(theta) = sum(theta^4) / 4, H v = 3 theta^2 v.
    def gradient(theta):
        value, pullback = backend.vjp(
            lambda t: keras.ops.sum(t[0] ** 4) / 4.0, theta
        )
        return pullback(keras.ops.ones_like(value))[0]

    _, hessian_product = backend.compiled_function(
        lambda theta, vector: backend.jvp(gradient, theta, vector)
    )([b], [v_b])
    np.testing.assert_allclose(hessian_product, 3 * b**2 * v_b, rtol=1e-5)
