"""Backend code on tensors: the loop and the fused recurrence kernels.

Nothing here knows a layer or a cell: the functions take tensors, weights
and flags. The module of the running Keras backend (`tensorflow.py`,
`torch.py`, whose fused LSTM lives in `torch_lstm.py`) supplies what it does
better than `common.py`:

- `scan(step, states, xs, unroll=False)`: the loop that every recurrence
  and decoder of keras_recur runs.
- `matmul(x, y)` and `layer_normalization(x, gamma, beta, epsilon)`: the
  cells' products and norms, in their arguments' dtype.
- `no_gradient()`: a context in which no autograd graph is recorded, for
  inference (PyTorch's `no_grad`; the other backends record none eagerly).
- Fused kernels, `gru(...)` and `lstm(...)`: a whole sequence in one
  backend operation. A backend without one, or whose kernel cannot compute
  the configuration it is given, raises `NotImplementedError` with the
  reason, as Keras' own `backend.lstm`/`backend.gru` do; the caller then
  runs the general loop. A cell offers a kernel through its
  `fused_recurrence` method (see `keras_recur.layers.rnn.recurrence`).
"""

import contextlib
import functools
import importlib

import keras

from keras_recur.backend import common


@functools.cache
def _backend_module(name):
    if name in ("tensorflow", "torch"):
        return importlib.import_module(f"keras_recur.backend.{name}")
    return common


def _current():
    return _backend_module(keras.backend.backend())


def scan(step, states, xs, unroll=False):
    """Runs `step(states, xs_t) -> (states, ys_t)` along the leading (time)
    axis of `xs`, a tensor or a nest of them.

    `states` is a list of tensors; `ys_t` a tuple of tensors collected at
    every step. Returns the final states and the tuple of `ys` stacked
    time-major. A compiled loop on TensorFlow and JAX; a Python loop on
    eager PyTorch (the least overhead there) and with `unroll`.
    """
    if unroll:
        return common.python_loop(step, states, xs)
    return _current().scan(step, states, xs)


def matmul(x, y):
    """`x @ y` in the dtype of its arguments.

    `keras.ops.matmul` follows Keras' type rules, which take JAX's default
    of 32 bits: on PyTorch it computes a float64 product in float32, so a
    `dtype="float64"` layer would lose its precision at every step. The
    cells' products go through here instead. (JAX itself has no float64
    without `jax_enable_x64`.)
    """
    return getattr(_current(), "matmul", keras.ops.matmul)(x, y)


def layer_normalization(x, gamma, beta, epsilon):
    """`gamma * (x - mean) / sqrt(var + epsilon) + beta` over the last axis,
    in float32 at least and in float64 for float64 arguments (Keras' op,
    like `matmul`, computes float64 in float32 on PyTorch)."""
    return getattr(_current(), "layer_normalization", _keras_layer_norm)(
        x, gamma, beta, epsilon
    )


def _keras_layer_norm(x, gamma, beta, epsilon):
    return keras.ops.layer_normalization(x, gamma, beta, epsilon=epsilon)


def no_gradient():
    """A context that records no autograd graph (for decoding)."""
    return getattr(_current(), "no_gradient", contextlib.nullcontext)()


def _fused_kernel(contract):
    """Makes the documented `contract` (a signature and a docstring) the
    dispatcher to the running backend's function of the same name, or to a
    `NotImplementedError` where that backend has none."""
    name = contract.__name__

    @functools.wraps(contract)
    def dispatch(*args, **kwargs):
        kernel = getattr(_current(), name, None)
        if kernel is None:
            raise NotImplementedError(
                f"the {keras.backend.backend()} backend has no fused {name}"
            )
        return kernel(*args, **kwargs)

    return dispatch


@_fused_kernel
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
    """The GRU of `keras.layers.GRUCell` over a whole sequence.

    Args:
        inputs: (batch, time, features), dropout already applied.
        initial_h: (batch, units).
        kernel, recurrent_kernel, bias: the weights in Keras' layout
            (gate blocks `[z, r, h]`; bias (2, 3 * units) with
            `reset_after`, else (3 * units,); None without bias).
        mask: (batch, time) bool, or None. A masked step keeps `h`.
        recurrent_mask: (batch, units) dropout multiplier of `h_{t-1}`, or
            None.
        reset_after: Keras' `reset_after`.
        activation, recurrent_activation: the cell's activations.

    Returns:
        `(outputs (batch, time, units), [h_last])`.

    Raises:
        NotImplementedError: with the reason, where the backend has no such
            kernel or it does not compute this configuration.
    """


@_fused_kernel
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
    """The LSTM family over a whole sequence: the LSTM, the peephole LSTM
    (Gers et al. 2002) and the coupled input-forget gate LSTM (CIFG).

    Args:
        inputs: (batch, time, features), dropout already applied.
        initial_h, initial_c: (batch, units).
        kernel, recurrent_kernel, bias: gate blocks `[i, f, c, o]`, or
            `[f, c, o]` with `coupled_input_gate` (`i = 1 - f`); bias None
            without bias.
        peepholes: dict from gate name (`"input"`, `"forget"`, `"output"`)
            to its diagonal peephole weights (units,); the input and forget
            gates look at `c_{t-1}`, the output gate at `c_t`.
        coupled_input_gate: whether `i = 1 - f`.
        mask: (batch, time) bool, or None. A masked step keeps `h` and `c`.
        recurrent_mask: (batch, units) dropout multiplier of `h_{t-1}`, or
            None.
        activation, recurrent_activation: the cell's activations.

    Returns:
        `(outputs (batch, time, units), [h_last, c_last])`.

    Raises:
        NotImplementedError: with the reason, where the backend has no such
            kernel or it does not compute this configuration.
    """
