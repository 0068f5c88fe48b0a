"""The diagonal linear recurrence `h_t = a_t * h_{t-1} + b_t`, real or
complex (`pairs.py`), over a whole sequence: by a parallel (associative)
scan in `keras.ops`, or by a sequential loop that each backend module runs
as its `sequential_linear_recurrence`.

The step loop and its backward pass are written once here, against
`LoopOps`, the few primitives a backend's loop needs (its bounded loop, and
reading and writing one step of a batch-major sequence): TensorFlow, JAX
and PyTorch each supply those and wire the two together with their own
gradient mechanism. A new diagonal recurrence (a constant or per-step
coefficient, real or complex) calls `linear_recurrence` and needs no
gradient code.
"""

from collections.abc import Callable
from typing import NamedTuple

import keras
from keras import ops

from keras_recur import backend
from keras_recur.backend.pairs import add
from keras_recur.backend.pairs import conjugate
from keras_recur.backend.pairs import like
from keras_recur.backend.pairs import map_parts
from keras_recur.backend.pairs import multiply
from keras_recur.backend.pairs import parts

# The cells' public `scan=` argument; "auto" is `auto_scan`'s choice.
SCAN_CHOICES = ("auto", "parallel", "sequential")


def auto_scan(inputs, complex_numbers=False):
    """The scan that `scan="auto"` runs for `inputs`, from the measurements
    of benchmarks/run.py (docs/benchmarks.md): on a CPU, the backend's
    `cpu_scan` (`"sequential"`, the faster on every backend, except to
    train a complex recurrence, the LRU's, on PyTorch, where `"parallel"`
    is); on a GPU or TPU `"parallel"`, where the step loop launches kernels
    at every step and the parallel scan's O(log T) depth is the published
    case for these cells (benchmarks/gpu.sh measures it where a GPU is
    lent)."""
    if backend.on_accelerator(inputs):
        return "parallel"
    return backend.cpu_scan(complex_numbers)


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
            Without the sequence, the sequential loop keeps none of it
            (its backward pass computes it again).

    Returns:
        Every `h_t`, (batch, time, units), or the last, (batch, units) (a
        pair for complex numbers), in the dtype of `b`. 16-bit floats are
        accumulated in float32.
    """
    if scan not in ("parallel", "sequential"):
        raise ValueError(
            "`scan` must be 'parallel' or 'sequential'. "
            f"Received: scan={scan!r}"
        )
    dtype = keras.backend.standardize_dtype(parts(b)[0].dtype)
    work = compute_dtype(dtype)
    a, b, initial = (
        map_parts(lambda p: ops.cast(p, work), x) for x in (a, b, initial)
    )
    if mask is not None:
        a, b = identity_where_masked(a, b, mask)
    if scan == "parallel":
        require_known_steps(parts(b)[0], "b")
        a = map_parts(lambda p, q: ops.broadcast_to(p, ops.shape(q)), a, b)
        _, h = parallel_recurrence(a, with_initial_state(a, b, initial))
        if not return_sequences:
            h = map_parts(lambda p: p[:, -1], h)
    else:
        h = backend.sequential_linear_recurrence(
            a, b, initial, return_sequences
        )
    return map_parts(lambda p: ops.cast(p, dtype), h)


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
    overflows nor underflows over long sequences; the sequential loop runs
    the linear recurrence of `exp(log a)`, `exp(log b)`. `initial` (the
    state, not its log) must be >= 0, as every state in log space is.
    Arguments and returns otherwise as `linear_recurrence`.
    """
    if scan != "parallel":
        return linear_recurrence(
            ops.exp(log_a),
            ops.exp(log_b),
            initial,
            mask=mask,
            scan=scan,
            return_sequences=return_sequences,
        )
    dtype = keras.backend.standardize_dtype(log_b.dtype)
    work = compute_dtype(dtype)
    log_a, log_b, initial = (ops.cast(x, work) for x in (log_a, log_b, initial))
    if mask is not None:
        keep = ops.expand_dims(mask, -1)
        log_a = ops.where(keep, log_a, 0.0)
        log_b = ops.where(keep, log_b, _LOG_ZERO)
    # The log of a zero state is _LOG_ZERO (the `where` keeps log(0) out of
    # the gradient); a negative state has no log, and its h is NaN (added
    # at the end: TensorFlow's cumulative_logsumexp turns NaN into -inf).
    positive = initial > 0
    log_h0 = ops.where(
        positive, ops.log(ops.where(positive, initial, 1.0)), _LOG_ZERO
    )
    no_log = ops.where(initial < 0, float("nan"), 0.0)
    log_b = ops.concatenate([ops.expand_dims(log_h0, 1), log_b], 1)
    log_a = ops.pad(log_a, ((0, 0), (1, 0), (0, 0)))
    a_star = ops.cumsum(log_a, axis=1)
    log_h = a_star + backend.logcumsumexp(log_b - a_star, 1)
    log_h = log_h[:, 1:] + ops.expand_dims(no_log, 1)
    if not return_sequences:
        log_h = log_h[:, -1]
    return ops.cast(ops.exp(log_h), dtype)


