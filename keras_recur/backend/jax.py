"""JAX: the sequential linear recurrence on `lax.fori_loop` with its
gradient written out (`linear.py`'s loop and backward pass), a cumulative
log-sum-exp, and JAX's float64 rule; the rest is `common.py`'s, on `lax`."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from keras_recur.backend import common
from keras_recur.backend import linear
from keras_recur.backend.pairs import like
from keras_recur.backend.pairs import map_parts
from keras_recur.backend.pairs import parts

scan = common.scan
compiled = common.compiled
matmul = common.matmul
layer_normalization = common.layer_normalization
no_gradient = common.no_gradient
max_and_argmax = common.max_and_argmax
take_along_axis = common.take_along_axis
custom_gradient = common.custom_gradient
cpu_scan = common.cpu_scan
gru = common.gru
lstm = common.lstm


def jvp(function, primals, tangents):
    primals, tangents = list(primals), list(tangents)
    # Forward mode cannot go through a custom_vjp (a hand-written backward
    # pass: the sequential linear recurrence, custom gradients), and JAX
    # says so only when compiling: there, `J v` is the gradient of
    # `(u J) . v` with respect to `u` instead.
    if "custom_vjp_call" not in str(jax.make_jaxpr(function)(primals)):
        return jax.jvp(function, (primals,), (tangents,))
    outputs, pullback = jax.vjp(function, primals)
    _, transposed = jax.vjp(pullback, jax.tree.map(jnp.zeros_like, outputs))
    return outputs, transposed((tangents,))[0]


def vjp(function, primals):
    outputs, pullback = jax.vjp(function, list(primals))
    return outputs, lambda cotangents: pullback(cotangents)[0]


def compiled_function(function):
    return jax.jit(function)


def widest_float():
    # JAX computes a float64 request in float32 (with a warning) unless
    # jax_enable_x64 is set.
    return "float64" if jax.config.jax_enable_x64 else "float32"


def _buffer(like, steps):
    return jnp.zeros((like.shape[0], steps, *like.shape[1:]), like.dtype)


# Steps read and write `(batch, time, units)` in place: `lax.scan` over
# time-major copies took twice as long at 1,000 steps. Pairs run as real
# arithmetic: XLA's complex64 loop took twice as long on the CPU.
LOOP = linear.LoopOps(
    fori_loop=lax.fori_loop,
    steps=lambda x: x.shape[1],
    read=lambda x, t: lax.dynamic_index_in_dim(x, t, 1, False),
    buffer=_buffer,
    write=lambda buffer, t, x: lax.dynamic_update_index_in_dim(buffer, x, t, 1),
    stacked=lambda buffer: buffer,
)


def _is_constant(a):
    return parts(a)[0].ndim == 1


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _recurrence(a, b, initial, return_sequences):
    return linear.stepped_forward(
        LOOP, a, b, initial, _is_constant(a), return_sequences
    )


def _recurrence_forward(a, b, initial, return_sequences):
    h = linear.stepped_forward(LOOP, a, b, initial, _is_constant(a), True)
    outputs = h if return_sequences else map_parts(lambda p: p[:, -1], h)
    return outputs, (a, initial, h)


def _recurrence_backward(return_sequences, residuals, upstream):
    a, initial, h = residuals
    return linear.recurrence_gradients(
        LOOP, a, initial, h, upstream, _is_constant(a), return_sequences
    )


_recurrence.defvjp(_recurrence_forward, _recurrence_backward)


def sequential_linear_recurrence(a, b, initial, return_sequences=True):
    """The step loop with its gradient written out (the reverse recurrence,
    then the closing terms: 67 ms against `lax.scan` autodiff's 95 ms for
    1,000 steps of batch 64 and 128 units, forward and backward)."""
    # Pairs as tuples: custom_vjp's gradients must match their pytrees.
    a, b, initial = (like(x, parts(x)) for x in (a, b, initial))
    return _recurrence(a, b, initial, return_sequences)


def logcumsumexp(x, axis):
    # `lax.cumlogsumexp` lowers to a reduce_window on the CPU, quadratic in
    # the length (2.1 s for 1,000 steps of batch 64 and 128 units, where
    # this associative scan takes 0.11 s).
    return lax.associative_scan(jnp.logaddexp, x, axis=axis)


def on_accelerator(x):
    # Traced arrays carry no device: JAX runs them on its default backend.
    return jax.default_backend() != "cpu"
