"""Backend code on tensors: the loop and the fused recurrence kernels.

Nothing here knows a layer or a cell: the functions take tensors, weights
and flags. The module of the running Keras backend (`jax.py`,
`tensorflow.py`, `torch.py`, whose fused LSTM lives in `torch_lstm.py`)
supplies what it does better than `common.py` and `linear.py`:

- `scan(step, states, xs, unroll=False, prepare=None)`: the loop that
  every recurrence and decoder of keras_recur runs.
- `matmul(x, y)` and `layer_normalization(x, gamma, beta, epsilon)`: the
  cells' products and norms, in their arguments' dtype.
- `compiled(fn)`: `fn` as one compiled kernel (XLA on TensorFlow).
- `widest_float()`: float64 where the backend has it, else float32.
- `no_gradient()`: a context in which no autograd graph is recorded, for
  inference (PyTorch's `no_grad`; the other backends record none eagerly).
- `max_and_argmax(x, axis)` and `take_along_axis(x, indices, axis)`: the
  decoders' per-step reductions and lookups (one ATen operation each on
  PyTorch, where `keras.ops` spends several).
- `linear_recurrence(a, b, initial, ...)` and
  `log_linear_recurrence(log_a, log_b, initial, ...)`: `h_t = a_t *
  h_{t-1} + b_t` over a whole sequence, real or complex, by a parallel or
  a sequential scan (`linear.py`; the sequential scans of TensorFlow and
  PyTorch have their backward pass written out).
- Fused kernels, `gru(...)` and `lstm(...)`: a whole sequence in one
  backend operation. A backend without one, or whose kernel cannot compute
  the configuration it is given, raises `NotImplementedError` with the
  reason, as Keras' own `backend.lstm`/`backend.gru` do; the caller then
  runs the general loop. A cell offers a kernel through its
  `fused_recurrence` method (see `keras_recur.layers.rnn.recurrence`).
"""

import contextlib
import functools
import importlib

import keras

from keras_recur.backend import common
from keras_recur.backend import linear


@functools.cache
def _backend_module(name):
    if name in ("tensorflow", "torch", "jax"):
        return importlib.import_module(f"keras_recur.backend.{name}")
    return common


def _current():
    return _backend_module(keras.backend.backend())


def scan(step, states, xs, unroll=False, prepare=None):
    """Runs `step(states, xs_t) -> (states, ys_t)` along the leading (time)
    axis of `xs`, a tensor or a nest of them.

    `states` is a list of tensors; `ys_t` a tuple of tensors collected at
    every step. Returns the final states and the tuple of `ys` stacked
    time-major. A compiled loop on TensorFlow and JAX; a Python loop on
    eager PyTorch (the least overhead there) and with `unroll`.

    `prepare`, if given, maps the inputs to what `step` takes, step by step
    (it must also compute every step at once, over the leading time axis):
    eager PyTorch, which pays per operation, applies it to the whole
    sequence before the loop; the compiled loops apply it in the step,
    which holds one step of what it makes at a time.
    """
    module = _current()
    if prepare is not None:
        if getattr(module, "PREPARE_WHOLE_SEQUENCE", False):
            xs = prepare(xs)
        else:
            step = functools.partial(_prepared_step, step, prepare)
    if unroll:
        return common.python_loop(step, states, xs)
    return module.scan(step, states, xs)


def _prepared_step(step, prepare, states, xs_t):
    return step(states, prepare(xs_t))


def matmul(x, y):
    """`x @ y` in the dtype of its arguments.

    `keras.ops.matmul` follows Keras' type rules, which take JAX's default
    of 32 bits: on PyTorch it computes a float64 product in float32, so a
    `dtype="float64"` layer would lose its precision at every step. The
    cells' products go through here instead. (JAX itself has no float64
    without `jax_enable_x64`.)
    """
    return getattr(_current(), "matmul", keras.ops.matmul)(x, y)


def layer_normalization(x, gamma, beta, epsilon):
    """`gamma * (x - mean) / sqrt(var + epsilon) + beta` over the last axis,
    in float32 at least and in float64 for float64 arguments (Keras' op,
    like `matmul`, computes float64 in float32 on PyTorch)."""
    return getattr(_current(), "layer_normalization", _keras_layer_norm)(
        x, gamma, beta, epsilon
    )


