"""The catalogue of recurrent cells: one record per public cell, the one
place that says what the library knows about it. `keras_recur.tuning`
searches the cells it lists with their own hyperparameters, and
benchmarks/run.py, the examples and the tests read it too; a new cell adds
its record here (docs/contributing.md).

Each record (`CellRecord`) gives the cell's layer and cell classes, whether
its weights train (and so take dropout), whether it has a recurrent kernel
(and so recurrent dropout), whether it is linear in its state (a whole
sequence runs as one scan), the Keras layer of its family that benchmarks
compare it with, and its own hyperparameters: each a default search space
(a value, or a tuple of choices, the first the default) and the check of a
value. `"LSTM"` is `keras.layers.LSTM`, the searches' baseline.

Example:

>>> from keras_recur import catalogue
>>> record = catalogue.CELLS["LRU"]
>>> record.layer.__name__, record.linear, record.recurrent_kernel
('LRU', True, False)
>>> sorted(record.hyperparameters)
['r_min', 'state_dim']
>>> catalogue.CELLS["LRU"].hyperparameters["r_min"].space
(0.0, 0.5, 0.9)
"""

from collections.abc import Callable
from typing import NamedTuple

import keras

from keras_recur import layers
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_float
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_rate

# Checks of one value of a hyperparameter: each raises a ValueError naming
# the argument, and returns the value in canonical form (floats as float,
# so that a list of choices holds one type).


def positive_int(argument, value):
    check_positive_int(argument, value)
    return int(value)


def flag(argument, value):
    check_bool(argument, value)
    return value


def rate(argument, value):
    """In [0, 1)."""
    check_rate(argument, value)
    return float(value)


def fraction(argument, value):
    """In (0, 1]."""
    check_positive_float(argument, value, at_most=1.0)
    return float(value)


def positive(argument, value):
    check_positive_float(argument, value)
    return float(value)


class Hyperparameter(NamedTuple):
    """A cell's own searchable argument."""

    # The default search space: a value, or a tuple of choices (the first
    # is the default).
    space: object
    # check(argument, value) -> the value, canonical; raises ValueError.
    check: Callable
    # What it is, for the hypermodels' docs.
    doc: str


class CellRecord(NamedTuple):
    """What the library knows about one cell."""

    # The sequence layer and its cell.
    layer: type
    cell: type
    # Whether its weights train, and so take dropout (a fixed reservoir's
    # do not).
    trained: bool = True
    # Whether it has a recurrent kernel, and so recurrent dropout.
    recurrent_kernel: bool = True
    # Whether it is linear in its state: a whole sequence runs as one scan.
    linear: bool = False
    # The Keras layer of its family that benchmarks compare it with:
    # "lstm", "gru" or "rnn" (SimpleRNN).
    keras_family: str = "lstm"
    # Its own hyperparameters: argument name -> Hyperparameter.
    hyperparameters: dict = {}
    # Whether it is Keras' own (the baseline), not keras_recur's.
    keras_own: bool = False


# The minimal cells share one: the hypermodels search it as one.
LOG_SPACE = Hyperparameter(
    False, flag, "the log-space variant (positive states)"
)

CELLS = {
    "PeepholeLSTM": CellRecord(layers.PeepholeLSTM, layers.PeepholeLSTMCell),
    "CoupledLSTM": CellRecord(
        layers.CoupledLSTM,
        layers.CoupledLSTMCell,
        hyperparameters={
            "use_peepholes": Hyperparameter(
                (False, True), flag, "whether the gates see the cell state"
            ),
        },
    ),
    "GRU": CellRecord(layers.GRU, layers.GRUCell, keras_family="gru"),
    "LayerNormLSTM": CellRecord(layers.LayerNormLSTM, layers.LayerNormLSTMCell),
    "EchoStateNetwork": CellRecord(
        layers.EchoStateNetwork,
        layers.ESNCell,
        trained=False,
        keras_family="rnn",
        hyperparameters={
            "spectral_radius": Hyperparameter(
                (0.9, 0.5, 1.1), positive, "the reservoir's spectral radius"
            ),
            "leaky": Hyperparameter(
                (1.0, 0.5, 0.2), fraction, "the reservoir's leaking rate"
            ),
            "connectivity": Hyperparameter(
                0.1, fraction, "the reservoir's connection probability"
            ),
        },
    ),
    "MinGRU": CellRecord(
        layers.MinGRU,
        layers.MinGRUCell,
        recurrent_kernel=False,
        linear=True,
        keras_family="gru",
        hyperparameters={"log_space": LOG_SPACE},
    ),
    "MinLSTM": CellRecord(
        layers.MinLSTM,
        layers.MinLSTMCell,
        recurrent_kernel=False,
        linear=True,
        hyperparameters={"log_space": LOG_SPACE},
    ),
    "LRU": CellRecord(
        layers.LRU,
        layers.LRUCell,
        recurrent_kernel=False,
        linear=True,
        keras_family="gru",
        hyperparameters={
            "state_dim": Hyperparameter(
                (64, 128), positive_int, "the complex state's size"
            ),
            "r_min": Hyperparameter(
                (0.0, 0.5, 0.9), rate, "the smallest initial eigenvalue modulus"
            ),
        },
    ),
    "ClockworkRNN": CellRecord(
        layers.ClockworkRNN, layers.ClockworkRNNCell, keras_family="rnn"
    ),
    "DepthGatedLSTM": CellRecord(
        layers.DepthGatedLSTM, layers.DepthGatedLSTMCell
    ),
    "GridLSTM": CellRecord(
        layers.GridLSTM,
        layers.GridLSTMCell,
        hyperparameters={
            "tied": Hyperparameter(
                (False, True), flag, "whether the blocks share their weights"
            ),
        },
    ),
    "LSTM": CellRecord(
        keras.layers.LSTM, keras.layers.LSTMCell, keras_own=True
    ),
}


def units_for_weight_count(weight_count, target):
    """The units whose network has the weight count closest to `target` (the
    fewer units on a tie), `weight_count(units)` giving a network's count:
    for comparisons at equal weight counts, as the papers of the Clockwork
    RNN and the LSTM variants make them. A bisection, as the count grows
    with the units, then a look at the 8 units either side, for counts that
    grow only roughly (the Clockwork RNN's default modules depend on the
    divisors of its units)."""
    counts = {}

    def count(units):
        if units not in counts:
            counts[units] = weight_count(units)
        return counts[units]

    low, high = 1, 2
    while count(high) < target:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < target:
            low = middle
        else:
            high = middle
    return min(
        range(max(1, low - 8), high + 9),
        key=lambda units: (abs(count(units) - target), units),
    )


def hyperparameter_cells():
    """Each cell hyperparameter, and the names of the cells that have it, in
    the catalogue's order: `{"use_peepholes": ("CoupledLSTM",), ...}`."""
    having = {}
    for name, record in CELLS.items():
        for argument in record.hyperparameters:
            having[argument] = (*having.get(argument, ()), name)
    return having


def cells(**properties):
    """The names of the cells whose records have these values, in the
    catalogue's order: `cells(trained=True)`, `cells(linear=True)`."""
    return tuple(
        name
        for name, record in CELLS.items()
        if all(getattr(record, k) == v for k, v in properties.items())
    )
