"""JAX: its cumulative log-sum-exp (the loop and the linear scans are
`common.py`'s and `linear.py`'s, on `lax.scan`)."""

import jax
from jax import lax

from keras_recur.backend import common

scan = common.scan


def logcumsumexp(x, axis):
    return lax.cumlogsumexp(x, axis=axis)


def on_accelerator(x):
    # Traced arrays carry no device: JAX runs them on its default backend.
    return jax.default_backend() != "cpu"
