"""The recurrence engine that every keras_recur layer runs.

Keras' generic RNN loop calls the cell (through `Layer.__call__`) at every
step and recomputes `x_t W` there. Here the input projection `x W + b` of all
steps is one large matmul before the loop, and only the cell's
`recurrent_step` (the recurrent matmul and the gate math) runs per step.

A backend may register a fused path that serves some configurations and
raises `NotImplementedError` for the rest, which then take the general path
(the pattern of Keras' own `backend.lstm`/`backend.gru`). The general path is
`keras.ops.scan` (`lax.scan` on JAX, a `tf.while_loop` on TensorFlow, a
Python loop on PyTorch), or a Python loop when `unroll=True`.
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
):
    """Runs `cell` over `inputs` (batch, time, features).

    Returns `(last_output, outputs, final_states, path)` where `outputs` is
    (batch, time, units) in processing order (reversed with
    `go_backwards`, as Keras returns it) and `path` names the code that ran.
    A masked step keeps the states, and its output is the carried `h`
    (zeros with `zero_output_for_mask`).
    """
    if go_backwards:
        inputs = ops.flip(inputs, axis=1)
        if mask is not None:
            mask = ops.flip(mask, axis=1)
    if mask is not None:
        mask = ops.cast(mask, "bool")

    result = None
    fused = _FUSED.get(keras.backend.backend())
    if fused is not None and _state["fast_paths"]:
        try:
            result = fused(cell, inputs, initial_states, mask, training)
        except NotImplementedError:
            pass
    if result is None:
        result = _general(cell, inputs, initial_states, mask, training, unroll)
    outputs, states, path = result
    if zero_output_for_mask and mask is not None:
        outputs = ops.where(ops.expand_dims(mask, -1), outputs, 0.0)
    return states[0], outputs, states, path


def _general(cell, inputs, initial_states, mask, training, unroll):
    projected = cell.project_inputs(inputs)  # one matmul for every step

    def step(states, projected_t, mask_t):
        _, new_states = cell.recurrent_step(projected_t, states, training)
        if mask_t is not None:
            new_states = [
                ops.where(mask_t, new, old)
                for new, old in zip(new_states, states)
            ]
        return new_states

    states = list(initial_states)
    if unroll:
        outputs = []
        for t in range(inputs.shape[1]):
            mask_t = None if mask is None else mask[:, t : t + 1]
            states = step(states, projected[:, t], mask_t)
            outputs.append(states[0])
        return ops.stack(outputs, axis=1), states, "unrolled"

    time_major = ops.transpose(projected, (1, 0, 2))
    if mask is None:
        states, sequences = _scan(
            lambda states, x_t: step(states, x_t, None), states, time_major
        )
    else:
        mask_time_major = ops.transpose(ops.expand_dims(mask, -1), (1, 0, 2))
        states, sequences = _scan(
            lambda states, xs_t: step(states, *xs_t),
            states,
            (time_major, mask_time_major),
        )
    outputs = ops.transpose(sequences[0], (1, 0, 2))
    return outputs, states, "scan"


def _scan(step, states, xs):
    """Scans `step(states, xs_t) -> states` over the leading axis of `xs`.

    Returns the final states and every step's states, stacked.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # tf.scan bounds its while-loop (maximum_iterations); XLA needs that
        # to differentiate a loop that reads variables, and keras.ops.scan's
        # TensorFlow loop has no bound.
        stacked = tf.scan(step, xs, initializer=states)
        return [sequence[-1] for sequence in stacked], stacked

    def body(states, xs_t):
        new_states = step(states, xs_t)
        return new_states, new_states

    states, stacked = ops.scan(body, states, xs)
    return list(states), stacked


def _torch_fused_gru(cell, inputs, initial_states, mask, training):
    """ATen's fused CPU/GPU GRU: exactly `GRUCell` with reset_after=True."""
    import torch

    from keras_recur.layers.gru import GRUCell

    if not (
        isinstance(cell, GRUCell)
        and cell.reset_after
        and cell.activation is activations.tanh
        and cell.recurrent_activation is activations.sigmoid
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


_FUSED = {"torch": _torch_fused_gru}
