"""TensorFlow: a bounded `tf.while_loop` for `scan`, XLA for `compiled`,
and the sequential linear recurrence as XLA-compiled loops with their
gradient written out (`linear.py`'s loop and backward pass)."""

import weakref

import keras
import tensorflow as tf

from keras_recur.backend import common
from keras_recur.backend import linear
from keras_recur.backend.pairs import is_pair
from keras_recur.backend.pairs import map_parts
from keras_recur.backend.pairs import parts

matmul = common.matmul
layer_normalization = common.layer_normalization
widest_float = common.widest_float
no_gradient = common.no_gradient
max_and_argmax = common.max_and_argmax
take_along_axis = common.take_along_axis
custom_gradient = common.custom_gradient
cpu_scan = common.cpu_scan
gru = common.gru
lstm = common.lstm


def scan(step, states, xs, prepare=None):
    # keras.ops.scan's TensorFlow loop has no iteration bound, which XLA
    # needs to differentiate a loop that reads variables, and it stacks the
    # whole carry; this one is bounded and stacks only what step collects.
    if prepare is not None:
        step = common.prepared_step(step, prepare)
    flat_xs = tf.nest.flatten(xs)
    steps = flat_xs[0].shape[0] or tf.shape(flat_xs[0])[0]
    inputs = [tf.TensorArray(x.dtype, size=steps).unstack(x) for x in flat_xs]

    def read(t):
        return tf.nest.pack_sequence_as(xs, [x.read(t) for x in inputs])

    # The first step runs outside the loop: it gives the collected tensors'
    # dtypes and shapes, which XLA needs before the loop.
    states, first = step(states, read(0))
    collected = [
        tf.TensorArray(y.dtype, size=steps, element_shape=y.shape).write(0, y)
        for y in first
    ]

    def body(t, states, collected):
        new_states, ys_t = step(states, read(t))
        collected = [c.write(t, y) for c, y in zip(collected, ys_t)]
        return t + 1, new_states, collected

    _, states, collected = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (1, states, collected),
        maximum_iterations=steps - 1,
    )
    return states, tuple(c.stack() for c in collected)


# Each object's compiled methods, kept while the object lives.
_KERNELS = weakref.WeakKeyDictionary()


# True while `jvp` traces a function: the gradients taken in it are
# differentiated again, which the XLA-compiled loops' gradients cannot be.
_DIFFERENTIATED_TWICE = [False]


def jvp(function, primals, tangents):
    # The transpose of a vector-Jacobian product: `J v` is the gradient of
    # `(u J) . v` with respect to `u`. (`ForwardAccumulator` would be
    # forward mode proper, but inside a `tf.function` it cannot go through
    # a `tf.while_loop`, which every Keras RNN runs.)
    primals = [tf.convert_to_tensor(p) for p in primals]
    previous, _DIFFERENTIATED_TWICE[0] = _DIFFERENTIATED_TWICE[0], True
    try:
        return _transposed_vjp(function, primals, tangents)
    finally:
        _DIFFERENTIATED_TWICE[0] = previous


def _transposed_vjp(function, primals, tangents):
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(primals)
            outputs = function(primals)
        flat = tf.nest.flatten(outputs)
        dummies = [tf.zeros_like(y) for y in flat]
        outer.watch(dummies)
        transposed = inner.gradient(
            flat,
            primals,
            output_gradients=dummies,
            unconnected_gradients="zero",
        )
        inner_product = tf.add_n(
            [tf.reduce_sum(g * t) for g, t in zip(transposed, tangents)]
        )
    products = outer.gradient(
        inner_product, dummies, unconnected_gradients="zero"
    )
    return outputs, tf.nest.pack_sequence_as(outputs, products)


def vjp(function, primals):
    primals = [tf.convert_to_tensor(p) for p in primals]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(primals)
        outputs = function(primals)

    def pullback(cotangents):
        return tape.gradient(
            outputs,
            primals,
            output_gradients=cotangents,
            unconnected_gradients="zero",
        )

    return outputs, pullback


def compiled_function(function):
    return tf.function(function, reduce_retracing=True)