def _keras_layer_norm(x, gamma, beta, epsilon):
    return keras.ops.layer_normalization(x, gamma, beta, epsilon=epsilon)


def compiled(fn):
    """`fn` compiled as one kernel where the backend would run it an
    operation at a time: XLA on TensorFlow (traced for relaxed shapes, so
    new lengths do not retrace). Elsewhere `fn` itself: JAX compiles the
    whole step already, PyTorch runs eagerly."""
    return getattr(_current(), "compiled", lambda fn: fn)(fn)


def widest_float():
    """`"float64"` where the backend computes in it, else `"float32"`: JAX
    has no float64 unless `jax_enable_x64` is set (it would compute a
    float64 request in float32, with a warning)."""
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            return "float32"
    return "float64"


def no_gradient():
    """A context that records no autograd graph (for decoding)."""
    return getattr(_current(), "no_gradient", contextlib.nullcontext)()


def max_and_argmax(x, axis):
    """`ops.max(x, axis)` and `ops.argmax(x, axis)` (integers, of the
    backend's index dtype): the first index of the maximum where several
    are equal, on every backend."""
    return getattr(_current(), "max_and_argmax", _keras_max_and_argmax)(x, axis)


def _keras_max_and_argmax(x, axis):
    return keras.ops.max(x, axis=axis), keras.ops.argmax(x, axis=axis)


def take_along_axis(x, indices, axis):
    """`ops.take_along_axis` for indices known to be in range (it skips
    Keras' wrap of negative indices where that costs operations)."""
    return getattr(_current(), "take_along_axis", keras.ops.take_along_axis)(
        x, indices, axis
    )


def _fused_kernel(contract):
    """Makes the documented `contract` (a signature and a docstring) the
    dispatcher to the running backend's function of the same name, or to a
    `NotImplementedError` where that backend has none."""
    name = contract.__name__

    @functools.wraps(contract)
    def dispatch(*args, **kwargs):
        kernel = getattr(_current(), name, None)
        if kernel is None:
            raise NotImplementedError(
                f"the {keras.backend.backend()} backend has no fused {name}"
            )
        return kernel(*args, **kwargs)

    return dispatch


@_fused_kernel
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


@_fused_kernel
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


# `scan=` of the linear cells; "auto" is `auto_scan`'s choice.
SCAN_CHOICES = ("auto", "parallel", "sequential")


def auto_scan(inputs, complex_numbers=False):
    """The scan that `scan="auto"` runs for `inputs`, from the measurements
    of benchmarks/run.py (docs/benchmarks.md): on a CPU, `"sequential"`,
    the faster on every backend, except to train a complex recurrence (the
    LRU's) on PyTorch, where `"parallel"` is; on a GPU or TPU
    `"parallel"`, where the step loop launches kernels at every step and
    the parallel scan's O(log T) depth is the published case for these
    cells (not measured by this project yet: benchmarks/gpu.sh measures it
    where a GPU is lent)."""
    module = _current()
    on_accelerator = getattr(module, "on_accelerator", None)
    if on_accelerator is not None and on_accelerator(inputs):
        return "parallel"
    cpu_scan = getattr(module, "cpu_scan", None)
    return "sequential" if cpu_scan is None else cpu_scan(complex_numbers)


