"""PyTorch: a Python loop for `scan` (eager torch pays per operation, not
per loop), ATen's fused GRU, the LSTM family's autograd function, and the
sequential linear recurrence as an autograd function (`linear.py`'s
backward pass)."""

import itertools

import keras
import torch
from keras import ops

from keras_recur.backend import common
from keras_recur.backend import linear
from keras_recur.backend.torch_lstm import LSTMRecurrence

compiled = common.compiled
widest_float = common.widest_float
# The step loop, complex recurrences included: the LRU trains at 1,000
# steps in 1.15x MinGRU's time with it, 5x with the parallel scan
# (benchmarks/results-lru-1000-torch; docs/benchmarks.md).
cpu_scan = common.cpu_scan
no_gradient = torch.no_grad


def jvp(function, primals, tangents):
    return torch.func.jvp(
        function,
        ([_tensor(p) for p in primals],),
        ([_tensor(t) for t in tangents],),
    )


def vjp(function, primals):
    outputs, pullback = torch.func.vjp(function, [_tensor(p) for p in primals])
    return outputs, lambda cotangents: list(pullback(cotangents)[0])


def compiled_function(function):
    # Eager: torch.compile would recompile for every new batch shape and
    # does not trace torch.func's transforms of Keras' loops reliably.
    return function


def scan(step, states, xs, prepare=None):
    """A Python loop; `prepare` runs on the whole sequence before it
    (eager PyTorch pays per operation, so one large one beats many small)."""
    return common.python_loop(step, states, xs, prepare)


def custom_gradient(fn):
    """`keras.ops.custom_gradient` of `fn(*tensors) -> (output,
    grad(upstream))`: Keras' PyTorch version calls the gradient function
    with the inputs and `upstream=`, the other backends with the upstream
    gradient alone."""

    def forward(*args):
        output, grad = fn(*args)
        return output, lambda *inputs, upstream: grad(upstream)

    custom = ops.custom_gradient(forward)

    def function(*args):
        if _under_function_transforms():
            # torch.func differentiates the forward operations themselves
            # (Keras' autograd function defines no forward-mode rule).
            return fn(*args)[0]
        return custom(*args)

    return function


def _tensor(value):
    if value is None or isinstance(value, torch.Tensor):
        return value  # Keras' conversion costs tens of microseconds a call
    return ops.convert_to_tensor(value)


def max_and_argmax(x, axis):
    # One reduction for both, where torch.argmax alone, over an inner axis,
    # costs several times as much (ATen's CPU kernel); its documented rule
    # for ties is keras.ops.argmax's, the first index.
    return torch.max(_tensor(x), dim=axis)


def take_along_axis(x, indices, axis):
    return torch.take_along_dim(_tensor(x), _tensor(indices).long(), dim=axis)


def matmul(x, y):
    x, y = _tensor(x), _tensor(y)
    if x.dtype == y.dtype == torch.float64:
        return torch.matmul(x, y)
    # Keras' own (it handles float16 on the CPU and mixed dtypes).
    return ops.matmul(x, y)


def layer_normalization(x, gamma, beta, epsilon):
    x = _tensor(x)
    if x.dtype == torch.float64:
        return torch.nn.functional.layer_norm(
            x,
            x.shape[-1:],
            _tensor(gamma).to(x.dtype),
            _tensor(beta).to(x.dtype),
            epsilon,
        )
    return ops.layer_normalization(x, gamma, beta, epsilon=epsilon)


def _check_activations(activation, recurrent_activation):
    if not (
        activation is keras.activations.tanh
        and recurrent_activation is keras.activations.sigmoid
    ):
        raise NotImplementedError(
            "the fused kernels compute tanh activations and sigmoid gates"
        )


def _check_dtypes(inputs, kernel, allowed):
    if inputs.dtype not in allowed or kernel.dtype != inputs.dtype:
        raise NotImplementedError(
            f"the fused kernel computes in {', '.join(map(str, allowed))} "
            f"with weights of that dtype; received inputs of {inputs.dtype} "
            f"and weights of {kernel.dtype}"
        )


def _under_function_transforms():
    # torch.func's transforms (jvp, vjp: second-order training) go through
    # ordinary operations and autograd functions that define a forward-mode
    # rule; the fused kernels here define none. (torch has no public test.)
    return torch._C._are_functorch_transforms_active()


