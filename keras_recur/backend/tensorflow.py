"""TensorFlow: a bounded `tf.while_loop` for `scan`, and the sequential
linear recurrence as XLA-compiled loops with their gradient written out."""

import tensorflow as tf

from keras_recur.backend import linear


def scan(step, states, xs):
    # keras.ops.scan's TensorFlow loop has no iteration bound, which XLA
    # needs to differentiate a loop that reads variables, and it stacks the
    # whole carry; this one is bounded and stacks only what step collects.
    flat_xs = tf.nest.flatten(xs)
    steps = flat_xs[0].shape[0] or tf.shape(flat_xs[0])[0]
    inputs = [tf.TensorArray(x.dtype, size=steps).unstack(x) for x in flat_xs]

    def read(t):
        return tf.nest.pack_sequence_as(xs, [x.read(t) for x in inputs])

    # The first step runs outside the loop: it gives the collected tensors'
    # dtypes and shapes, which XLA needs before the loop.
    states, first = step(list(states), read(0))
    collected = [
        tf.TensorArray(y.dtype, size=steps, element_shape=y.shape).write(0, y)
        for y in first
    ]

    def body(t, states, collected):
        new_states, ys_t = step(list(states), read(t))
        collected = [c.write(t, y) for c, y in zip(collected, ys_t)]
        return t + 1, new_states, collected

    _, states, collected = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (1, states, collected),
        maximum_iterations=steps - 1,
    )
    return list(states), tuple(c.stack() for c in collected)


def _complex(parts):
    return tf.complex(*parts) if len(parts) == 2 else parts[0]


def _parts(x, like):
    return [tf.math.real(x), tf.math.imag(x)] if len(like) == 2 else [x]


def _loop(coefficient, b, initial, reverse=False, collect=True):
    """`h_t = coefficient(t) * h_{t-1} + b[:, t]` along axis 1 (from the
    last step with `reverse`, `h_{t+1}` then being the one before): every
    `h_t`, batch-major, or with `collect=False` only the last computed.
    Steps read `b` in place: no time-major copy."""
    steps = tf.shape(b)[1]
    hs = tf.TensorArray(b.dtype, size=steps, element_shape=initial.shape)

    def body(i, h, hs):
        t = steps - 1 - i if reverse else i
        # (Traced for relaxed shapes, `b` may have none: h keeps its own.)
        h = tf.ensure_shape(coefficient(t) * h + b[:, t], initial.shape)
        return i + 1, h, hs.write(t, h) if collect else hs

    _, last, hs = tf.while_loop(
        lambda i, *_: i < steps,
        body,
        (0, initial, hs),
        maximum_iterations=steps,
    )
    return tf.transpose(hs.stack(), (1, 0, 2)) if collect else last


# The recurrence and its reverse run compiled by XLA, nested in whatever
# graph calls them: a graph-mode while loop pays about 60 us per step in
# TensorFlow's executor, which made the loop most of a 1,000-step training
# step (benchmarks/run.py --suite linear). They are traced for relaxed
# shapes (calls with new lengths would otherwise retrace), which may lose
# even the rank: whether `a` is constant, (units,), is passed. Tensor
# arguments are lists of parts (one real tensor, or the real and imaginary
# parts of a complex one).
@tf.function(jit_compile=True, reduce_retracing=True)
def _forward(a, b, initial, constant, collect):
    a_c, b_c, h0 = (_complex(x) for x in (a, b, initial))
    h = _loop(
        lambda t: a_c if constant else a_c[:, t], b_c, h0, collect=collect
    )
    return _parts(h, b)


@tf.function(jit_compile=True, reduce_retracing=True)
def _backward(a, initial, h, upstream, constant, every_step):
    a_c, h0, h_c, g_c = (_complex(x) for x in (a, initial, h, upstream))
    conj_a = tf.math.conj(a_c)
    last = tf.shape(h_c)[1] - 1
    if not every_step:
        g_c = linear.every_step_gradient(g_c, h_c)
    # The reverse recurrence; the last step has no g_{t+1} (its carry is
    # zero), so its coefficient is any a.
    grad_b = _loop(
        lambda t: conj_a if constant else conj_a[:, tf.minimum(t + 1, last)],
        g_c,
        tf.zeros_like(h0),
        reverse=True,
    )
    grad_a, grad_h0 = linear.closing_gradients(a_c, h0, h_c, grad_b)
    return [_parts(x, a) for x in (grad_a, grad_b, grad_h0)]


def linear_scan(a, b, initial, return_sequences=True):
    """The sequential linear recurrence with its gradient written out: the
    reverse recurrence, then `linear.closing_gradients`.
    TensorFlow's own gradient of a while loop stores and replays every
    step, several times slower. Complex pairs run as TensorFlow's complex
    dtype; the function's inputs and gradients are real. `a` may be
    (units,), the same at every step. Without `return_sequences` only the
    last `h_t` is kept, and the backward pass computes the others again."""
    pair = isinstance(b, (tuple, list))
    a, b, initial = (
        [tf.convert_to_tensor(p) for p in (x if pair else [x])]
        for x in (a, b, initial)
    )
    width = len(b)
    constant = a[0].shape.rank == 1

    @tf.custom_gradient
    def recurrence(*flat):
        # No tape may record the compiled loop: it would ask XLA for the
        # loop's own gradient state, which cannot leave XLA.
        flat = [tf.stop_gradient(x) for x in flat]
        a, b, initial = (flat[i : i + width] for i in (0, width, 2 * width))
        h = _forward(a, b, initial, constant, return_sequences)

        def grad(*upstream):
            every_h = h
            if not return_sequences:
                every_h = _forward(a, b, initial, constant, True)
            grads = _backward(
                a, initial, every_h, list(upstream), constant, return_sequences
            )
            return [p for x in grads for p in x]

        return tuple(h) if pair else h[0], grad

    return recurrence(*a, *b, *initial)


def logcumsumexp(x, axis):
    return tf.math.cumulative_logsumexp(x, axis=axis)


def on_accelerator(x):
    # TensorFlow places operations on a GPU whenever one is visible.
    return bool(tf.config.list_logical_devices("GPU"))
