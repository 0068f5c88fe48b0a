"""Backend code on tensors: the loop, the linear recurrences and the fused
recurrence kernels. Nothing here knows a layer or a cell: the functions
take tensors, weights and flags.

This module only dispatches: each function below calls the function of the
same name in the module of the running Keras backend, `tensorflow.py`,
`jax.py` or `torch.py` (whose fused LSTM lives in `torch_lstm.py`), or
`common.py` (`keras.ops`) for any other Keras backend. Every one of those
modules defines every name of `INTERFACE`, reusing `common.py`'s where it
has nothing better (tests/backend/test_interface.py checks it); a backend
that cannot do one raises `NotImplementedError` naming the backend and the
reason, as Keras' own `backend.lstm` does:

- `scan(step, states, xs, prepare=None)`: the loop that every recurrence
  and decoder of keras_recur runs (below). In this package "scan" means
  this loop; the cells' public `scan=` argument names how a linear
  recurrence runs.
- `compiled(method)`: an object's method as one compiled kernel, made
  once per object, where the backend would run it an operation at a time
  (XLA on TensorFlow), else `method`.
- `matmul(x, y)` and `layer_normalization(x, gamma, beta, epsilon)`: the
  cells' products and norms, in their arguments' dtype.
- `widest_float()`: float64 where the backend computes in it, else
  float32.
- `no_gradient()`: a context in which no autograd graph is recorded.
- `max_and_argmax(x, axis)` and `take_along_axis(x, indices, axis)`: the
  decoders' per-step reductions and lookups.
- `custom_gradient(fn)`: `fn(*tensors) -> (output, grad(upstream))` with
  its gradient, whatever the backend's calling convention.
- `jvp(function, primals, tangents)` and `vjp(function, primals)`: a
  function's forward-mode and reverse-mode derivatives (Jacobian-vector
  and vector-Jacobian products), nestable in each other (a Hessian-vector
  product is a `jvp` of a `vjp`): what second-order training builds on.
- `compiled_function(function)`: a function of tensors compiled as one
  program where the backend compiles whole programs.
- `sequential_linear_recurrence(a, b, initial, return_sequences)`: `h_t =
  a_t * h_{t-1} + b_t` as a step loop with its gradient (`linear.py` holds
  the loop and its backward pass once; the backend wires them).
- `logcumsumexp(x, axis)`: for the log-space parallel scan.
- `on_accelerator(x)` and `cpu_scan(complex_numbers)`: what `scan="auto"`
  picks (`linear.auto_scan`).
- `gru(...)` and `lstm(...)`: fused kernels, a whole sequence in one
  backend operation (below), offered to the engine through a cell's
  `fused_recurrence` (`keras_recur.layers.rnn.recurrence`).

`linear_recurrence`, `log_linear_recurrence`, `auto_scan` and
`SCAN_CHOICES` are `linear.py`'s, built on the above; `pairs.py` holds
complex numbers as pairs of real tensors; `torch_lstm.py` the fused LSTM
of `torch.py`.
"""

import functools
import importlib

import keras

from keras_recur.backend import common

# The names every backend module defines.
INTERFACE = (
    "scan",
    "compiled",
    "matmul",
    "layer_normalization",
    "widest_float",
    "no_gradient",
    "max_and_argmax",
    "take_along_axis",
    "custom_gradient",
    "jvp",
    "vjp",
    "compiled_function",
    "sequential_linear_recurrence",
    "logcumsumexp",
    "on_accelerator",
    "cpu_scan",
    "gru",
    "lstm",
)
BACKEND_MODULES = ("tensorflow", "jax", "torch")


@functools.cache
def backend_module(name):
    """The module of Keras backend `name`: its own, or `common`."""
    if name in BACKEND_MODULES:
        return importlib.import_module(f"keras_recur.backend.{name}")
    return common


# The running backend's module, by name: a plain dict, which torch.compile
# reads (it cannot trace into functools.cache, and would break the graph
# at every dispatch).
_LOADED = {}


def _current():
    name = keras.backend.backend()
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = backend_module(name)
    return module


