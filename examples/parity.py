"""k-bit parity (Kalchbrenner, Danihelka & Graves 2015, section 4.1): the
one-dimensional Grid LSTM against a stack of LSTMs of the same weight
count, k from --start upward by --step until each network fails.

Each string of k bits (as -1 and 1) is given to a network whole, through one
projection, as in the paper (not a bit per step, which would make it 2-bit
parity); the target is whether it holds an odd number of ones. Two networks
with a sigmoid output: `GridLSTM1D` (--units units, --depth blocks, tied
weights, the paper's parity network) and a stack of --stack-depth
`keras.layers.LSTM` layers reading the string as one step, with the units
that bring its weight count closest to the grid's
(`keras_recur.catalogue.units_for_weight_count`). Each epoch trains on
--samples fresh random strings (nothing can be memorised) and validates on
2,000 fixed ones; a network solves k when its validation accuracy reaches
--solved, and its training stops there. For each network and k a grid
search tries each learning rate of --learning-rates (keras-tuner, the same
seed), scored by validation accuracy; a network that fails a k is not tried
at larger ones (so it runs on one machine, not as a distributed search).
Writes parity.md (per k and network: solved or not, its best
accuracy, the strings seen until solved), parity.png (best accuracy against
k), a trial table and plot per search, and results.json to --out.

The paper's tied 1-D Grid LSTMs solve parity up to 250 bits (its section
4.1), with far more training than this example's default budget (--epochs x
--samples strings per trial) on a CPU; where this run's networks stop
solving says what the budget allows, not what they can do.
"""

import os

import common
import keras
import keras_tuner
import numpy as np

import keras_recur
from keras_recur import catalogue
from keras_recur import tuning

NETWORKS = ("GridLSTM1D", "LSTM stack")


def parity_strings(rng, count, bits):
    """`count` random strings of `bits` bits as -1 and 1, and their parity
    (1 where the number of ones is odd), float32."""
    ones = rng.integers(0, 2, (count, bits))
    strings = (2 * ones - 1).astype("float32")
    return strings, (ones.sum(axis=1) % 2).astype("float32")[:, None]


class FreshStrings(keras.utils.PyDataset):
    """`batches` batches of new random strings at every epoch."""

    def __init__(self, bits, batches, batch_size, seed):
        super().__init__()
        self.bits, self.batches, self.batch_size = bits, batches, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        return parity_strings(self.rng, self.batch_size, self.bits)


class Solved(keras.callbacks.Callback):
    """Stops training once the validation accuracy reaches `threshold`."""

    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] >= self.threshold:
            self.model.stop_training = True


def network(name, bits, units, depth):
    """The grid (`units`, `depth` tied blocks) or the LSTM stack (`depth`
    layers of `units`) on `bits`-bit strings, with a sigmoid output."""
    inputs = keras.Input((bits,))
    if name == "GridLSTM1D":
        hidden = keras_recur.layers.GridLSTM1D(units, depth=depth, tied=True)(
            inputs
        )
    else:
        hidden = keras.layers.Reshape((1, bits))(inputs)
        for layer in range(depth):
            hidden = keras.layers.LSTM(
                units, return_sequences=layer < depth - 1
            )(hidden)
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs)