def gru(
    inputs,
    initial_h,
    kernel,
    recurrent_kernel,
    bias,
    *,
    mask,
    recurrent_mask,
    reset_after,
    activation,
    recurrent_activation,
):
    """ATen's fused CPU/GPU GRU: the Keras GRU with reset_after=True."""
    if _under_function_transforms():
        raise NotImplementedError(
            "under torch.func's transforms the general loop runs: ATen's "
            "GRU has no forward-mode derivative"
        )
    _check_activations(activation, recurrent_activation)
    if not reset_after:
        raise NotImplementedError("ATen's GRU computes reset_after=True")
    if mask is not None:
        raise NotImplementedError("ATen's GRU takes no mask")
    if recurrent_mask is not None:
        raise NotImplementedError("ATen's GRU has no recurrent dropout")
    inputs, kernel = _tensor(inputs), _tensor(kernel)
    _check_dtypes(inputs, kernel, (torch.float32,))
    recurrent_kernel = _tensor(recurrent_kernel)
    width = kernel.shape[-1]
    if bias is None:
        bias = kernel.new_zeros((2, width))
    bias = _tensor(bias)

    def to_torch_order(blocks):  # Keras [z, r, h] -> torch [r, z, h]
        z, r, h = torch.chunk(blocks, 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    params = [
        to_torch_order(kernel).T.contiguous(),
        to_torch_order(recurrent_kernel).T.contiguous(),
        to_torch_order(bias[0]),
        to_torch_order(bias[1]),
    ]
    outputs, h_n = torch.gru(
        inputs.contiguous(),
        _tensor(initial_h).unsqueeze(0).contiguous(),
        params,
        True,  # has_biases
        1,  # num_layers
        0.0,  # dropout (ours is applied before)
        torch.is_grad_enabled(),  # train: keeps what backward needs
        False,  # bidirectional
        True,  # batch_first
    )
    return outputs, [h_n[0]]


def lstm(
    inputs,
    initial_h,
    initial_c,
    kernel,
    recurrent_kernel,
    bias,
    *,
    peepholes,
    coupled_input_gate,
    mask,
    recurrent_mask,
    activation,
    recurrent_activation,
):
    """The LSTM family as one autograd function with a hand-written
    backward pass (torch_lstm.py): masks and recurrent dropout included."""
    if _under_function_transforms():
        raise NotImplementedError(
            "under torch.func's transforms the general loop runs: the fused "
            "LSTM's autograd function has no forward-mode rule"
        )
    if torch.compiler.is_compiling():
        raise NotImplementedError(
            "under torch.compile the general loop runs: the fused LSTM's "
            "backward pass writes into views of its buffers (out=), which "
            "torch.compile cannot trace without breaking the graph"
        )
    _check_activations(activation, recurrent_activation)
    inputs, kernel = _tensor(inputs), _tensor(kernel)
    _check_dtypes(inputs, kernel, (torch.float32, torch.float64))
    leading = ("forget",) if coupled_input_gate else ("input", "forget")
    lead_peepholes = output_peephole = None
    if set(peepholes) == {*leading, "output"}:
        lead_peepholes = torch.stack([_tensor(peepholes[g]) for g in leading])
        output_peephole = _tensor(peepholes["output"])
    elif peepholes:
        raise NotImplementedError(
            "the fused LSTM takes peepholes on all gates or on none; "
            f"received them on {sorted(peepholes)}"
        )
    projected = torch.matmul(inputs.transpose(0, 1), kernel)
    if bias is not None:
        projected = projected + _tensor(bias)
    if mask is not None:
        mask = _tensor(mask).transpose(0, 1).unsqueeze(-1)
    h_all, c_last = LSTMRecurrence.apply(
        projected,
        _tensor(initial_h),
        _tensor(initial_c),
        _tensor(recurrent_kernel),
        lead_peepholes,
        output_peephole,
        mask,
        _tensor(recurrent_mask),
        coupled_input_gate,
    )
    return h_all.transpose(0, 1), [h_all[-1], c_last]


def _write(buffer, t, x):
    buffer[:, t] = x
    return buffer


def _fori_loop(lower, upper, body, carry):
    for i in range(lower, upper):
        carry = body(i, carry)
    return carry


# Run in the backward pass, where no graph is recorded: steps are views,
# and writes go in place.
LOOP = linear.LoopOps(
    fori_loop=_fori_loop,
    steps=lambda x: x.shape[1],
    read=lambda x, t: x[:, t],
    buffer=lambda like, steps: like.new_empty(
        (like.shape[0], steps, *like.shape[1:])
    ),
    write=_write,
    stacked=lambda buffer: buffer,
)


class _LinearRecurrence(torch.autograd.Function):
    """`h_t = a_t * h_{t-1} + b_t` along axis 1, real or complex, with the
    reverse recurrence `g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}` as its
    backward pass (`linear.recurrence_gradients`). It stores `a` and the
    outputs only, where autograd through a loop keeps every step's graph.
    `a` is (batch, time, units), or (units,) for coefficients constant in
    time (the LRU's)."""

    @staticmethod
    def forward(ctx, a, b, initial):
        outputs = _recur(a, b, initial)
        ctx.save_for_backward(a, outputs, initial)
        return outputs

    @staticmethod
    def backward(ctx, grad_outputs):
        a, outputs, initial = ctx.saved_tensors
        # torch's conj() is a lazy view that every product would resolve
        # again: the upstream gradient is resolved once, in memory (Keras'
        # `conj`, which the backward pass calls, resolves its own).
        grad_outputs = grad_outputs.resolve_conj().contiguous()
        return linear.recurrence_gradients(
            LOOP,
            a,
            initial,
            outputs,
            grad_outputs,
            constant=a.dim() == 1,
            every_step=True,
        )


def _recur(a, b, initial, collect=True):
    """`h_t = a_t * h_{t-1} + b_t`: every `h_t`, or only the last. Each
    step writes into memory allocated once (time-major, or two buffers
    for the last state alone): allocating every step's `h` took a third
    of the loop's time (1,000 steps, batch 64, 128 units: 16 -> 10 ms).
    Runs where no gradient is recorded (`out=` is not differentiable)."""
    steps = b.shape[1]
    h = initial
    if collect:
        outputs = b.new_empty((steps, *initial.shape))
    else:
        buffers = (b.new_empty(initial.shape), b.new_empty(initial.shape))
    for t, (a_t, b_t) in enumerate(zip(_steps(a, steps), b.unbind(1))):
        out = outputs[t] if collect else buffers[t % 2]
        h = torch.addcmul(b_t, a_t, h, out=out)
    # Read batch-major.
    return outputs.transpose(0, 1) if collect else h


def _steps(a, steps):
    """`a`'s steps along axis 1, or `a` itself at every step."""
    return a.unbind(1) if a.dim() == 3 else itertools.repeat(a, steps)


def _complex(x):
    if isinstance(x, (tuple, list)):
        return torch.complex(_tensor(x[0]), _tensor(x[1]))
    return _tensor(x)


def sequential_linear_recurrence(a, b, initial, return_sequences=True):
    """The step loop as one autograd function (a Python
    loop over `unbind`-ed steps: indexing `x[:, t]` under autograd is
    quadratic in T). Complex pairs run as torch's complex dtype. The last
    `h_t` alone, where no gradient is recorded, keeps none of the others."""
    if _under_function_transforms():
        # Differentiated by torch.func: the loop through autograd, which
        # its transforms follow.
        return common.sequential_linear_recurrence(
            a, b, initial, return_sequences
        )
    pair = isinstance(b, (tuple, list))
    a, b, initial = _complex(a), _complex(b), _complex(initial)
    recorded = torch.is_grad_enabled() and any(
        x.requires_grad for x in (a, b, initial)
    )
    if return_sequences or recorded:
        outputs = _LinearRecurrence.apply(a, b, initial)
        if not return_sequences:
            outputs = outputs[:, -1]
    else:
        outputs = _recur(a, b, initial, collect=False)
    if pair:
        # Contiguous parts: a matrix product of the strided views that
        # `.real` and `.imag` are runs several times slower.
        return outputs.real.contiguous(), outputs.imag.contiguous()
    return outputs


def logcumsumexp(x, axis):
    return torch.logcumsumexp(_tensor(x), dim=axis)


def on_accelerator(x):
    return _tensor(x).device.type != "cpu"