def linear_recurrence(
    a, b, initial, *, mask=None, scan="sequential", return_sequences=True
):
    """`h_t = a_t * h_{t-1} + b_t` along axis 1 of `a` and `b`.

    Args:
        a, b: (batch, time, units) tensors, or, for complex numbers, pairs
            `(real, imag)` of them; `a` may also be (units,), the same at
            every step (the LRU's eigenvalues).
        initial: `h_0`, (batch, units) (a pair for complex numbers).
        mask: (batch, time) bool, or None. A masked step carries `h`
            exactly (it becomes `a = 1, b = 0`).
        scan: `"parallel"` (an associative scan: depth O(log T), about 3x
            the work; needs a known number of steps) or `"sequential"` (a
            step loop, compiled by XLA on TensorFlow and JAX, whose backward
            pass is the reverse recurrence).
        return_sequences: Whether to return every `h_t` or only the last.
            Without the sequence, the sequential scan keeps none of it
            (its backward pass computes it again).

    Returns:
        Every `h_t`, (batch, time, units), or the last, (batch, units) (a
        pair for complex numbers), in the dtype of `b`. 16-bit floats are
        accumulated in float32.
    """
    dtype = keras.backend.standardize_dtype(linear.parts(b)[0].dtype)
    work = linear.compute_dtype(dtype)
    a, b, initial = (
        linear.map_parts(lambda p: keras.ops.cast(p, work), x)
        for x in (a, b, initial)
    )
    if mask is not None:
        a, b = linear.identity_where_masked(a, b, mask)
    sequential = getattr(_current(), "linear_scan", None)
    if scan == "parallel" or sequential is None:
        # (The backends' own loops read a constant `a` as it is.)
        a = linear.map_parts(
            lambda p, q: keras.ops.broadcast_to(p, keras.ops.shape(q)), a, b
        )
    if scan == "parallel":
        if linear.parts(b)[0].shape[1] is None:
            raise ValueError(
                "scan='parallel' needs a known number of timesteps (use "
                "scan='sequential' or 'auto' for sequences of any length). "
                f"Received: inputs with shape {tuple(linear.parts(b)[0].shape)}"
            )
        _, h = linear.parallel_scan(a, linear.with_initial_state(a, b, initial))
        if not return_sequences:
            h = linear.map_parts(lambda p: p[:, -1], h)
    elif scan == "sequential":
        h = (sequential or linear.sequential_scan)(
            a, b, initial, return_sequences
        )
    else:
        raise ValueError(
            "`scan` must be 'parallel' or 'sequential'. "
            f"Received: scan={scan!r}"
        )
    return linear.map_parts(lambda p: keras.ops.cast(p, dtype), h)


# exp(_LOG_ZERO) is exactly 0 in float32 and float64: the log of a zero
# state, or of a masked step's b, without an infinity whose gradient is NaN.
_LOG_ZERO = -1e30


def log_linear_recurrence(
    log_a, log_b, initial, *, mask=None, scan="parallel", return_sequences=True
):
    """`linear_recurrence` of positive `h` given `log a` and `log b`
    (Heinsen 2023; the minGRU paper's Appendix B).

    The parallel scan runs in log space, `log h_t = a*_t +
    logcumsumexp(log b - a*)_t` with `a* = cumsum(log a)`, which neither
    overflows nor underflows over long sequences; the sequential scan runs
    the linear recurrence of `exp(log a)`, `exp(log b)`. `initial` (the
    state, not its log) must be >= 0, as every state in log space is.
    Arguments and returns otherwise as `linear_recurrence`.
    """
    if scan != "parallel":
        return linear_recurrence(
            keras.ops.exp(log_a),
            keras.ops.exp(log_b),
            initial,
            mask=mask,
            scan=scan,
            return_sequences=return_sequences,
        )
    dtype = keras.backend.standardize_dtype(log_b.dtype)
    work = linear.compute_dtype(dtype)
    log_a, log_b, initial = (
        keras.ops.cast(x, work) for x in (log_a, log_b, initial)
    )
    if mask is not None:
        keep = keras.ops.expand_dims(mask, -1)
        log_a = keras.ops.where(keep, log_a, 0.0)
        log_b = keras.ops.where(keep, log_b, _LOG_ZERO)
    # The log of a zero state is _LOG_ZERO (the `where` keeps log(0) out of
    # the gradient); a negative state has no log, and its h is NaN (added
    # at the end: TensorFlow's cumulative_logsumexp turns NaN into -inf).
    positive = initial > 0
    log_h0 = keras.ops.where(
        positive,
        keras.ops.log(keras.ops.where(positive, initial, 1.0)),
        _LOG_ZERO,
    )
    no_log = keras.ops.where(initial < 0, float("nan"), 0.0)
    log_b = keras.ops.concatenate([keras.ops.expand_dims(log_h0, 1), log_b], 1)
    log_a = keras.ops.pad(log_a, ((0, 0), (1, 0), (0, 0)))
    a_star = keras.ops.cumsum(log_a, axis=1)
    log_h = a_star + _current().logcumsumexp(log_b - a_star, 1)
    log_h = log_h[:, 1:] + keras.ops.expand_dims(no_log, 1)
    if not return_sequences:
        log_h = log_h[:, -1]
    return keras.ops.cast(keras.ops.exp(log_h), dtype)
