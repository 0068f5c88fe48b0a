"""TensorFlow: a bounded `tf.while_loop` for `scan`."""

import tensorflow as tf


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


def _complex(x):
    return tf.complex(*x) if isinstance(x, (tuple, list)) else x


def linear_scan(a, b, initial):
    """The sequential linear recurrence with its gradient written out: the
    reverse recurrence `g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}`, `dL/db_t =
    g_t`, `dL/da_t = g_t conj(h_{t-1})`, `dL/dh_0 = conj(a_1) g_1`.
    TensorFlow's own gradient of a while loop stores and replays every
    step, several times slower. Complex pairs run as TensorFlow's complex
    dtype; the function's inputs and gradients are real."""
    pair = isinstance(b, (tuple, list))
    # A constant `a` (units,) is broadcast outside: autodiff sums its
    # gradient back.
    shape = tf.shape(b[0] if pair else b)
    a = (
        [tf.broadcast_to(p, shape) for p in a]
        if pair
        else (tf.broadcast_to(a, shape))
    )
    flat = [
        tf.convert_to_tensor(p)
        for x in (a, b, initial)
        for p in (x if pair else [x])
    ]

    @tf.custom_gradient
    def recurrence(*flat):
        width = 2 if pair else 1
        a, b, h0 = (
            _complex(flat[i * width : (i + 1) * width]) if pair else flat[i]
            for i in range(3)
        )
        a_tm = tf.transpose(a, (1, 0, 2))
        b_tm = tf.transpose(b, (1, 0, 2))
        h_tm = tf.scan(lambda h, ab: ab[0] * h + ab[1], (a_tm, b_tm), h0)

        def grad(*upstream):
            g = _complex(upstream) if pair else upstream[0]
            g_tm = tf.transpose(g, (1, 0, 2))
            a_next = tf.concat([a_tm[1:], tf.zeros_like(a_tm[:1])], 0)
            grad_b = tf.scan(
                lambda carry, ga: ga[0] + tf.math.conj(ga[1]) * carry,
                (g_tm, a_next),
                tf.zeros_like(h0),
                reverse=True,
            )
            previous = tf.concat([h0[None], h_tm[:-1]], 0)
            grad_a = grad_b * tf.math.conj(previous)
            grad_h0 = tf.math.conj(a_tm[0]) * grad_b[0]
            grads = [
                tf.transpose(grad_a, (1, 0, 2)),
                tf.transpose(grad_b, (1, 0, 2)),
                grad_h0,
            ]
            if pair:
                return [
                    p for x in grads for p in (tf.math.real(x), tf.math.imag(x))
                ]
            return grads

        h = tf.transpose(h_tm, (1, 0, 2))
        if pair:
            return (tf.math.real(h), tf.math.imag(h)), grad
        return h, grad

    return recurrence(*flat)


def logcumsumexp(x, axis):
    return tf.math.cumulative_logsumexp(x, axis=axis)


def on_accelerator(x):
    # TensorFlow places operations on a GPU whenever one is visible.
    return bool(tf.config.list_logical_devices("GPU"))
