"""The linear recurrence `h_t = a_t * h_{t-1} + b_t` in `keras.ops`: the
parallel (associative) scan, the generic sequential scan, and the parts of
complex numbers.

A complex tensor is a pair `(real, imag)` of real tensors, so that it runs
on every backend and in every float dtype; the helpers below multiply,
conjugate and select such pairs and plain tensors alike.
"""

import keras
from keras import ops


def is_pair(x):
    return isinstance(x, (tuple, list))


def parts(x):
    """The real tensors of `x`: `[x]`, or `[real, imag]` of a pair."""
    return list(x) if is_pair(x) else [x]


def like(x, tensors):
    """`tensors` in the form of `x` (one tensor, or a pair)."""
    return tuple(tensors) if is_pair(x) else tensors[0]


def multiply(a, h):
    """`a * h`, elementwise, of real tensors or complex pairs."""
    if not is_pair(a):
        return a * h
    (a_re, a_im), (h_re, h_im) = a, h
    return (a_re * h_re - a_im * h_im, a_re * h_im + a_im * h_re)


def add(x, y):
    return like(x, [p + q for p, q in zip(parts(x), parts(y))])


def map_parts(fn, *xs):
    """`fn` applied to each part of `xs` (tensors or pairs alike)."""
    return like(xs[0], [fn(*p) for p in zip(*(parts(x) for x in xs))])


def identity_where_masked(a, b, mask):
    """A masked step (mask False) becomes the identity `(a, b) = (1, 0)`:
    it carries `h` exactly. `mask` is (batch, time) bool."""
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


def parallel_scan(a, b):
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
    odd_a, odd_b = parallel_scan(*pairs)
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


def sequential_scan(a, b, initial, return_sequences=True):
    """`h_t = a_t * h_{t-1} + b_t` as a step loop (`keras.ops.scan`),
    differentiated by the backend's autodiff: every `h_t`, or the last."""

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


def conjugate(x):
    """`conj(x)`: of a pair, or of one tensor (real, or of the backend's
    complex dtype)."""
    if is_pair(x):
        return (x[0], -x[1])
    return ops.conj(x)


def scan_gradients(loop, step, a, initial, h, upstream, constant, every_step):
    """The gradient `(dL/da, dL/db, dL/dh_0)` of a sequential scan that
    produced every `h`, given `upstream`, `dL/dh` of every step, or with
    `every_step=False` of the last alone: the reverse recurrence `g_t =
    dL/dh_t + conj(a_{t+1}) g_{t+1}` run by the backend's `loop` (whose
    steps `step(x, t)` reads), then `closing_gradients`. `a` is `constant`
    when it is (units,), the same at every step."""
    conj_a = conjugate(a)
    steps = ops.shape(parts(h)[0])[1]
    if every_step:
        # The last step has no g_{t+1} (its carry is zero), so its
        # coefficient is any a.
        def coefficient(t):
            if constant:
                return conj_a
            return step(conj_a, ops.minimum(t + 1, steps - 1))

        zeros = map_parts(ops.zeros_like, initial)
        grad_b = loop(coefficient, upstream, zeros, reverse=True)
    else:
        # g_T is the upstream gradient, and each g_t = conj(a_{t+1}) g_{t+1}:
        # no sequence of zeros to read.
        def coefficient(t):
            return conj_a if constant else step(conj_a, t + 1)

        grad_b = loop(coefficient, None, upstream, reverse=True, steps=steps)
    grad_a, grad_initial = closing_gradients(a, initial, h, grad_b, constant)
    return grad_a, grad_b, grad_initial


def closing_gradients(a, initial, h, grad_b, constant):
    """A sequential scan's gradient once its reverse recurrence `g_t =
    dL/dh_t + conj(a_{t+1}) g_{t+1}` has given `g_t = dL/db_t`: `(dL/da,
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


def compute_dtype(dtype):
    """The dtype a scan accumulates in: float32 for 16-bit floats (mixed
    precision), else the inputs' own."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype
