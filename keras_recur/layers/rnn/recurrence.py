"""The recurrence engine that every keras_recur layer runs.

The engine knows no cell class. It calls, on any cell:

- `project_inputs(x)`: `x W + b` of all gates, for any leading axes;
- `recurrent_step(projected_t, states, training) -> (h_t, new_states)`;
- `fused_recurrence(inputs, initial_states, mask, training,
  return_sequences) -> (outputs, final_states)`, where the cell offers one:
  its whole recurrence in one backend kernel (`keras_recur.backend`),
  raising `NotImplementedError` with the reason for a call it cannot
  serve. Where `return_sequences` is False nobody reads the outputs, and a
  cell that saves work without them returns None in their place.

A fused recurrence computes the step of the class that defines it. A
subclass that redefines one of `STEP_METHODS` computes another model, so
the engine does not call its inherited fused recurrence: it takes the
general path, on every backend. A class whose fused recurrence calls some
of those methods itself (the linear cells' scan calls `project_inputs`)
names the ones it does not call in `fused_recurrence_assumes`.

The general path calls the cell's `project_inputs` and `recurrent_step`
directly inside `keras_recur.backend.scan` (`lax.scan` on JAX, a bounded
`tf.while_loop` on TensorFlow, a Python loop on PyTorch and with
`unroll=True`), where Keras' generic loop calls the cell through
`Layer.__call__` at every step.
"""

import keras
from keras import ops

from keras_recur import backend

# The methods that define what a step computes.
STEP_METHODS = ("project_inputs", "recurrent_input", "recurrent_step")
USE_CUDNN_CHOICES = ("auto", True, False)


def fused_recurrence_owner(cell_class):
    """The class whose `fused_recurrence` serves `cell_class`, or None
    (the reason as a string) where none does."""
    mro = cell_class.__mro__
    owners = [k for k in mro if "fused_recurrence" in vars(k)]
    if not owners:
        return None, f"{cell_class.__name__} offers no fused recurrence"
    owner = owners[0]
    assumed = getattr(owner, "fused_recurrence_assumes", STEP_METHODS)
    for klass in mro[: mro.index(owner)]:
        for method in assumed:
            if method in vars(klass):
                return None, (
                    f"{klass.__name__}.{method} redefines the step that "
                    f"{owner.__name__}.fused_recurrence computes"
                )
    return owner, None


def run(
    cell,
    inputs,
    initial_states,
    mask=None,
    training=False,
    go_backwards=False,
    unroll=False,
    zero_output_for_mask=False,
    return_sequences=True,
    use_cudnn="auto",
):
    """Runs `cell` over `inputs` (batch, time, features).

    `use_cudnn` has Keras' meaning for the fused kernels: `"auto"` runs the
    cell's fused recurrence where it serves the call, `False` always the
    general path, `True` the fused recurrence or a `ValueError` saying why
    none serves.

    `inputs` come with their dropout applied (`cell.dropped_inputs`).

    Returns `(last_output, outputs, final_states)` where `outputs` is
    (batch, time, units) in processing order (reversed with `go_backwards`,
    as Keras returns it), or only the last output (batch, 1, units) when
    `return_sequences` is False. A masked step keeps the states, and its
    output is the carried `h` (zeros with `zero_output_for_mask`). The
    fused path calls the cell's `fused_recurrence`; the general one
    `keras_recur.backend.scan` (with `unroll`), which is where tests see
    which one ran.
    """
    if go_backwards:
        inputs = ops.flip(inputs, axis=1)
        if mask is not None:
            mask = ops.flip(mask, axis=1)
    if mask is not None:
        mask = ops.cast(mask, "bool")

    result = None
    if use_cudnn is not False:
        try:
            owner, reason = fused_recurrence_owner(type(cell))
            if owner is None:
                raise NotImplementedError(reason)
            outputs, states = cell.fused_recurrence(
                inputs, list(initial_states), mask, training, return_sequences
            )
            result = outputs, states
        except NotImplementedError as reason:
            if use_cudnn is True:
                raise ValueError(
                    "use_cudnn=True, but no fused kernel of the "
                    f"{keras.backend.backend()} backend serves this call: "
                    f"{reason}. Pass use_cudnn='auto' to fall back to the "
                    "general loop."
                ) from None
    if result is None:
        result = _general(
            cell,
            inputs,
            initial_states,
            mask,
            training,
            unroll,
            return_sequences,
        )
    outputs, states = result
    if outputs is None:
        outputs = ops.expand_dims(states[0], 1)
    elif zero_output_for_mask and mask is not None:
        outputs = ops.where(ops.expand_dims(mask, -1), outputs, 0.0)
    return states[0], outputs, states


def _general(
    cell, inputs, initial_states, mask, training, unroll, return_sequences
):
    # Where x W goes was measured (benchmarks/run.py): eager torch pays per
    # op, so all steps are projected in one matmul before its loop; compiled
    # loops (XLA on JAX, TensorFlow graphs) run faster with the small x_t W
    # fused into each step than with one large projection read back per step.
    project_first = keras.backend.backend() == "torch"
    time_major = ops.transpose(inputs, (1, 0, 2))
    if project_first:
        time_major = cell.project_inputs(time_major)

    def step(states, x_t, mask_t=None):
        projected_t = x_t if project_first else cell.project_inputs(x_t)
        _, new_states = cell.recurrent_step(projected_t, states, training)
        if mask_t is not None:
            new_states = [
                ops.where(mask_t, new, old)
                for new, old in zip(new_states, states)
            ]
        return new_states, ((new_states[0],) if return_sequences else ())

    if mask is None:
        xs, scan_step = time_major, step
    else:
        xs = (time_major, ops.transpose(ops.expand_dims(mask, -1), (1, 0, 2)))

        def scan_step(states, xs_t):
            return step(states, *xs_t)

    states, collected = backend.scan(
        scan_step, list(initial_states), xs, unroll
    )
    outputs = None
    if return_sequences:
        outputs = ops.transpose(collected[0], (1, 0, 2))
    return outputs, states
