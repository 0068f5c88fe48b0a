"""The loop on every backend without a better one (JAX among them)."""

import keras
from keras import ops


def scan(step, states, xs):
    """`keras.ops.scan` (`lax.scan` on JAX)."""
    states, ys = ops.scan(lambda c, x: tuple(step(c, x)), states, xs)
    return list(states), tuple(ys)


def python_loop(step, states, xs):
    """`scan` as a Python loop (unrolled when traced): static length only."""
    collected = []
    flat_xs = keras.tree.flatten(xs)
    for xs_t in zip(*[ops.unstack(x, axis=0) for x in flat_xs]):
        states, ys_t = step(states, keras.tree.pack_sequence_as(xs, list(xs_t)))
        collected.append(ys_t)
    return states, tuple(ops.stack(ys) for ys in zip(*collected))