def compiled(method):
    """`method` (bound) as one XLA kernel, traced for relaxed shapes (new
    lengths do not retrace), made once per object: the kernel reaches its
    object through a weak reference, so that the cache keeps none alive.

    The object's variables enter as arguments, read at each call: a value
    that a `keras.StatelessScope` gives a variable (a second-order
    trainer's weights) would otherwise be captured into the trace, a
    constant that later calls reuse."""
    owner, function = method.__self__, method.__func__
    kernels = _KERNELS.setdefault(owner, {})
    if function not in kernels:
        owner_ref = weakref.ref(owner)

        # (A def, not a lambda: AutoGraph converts a lambda through the
        # source of the function that holds it.)
        def kernel(values, *args):
            owner = owner_ref()
            with keras.StatelessScope(
                state_mapping=list(zip(owner.variables, values))
            ):
                return function(owner, *args)

        kernels[function] = tf.function(
            kernel, jit_compile=True, reduce_retracing=True
        )
    traced = kernels[function]
    return lambda *args: traced([v.value for v in owner.variables], *args)


def _fori_loop(lower, upper, body, carry):
    # Traced for relaxed shapes, a step's input may have no shape: each
    # tensor of the carry keeps its own.
    def shaped(new, old):
        if isinstance(old, tf.Tensor):
            return tf.ensure_shape(new, old.shape)
        return new

    def loop_body(i, carry):
        new = body(i, carry)
        return i + 1, tf.nest.map_structure(shaped, new, carry)

    _, carry = tf.while_loop(
        lambda i, _: i < upper,
        loop_body,
        (lower, carry),
        maximum_iterations=upper - lower,
    )
    return carry


# Steps read `b` in place (no time-major copy) and collect into
# TensorArrays. Pairs run as real arithmetic: XLA's complex64 loop took
# 1.3x as long to keep every step on the CPU.
LOOP = linear.LoopOps(
    fori_loop=_fori_loop,
    steps=lambda x: tf.shape(x)[1],
    read=lambda x, t: x[:, t],
    buffer=lambda like, steps: tf.TensorArray(
        like.dtype, size=steps, element_shape=like.shape
    ),
    write=lambda buffer, t, x: buffer.write(t, x),
    stacked=lambda buffer: tf.transpose(buffer.stack(), (1, 0, 2)),
)


# The recurrence and its reverse run compiled by XLA, nested in whatever
# graph calls them: a graph-mode while loop pays about 60 us per step in
# TensorFlow's executor, which made the loop most of a 1,000-step training
# step (benchmarks/run.py --suite linear). They are traced for relaxed
# shapes (calls with new lengths would otherwise retrace), which may lose
# even the rank: whether `a` is constant, (units,), is passed.
@tf.function(jit_compile=True, reduce_retracing=True)
def _forward(a, b, initial, constant, collect):
    return linear.stepped_forward(LOOP, a, b, initial, constant, collect)


@tf.function(jit_compile=True, reduce_retracing=True)
def _backward(a, initial, h, upstream, constant, every_step):
    return linear.recurrence_gradients(
        LOOP, a, initial, h, upstream, constant, every_step
    )


def sequential_linear_recurrence(a, b, initial, return_sequences=True):
    """The step loop with its gradient written out: TensorFlow's own
    gradient of a while loop stores and replays every step, several times
    slower. Without `return_sequences` only the last `h_t` is kept, and
    the backward pass computes the others again."""
    if _DIFFERENTIATED_TWICE[0]:
        # Inside `jvp`: TensorFlow's own loop, which it can differentiate
        # twice.
        return common.sequential_linear_recurrence(
            a, b, initial, return_sequences
        )
    a, b, initial = (
        map_parts(tf.convert_to_tensor, x) for x in (a, b, initial)
    )
    width = len(parts(b))
    constant = parts(a)[0].shape.rank == 1
    pair = is_pair(b)

    def form(flat):  # A tensor, or a pair, as `b` is.
        return tuple(flat) if pair else flat[0]

    @tf.custom_gradient
    def recurrence(*flat):
        # No tape may record the compiled loop: it would ask XLA for the
        # loop's own gradient state, which cannot leave XLA.
        flat = [tf.stop_gradient(x) for x in flat]
        a, b, initial = (
            form(flat[i : i + width]) for i in (0, width, 2 * width)
        )
        h = _forward(a, b, initial, constant, return_sequences)

        def grad(*upstream):
            every_h = h
            if not return_sequences:
                every_h = _forward(a, b, initial, constant, True)
            grads = _backward(
                a, initial, every_h, form(upstream), constant, return_sequences
            )
            return [p for x in grads for p in parts(x)]

        return h, grad

    return recurrence(*(p for x in (a, b, initial) for p in parts(x)))


def logcumsumexp(x, axis):
    return tf.math.cumulative_logsumexp(x, axis=axis)


def on_accelerator(x):
    # TensorFlow places operations on a GPU whenever one is visible.
    return bool(tf.config.list_logical_devices("GPU"))
