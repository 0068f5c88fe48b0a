"""`keras_recur.backend.linear_recurrence` and its log-space form against a
NumPy step loop and central finite differences: both scans, real and
complex, masks, initial states, dtypes."""

import keras
import numpy as np
import pytest

import keras_recur
from keras_recur import backend
from tests.testing import BACKEND
from tests.testing import gradients_and_outputs
from tests.testing import numeric_gradient
from tests.testing import to_numpy

SCANS = ["parallel", "sequential"]
BATCH, STEPS, UNITS = 2, 7, 3
# Holes, a row that starts masked and one that ends masked.
MASK = np.array([[1, 1, 0, 1, 0, 1, 1], [0, 0, 1, 1, 1, 0, 0]], bool)


def numpy_loop(a, b, h0, mask=None):
    """h_t = a_t h_{t-1} + b_t, step by step (complex numbers as numbers);
    a masked step keeps h."""
    h, outputs = h0, []
    for t in range(a.shape[1]):
        new = a[:, t] * h + b[:, t]
        h = new if mask is None else np.where(mask[:, t, None], new, h)
        outputs.append(h)
    return np.stack(outputs, 1)


def problem(rng, complex_numbers, steps=STEPS):
    """Coefficients with |a| < 1 and their complex phases, as NumPy."""
    shape = (BATCH, steps, UNITS)
    a = rng.uniform(0.3, 1.0, shape)
    b = rng.normal(size=shape)
    h0 = rng.normal(size=(BATCH, UNITS))
    if complex_numbers:
        a = a * np.exp(1j * rng.uniform(0, 2 * np.pi, shape))
        b = b + 1j * rng.normal(size=shape)
        h0 = h0 + 1j * rng.normal(size=(BATCH, UNITS))
    return a, b, h0


def as_parts(x, dtype="float32"):
    """A complex array as the (real, imag) pair the backend takes."""
    if np.iscomplexobj(x):
        return (x.real.astype(dtype), x.imag.astype(dtype))
    return x.astype(dtype)


def as_complex(h):
    if isinstance(h, (tuple, list)):
        return to_numpy(h[0]) + 1j * to_numpy(h[1])
    return to_numpy(h)


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("complex_numbers", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_equals_the_step_loop(scan, complex_numbers, masked):
    rng = np.random.default_rng(0)
    a, b, h0 = problem(rng, complex_numbers)
    mask = MASK if masked else None
    got = backend.linear_recurrence(
        as_parts(a), as_parts(b), as_parts(h0), mask=mask, scan=scan
    )
    np.testing.assert_allclose(
        as_complex(got), numpy_loop(a, b, h0, mask), atol=1e-5
    )


@pytest.mark.parametrize("steps", [1, 2, 3, 8, 13])
def test_the_parallel_scan_on_every_length(steps):
    # The odd/even recursion on even, odd and power-of-two lengths.
    a, b, h0 = problem(np.random.default_rng(steps), False, steps)
    got = backend.linear_recurrence(
        as_parts(a), as_parts(b), as_parts(h0), scan="parallel"
    )
    np.testing.assert_allclose(to_numpy(got), numpy_loop(a, b, h0), atol=1e-5)


# Every step's output through a mask; the last output alone (whose reverse
# recurrence starts from its gradient); a constant `a` (the LRU's), unmasked,
# which the sequential scans read as it is.
GRADIENT_CASES = ["every step, masked", "last step, masked", "last, constant a"]


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("complex_numbers", [False, True])
@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_gradients_match_finite_differences(scan, complex_numbers, case):
    # Of a, b and h0: the backward passes written out for TensorFlow, JAX
    # and PyTorch, and autodiff of the parallel scan.
    rng = np.random.default_rng(1)
    a, b, h0 = problem(rng, complex_numbers, steps=5)
    constant = case == "last, constant a"
    every_step = case == "every step, masked"
    if constant:
        a = a[0, 0]
    mask = None if constant else MASK[:, :5]
    readout = rng.normal(size=(BATCH, 5, UNITS))
    if complex_numbers:
        readout = readout + 1j * rng.normal(size=readout.shape)
    if not every_step:
        readout[:, :-1] = 0.0

    def real_parts(x):
        return [x.real, x.imag] if complex_numbers else [x]

    def join(values):
        if complex_numbers:
            return [values[i] + 1j * values[i + 1] for i in (0, 2, 4)]
        return values

    def reference_loss(values):
        a, b, h0 = join(values)
        h = numpy_loop(np.broadcast_to(a, b.shape), b, h0, mask)
        return float(np.sum((h * np.conj(readout)).real))

    values = [p for x in (a, b, h0) for p in real_parts(x)]
    variables = [keras.Variable(v.astype("float32")) for v in values]

    def loss_and_outputs():
        pairs = [
            tuple(variables[i : i + 2]) if complex_numbers else variables[i]
            for i in range(0, len(variables), 2 if complex_numbers else 1)
        ]
        h = backend.linear_recurrence(
            *pairs, mask=mask, scan=scan, return_sequences=every_step
        )
        loss = 0.0
        for part, weight in zip(
            h if complex_numbers else [h], real_parts(readout)
        ):
            if not every_step:
                weight = weight[:, -1]
            weight = keras.ops.convert_to_tensor(weight, "float32")
            loss = loss + keras.ops.sum(part * weight)
        return loss, ()

    grads, _ = gradients_and_outputs(loss_and_outputs, variables)
    for index, got in enumerate(grads):
        want = numeric_gradient(reference_loss, values, index)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=str(index))


