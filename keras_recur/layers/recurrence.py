"""The recurrence engine that every keras_recur layer runs.

Keras' generic RNN loop calls the cell through `Layer.__call__` at every
step. Here the loop calls the cell's `project_inputs` (`x W + b`) and
`recurrent_step` (the recurrent matmul and the gate math) directly; on
eager PyTorch the projection of all steps is one matmul before the loop.

A backend may register a fused path that serves some configurations and
raises `NotImplementedError` for the rest, which then take the general path
(the pattern of Keras' own `backend.lstm`/`backend.gru`): on PyTorch,
ATen's GRU and the LSTM family's autograd function (torch_lstm.py). The
general path is `keras.ops.scan` (`lax.scan` on JAX, a `tf.while_loop` on
TensorFlow, a Python loop on PyTorch), or a Python loop when `unroll=True`.
"""

import contextlib

import keras
from keras import activations
from keras import ops

_state = {"fast_paths": True}


@contextlib.contextmanager
def fast_paths(enabled):
    """Context manager that turns the backends' fused paths on or off.

    Tests use it to compare a fused path with the general path.
    """
    previous = _state["fast_paths"]
    _state["fast_paths"] = bool(enabled)
    try:
        yield
    finally:
        _state["fast_paths"] = previous


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
):
    """Runs `cell` over `inputs` (batch, time, features).

    Returns `(last_output, outputs, final_states, path)` where `outputs` is
    (batch, time, units) in processing order (reversed with `go_backwards`,
    as Keras returns it), or only the last output (batch, 1, units) when
    `return_sequences` is False, and `path` names the code that ran. A masked
    step keeps the states, and its output is the carried `h` (zeros with
    `zero_output_for_mask`).
    """
    if go_backwards:
        inputs = ops.flip(inputs, axis=1)
        if mask is not None:
            mask = ops.flip(mask, axis=1)
    if mask is not None:
        mask = ops.cast(mask, "bool")

    result = None
    fused_paths = _FUSED.get(keras.backend.backend(), ())
    for fused in fused_paths if _state["fast_paths"] else ():
        try:
            result = fused(cell, inputs, initial_states, mask, training)
            break
        except NotImplementedError:
            pass
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
    outputs, states, path = result
    if outputs is None:
        outputs = ops.expand_dims(states[0], 1)
    elif zero_output_for_mask and mask is not None:
        outputs = ops.where(ops.expand_dims(mask, -1), outputs, 0.0)
    return states[0], outputs, states, path


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

    states, collected = scan(scan_step, list(initial_states), xs, unroll)
    outputs = None
    if return_sequences:
        outputs = ops.transpose(collected[0], (1, 0, 2))
    return outputs, states, "unrolled" if unroll else "scan"


def scan(step, states, xs, unroll=False):
    """Runs `step(states, xs_t) -> (states, ys_t)` along the leading (time)
    axis of `xs`, a tensor or a nest of them.

    `states` is a list of tensors; `ys_t` a tuple of tensors collected at
    every step. Returns the final states and the tuple of `ys` stacked
    time-major. Compiled loops on TensorFlow and JAX; a Python loop on eager
    PyTorch (the least overhead there) and with `unroll`.
    """
    backend = keras.backend.backend()
    if unroll or backend == "torch":
        return _loop(step, states, xs)
    if backend == "tensorflow":
        return _tensorflow_scan(step, states, xs)
    states, ys = ops.scan(lambda c, x: tuple(step(c, x)), states, xs)
    return list(states), tuple(ys)


def _loop(step, states, xs):
    """`scan` as a Python loop (unrolled when traced): static length only."""
    collected = []
    flat_xs = keras.tree.flatten(xs)
    for xs_t in zip(*[ops.unstack(x, axis=0) for x in flat_xs]):
        states, ys_t = step(states, keras.tree.pack_sequence_as(xs, list(xs_t)))
        collected.append(ys_t)
    return states, tuple(ops.stack(ys) for ys in zip(*collected))


def _tensorflow_scan(step, states, xs):
    # keras.ops.scan's TensorFlow loop has no iteration bound, which XLA
    # needs to differentiate a loop that reads variables, and it stacks the
    # whole carry; this one is bounded and stacks only what step collects.
    import tensorflow as tf

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