def scan(step, states, xs, unroll=False, prepare=None):
    """Runs `step(states, xs_t) -> (states, ys_t)` along the leading (time)
    axis of `xs`, a tensor or a nest of them.

    `states` is a nest of tensors (a list, or a dict naming what the loop
    carries), which `step` returns in the same structure; `ys_t` a tuple
    of tensors collected at every step. Returns the final states and the
    tuple of `ys` stacked time-major. A compiled loop on TensorFlow and
    JAX; a Python loop on eager PyTorch (the least overhead there) and with
    `unroll`.

    `prepare`, if given, maps the inputs to what `step` takes, step by step
    (it must also compute every step at once, over the leading time axis):
    eager PyTorch, which pays per operation, applies it to the whole
    sequence before the loop; the compiled loops apply it in the step,
    which holds one step of what it makes at a time.
    """
    if unroll:
        return common.python_loop(step, states, xs, prepare)
    return _current().scan(step, states, xs, prepare)


def compiled(method):
    """`method`, bound to an object (a cell), compiled as one kernel where
    the backend would run it an operation at a time: XLA on TensorFlow
    (traced for relaxed shapes, so new lengths do not retrace; made once
    per object and kept while it lives). Elsewhere `method` itself: JAX
    compiles whatever calls it, PyTorch runs eagerly."""
    return _current().compiled(method)


def matmul(x, y):
    """`x @ y` in the dtype of its arguments.

    `keras.ops.matmul` follows Keras' type rules, which take JAX's default
    of 32 bits: on PyTorch it computes a float64 product in float32, so a
    `dtype="float64"` layer would lose its precision at every step. The
    cells' products go through here instead. (JAX itself has no float64
    without `jax_enable_x64`.)
    """
    return _current().matmul(x, y)


def layer_normalization(x, gamma, beta, epsilon):
    """`gamma * (x - mean) / sqrt(var + epsilon) + beta` over the last axis,
    in float32 at least and in float64 for float64 arguments (Keras' op,
    like `matmul`, computes float64 in float32 on PyTorch)."""
    return _current().layer_normalization(x, gamma, beta, epsilon)


def widest_float():
    """`"float64"` where the backend computes in it, else `"float32"`: JAX
    has no float64 unless `jax_enable_x64` is set (it would compute a
    float64 request in float32, with a warning)."""
    return _current().widest_float()


def no_gradient():
    """A context that records no autograd graph (for decoding): PyTorch's
    `no_grad`; the other backends record none eagerly."""
    return _current().no_gradient()


def max_and_argmax(x, axis):
    """`ops.max(x, axis)` and `ops.argmax(x, axis)` (integers, of the
    backend's index dtype): the first index of the maximum where several
    are equal, on every backend."""
    return _current().max_and_argmax(x, axis)


def take_along_axis(x, indices, axis):
    """`ops.take_along_axis` for indices known to be in range (it skips
    Keras' wrap of negative indices where that costs operations)."""
    return _current().take_along_axis(x, indices, axis)


def custom_gradient(fn):
    """Decorates `fn(*tensors) -> (output, grad)`, where `grad(upstream)`
    returns the gradient of each input: `keras.ops.custom_gradient` with
    one calling convention on every backend (Keras' PyTorch version passes
    the inputs and `upstream=`, the others the upstream gradient alone)."""
    return _current().custom_gradient(fn)


def jvp(function, primals, tangents):
    """The Jacobian-vector product of `function` at `primals`.

    `function(primals)` takes a list of tensors and returns a tensor or a
    tuple of them; `tangents` is a list shaped as `primals`. Returns
    `(function(primals), J @ tangents)`, the second shaped as the first.
    (JAX's `jax.jvp`, PyTorch's `torch.func.jvp`, TensorFlow's
    `ForwardAccumulator`.)
    """
    return _current().jvp(function, primals, tangents)


def vjp(function, primals):
    """The vector-Jacobian product of `function` at `primals`.

    Returns `(function(primals), pullback)`, where `pullback(cotangents)`,
    the cotangents shaped as the outputs, returns the list `cotangents @ J`
    shaped as `primals`; it may be called several times. (JAX's `jax.vjp`,
    PyTorch's `torch.func.vjp`, TensorFlow's `GradientTape`.)
    """
    return _current().vjp(function, primals)


def compiled_function(function):
    """`function`, a function of tensors, compiled as one program where the
    backend compiles whole programs (`jax.jit`; `tf.function`, retraced for
    new shapes); on PyTorch `function` itself, run eagerly. For loops that
    run eagerly in Python around a costly function of tensors (a
    second-order optimiser's products)."""
    return _current().compiled_function(function)