@pytest.mark.skipif(BACKEND == "jax", reason="JAX has no float64 by default")
@pytest.mark.parametrize("scan", SCANS)
def test_float64_is_computed_in_float64(scan):
    # Keras' own associative scan computes float64 in float32 on PyTorch.
    a, b, h0 = problem(np.random.default_rng(2), True)
    got = backend.linear_recurrence(
        as_parts(a, "float64"),
        as_parts(b, "float64"),
        as_parts(h0, "float64"),
        mask=MASK,
        scan=scan,
    )
    assert keras.backend.standardize_dtype(got[0].dtype) == "float64"
    np.testing.assert_allclose(
        as_complex(got), numpy_loop(a, b, h0, MASK), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_floats_are_accumulated_in_float32(scan, dtype):
    # 200 steps of a slow decay: a 16-bit accumulator would drift by far
    # more than the inputs' own rounding.
    rng = np.random.default_rng(3)
    a = np.full((BATCH, 200, UNITS), 0.99)
    b = rng.normal(0.0, 0.1, a.shape)
    h0 = np.zeros((BATCH, UNITS))
    rounded = [
        to_numpy(
            keras.ops.cast(keras.ops.convert_to_tensor(x, dtype), "float32")
        )
        for x in (a, b)
    ]
    got = backend.linear_recurrence(
        *(keras.ops.convert_to_tensor(x, dtype) for x in (a, b)),
        keras.ops.convert_to_tensor(h0, dtype),
        scan=scan,
    )
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    want = numpy_loop(*rounded, h0)
    # One rounding of the result to 16 bits (bfloat16: 8 bits of mantissa).
    tolerance = 0.01 if dtype == "bfloat16" else 2e-3
    np.testing.assert_allclose(
        to_numpy(keras.ops.cast(got, "float32")), want, atol=tolerance
    )


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("start", ["zero", "positive"])
def test_log_space_equals_the_step_loop(scan, start):
    rng = np.random.default_rng(4)
    a, b, h0 = problem(rng, False)
    b = np.abs(b)
    h0 = np.zeros_like(h0) if start == "zero" else np.abs(h0)
    got = backend.log_linear_recurrence(
        as_parts(np.log(a)),
        as_parts(np.log(b)),
        as_parts(h0),
        mask=MASK,
        scan=scan,
    )
    np.testing.assert_allclose(
        to_numpy(got), numpy_loop(a, b, h0, MASK), rtol=1e-5, atol=1e-6
    )


def test_log_space_neither_overflows_nor_underflows_over_long_sequences():
    # a* = cumsum(log a) reaches -1400 over 2,000 steps: exp(a*) is 0 in
    # float32, and 1 / exp(a*) infinite; the log-space scan never forms them.
    steps = 2000
    a = np.full((1, steps, 1), 0.5)
    b = np.full((1, steps, 1), 0.5)
    got = backend.log_linear_recurrence(
        as_parts(np.log(a)),
        as_parts(np.log(b)),
        np.ones((1, 1), "float32"),
        scan="parallel",
    )
    # h = 0.5 h + 0.5 from h0 = 1 stays 1 (within float32's resolution of
    # a* near -1000: 6e-5).
    np.testing.assert_allclose(to_numpy(got), np.ones_like(a), rtol=1e-3)


def test_a_negative_initial_state_in_log_space_is_nan_not_clipped():
    got = backend.log_linear_recurrence(
        np.zeros((1, 2, 1), "float32"),
        np.zeros((1, 2, 1), "float32"),
        -np.ones((1, 1), "float32"),
        scan="parallel",
    )
    assert np.all(np.isnan(to_numpy(got)))


def test_the_scan_is_named():
    x = np.zeros((1, 2, 1), "float32")
    with pytest.raises(ValueError, match="scan='fast'"):
        backend.linear_recurrence(x, x, x[:, 0], scan="fast")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a graph of any length")
def test_the_parallel_scan_needs_a_known_length():
    import tensorflow as tf

    x = tf.TensorSpec((1, None, 1), "float32")

    @tf.function(input_signature=[x])
    def parallel(x):
        return backend.linear_recurrence(x, x, x[:, 0], scan="parallel")

    with pytest.raises(ValueError, match=r"scan='parallel'.*\(1, None, 1\)"):
        parallel.get_concrete_function()

    # A layer names its own inputs' shape (features 3), not its states'.
    layer = keras_recur.MinGRU(5, scan="parallel")
    layer.build((1, None, 3))
    traced = tf.function(layer, input_signature=[tf.TensorSpec((1, None, 3))])
    with pytest.raises(ValueError, match=r"inputs with shape \(1, None, 3\)"):
        traced.get_concrete_function()

    @tf.function(input_signature=[x])
    def sequential(x):
        return backend.linear_recurrence(x, x, x[:, 0], scan="sequential")

    ones = np.ones((1, 3, 1), "float32")
    np.testing.assert_allclose(
        sequential(ones).numpy()[0, :, 0], [2.0, 3.0, 4.0]
    )


def test_auto_is_the_measured_choice_on_a_cpu():
    # docs/benchmarks.md: the step loop, real or complex, on every backend.
    x = np.zeros((1, 2, 1), "float32")
    assert backend.auto_scan(x) == "sequential"
    assert backend.auto_scan(x, complex_numbers=True) == "sequential"
