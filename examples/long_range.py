"""Long-range memory: every cell of the library on the adding problem and on
selective copying, each tuned with the same budget, error against training
time.

Tasks (`--task`):

  adding    (Hochreiter & Schmidhuber 1997) a sequence of `--steps` pairs:
            a value drawn from U(0, 1) and a marker, 1 at two positions (one
            in each half), else 0; the target is the sum of the two marked
            values, read after the last step. Always answering 1 scores the
            MSE of the sum's variance, 1/6: a model below it has found the
            markers across up to `--steps` steps.
  copying   selective copying (Gu & Dao 2023): `--tokens` data tokens
            (from a vocabulary of `--vocabulary`) at random positions among
            `--steps` noise steps, then as many marker steps, at which the
            model must output the data tokens in order. Scored by token
            accuracy at the marker steps (chance: 1 / vocabulary).

Each cell (`--cells`, default every cell of keras_recur.tuning) gets its own
search over the same grid with the same tuner seed and budget: Adam's
gradient clipping by norm, `clipnorm` 0 (none) and 1, the classic remedy for
exploding gradients over long sequences (Pascanu et al. 2013), at a fixed
learning rate. Writes long_range.md (each cell's best trial: its held-out
error, its training seconds, and its validation score with and without
clipping), tradeoff.png (held-out error against training time, one point
per cell), a trial table and plot per cell, and results.json to --out.
"""

import os

import common
import keras
import numpy as np

from keras_recur import tuning

# A long memory needs the LRU's eigenvalues near the unit circle (the
# paper's r_min for long-range tasks) and a slow reservoir; the other
# cells' own settings are their defaults.
CELL_SPACE = {
    "LRU": {"r_min": 0.9},
    "MinGRU": {"log_space": False},
    "MinLSTM": {"log_space": False},
    "EchoStateNetwork": {"spectral_radius": 0.9, "leaky": 0.5},
    "CoupledLSTM": {"use_peepholes": False},
}