def require_known_steps(sequence, name):
    """Refuses, for `scan="parallel"`, a (batch, time, ...) `sequence`
    whose number of steps is unknown (a graph traced for sequences of any
    length), naming it `name` in the message."""
    if sequence.shape[1] is None:
        raise ValueError(
            "scan='parallel' needs a known number of timesteps (use "
            "scan='sequential' or 'auto' for sequences of any length). "
            f"Received: {name} with shape {tuple(sequence.shape)}"
        )


def compute_dtype(dtype):
    """The dtype a recurrence accumulates in: float32 for 16-bit floats
    (mixed precision), else the inputs' own."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def identity_where_masked(a, b, mask):
    """A masked step (mask False) becomes the identity `(a, b) = (1, 0)`:
    it carries `h` exactly. `mask` is (batch, time) bool; a constant `a`,
    (units,), is broadcast to every step."""
    keep = ops.expand_dims(mask, -1)
    ones = [1.0] + [0.0] * (len(parts(a)) - 1)
    a = like(a, [ops.where(keep, p, one) for p, one in zip(parts(a), ones)])
    return a, map_parts(lambda p: ops.where(keep, p, 0.0), b)


def with_initial_state(a, b, initial):
    """Folds `h_0` into the first step: `b_1 <- a_1 * h_0 + b_1`."""
    first = add(
        multiply(map_parts(lambda p: p[:, 0], a), initial),
        map_parts(lambda p: p[:, 0], b),
    )
    return map_parts(
        lambda p, f: ops.concatenate([ops.expand_dims(f, 1), p[:, 1:]], 1),
        b,
        first,
    )


# The parallel scan.


def _combine(earlier, later):
    """The scan's associative operator on `(a, b)` pairs:
    `(a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2)`."""
    (a1, b1), (a2, b2) = earlier, later
    return multiply(a2, a1), add(multiply(a2, b1), b2)


def _slice(x, start, stop=None, step=1):
    return map_parts(lambda p: p[:, start:stop:step], x)


def _interleave(evens, odds):
    """`e0, o0, e1, o1, ...` along axis 1 (len(evens) - len(odds) is 0
    or 1)."""

    def merge(even, odd):
        count = odd.shape[1]
        paired = ops.stack([even[:, :count], odd], axis=2)
        shape = ops.shape(paired)
        merged = ops.reshape(paired, (shape[0], 2 * count, *shape[3:]))
        if even.shape[1] > count:
            merged = ops.concatenate([merged, even[:, count:]], axis=1)
        return merged

    return map_parts(merge, evens, odds)


def parallel_recurrence(a, b):
    """Every prefix of `(a_1, b_1) . ... . (a_t, b_t)` along axis 1, with
    the work-efficient odd/even recursion of `jax.lax.associative_scan`
    (depth 2 log2 T, work about 3 T).

    Written on `keras.ops` rather than calling `keras.ops.associative_scan`
    because that fails inside a TensorFlow graph ("as_list() is not
    defined on an unknown TensorShape", Keras 3.15) and computes in float32
    whatever the dtype on PyTorch (it builds its buffers with
    `torch.zeros(shape)`). Needs a known number of steps.
    """
    steps = parts(a)[0].shape[1]
    if steps < 2:
        return a, b
    pairs = _combine(
        (_slice(a, 0, -1, 2), _slice(b, 0, -1, 2)),
        (_slice(a, 1, None, 2), _slice(b, 1, None, 2)),
    )
    # Prefixes ending at the odd steps 1, 3, 5, ... (0-based).
    odd_a, odd_b = parallel_recurrence(*pairs)
    # An even step t >= 2 is the odd prefix before it, then step t.
    later_a, later_b = _combine(
        (
            _slice(odd_a, 0, (steps - 1) // 2),
            _slice(odd_b, 0, (steps - 1) // 2),
        ),
        (_slice(a, 2, None, 2), _slice(b, 2, None, 2)),
    )
    # Step 0 is its own prefix.
    even_a, even_b = (
        map_parts(
            lambda first, rest: ops.concatenate([first[:, :1], rest], 1),
            x,
            later,
        )
        for x, later in ((a, later_a), (b, later_b))
    )
    return _interleave(even_a, odd_a), _interleave(even_b, odd_b)


# The sequential loop.


def autodiff_recurrence(a, b, initial, return_sequences=True):
    """`h_t = a_t * h_{t-1} + b_t` as `keras.ops.scan`, differentiated by
    the backend's autodiff: every `h_t`, or the last. For a backend with no
    loop of its own (`common.py`)."""
    a = map_parts(lambda p, q: ops.broadcast_to(p, ops.shape(q)), a, b)

    def time_major(x):
        return map_parts(lambda p: ops.moveaxis(p, 1, 0), x)

    def step(h, coefficients):
        a_t, b_t = coefficients
        h = add(multiply(a_t, h), b_t)
        return h, h

    last, hs = ops.scan(step, initial, (time_major(a), time_major(b)))
    if not return_sequences:
        return last
    return map_parts(lambda p: ops.moveaxis(p, 0, 1), hs)


class LoopOps(NamedTuple):
    """A backend's primitives for `stepped_recurrence`, on batch-major
    (batch, time, ...) tensors."""

    # fori_loop(lower, upper, body, carry): `body(i, carry)` for i in
    # [lower, upper), bounded (XLA needs the bound).
    fori_loop: Callable
    # steps(x): the length of axis 1, static or traced.
    steps: Callable
    # read(x, t): step t of x.
    read: Callable
    # buffer(like, steps): room for `steps` steps of tensors like `like`.
    buffer: Callable
    # write(buffer, t, value) -> buffer: step t set to value.
    write: Callable
    # stacked(buffer): the buffer as a (batch, time, ...) tensor.
    stacked: Callable


def stepped_recurrence(
    loop, coefficient, b, initial, reverse=False, collect=True, steps=None
):
    """`h_t = coefficient(t) * h_{t-1} + b[:, t]` along axis 1 (from the
    last step with `reverse`, `h_{t+1}` then being the one before), of real
    tensors or pairs, run by `loop` (a `LoopOps`): every `h_t`,
    batch-major, or with `collect=False` only the last computed. With
    `b=None` (and `steps` given) there is no input and the first step's
    `h` is `initial` itself: the reverse recurrence of a gradient that
    reaches the last step alone, with no sequence of zeros to read. Steps
    read `b` in place: no time-major copy."""
    if steps is None:
        steps = loop.steps(parts(b)[0])
    hs = ()
    if collect:
        hs = map_parts(lambda p: loop.buffer(p, steps), initial)

    def write(hs, h, t):
        if not collect:
            return hs
        return map_parts(lambda s, p: loop.write(s, t, p), hs, h)

    def body(i, carry):
        h, hs = carry
        t = steps - 1 - i if reverse else i
        h = multiply(coefficient(t), h)
        if b is not None:
            h = add(h, map_parts(lambda p: loop.read(p, t), b))
        return h, write(hs, h, t)

    start = 0
    if b is None:
        start = 1
        hs = write(hs, initial, steps - 1 if reverse else 0)
    last, hs = loop.fori_loop(start, steps, body, (initial, hs))
    return map_parts(loop.stacked, hs) if collect else last


def stepped_forward(loop, a, b, initial, constant, collect):
    """The forward pass of a sequential recurrence: `a` is `constant` when
    it is (units,), the same at every step."""

    def coefficient(t):
        return a if constant else map_parts(lambda p: loop.read(p, t), a)

    return stepped_recurrence(loop, coefficient, b, initial, collect=collect)


def recurrence_gradients(loop, a, initial, h, upstream, constant, every_step):
    """The gradient `(dL/da, dL/db, dL/dh_0)` of a sequential recurrence
    that produced every `h`, given `upstream`, `dL/dh` of every step, or
    with `every_step=False` of the last alone: the reverse recurrence `g_t
    = dL/dh_t + conj(a_{t+1}) g_{t+1}` run by `loop`, then
    `closing_gradients`. `a` is `constant` when it is (units,), the same at
    every step."""
    conj_a = conjugate(a)
    steps = loop.steps(parts(h)[0])

    def read(x, t):
        return map_parts(lambda p: loop.read(p, t), x)

    if every_step:
        # The last step has no g_{t+1} (its carry is zero), so its
        # coefficient is any a.
        def coefficient(t):
            if constant:
                return conj_a
            return read(conj_a, _next_step(t, steps))

        zeros = map_parts(ops.zeros_like, initial)
        grad_b = stepped_recurrence(
            loop, coefficient, upstream, zeros, reverse=True
        )
    else:
        # g_T is the upstream gradient, and each g_t = conj(a_{t+1}) g_{t+1}:
        # no sequence of zeros to read.
        def coefficient(t):
            return conj_a if constant else read(conj_a, t + 1)

        grad_b = stepped_recurrence(
            loop, coefficient, None, upstream, reverse=True, steps=steps
        )
    grad_a, grad_initial = closing_gradients(a, initial, h, grad_b, constant)
    return grad_a, grad_b, grad_initial


def _next_step(t, steps):
    """`min(t + 1, steps - 1)`, in Python where the loop is Python's."""
    if isinstance(t, int) and isinstance(steps, int):
        return min(t + 1, steps - 1)
    return ops.minimum(t + 1, steps - 1)


def closing_gradients(a, initial, h, grad_b, constant):
    """A sequential recurrence's gradient once its reverse recurrence `g_t
    = dL/dh_t + conj(a_{t+1}) g_{t+1}` has given `g_t = dL/db_t`: `(dL/da,
    dL/dh_0)`, where `dL/da_t = g_t conj(h_{t-1})` (summed over batch and
    time when `a` is `constant`, (units,), the same at every step) and
    `dL/dh_0 = conj(a_1) g_1`. Of real tensors, pairs, or tensors of the
    backend's complex dtype."""
    first_grad_b = map_parts(lambda p: p[:, 0], grad_b)
    if constant:
        # Step 0 apart, the rest from slices: no sequence is copied.
        later = multiply(
            map_parts(lambda p: p[:, 1:], grad_b),
            conjugate(map_parts(lambda p: p[:, :-1], h)),
        )
        grad_a = add(
            map_parts(lambda p: ops.sum(p, axis=(0, 1)), later),
            map_parts(
                lambda p: ops.sum(p, axis=0),
                multiply(first_grad_b, conjugate(initial)),
            ),
        )
    else:
        previous = map_parts(
            lambda p0, p: ops.concatenate(
                [ops.expand_dims(p0, 1), p[:, :-1]], 1
            ),
            initial,
            h,
        )
        grad_a = multiply(grad_b, conjugate(previous))
    first_a = a if constant else map_parts(lambda p: p[:, 0], a)
    return grad_a, multiply(conjugate(first_a), first_grad_b)
