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


def compiled(fn):
    return tf.function(fn, jit_compile=True, reduce_retracing=True)


def _step(x, t):
    """Step `t` (axis 1) of a tensor or a pair."""
    return linear.map_parts(lambda p: p[:, t], x)


def _loop(coefficient, b, initial, reverse=False, collect=True, steps=None):
    """`h_t = coefficient(t) * h_{t-1} + b[:, t]` along axis 1 (from the
    last step with `reverse`, `h_{t+1}` then being the one before), of real
    tensors or complex pairs: every `h_t`, batch-major, or with
    `collect=False` only the last computed. With `b=None` (and `steps`
    given) there is no input and the first step's `h` is `initial` itself:
    the reverse recurrence of a gradient that reaches the last step alone,
    with no sequence of zeros to read. Steps read `b` in place: no
    time-major copy. Pairs run as real arithmetic: XLA's complex64 loop
    took 1.3x as long to keep every step on the CPU."""
    if steps is None:
        steps = tf.shape(linear.parts(b)[0])[1]
    hs = linear.map_parts(
        lambda p: tf.TensorArray(p.dtype, size=steps, element_shape=p.shape),
        initial,
    )

    def write(hs, h, t):
        if not collect:
            return hs
        return linear.map_parts(lambda s, p: s.write(t, p), hs, h)

    def body(i, h, hs):
        t = steps - 1 - i if reverse else i
        h = linear.multiply(coefficient(t), h)
        if b is not None:
            h = linear.add(h, _step(b, t))
        # (Traced for relaxed shapes, `b` may have none: h keeps its own.)
        h = linear.map_parts(
            lambda p, p0: tf.ensure_shape(p, p0.shape), h, initial
        )
        return i + 1, h, write(hs, h, t)

    start = 0
    if b is None:
        start = 1
        hs = write(hs, initial, steps - 1 if reverse else 0)
    _, last, hs = tf.while_loop(
        lambda i, *_: i < steps,
        body,
        (start, initial, hs),
        maximum_iterations=steps - start,
    )
    if not collect:
        return last
    return linear.map_parts(lambda s: tf.transpose(s.stack(), (1, 0, 2)), hs)


# The recurrence and its reverse run compiled by XLA, nested in whatever
# graph calls them: a graph-mode while loop pays about 60 us per step in
# TensorFlow's executor, which made the loop most of a 1,000-step training
# step (benchmarks/run.py --suite linear). They are traced for relaxed
# shapes (calls with new lengths would otherwise retrace), which may lose
# even the rank: whether `a` is constant, (units,), is passed.
@tf.function(jit_compile=True, reduce_retracing=True)
def _forward(a, b, initial, constant, collect):
    return _loop(
        lambda t: a if constant else _step(a, t), b, initial, collect=collect
    )


@tf.function(jit_compile=True, reduce_retracing=True)
def _backward(a, initial, h, upstream, constant, every_step):
    return linear.scan_gradients(
        _loop, _step, a, initial, h, upstream, constant, every_step
    )


def linear_scan(a, b, initial, return_sequences=True):
    """The sequential linear recurrence with its gradient written out
    (`linear.scan_gradients`: the reverse recurrence, then the closing
    terms). TensorFlow's own gradient of a while loop stores and replays
    every step, several times slower. `a` may be (units,), the same at
    every step. Without `return_sequences` only the last `h_t` is kept,
    and the backward pass computes the others again."""
    a, b, initial = (
        linear.map_parts(tf.convert_to_tensor, x) for x in (a, b, initial)
    )
    width = len(linear.parts(b))
    constant = linear.parts(a)[0].shape.rank == 1

    pair = linear.is_pair(b)

    def form(parts):  # A tensor, or a pair, as `b` is.
        return tuple(parts) if pair else parts[0]

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
                a,
                initial,
                every_h,
                form(upstream),
                constant,
                return_sequences,
            )
            return [p for x in grads for p in linear.parts(x)]

        return h, grad

    return recurrence(*(p for x in (a, b, initial) for p in linear.parts(x)))


def logcumsumexp(x, axis):
    return tf.math.cumulative_logsumexp(x, axis=axis)


def on_accelerator(x):
    # TensorFlow places operations on a GPU whenever one is visible.
    return bool(tf.config.list_logical_devices("GPU"))
