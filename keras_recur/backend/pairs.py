"""Complex numbers as pairs `(real, imag)` of real tensors, so that a
complex recurrence runs on every backend and in every float dtype; each
helper takes such pairs and plain tensors (real, or of a backend's complex
dtype) alike."""

from keras import ops


def is_pair(x):
    return isinstance(x, (tuple, list))


def parts(x):
    """The real tensors of `x`: `[x]`, or `[real, imag]` of a pair."""
    return list(x) if is_pair(x) else [x]


def like(x, tensors):
    """`tensors` in the form of `x` (one tensor, or a pair)."""
    return tuple(tensors) if is_pair(x) else tensors[0]


def map_parts(fn, *xs):
    """`fn` applied to each part of `xs` (tensors or pairs alike)."""
    return like(xs[0], [fn(*p) for p in zip(*(parts(x) for x in xs))])


def multiply(a, h):
    """`a * h`, elementwise."""
    if not is_pair(a):
        return a * h
    (a_re, a_im), (h_re, h_im) = a, h
    return (a_re * h_re - a_im * h_im, a_re * h_im + a_im * h_re)


def add(x, y):
    return like(x, [p + q for p, q in zip(parts(x), parts(y))])


def conjugate(x):
    """`conj(x)`."""
    if is_pair(x):
        return (x[0], -x[1])
    return ops.conj(x)