class ParityNetwork(keras_tuner.HyperModel):
    """One network on one k, its learning rate searched."""

    def __init__(self, name, bits, units, depth, learning_rates, seed):
        super().__init__(name=name)
        self.network_name, self.bits = name, bits
        self.units, self.depth = units, depth
        self.learning_rates, self.seed = learning_rates, seed

    def build(self, hp):
        rate = hp.Choice("learning_rate", self.learning_rates)
        keras.utils.set_random_seed(self.seed)
        model = network(self.network_name, self.bits, self.units, self.depth)
        model.compile(
            keras.optimizers.Adam(rate),
            "binary_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit`, recording each epoch's elapsed time (the trial
        tables' seconds)."""
        callbacks = [tuning.ElapsedTime(), *kwargs.pop("callbacks", [])]
        return model.fit(*args, callbacks=callbacks, **kwargs)


def parse_arguments():
    args = common.parser(__doc__, trials=2, epochs=100, out="out/parity")
    args.set_defaults(tuner="grid")
    args.add_argument("--start", type=common.at_least_one, default=20)
    args.add_argument("--step", type=common.at_least_one, default=10)
    args.add_argument("--max-bits", type=common.at_least_one, default=250)
    args.add_argument("--units", type=common.at_least_one, default=64)
    args.add_argument("--depth", type=common.at_least_one, default=6)
    args.add_argument("--stack-depth", type=common.at_least_one, default=3)
    args.add_argument("--samples", type=common.at_least_one, default=20000)
    args.add_argument("--solved", type=float, default=0.99)
    args.add_argument("--learning-rates", default="0.003,0.001")
    args = args.parse_args()
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    if not 0.5 < args.solved <= 1.0:
        raise ValueError(
            f"--solved must be an accuracy in (0.5, 1]. "
            f"Received: --solved={args.solved}"
        )
    if "KERASTUNER_ORACLE_IP" in os.environ:
        # Which k comes next depends on the last search's outcome, which a
        # worker learns only after the chief: one machine.
        raise ValueError(
            "examples/parity.py runs its searches one after another on one "
            "machine (each k follows from the last): unset "
            "KERASTUNER_ORACLE_IP. Received: KERASTUNER_ORACLE_IP="
            f"{os.environ['KERASTUNER_ORACLE_IP']}"
        )
    if args.max_bits < args.start:
        raise ValueError(
            f"--max-bits must be at least --start ({args.start}). "
            f"Received: --max-bits={args.max_bits}"
        )
    return args


def stack_units(args, bits):
    """The stack's units whose weight count is closest to the grid's."""
    grid = network("GridLSTM1D", bits, args.units, args.depth).count_params()
    units = catalogue.units_for_weight_count(
        lambda u: network(
            "LSTM stack", bits, u, args.stack_depth
        ).count_params(),
        grid,
    )
    return units


def strings_to_solve(tuner, threshold, samples):
    """The strings the best trial saw until it solved (epochs x samples),
    or None if no trial solved."""
    seen = []
    for trial in tuner.oracle.trials.values():
        history = trial.metrics.get_history("val_accuracy")
        solved = [o.step for o in history if o.value[0] >= threshold]
        if solved:
            seen.append((min(solved) + 1) * samples)
    return min(seen) if seen else None


def plot_accuracy(results, threshold, path):
    """Each network's best validation accuracy against k, and the accuracy
    that counts as solved."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4), layout="constrained")
    axes = figure.add_subplot()
    for name in NETWORKS:
        rows = results[name]
        axes.plot(
            [r["bits"] for r in rows],
            [r["best_accuracy"] for r in rows],
            marker="o",
            label=name,
        )
    axes.axhline(threshold, linestyle="--", color="gray", label="solved")
    axes.set_ylim(0.45, 1.02)
    axes.set_xlabel("bits (k)")
    axes.set_ylabel("best validation accuracy")
    axes.set_title("k-bit parity at equal weight counts")
    axes.legend()
    figure.savefig(path, dpi=100)


def main():
    args = parse_arguments()
    common.setup(args)
    batch_size = 32
    if args.quick:
        args.units, args.depth, args.samples = 8, 2, 512
        args.max_bits = min(args.max_bits, args.start + args.step)
        args.learning_rates = args.learning_rates[: args.trials]
    results = {name: [] for name in NETWORKS}
    failed = set()
    bits = args.start
    while bits <= args.max_bits and len(failed) < len(NETWORKS):
        validation = parity_strings(
            np.random.default_rng(args.seed + bits), 2000, bits
        )
        sizes = {
            "GridLSTM1D": (args.units, args.depth),
            "LSTM stack": (stack_units(args, bits), args.stack_depth),
        }
        for name in NETWORKS:
            if name in failed:
                continue
            units, depth = sizes[name]
            print(
                f"\n=== {bits} bits: {name} ({units} units, depth {depth}) ==="
            )
            slug = f"{name.replace(' ', '_')}_{bits}"
            tuner = common.make_tuner(
                args,
                ParityNetwork(
                    name, bits, units, depth, args.learning_rates, args.seed
                ),
                keras_tuner.Objective("val_accuracy", "max"),
                slug,
            )
            common.search(
                tuner,
                args,
                FreshStrings(
                    bits, args.samples // batch_size, batch_size, args.seed
                ),
                validation_data=validation,
                stop=Solved(args.solved),
            )
            common.report(
                tuner,
                args,
                f"{bits}-bit parity: {name}",
                f"trials_{slug}",
                by="learning_rate",
            )
            best = tuner.oracle.get_best_trials(1)[0]
            strings = strings_to_solve(
                tuner, args.solved, args.samples // batch_size * batch_size
            )
            weights = network(name, bits, units, depth).count_params()
            results[name].append(
                {
                    "bits": bits,
                    "units": units,
                    "depth": depth,
                    "weights": int(weights),
                    "best_accuracy": float(best.score),
                    "learning_rate": best.hyperparameters["learning_rate"],
                    "solved": strings is not None,
                    "strings": strings,
                }
            )
            if strings is None:
                failed.add(name)
        bits += args.step

    rows = []
    for name in NETWORKS:
        for r in results[name]:
            outcome = (
                f"solved after {r['strings']:,} strings"
                if r["solved"]
                else "not solved"
            )
            rows.append(
                [
                    str(r["bits"]),
                    name,
                    f"{r['units']} x {r['depth']}",
                    f"{r['weights']:,}",
                    f"{r['learning_rate']:g}",
                    f"{r['best_accuracy']:.3f}",
                    outcome,
                ]
            )
    rows.sort(key=lambda row: (int(row[0]), row[1]))
    common.write_table(
        args,
        "parity",
        [
            "bits",
            "network",
            "units x depth",
            "weights",
            "best learning rate",
            "validation accuracy",
            "outcome",
        ],
        rows,
    )
    plot_accuracy(results, args.solved, os.path.join(args.out, "parity.png"))
    largest = {
        name: max((r["bits"] for r in results[name] if r["solved"]), default=0)
        for name in NETWORKS
    }
    print(f"\nLargest k solved: {largest}")
    common.finish(
        args,
        {
            "budget_strings": args.epochs * args.samples,
            "solved_at": args.solved,
            "largest_solved": largest,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
