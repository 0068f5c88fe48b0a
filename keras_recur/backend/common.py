"""Every name of the backend interface (`keras_recur.backend.INTERFACE`) in
`keras.ops`: what a Keras backend without a module of its own here runs,
and what the backend modules reuse where they have nothing better. The
fused kernels raise `NotImplementedError` naming the backend and the
reason, as Keras' own `backend.lstm` does where cuDNN cannot serve."""

import contextlib

import keras
from keras import ops

from keras_recur.backend import linear


def scan(step, states, xs, prepare=None):
    """`keras.ops.scan` (`lax.scan` on JAX); `prepare` in the step, which
    holds one step of what it makes at a time."""
    if prepare is not None:
        step = prepared_step(step, prepare)
    states, ys = ops.scan(lambda c, x: tuple(step(c, x)), states, xs)
    return states, tuple(ys)


def prepared_step(step, prepare):
    """`step` that reads `prepare(xs_t)`."""
    return lambda states, xs_t: step(states, prepare(xs_t))


def python_loop(step, states, xs, prepare=None):
    """`scan` as a Python loop (unrolled when traced): static length only.
    `prepare` runs on the whole sequence, before the loop."""
    if prepare is not None:
        xs = prepare(xs)
    collected = []
    flat_xs = keras.tree.flatten(xs)
    for xs_t in zip(*[ops.unstack(x, axis=0) for x in flat_xs]):
        states, ys_t = step(states, keras.tree.pack_sequence_as(xs, list(xs_t)))
        collected.append(ys_t)
    return states, tuple(ops.stack(ys) for ys in zip(*collected))


def compiled(method):
    # The method is compiled with whatever calls it, where the backend
    # compiles (JAX); eager elsewhere.
    return method


def matmul(x, y):
    return ops.matmul(x, y)


def layer_normalization(x, gamma, beta, epsilon):
    return ops.layer_normalization(x, gamma, beta, epsilon=epsilon)


def widest_float():
    return "float64"


def no_gradient():
    # Eager JAX and TensorFlow record no graph unless asked to.
    return contextlib.nullcontext()


def max_and_argmax(x, axis):
    return ops.max(x, axis=axis), ops.argmax(x, axis=axis)


def take_along_axis(x, indices, axis):
    return ops.take_along_axis(x, indices, axis)


def custom_gradient(fn):
    """`keras.ops.custom_gradient` of `fn(*tensors) -> (output,
    grad(upstream))`."""
    return ops.custom_gradient(fn)


def jvp(function, primals, tangents):
    raise NotImplementedError(
        f"keras_recur's jvp needs automatic differentiation, which the "
        f"{keras.backend.backend()} backend does not have: use TensorFlow, "
        "JAX or PyTorch."
    )


def vjp(function, primals):
    raise NotImplementedError(
        f"keras_recur's vjp needs automatic differentiation, which the "
        f"{keras.backend.backend()} backend does not have: use TensorFlow, "
        "JAX or PyTorch."
    )


def compiled_function(function):
    return function


def sequential_linear_recurrence(a, b, initial, return_sequences=True):
    return linear.autodiff_recurrence(a, b, initial, return_sequences)


def logcumsumexp(x, axis):
    return ops.associative_scan(ops.logaddexp, x, axis=axis)


def on_accelerator(x):
    return False


def cpu_scan(complex_numbers):
    return "sequential"


def gru(inputs, initial_h, kernel, recurrent_kernel, bias, **options):
    raise NotImplementedError(
        f"the {keras.backend.backend()} backend has no fused gru"
    )


def lstm(
    inputs, initial_h, initial_c, kernel, recurrent_kernel, bias, **options
):
    raise NotImplementedError(
        f"the {keras.backend.backend()} backend has no fused lstm"
    )
