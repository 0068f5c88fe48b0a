"""JAX: the sequential linear recurrence with its gradient written out, and
a cumulative log-sum-exp (the loop and the parallel scan are `common.py`'s
and `linear.py`'s, on `lax`)."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from keras_recur.backend import common
from keras_recur.backend import linear

scan = common.scan


def _complex(parts):
    return lax.complex(*parts) if len(parts) == 2 else parts[0]


def _parts(x, like):
    return (jnp.real(x), jnp.imag(x)) if len(like) == 2 else (x,)


def _loop(coefficient, b, initial, reverse=False, collect=True):
    """`h_t = coefficient(t) * h_{t-1} + b[:, t]` along axis 1 (from the
    last step with `reverse`, `h_{t+1}` then being the one before): every
    `h_t`, batch-major, or with `collect=False` only the last computed.
    Steps read and write `(batch, time, units)` in place: `lax.scan` over
    time-major copies took twice as long at 1,000 steps."""
    steps = b.shape[1]

    def body(i, carry):
        h, hs = carry
        t = steps - 1 - i if reverse else i
        h = coefficient(t) * h + lax.dynamic_index_in_dim(b, t, 1, False)
        if collect:
            hs = lax.dynamic_update_index_in_dim(hs, h, t, 1)
        return h, hs

    hs = jnp.zeros_like(b) if collect else None
    last, hs = lax.fori_loop(0, steps, body, (initial, hs))
    return hs if collect else last


def _forward(a, b, initial, collect):
    a = _complex(a)
    constant = a.ndim == 1

    def coefficient(t):
        return a if constant else lax.dynamic_index_in_dim(a, t, 1, False)

    h = _loop(coefficient, _complex(b), _complex(initial), collect=collect)
    return _parts(h, b)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _linear_scan(a, b, initial, return_sequences):
    return _forward(a, b, initial, return_sequences)


def _linear_scan_forward(a, b, initial, return_sequences):
    h = _forward(a, b, initial, True)
    outputs = h if return_sequences else tuple(p[:, -1] for p in h)
    return outputs, (a, initial, h)


def _linear_scan_backward(return_sequences, residuals, upstream):
    a, initial, h = residuals
    a_c, h0, h_c, g = (_complex(x) for x in (a, initial, h, upstream))
    conj_a = jnp.conj(a_c)
    constant = conj_a.ndim == 1
    last = h_c.shape[1] - 1
    if not return_sequences:
        g = linear.every_step_gradient(g, h_c)

    # The last step has no g_{t+1} (its carry is zero), so its coefficient
    # is any a.
    def coefficient(t):
        if constant:
            return conj_a
        return lax.dynamic_index_in_dim(
            conj_a, jnp.minimum(t + 1, last), 1, False
        )

    grad_b = _loop(coefficient, g, jnp.zeros_like(h0), reverse=True)
    grad_a, grad_h0 = linear.closing_gradients(a_c, h0, h_c, grad_b)
    return tuple(_parts(x, a) for x in (grad_a, grad_b, grad_h0))


_linear_scan.defvjp(_linear_scan_forward, _linear_scan_backward)


def linear_scan(a, b, initial, return_sequences=True):
    """The sequential linear recurrence with its gradient written out: the
    reverse recurrence, then `linear.closing_gradients` (67 ms
    against `lax.scan` autodiff's 95 ms for 1,000 steps of batch 64 and
    128 units). Complex pairs run as JAX's complex dtype; the function's
    inputs and gradients are real. `a` may be (units,), the same at every
    step. Without `return_sequences` only the last `h_t` is returned."""
    pair = isinstance(b, (tuple, list))
    a, b, initial = (tuple(x) if pair else (x,) for x in (a, b, initial))
    h = _linear_scan(a, b, initial, return_sequences)
    return h if pair else h[0]


def logcumsumexp(x, axis):
    # `lax.cumlogsumexp` lowers to a reduce_window on the CPU, quadratic in
    # the length (2.1 s for 1,000 steps of batch 64 and 128 units, where
    # this associative scan takes 0.11 s).
    return lax.associative_scan(jnp.logaddexp, x, axis=axis)


def on_accelerator(x):
    # Traced arrays carry no device: JAX runs them on its default backend.
    return jax.default_backend() != "cpu"
