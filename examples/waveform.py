"""The Clockwork RNN's sequence generation task (Koutník et al. 2014,
section 4.1): generate a waveform from a constant input, each network at the
same weight count, scored by the normalised mean squared error.

The waveform: `--length` samples (the paper's 320) of a sum of sines of
periods 8, 32, 80 and 160 steps with random phases and amplitudes (one draw
per `--seed`), scaled to [-1, 1]. The input is 1 at every step, so the
network must produce the whole waveform from its own dynamics. An epoch is
`--updates` Adam updates on that one sequence (a batch of one), and the
score is the NMSE on it, the paper's measure: the mean squared error over
the waveform's variance (0 is a perfect copy, 1 is no better than its mean).

Each network (`--cells`: any cell of the catalogue, and `SimpleRNN`, Keras'
simple RNN, the paper's SRN baseline) has one recurrent layer and a linear
output, with as many weights as the Clockwork RNN of `--units` units and its
default modules (64 units in 8 modules of periods 1, 2, 4, ..., 128: 2,497
weights, the paper's count): each other network gets the units whose weight
count is closest. A grid search per network tries each learning rate of
`--learning-rates`, each trial the same seed. Writes waveform.md (each
network's units, weights, best learning rate, NMSE and training seconds),
generated.png (each best network's output over the target), a trial table
and plot per network, and results.json to --out.

The paper's finding: the CW-RNN's NMSE is far below the SRN's and the
LSTM's at the same number of weights (its Table 1; the paper trained with
SGD and Nesterov momentum, and its waveform was a recorded one).
"""

import os

import common
import keras
import keras_tuner
import numpy as np

from keras_recur import catalogue
from keras_recur import tuning

PERIODS = (8, 32, 80, 160)


def waveform(length, rng):
    """`length` samples of a sum of sines of the `PERIODS`, with random
    phases and amplitudes, scaled to [-1, 1]."""
    steps = np.arange(length)
    wave = sum(
        rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * steps / period + phase)
        for period, phase in zip(PERIODS, rng.uniform(0, 2 * np.pi, 4))
    )
    low, high = wave.min(), wave.max()
    return (2 * (wave - low) / (high - low) - 1).astype("float32")


class SimpleRNNRegressor(tuning.SequenceRegressor):
    """`tuning.SequenceRegressor` around `keras.layers.SimpleRNN`, the
    paper's SRN baseline, which the catalogue of cells leaves out."""

    def recurrent_stack(self, hp, inputs, return_sequences=False):
        layer = keras.layers.SimpleRNN(
            self.value(hp, "units"), return_sequences=return_sequences
        )
        return layer(inputs)


def own_defaults(cell):
    """The catalogue's default of each of the cell's own hyperparameters
    (the first choice), held fixed: the weight count is matched once."""
    record = catalogue.CELLS.get(cell)
    if record is None:
        return {}
    return {
        name: spec.space[0] if isinstance(spec.space, tuple) else spec.space
        for name, spec in record.hyperparameters.items()
    }


def hypermodel(args, cell, units, length):
    """A one-layer network of `cell` with `units`, a linear output at every
    step, searched over the learning rates."""
    arguments = dict(
        input_shape=(length, 1),
        return_sequences=True,
        units=units,
        depth=1,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rates,
        seed=args.seed,
        distribution=args.distribution,
    )
    if cell == "SimpleRNN":
        return SimpleRNNRegressor(**arguments)
    return tuning.SequenceRegressor(
        cell=cell, cell_space={cell: own_defaults(cell)}, **arguments
    )


def matched_units(args, cell, target, length):
    """The units whose network has the weight count closest to `target`."""
    return catalogue.units_for_weight_count(
        lambda units: (
            hypermodel(args, cell, units, length)
            .build(keras_tuner.HyperParameters())
            .count_params()
        ),
        target,
    )