def _standard_activations(cell):
    return (
        cell.activation is activations.tanh
        and cell.recurrent_activation is activations.sigmoid
    )


def _torch_fused_gru(cell, inputs, initial_states, mask, training):
    """ATen's fused CPU/GPU GRU: exactly `GRUCell` with reset_after=True."""
    import torch

    from keras_recur.layers.gru import GRUCell

    if not (
        isinstance(cell, GRUCell)
        and cell.reset_after
        and _standard_activations(cell)
        and mask is None
        and not (training and cell.recurrent_dropout > 0)
        and cell.compute_dtype == "float32"
    ):
        raise NotImplementedError

    def to_torch_order(blocks):  # Keras [z, r, h] -> torch [r, z, h]
        z, r, h = torch.chunk(blocks, 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    kernel = ops.convert_to_tensor(cell.kernel)
    recurrent_kernel = ops.convert_to_tensor(cell.recurrent_kernel)
    width = kernel.shape[-1]
    if cell.use_bias:
        bias = ops.convert_to_tensor(cell.bias)
    else:
        bias = torch.zeros((2, width), dtype=kernel.dtype, device=kernel.device)
    params = [
        to_torch_order(kernel).T.contiguous(),
        to_torch_order(recurrent_kernel).T.contiguous(),
        to_torch_order(bias[0]),
        to_torch_order(bias[1]),
    ]
    h0 = ops.convert_to_tensor(initial_states[0]).unsqueeze(0).contiguous()
    outputs, h_n = torch.gru(
        ops.convert_to_tensor(inputs).contiguous(),
        h0,
        params,
        True,  # has_biases
        1,  # num_layers
        0.0,  # dropout (ours is applied before)
        torch.is_grad_enabled(),  # train: keeps what backward needs
        False,  # bidirectional
        True,  # batch_first
    )
    return outputs, [h_n[0]], "torch_fused_gru"


def _torch_fused_lstm(cell, inputs, initial_states, mask, training):
    """The LSTM family as one autograd function with a hand-written backward
    pass (torch_lstm.py): peephole LSTM and CIFG, masks and dropout included.
    """
    import torch

    from keras_recur.layers.base import LSTMCellBase
    from keras_recur.layers.torch_lstm import LSTMRecurrence

    if not (
        isinstance(cell, LSTMCellBase)
        and _standard_activations(cell)
        and cell.compute_dtype in ("float32", "float64")
        and cell.variable_dtype == cell.compute_dtype
    ):
        raise NotImplementedError
    leading = ("forget",) if cell.coupled_input_gate else ("input", "forget")
    lead_peepholes = output_peephole = None
    if cell.peephole_gates == (*leading, "output"):
        lead_peepholes = torch.stack(
            [
                ops.convert_to_tensor(
                    getattr(cell, f"{g}_gate_peephole_weights")
                )
                for g in leading
            ]
        )
        output_peephole = ops.convert_to_tensor(
            cell.output_gate_peephole_weights
        )
    elif cell.peephole_gates:
        raise NotImplementedError

    h0, c0 = (ops.convert_to_tensor(state) for state in initial_states)
    recurrent_mask = None
    if training and cell.recurrent_dropout > 0:
        recurrent_mask = cell.get_recurrent_dropout_mask(h0)
    if mask is not None:
        mask = mask.transpose(0, 1).unsqueeze(-1)
    projected = cell.project_inputs(
        ops.convert_to_tensor(inputs).transpose(0, 1)
    )
    h_all, c_last = LSTMRecurrence.apply(
        projected,
        h0,
        c0,
        ops.convert_to_tensor(cell.recurrent_kernel),
        lead_peepholes,
        output_peephole,
        mask,
        recurrent_mask,
        cell.coupled_input_gate,
    )
    return h_all.transpose(0, 1), [h_all[-1], c_last], "torch_fused_lstm"


# Tried in order; each raises NotImplementedError for cells it does not serve.
_FUSED = {"torch": (_torch_fused_gru, _torch_fused_lstm)}
