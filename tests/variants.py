"""One `Variant` record per layer configuration under test: what the
equation, gradient, engine, usage, saving, validation and API-parity tests
all draw from. A new cell adds one record here (what the library knows of
the cell itself, trained or not, with a recurrent kernel or not, is its
record in keras_recur.catalogue)."""

from typing import NamedTuple

import keras
import numpy as np

import keras_recur
from keras_recur import catalogue
from tests import reference
from tests.testing import EVERY_VARIANT
from tests.testing import randomize

PEEPHOLE_ARGUMENTS = frozenset(
    {"peephole_initializer", "peephole_regularizer", "peephole_constraint"}
)


class Variant(NamedTuple):
    # The public layer, and the arguments that make this configuration.
    layer: type
    arguments: dict
    # NumPy step from the weights' float64 values in layer order:
    # `reference(values, recurrent_mask) -> step(x, h[, c])`.
    reference: object
    # The Keras layer it stands in for (its arguments, defaults and
    # positions), or None.
    keras_counterpart: type = None
    # Its arguments beyond the Keras counterpart's.
    own_arguments: frozenset = frozenset()
    # Whether PyTorch's fused kernel computes it (with no mask for the GRU).
    fused: bool = False
    # Whether the Keras-usage tests run it. "coupled_peepholes" and
    # "gru_reset_before" differ from "coupled" and "gru" only in their
    # step's equations, which the equation, gradient, dropout and engine
    # tests check for every variant; how Keras uses a layer is the shared
    # wrapper's, tested on one variant of each cell.
    usage: bool = True
    # Whether it stands for its code path in the wrapper-level tests (Keras
    # usage, the engine against Keras' loop, mixed precision, the compiled
    # layer tests) on TensorFlow and JAX, where the LSTM family shares one
    # general loop and the minimal cells one scan; PyTorch, whose fused
    # kernels differ by cell, runs every variant. One per path: the LSTM
    # family's loop, the GRU's, the reservoir's, a real linear recurrence
    # and a complex one with a readout.
    representative: bool = False

    @property
    def record(self):
        """The cell's record in keras_recur.catalogue."""
        return catalogue.CELLS[self.layer.__name__]

    @property
    def trained(self):
        # Trainable weights and dropout (the echo state network's reservoir
        # has neither; tests/layers/rnn/test_esn.py covers it).
        return self.record.trained

    @property
    def recurrent_kernel(self):
        # A recurrent kernel and recurrent dropout (the cells linear in
        # their state have neither).
        return self.record.recurrent_kernel


def _lstm(kind, names):
    def build(values, recurrent_mask=1.0):
        return reference.lstm_family(
            kind, dict(zip(names, values)), recurrent_mask
        )

    return build


def _gru(reset_after):
    def build(values, recurrent_mask=1.0):
        w = dict(zip(["kernel", "recurrent_kernel", "bias"], values))
        return lambda x, h: reference.gru_step(
            x, h, w, reset_after, recurrent_mask
        )

    return build


def _layer_norm(values, recurrent_mask=1.0):
    names = ["kernel", "recurrent_kernel", "bias"]
    names += [f"{n}_{p}" for n in "krs" for p in ("gamma", "beta")]
    w = dict(zip(names, values))
    return lambda x, h, c: reference.layer_norm_lstm_step(
        x, h, c, w, recurrent_mask
    )


def _esn(values, recurrent_mask=1.0):
    w = dict(zip(["recurrent_kernel", "kernel", "bias"], values))
    return lambda x, h: reference.esn_step(x, h, w, leaky=1.0)


def _minimal(step, log_space=False):
    def build(values, recurrent_mask=1.0):
        w = dict(zip(["kernel", "bias"], values))
        return lambda x, h: step(x, h, w, log_space)

    return build


LRU_WEIGHTS = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im"]
LRU_WEIGHTS += ["C_re", "C_im", "D"]


def _lru(values, recurrent_mask=1.0):
    w = dict(zip(LRU_WEIGHTS, values))
    return lambda x, y, x_re, x_im: reference.lru_step(x, y, x_re, x_im, w)


def _clockwork(values, recurrent_mask=1.0):
    # The layer's default periods, 1, 2, 4, ... (one per recurrent block).
    periods = [2**i for i in range(len(values) - 2)]
    names = ["kernel", *(f"recurrent_kernel_{i}" for i in range(len(periods)))]
    w = dict(zip([*names, "bias"], values))
    return lambda x, h, clock: reference.clockwork_step(
        x, h, clock, w, periods, recurrent_mask=recurrent_mask
    )