def parse_arguments():
    args = common.parser(__doc__, trials=3, epochs=200, out="out/waveform")
    args.set_defaults(tuner="grid")
    args.add_argument("--length", type=common.at_least_one, default=320)
    args.add_argument(
        "--units",
        type=common.at_least_one,
        default=64,
        help="the Clockwork RNN's units (default 64: 8 modules of 8)",
    )
    args.add_argument(
        "--updates",
        type=common.at_least_one,
        default=20,
        help="updates per epoch (default 20)",
    )
    args.add_argument(
        "--learning-rates",
        default="0.001,0.003,0.01",
        help="comma-separated learning rates the search tries",
    )
    args.add_argument(
        "--cells",
        default="ClockworkRNN,SimpleRNN,LSTM,GRU",
        help="comma-separated networks to compare: cells of the catalogue "
        "and SimpleRNN",
    )
    args = args.parse_args()
    common.names_among("--cells", args.cells, [*tuning.CELLS, "SimpleRNN"])
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    if args.length < 2:
        raise ValueError(
            f"--length must be at least 2. Received: --length={args.length}"
        )
    return args


def plot_generated(target, generated, path):
    """Each network's output over the target, one panel each."""
    from matplotlib.figure import Figure

    figure = Figure(
        figsize=(9, 1.9 * len(generated) + 0.4), layout="constrained"
    )
    axes = figure.subplots(len(generated), 1, sharex=True, squeeze=False)
    for (name, (output, nmse)), ax in zip(generated.items(), axes[:, 0]):
        ax.plot(target, color="black", linewidth=1.2, label="target")
        ax.plot(output, color="tab:red", linewidth=1.0, label="generated")
        ax.set_title(f"{name}: NMSE {nmse:.3g}", fontsize=10)
        ax.set_ylim(-1.3, 1.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("step")
    figure.savefig(path, dpi=100)


def main():
    args = parse_arguments()
    common.setup(args)
    if args.quick:
        args.length = min(args.length, 40)
        args.units = min(args.units, 16)
        args.updates = min(args.updates, 4)
        args.learning_rates = args.learning_rates[: args.trials]
    target = waveform(args.length, np.random.default_rng(args.seed))
    inputs = np.ones((args.updates, args.length, 1), "float32")
    targets = np.broadcast_to(target[None, :, None], inputs.shape)
    cells = args.cells.split(",")
    clockwork = hypermodel(args, "ClockworkRNN", args.units, args.length)
    budget = clockwork.build(keras_tuner.HyperParameters()).count_params()
    units = {
        cell: args.units
        if cell == "ClockworkRNN"
        else matched_units(args, cell, budget, args.length)
        for cell in cells
    }
    print(
        f"waveform of {args.length} samples; {budget} weights (ClockworkRNN, "
        f"{args.units} units); units: {units}"
    )
    tuners = common.tune_each(
        args,
        {
            cell: hypermodel(args, cell, units[cell], args.length)
            for cell in cells
        },
        "loss",
        inputs,
        targets,
        batch_size=1,
    )
    if tuning.is_worker():
        return

    variance = float(np.var(target))
    rows, scores, generated = [], {}, {}
    for cell, tuner in tuners.items():
        best = tuning.ResultsTable.from_tuner(tuner).best()
        model = tuner.get_best_models(1)[0]
        output = keras.ops.convert_to_numpy(model(inputs[:1]))[0, :, 0]
        nmse = float(np.mean((output - target) ** 2)) / variance
        generated[cell] = (output, nmse)
        scores[cell] = {
            "units": units[cell],
            "weights": model.count_params(),
            "learning_rate": best["learning_rate"],
            "nmse": nmse,
            "fit_seconds": float(best["seconds"]),
        }
        rows.append(
            [
                cell,
                str(units[cell]),
                f"{model.count_params():,}",
                f"{best['learning_rate']:g}",
                f"{nmse:.3g}",
                f"{float(best['seconds']):.1f}",
            ]
        )
    common.write_table(
        args,
        "waveform",
        [
            "network",
            "units",
            "weights",
            "best learning rate",
            "NMSE (lower is better)",
            "training seconds",
        ],
        rows,
    )
    plot_generated(target, generated, os.path.join(args.out, "generated.png"))
    common.finish(
        args,
        {
            "length": args.length,
            "periods": list(PERIODS),
            "weights": budget,
            "updates_per_epoch": args.updates,
            "epochs": args.epochs,
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