def adding_problem(count, steps, rng):
    """Inputs (count, steps, 2) and targets (count, 1)."""
    values = rng.uniform(0.0, 1.0, (count, steps))
    first = rng.integers(0, steps // 2, count)
    second = rng.integers(steps // 2, steps, count)
    markers = np.zeros((count, steps))
    rows = np.arange(count)
    markers[rows, first] = markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    inputs = np.stack([values, markers], axis=-1).astype("float32")
    return inputs, targets[:, None].astype("float32")


def selective_copying(count, steps, tokens, vocabulary, rng):
    """One-hot inputs (count, steps + tokens, vocabulary + 2), per-step
    targets and the weights that score only the marker steps.

    Symbols: 0 .. vocabulary - 1 are data, `vocabulary` the noise and
    `vocabulary + 1` the marker.
    """
    noise, marker = vocabulary, vocabulary + 1
    data = rng.integers(0, vocabulary, (count, tokens))
    symbols = np.full((count, steps + tokens), noise)
    symbols[:, steps:] = marker
    for row in range(count):
        positions = np.sort(rng.choice(steps, tokens, replace=False))
        symbols[row, positions] = data[row]
    inputs = np.eye(vocabulary + 2, dtype="float32")[symbols]
    targets = np.zeros((count, steps + tokens), "int32")
    targets[:, steps:] = data
    weights = np.zeros((count, steps + tokens), "float32")
    weights[:, steps:] = 1.0
    return inputs, targets, weights


def parse_arguments():
    args = common.parser(__doc__, trials=2, epochs=10, out=None)
    args.set_defaults(tuner="grid")
    args.add_argument("--task", choices=["adding", "copying"], default="adding")
    args.add_argument(
        "--steps",
        type=common.at_least_one,
        help="sequence length (default 1000 for adding, 64 noise steps for "
        "copying)",
    )
    args.add_argument(
        "--samples",
        type=common.at_least_one,
        default=1000,
        help="training sequences (a fifth as many validate, half as many test)",
    )
    args.add_argument("--tokens", type=common.at_least_one, default=8)
    args.add_argument("--vocabulary", type=common.at_least_one, default=8)
    args.add_argument("--units", type=common.at_least_one, default=32)
    args.add_argument(
        "--depth",
        type=common.at_least_one,
        help="stacked layers (default 1 for adding, 2 for copying)",
    )
    args.add_argument("--learning-rate", type=float, default=3e-3)
    args.add_argument(
        "--cells",
        default=",".join(tuning.CELLS),
        help="comma-separated cells to compare",
    )
    args = args.parse_args()
    common.names_among("--cells", args.cells, tuning.CELLS)
    if not 0 < args.learning_rate < 1:
        raise ValueError(
            "--learning-rate must be in (0, 1). "
            f"Received: --learning-rate={args.learning_rate}"
        )
    if args.steps is None:
        args.steps = 1000 if args.task == "adding" else 64
    if args.task == "adding" and args.steps < 2:
        raise ValueError(
            "--task adding needs --steps >= 2 (a marker in each half). "
            f"Received: --steps={args.steps}"
        )
    if args.task == "copying" and args.tokens > args.steps:
        raise ValueError(
            "--task copying places --tokens among --steps noise steps. "
            f"Received: --tokens={args.tokens}, --steps={args.steps}"
        )
    if args.samples < 5:
        raise ValueError(
            "--samples must be at least 5 (a fifth as many validate). "
            f"Received: --samples={args.samples}"
        )
    args.depth = args.depth or (1 if args.task == "adding" else 2)
    args.out = args.out or os.path.join("out", f"long_range_{args.task}")
    return args


def datasets(args):
    """{"train", "validation", "test"}: (inputs, targets, weights or None)."""
    rng = np.random.default_rng(args.seed)
    counts = dict(
        train=args.samples,
        validation=args.samples // 5,
        test=args.samples // 2,
    )
    if args.task == "adding":
        return {
            name: (*adding_problem(count, args.steps, rng), None)
            for name, count in counts.items()
        }
    return {
        name: selective_copying(
            count, args.steps, args.tokens, args.vocabulary, rng
        )
        for name, count in counts.items()
    }


def hypermodel(args, cell, shape):
    common_arguments = dict(
        cell=cell,
        units=args.units,
        depth=args.depth,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rate,
        clipnorm=[0.0, 1.0],
        cell_space={
            **CELL_SPACE,
            "LRU": {**CELL_SPACE["LRU"], "state_dim": args.units},
        },
        seed=args.seed,
        distribution=args.distribution,
    )
    if args.task == "adding":
        return tuning.SequenceRegressor(shape, **common_arguments)
    return tuning.SequenceClassifier(
        shape,
        num_classes=args.vocabulary,
        return_sequences=True,
        **common_arguments,
    )


def held_out_error(args, model, inputs, targets):
    """The test MSE (adding) or token error rate at the marker steps
    (copying); both lower is better."""
    # One call on the whole set: predict() would trace a function per model
    # and batch shape, and TensorFlow warns of retracing.
    outputs = keras.ops.convert_to_numpy(model(inputs, training=False))
    if args.task == "adding":
        return float(np.mean((outputs - targets) ** 2))
    guesses = outputs[:, args.steps :].argmax(-1)
    return float(np.mean(guesses != targets[:, args.steps :]))


def plot_tradeoff(points, path, xlabel, ylabel, title, reference=None):
    """Each cell's (seconds, error) as a labelled point."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name, (seconds, error) in points.items():
        axes.scatter([seconds], [error], s=40)
        axes.annotate(
            name, (seconds, error), textcoords="offset points", xytext=(5, 4)
        )
    if reference is not None:
        value, label = reference
        axes.axhline(value, color="gray", linestyle="--", linewidth=1)
        axes.annotate(
            label,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(0, 4),
            color="gray",
        )
    axes.set_xscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    figure.savefig(path, dpi=100)


def main():
    args = parse_arguments()
    common.setup(args)
    batch_size = 50
    if args.quick:
        # Several batches an epoch, even here: TensorFlow warns of
        # retracing when most calls of a train function are its first.
        batch_size = 10
        args.samples = min(args.samples, 40)
        args.steps = min(args.steps, 40 if args.task == "adding" else 12)
        args.tokens = min(args.tokens, 3)
        args.units = min(args.units, 8)
    sets = datasets(args)
    x_train, y_train, w_train = sets["train"]
    shape = x_train.shape[1:]
    print(
        f"{args.task}: {len(x_train)} training sequences of {shape[0]} steps "
        f"of {shape[1]} features"
    )
    cells = args.cells.split(",")
    validation = tuple(v for v in sets["validation"] if v is not None)
    train = (x_train, y_train) + (() if w_train is None else (w_train,))
    fit_arguments = dict(validation_data=validation, batch_size=batch_size)
    tuners = common.tune_each(
        args,
        {cell: hypermodel(args, cell, shape) for cell in cells},
        "val_loss",
        *train[:2],
        **({} if w_train is None else {"sample_weight": w_train}),
        **fit_arguments,
    )
    if tuning.is_worker():
        return

    x_test, y_test, _ = sets["test"]
    rows, points, scores = [], {}, {}
    for cell, tuner in tuners.items():
        table = tuning.ResultsTable.from_tuner(tuner)
        best = table.best()
        by_clipnorm = {
            row["clipnorm"]: row["score"]
            for row in table.rows
            if row.get("score") is not None
        }
        model = tuner.get_best_models(1)[0]
        error = held_out_error(args, model, x_test, y_test)
        seconds = float(best["seconds"])
        points[cell] = (seconds, error)
        scores[cell] = {
            "test_error": error,
            "fit_seconds": seconds,
            "clipnorm": best["clipnorm"],
            "val_loss_by_clipnorm": {str(k): v for k, v in by_clipnorm.items()},
        }
        rows.append(
            [
                cell,
                f"{error:.4f}",
                f"{seconds:.1f}",
                f"{best['clipnorm']:g}",
                *(
                    f"{by_clipnorm[c]:.4f}" if c in by_clipnorm else ""
                    for c in (0.0, 1.0)
                ),
            ]
        )
    if args.task == "adding":
        error_name = "test MSE (always 1: 0.1667)"
        reference = (1.0 / 6.0, "always answering 1")
    else:
        error_name = "test token error at the marker steps"
        reference = (1.0 - 1.0 / args.vocabulary, "chance")
    common.write_table(
        args,
        "long_range",
        [
            "cell",
            error_name,
            "training seconds",
            "best clipnorm",
            "val loss, no clipping",
            "val loss, clipnorm 1",
        ],
        rows,
    )
    plot_tradeoff(
        points,
        os.path.join(args.out, "tradeoff.png"),
        xlabel="training seconds of the best trial (log scale)",
        ylabel=error_name.split(" (")[0] + ", lower is better",
        title=f"{args.task}, {shape[0]} steps: error against training time",
        reference=reference,
    )
    common.finish(
        args,
        {
            "task": args.task,
            "steps": int(shape[0]),
            "samples": args.samples,
            "units": args.units,
            "depth": args.depth,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
