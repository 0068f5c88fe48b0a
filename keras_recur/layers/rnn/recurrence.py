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

The mask rule, on every path: a masked step carries the states and
repeats the previous output (Keras' RNN rule). The general loop and the
attention decoder keep the states with `keep_where_masked`; the fused
kernels keep them inside the kernel; a linear recurrence makes a masked
step the identity. Where the output is the first state, that is the whole
rule. A cell whose output is read out of its states (the LRU's `y =
Re(x C) + u D`) applies `read_out`, which repeats the output of the last
real step over the masked ones.

For a cell that runs its whole sequence as one scan (the cells linear in
their state), `use_cudnn` keeps its meaning, "the whole-sequence
computation where it serves the call": `"auto"` and `True` run the scan
(its `scan=` argument says which), `False` the step loop, which computes
the same numbers one step at a time. `unroll` unrolls that step loop only
(it needs `use_cudnn=False` to matter): a scan has no per-step loop to
unroll.
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
    # fused into each step than with one large projection read back per
    # step. `backend.scan`'s `prepare` makes that choice.
    xs = {"inputs": ops.transpose(inputs, (1, 0, 2))}
    if mask is not None:
        xs["mask"] = ops.transpose(ops.expand_dims(mask, -1), (1, 0, 2))

    def project(xs):
        return {**xs, "inputs": cell.project_inputs(xs["inputs"])}

    def step(states, xs_t):
        _, new_states = cell.recurrent_step(xs_t["inputs"], states, training)
        if "mask" in xs_t:
            new_states = keep_where_masked(xs_t["mask"], new_states, states)
        return new_states, ((new_states[0],) if return_sequences else ())

    states, collected = backend.scan(
        step, list(initial_states), xs, unroll, prepare=project
    )
    outputs = None
    if return_sequences:
        outputs = ops.transpose(collected[0], (1, 0, 2))
    return outputs, states


def keep_where_masked(mask_t, new, old):
    """The mask rule at one step: each of `new` where `mask_t` (batch, 1)
    is True, else the one of `old`, carried."""
    return [ops.where(mask_t, n, o) for n, o in zip(new, old)]


def read_out(readout, hidden, inputs, mask, initial_output, return_sequences):
    """The outputs of a recurrence whose output is not its state: `y_t =
    readout(hidden_t, inputs_t)`, with the mask rule: a masked step repeats
    the output of the last real step before it, or `initial_output` where
    none is.

    `hidden` holds the recurrence's states of every step, or with
    `return_sequences=False` its last (a masked step carried them);
    `inputs` is (batch, time, features). Returns `(outputs, last_output)`,
    outputs None without `return_sequences`: then the readout runs once,
    on the input of the last real step.
    """
    if mask is None:
        if return_sequences:
            outputs = readout(hidden, inputs)
            return outputs, outputs[:, -1]
        return None, readout(hidden, inputs[:, -1])
    last_real, any_real = _last_real_steps(mask)
    if return_sequences:
        outputs = readout(hidden, inputs)
        repeated = backend.take_along_axis(
            outputs,
            ops.broadcast_to(
                ops.expand_dims(last_real, -1), ops.shape(outputs)
            ),
            axis=1,
        )
        outputs = ops.where(
            ops.expand_dims(any_real, -1),
            repeated,
            ops.expand_dims(initial_output, 1),
        )
        return outputs, outputs[:, -1]
    last_inputs = backend.take_along_axis(
        inputs, ops.reshape(last_real[:, -1], (-1, 1, 1)), axis=1
    )[:, 0]
    output = readout(hidden, last_inputs)
    return None, ops.where(any_real[:, -1:], output, initial_output)


def _last_real_steps(mask):
    """For each step of `mask` (batch, time), the index of the last real
    (True) step at or before it (0 where there is none), and whether there
    is one."""
    steps = ops.shape(mask)[1]
    positions = ops.arange(steps, dtype="int32")
    counts = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    # The real steps in order, then the masked ones.
    order = ops.argsort(ops.where(mask, positions, positions + steps), axis=1)
    index = backend.take_along_axis(
        ops.cast(order, "int32"), ops.maximum(counts - 1, 0), axis=1
    )
    return index, counts > 0