def sequential_linear_recurrence(a, b, initial, return_sequences=True):
    """`h_t = a_t * h_{t-1} + b_t` as a step loop, with its gradient: the
    reverse recurrence where the backend can write it, else its autodiff.
    Arguments as `linear_recurrence`'s, already in their compute dtype and
    with masked steps made the identity; `a` may be (units,)."""
    return _current().sequential_linear_recurrence(
        a, b, initial, return_sequences
    )


def logcumsumexp(x, axis):
    """`log(cumsum(exp(x)))` along `axis`, stably."""
    return _current().logcumsumexp(x, axis)


def on_accelerator(x):
    """Whether `x` is computed on a GPU or TPU."""
    return _current().on_accelerator(x)


def cpu_scan(complex_numbers):
    """The faster of `"sequential"` and `"parallel"` on this backend's CPU
    for a real or complex recurrence (measured, docs/benchmarks.md)."""
    return _current().cpu_scan(complex_numbers)


def gru(
    inputs,
    initial_h,
    kernel,
    recurrent_kernel,
    bias,
    *,
    mask,
    recurrent_mask,
    reset_after,
    activation,
    recurrent_activation,
):
    """The GRU of `keras.layers.GRUCell` over a whole sequence.

    Args:
        inputs: (batch, time, features), dropout already applied.
        initial_h: (batch, units).
        kernel, recurrent_kernel, bias: the weights in Keras' layout
            (gate blocks `[z, r, h]`; bias (2, 3 * units) with
            `reset_after`, else (3 * units,); None without bias).
        mask: (batch, time) bool, or None. A masked step keeps `h`.
        recurrent_mask: (batch, units) dropout multiplier of `h_{t-1}`, or
            None.
        reset_after: Keras' `reset_after`.
        activation, recurrent_activation: the cell's activations.

    Returns:
        `(outputs (batch, time, units), [h_last])`.

    Raises:
        NotImplementedError: with the reason, where the backend has no such
            kernel or it does not compute this configuration.
    """
    return _current().gru(
        inputs,
        initial_h,
        kernel,
        recurrent_kernel,
        bias,
        mask=mask,
        recurrent_mask=recurrent_mask,
        reset_after=reset_after,
        activation=activation,
        recurrent_activation=recurrent_activation,
    )


def lstm(
    inputs,
    initial_h,
    initial_c,
    kernel,
    recurrent_kernel,
    bias,
    *,
    peepholes,
    coupled_input_gate,
    mask,
    recurrent_mask,
    activation,
    recurrent_activation,
):
    """The LSTM family over a whole sequence: the LSTM, the peephole LSTM
    (Gers et al. 2002) and the coupled input-forget gate LSTM (CIFG).

    Args:
        inputs: (batch, time, features), dropout already applied.
        initial_h, initial_c: (batch, units).
        kernel, recurrent_kernel, bias: gate blocks `[i, f, c, o]`, or
            `[f, c, o]` with `coupled_input_gate` (`i = 1 - f`); bias None
            without bias.
        peepholes: dict from gate name (`"input"`, `"forget"`, `"output"`)
            to its diagonal peephole weights (units,); the input and forget
            gates look at `c_{t-1}`, the output gate at `c_t`.
        coupled_input_gate: whether `i = 1 - f`.
        mask: (batch, time) bool, or None. A masked step keeps `h` and `c`.
        recurrent_mask: (batch, units) dropout multiplier of `h_{t-1}`, or
            None.
        activation, recurrent_activation: the cell's activations.

    Returns:
        `(outputs (batch, time, units), [h_last, c_last])`.

    Raises:
        NotImplementedError: with the reason, where the backend has no such
            kernel or it does not compute this configuration.
    """
    return _current().lstm(
        inputs,
        initial_h,
        initial_c,
        kernel,
        recurrent_kernel,
        bias,
        peepholes=peepholes,
        coupled_input_gate=coupled_input_gate,
        mask=mask,
        recurrent_mask=recurrent_mask,
        activation=activation,
        recurrent_activation=recurrent_activation,
    )


# Built on the interface above (imported last: linear.py calls it).
from keras_recur.backend import linear  # noqa: E402

SCAN_CHOICES = linear.SCAN_CHOICES
auto_scan = linear.auto_scan
linear_recurrence = linear.linear_recurrence
log_linear_recurrence = linear.log_linear_recurrence