def depth_gated_layers(named):
    """The Depth-Gated LSTM's weights by name (`kernel_0`, ...) as the
    reference's per-layer, per-gate dicts: the layer's blocks `[i, f, c, o,
    d]` (no `f` where coupled, no `d` on a first layer without one)."""
    layers, n = [], 0
    while f"kernel_{n}" in named:
        recurrent = named[f"recurrent_kernel_{n}"]
        units = recurrent.shape[0]
        gates = "ifco" if recurrent.shape[1] == 4 * units else "ico"
        kernel, bias = named[f"kernel_{n}"], named[f"bias_{n}"]
        blocks = [*gates, "d"][: kernel.shape[1] // units]
        w = {}
        for index, gate in enumerate(blocks):
            part = slice(index * units, (index + 1) * units)
            w[f"W_{gate}"], w[f"b_{gate}"] = kernel[:, part], bias[part]
            if gate != "d":
                w[f"U_{gate}"] = recurrent[:, part]
        for gate in ("input", "forget", "output"):
            if f"{gate}_gate_peephole_weights_{n}" in named:
                w[f"p_{gate[0]}"] = named[f"{gate}_gate_peephole_weights_{n}"]
        for key, name in (("w_cd", "cell"), ("w_ld", "lower")):
            if f"depth_gate_{name}_weights_{n}" in named:
                w[key] = named[f"depth_gate_{name}_weights_{n}"]
        layers.append(w)
        n += 1
    if "input_depth_kernel" in named:
        layers[0]["W_x0"] = named["input_depth_kernel"]
    return layers


def _depth_gated(values, recurrent_mask=1.0):
    # The default layer: two layers in the paper's form.
    names = [*(f"{n}_0" for n in ("kernel", "recurrent_kernel", "bias"))]
    names += [*(f"{n}_1" for n in ("kernel", "recurrent_kernel", "bias"))]
    names += ["depth_gate_cell_weights_1", "depth_gate_lower_weights_1"]
    layers = depth_gated_layers(dict(zip(names, values)))
    return lambda x, *states: reference.depth_gated_lstm_step(
        x, states, layers, recurrent_mask
    )


def grid_gates(kernel, bias, recurrent_kernel=None):
    """A Grid LSTM dimension's weights in Keras' layout (blocks `[i, f, c,
    o]`; the recurrent kernel reads h^time, the kernel h^depth) as the
    paper's per-gate matrices over H = [h^time; h^depth]."""
    if recurrent_kernel is not None:
        kernel = np.concatenate([recurrent_kernel, kernel], axis=0)
    units = bias.shape[0] // 4
    w = {}
    for index, gate in enumerate("ufco"):
        part = slice(index * units, (index + 1) * units)
        w[f"W_{gate}"], w[f"b_{gate}"] = kernel[:, part], bias[part]
    return w


def grid_reference(depth=2, tied=False, priority="depth", hidden_form="paper"):
    """`Variant.reference` of a GridLSTM with these options."""

    def build(values, recurrent_mask=1.0):
        # input_kernel, then per block and dimension kernel, recurrent
        # kernel and bias (one block when tied).
        blocks = []
        for n in range(1 if tied else depth):
            weights = values[1 + 6 * n : 7 + 6 * n]
            blocks.append(
                {
                    "time": grid_gates(weights[0], weights[2], weights[1]),
                    "depth": grid_gates(weights[3], weights[5], weights[4]),
                }
            )
        blocks *= depth if tied else 1
        return lambda x, *states: reference.grid_lstm_step(
            x, states, values[0], blocks, priority, hidden_form, recurrent_mask
        )

    return build


GRID_ARGUMENTS = frozenset({"depth", "tied", "priority", "hidden_form"})


DENSE = ["kernel", "recurrent_kernel", "bias"]
VARIANTS = {
    "peephole": Variant(
        keras_recur.PeepholeLSTM,
        {},
        _lstm("peephole", [*DENSE, "p_i", "p_f", "p_o"]),
        keras.layers.LSTM,
        PEEPHOLE_ARGUMENTS,
        fused=True,
        representative=True,
    ),
    "coupled": Variant(
        keras_recur.CoupledLSTM,
        {},
        _lstm("coupled", DENSE),
        keras.layers.LSTM,
        PEEPHOLE_ARGUMENTS | {"use_peepholes"},
        fused=True,
    ),
    "coupled_peepholes": Variant(
        keras_recur.CoupledLSTM,
        {"use_peepholes": True},
        _lstm("coupled", [*DENSE, "p_f", "p_o"]),
        keras.layers.LSTM,
        PEEPHOLE_ARGUMENTS | {"use_peepholes"},
        fused=True,
        usage=False,
    ),
    "gru": Variant(
        keras_recur.GRU,
        {},
        _gru(True),
        keras.layers.GRU,
        fused=True,
        representative=True,
    ),
    "gru_reset_before": Variant(
        keras_recur.GRU,
        {"reset_after": False},
        _gru(False),
        keras.layers.GRU,
        usage=False,
    ),
    "layer_norm": Variant(
        keras_recur.LayerNormLSTM,
        {},
        _layer_norm,
        keras.layers.LSTM,
        frozenset(
            {"norm_gamma_initializer", "norm_beta_initializer", "norm_epsilon"}
        ),
    ),
    # Fully connected, so that a 5-unit reservoir has no zero weights.
    "esn": Variant(
        keras_recur.EchoStateNetwork,
        {"connectivity": 1.0},
        _esn,
        representative=True,
    ),
    "min_gru": Variant(
        keras_recur.MinGRU,
        {},
        _minimal(reference.min_gru_step),
        representative=True,
    ),
    "min_gru_log": Variant(
        keras_recur.MinGRU,
        {"log_space": True},
        _minimal(reference.min_gru_step, log_space=True),
        usage=False,
    ),
    "min_lstm": Variant(
        keras_recur.MinLSTM,
        {},
        _minimal(reference.min_lstm_step),
    ),
    "min_lstm_log": Variant(
        keras_recur.MinLSTM,
        {"log_space": True},
        _minimal(reference.min_lstm_step, log_space=True),
        usage=False,
    ),
    "lru": Variant(
        keras_recur.LRU,
        {"r_min": 0.5},
        _lru,
        representative=True,
    ),
    "clockwork": Variant(keras_recur.ClockworkRNN, {}, _clockwork),
    "depth_gated": Variant(
        keras_recur.DepthGatedLSTM,
        {},
        _depth_gated,
        keras.layers.LSTM,
        PEEPHOLE_ARGUMENTS
        | {"depth", "coupled_forget_gate", "use_peepholes", "input_depth_gate"},
    ),
    "grid": Variant(
        keras_recur.GridLSTM,
        {},
        grid_reference(),
        keras.layers.LSTM,
        GRID_ARGUMENTS,
    ),
    # Tied weights, the time dimension prioritised, the usual LSTM's hidden
    # vector: the equations differ, the wrapper is the same.
    "grid_tied_time": Variant(
        keras_recur.GridLSTM,
        {"depth": 3, "tied": True, "priority": "time", "hidden_form": "lstm"},
        grid_reference(3, True, "time", "lstm"),
        keras.layers.LSTM,
        GRID_ARGUMENTS,
        usage=False,
    ),
}
TRAINED_VARIANTS = sorted(n for n, v in VARIANTS.items() if v.trained)
USAGE_VARIANTS = sorted(n for n, v in VARIANTS.items() if v.usage)
FUSED_VARIANTS = sorted(n for n, v in VARIANTS.items() if v.fused)
# The cells linear in their state, which run a whole sequence as one scan.
LINEAR_VARIANTS = sorted(n for n, v in VARIANTS.items() if v.record.linear)
# One variant per code path (every one a usage variant).
REPRESENTATIVE_VARIANTS = sorted(
    n for n, v in VARIANTS.items() if v.representative
)
# What the wrapper-level tests run: every usage variant on PyTorch, the
# representatives of the code paths on TensorFlow and JAX.
WRAPPER_VARIANTS = USAGE_VARIANTS if EVERY_VARIANT else REPRESENTATIVE_VARIANTS
# The variants that stand in for a Keras layer.
KERAS_VARIANTS = sorted(
    n for n, v in VARIANTS.items() if v.keras_counterpart is not None
)
# Each public recurrent layer once.
LAYERS = sorted({v.layer for v in VARIANTS.values()}, key=lambda c: c.__name__)


def reference_step(variant, weight_values, recurrent_mask=1.0):
    """The NumPy step of `variant` with these weights (in layer order)."""
    values = [np.asarray(w, np.float64) for w in weight_values]
    return VARIANTS[variant].reference(values, recurrent_mask)


def make_layer(variant, units, input_shape, rng=None, **kwargs):
    layer_class, extra = VARIANTS[variant][:2]
    layer = layer_class(units, **extra, **kwargs)
    layer.build(input_shape)
    if rng is not None:
        randomize(layer, rng)
    return layer


def state_count(variant):
    layer_class, extra = VARIANTS[variant][:2]
    return len(layer_class(4, **extra).cell.state_size)
