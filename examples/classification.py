"""Multivariate sequence classification on real labelled data: every cell of
the library, each tuned with the same budget, on UEA archive sets shipped
inside sktime, scored on the archive's own test split beside the published
numbers.

Data (`--datasets`, loaded with sktime's own loaders, nothing downloaded):

  JapaneseVowels  9 speakers uttering /ae/: 12 LPC cepstral coefficients
                  per frame, 7 to 29 frames (270 train, 370 test). The
                  sequences keep their own lengths: padded with zeros after
                  standardisation and masked (`mask_value=0.0`), so no
                  model sees the padding.
  BasicMotions    4 activities (walking, resting, running, badminton) from
                  a wrist-worn accelerometer and gyroscope: 6 channels, 100
                  steps (40 train, 40 test).

Each cell of `--cells` (default: every cell of keras_recur.tuning) gets its
own search (units, input dropout, learning rate) with the same trials,
epochs and tuner seed, on 80% of the training split, 20% validating (the
tuner's objective, validation accuracy), in batches of an eighth of the
training cases (4 to 32). The echo state network is trained
as reservoir computing trains it: its readout, a
`keras_recur.layers.RidgeReadout` on the reservoir's final state or its
states' mean over the steps (one-hot targets, the class its argmax), is
fitted in one pass by ridge regression, and its search is over the
reservoir (spectral radius, leaking rate, size), those states and the ridge
penalty. Each search's best model is scored once on the test
split.

Published test accuracies on the same splits: the UEA archive paper's
1-NN baselines (Bagnall et al. 2018, arXiv 1811.00075: Euclidean distance,
and dynamic time warping dimension-independent and -dependent), and for
JapaneseVowels the leaky echo state networks of Jaeger et al. (2007,
Neural Networks 20(3)), which made no test error.

Writes classification.md (each cell's validation and test accuracy and
training seconds, the published numbers below), accuracy.png, a trial table
and plot per dataset and cell, and results.json to --out.
"""

import os
import time

import common
import keras
import keras_tuner
import numpy as np
from sklearn.model_selection import train_test_split
from sktime.datasets import load_basic_motions
from sktime.datasets import load_japanese_vowels

import keras_recur
from keras_recur import tuning

# Test accuracy on each set's own split, as published.
PUBLISHED = {
    "JapaneseVowels": {
        "1-NN ED (Bagnall et al. 2018)": 0.924,
        "1-NN DTW_I (Bagnall et al. 2018)": 0.959,
        "1-NN DTW_D (Bagnall et al. 2018)": 0.949,
        "leaky ESN (Jaeger et al. 2007)": 1.0,
    },
    "BasicMotions": {
        "1-NN ED (Bagnall et al. 2018)": 0.676,
        "1-NN DTW_I (Bagnall et al. 2018)": 1.0,
        "1-NN DTW_D (Bagnall et al. 2018)": 0.975,
    },
}
LOADERS = {
    "JapaneseVowels": load_japanese_vowels,
    "BasicMotions": load_basic_motions,
}


def load(name, split):
    """sktime's (cases, channels) frame of series, as a list of
    (steps, channels) arrays, and the string labels."""
    frame, labels = LOADERS[name](split=split, return_X_y=True)
    cases = [
        np.stack(
            [frame.iloc[i, j].to_numpy() for j in range(frame.shape[1])], 1
        )
        for i in range(len(frame))
    ]
    return cases, np.asarray(labels)


def padded(cases, mean, std, steps):
    """Standardised cases, zero-padded after their last step."""
    x = np.zeros((len(cases), steps, cases[0].shape[1]), "float32")
    for row, case in enumerate(cases):
        x[row, : len(case)] = (case - mean) / std
    return x


def dataset(name, seed):
    train_cases, train_labels = load(name, "train")
    test_cases, test_labels = load(name, "test")
    classes = sorted(set(train_labels))
    steps = max(len(c) for c in train_cases + test_cases)
    frames = np.concatenate(train_cases)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    x = padded(train_cases, mean, std, steps)
    y = np.array([classes.index(label) for label in train_labels], "int32")
    x_test = padded(test_cases, mean, std, steps)
    y_test = np.array([classes.index(label) for label in test_labels], "int32")
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    lengths = sorted({len(c) for c in train_cases + test_cases})
    print(
        f"{name}: {len(classes)} classes, {x.shape[2]} channels, "
        f"{lengths[0]}-{lengths[-1]} steps; {len(x_fit)} fit, {len(x_val)} "
        f"validate, {len(x_test)} test"
    )
    return (x_fit, y_fit), (x_val, y_val), (x_test, y_test), len(classes)


class ReservoirClassifier(keras_tuner.HyperModel):
    """An echo state network whose readout (`RidgeReadout`) is fitted by
    ridge regression on the masked sequences' final states or their states'
    mean: `fit` is one pass of the reservoir and one solve, not gradient
    descent, so it takes no epochs or callbacks."""

    def __init__(self, input_shape, num_classes, quick, seed):
        super().__init__(name="EchoStateNetwork")
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.quick = quick
        self.seed = seed

    def build(self, hp):
        hp.Fixed("cell", "EchoStateNetwork")
        units = hp.Choice("units", [50] if self.quick else [100, 300])
        # What the readout reads: the final state, or the states averaged
        # over the (unmasked) steps, which suits stationary signals.
        states = hp.Choice("states", ["last", "mean"])
        reservoir = keras_recur.EchoStateNetwork(
            units,
            leaky=hp.Choice("leaky", [0.2, 0.5, 1.0]),
            spectral_radius=hp.Choice("spectral_radius", [0.5, 0.9]),
            return_sequences=states == "mean",
            seed=self.seed,
        )
        return keras.Sequential(
            [
                keras.Input(self.input_shape),
                keras.layers.Masking(0.0),
                reservoir,
                *([keras.layers.GlobalAveragePooling1D()] * (states == "mean")),
                keras_recur.layers.RidgeReadout(
                    self.num_classes,
                    ridge=hp.Choice("ridge", [1e-4, 1e-2, 1.0]),
                ),
            ]
        )

    def fit(self, hp, model, x, y, validation_data, **fit_arguments):
        start = time.perf_counter()
        keras_recur.models.fit_readout(model, x, np.eye(self.num_classes)[y])
        seconds = time.perf_counter() - start
        x_val, y_val = validation_data
        return {
            "val_accuracy": accuracy(model, x_val, y_val),
            "fit_seconds": seconds,
        }


def accuracy(model, x, y):
    # Called directly: `predict` would compile a function per model, and
    # TensorFlow warns when a search traces so many.
    scores = keras.ops.convert_to_numpy(model(x, training=False))
    return float(np.mean(np.argmax(scores, axis=-1) == y))


def hypermodel(cell, shape, num_classes, args):
    if cell == "EchoStateNetwork":
        return ReservoirClassifier(shape, num_classes, args.quick, args.seed)
    return tuning.SequenceClassifier(
        shape,
        num_classes=num_classes,
        mask_value=0.0,
        cell=cell,
        units=[16] if args.quick else [32, 64],
        depth=1,
        bidirectional=False,
        dropout=[0.0, 0.2],
        recurrent_dropout=0.0,
        learning_rate=tuning.Range(1e-3, 1e-2, sampling="log"),
        seed=args.seed,
        distribution=args.distribution,
    )


def plot(path, scores):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = list(scores)
    figure, all_axes = pyplot.subplots(
        1,
        len(names),
        figsize=(6.5 * len(names), 5.4),
        layout="constrained",
        squeeze=False,
    )
    for axes, name in zip(all_axes[0], names):
        cells = list(scores[name])
        values = [scores[name][cell] for cell in cells]
        bars = axes.barh(cells, values, color="tab:blue")
        axes.bar_label(
            bars,
            fmt="%.3f",
            padding=2,
            fontsize=8,
            bbox=dict(facecolor="white", edgecolor="none", pad=1),
        )
        styles = zip(["--", ":", "-.", "-"], ["k", "tab:red", "tab:green", "m"])
        for (style, color), (label, value) in zip(
            styles, PUBLISHED[name].items()
        ):
            axes.axvline(value, color=color, ls=style, lw=1.2, label=label)
        axes.set_xlim(0.0, 1.12)
        axes.invert_yaxis()
        axes.set_xlabel("test accuracy (archive split)")
        axes.set_title(name)
        # Below the axes: the bars and their values stay readable.
        axes.legend(
            title="published",
            fontsize=8,
            ncol=2,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
        )
        axes.grid(axis="x", alpha=0.3)
    figure.savefig(path, dpi=120)


def main():
    args = common.parser(__doc__, trials=4, epochs=40, out="out/classification")
    args.add_argument(
        "--datasets",
        default=",".join(LOADERS),
        help="comma-separated UEA sets",
    )
    args.add_argument(
        "--cells",
        default=",".join(tuning.CELLS),
        help="comma-separated cells to compare",
    )
    args = args.parse_args()
    datasets = common.names_among("--datasets", args.datasets, LOADERS)
    cells = common.names_among("--cells", args.cells, tuning.CELLS)
    common.setup(args)
    scores, rows = {}, []
    for name in datasets:
        fit, validation, test, num_classes = dataset(name, args.seed)
        shape = fit[0].shape[1:]
        tuners = common.tune_each(
            args,
            {
                f"{name} {cell}": hypermodel(cell, shape, num_classes, args)
                for cell in cells
            },
            "val_accuracy",
            *fit,
            validation_data=validation,
            # 40 cases in a batch of 32 would be one step an epoch.
            batch_size=max(4, min(32, len(fit[0]) // 8)),
        )
        if tuning.is_worker():
            continue
        scores[name] = {}
        for cell, tuner in zip(cells, tuners.values()):
            best_trial = tuner.oracle.get_best_trials(1)[0]
            if cell == "EchoStateNetwork":
                # No checkpoint of a readout: the same reservoir (seeded)
                # and the same solve give it again, in one pass.
                model = tuner.hypermodel.build(best_trial.hyperparameters)
                tuner.hypermodel.fit(
                    None, model, *fit, validation_data=validation
                )
            else:
                model = tuner.get_best_models(1)[0]
            scores[name][cell] = accuracy(model, *test)
            table = tuning.ResultsTable.from_tuner(tuner)
            rows.append(
                [
                    name,
                    cell,
                    f"{best_trial.score:.3f}",
                    f"{scores[name][cell]:.3f}",
                    f"{table.rows[0].get('seconds') or 0.0:.1f}",
                ]
            )
        for label, value in PUBLISHED[name].items():
            rows.append([name, f"{label}, published", "", f"{value:.3f}", ""])
    if tuning.is_worker():
        print(f"Worker {os.environ['KERASTUNER_TUNER_ID']} done.")
        return
    common.write_table(
        args,
        "classification",
        ["dataset", "model", "validation accuracy", "test accuracy"]
        + ["training seconds"],
        rows,
    )
    plot(os.path.join(args.out, "accuracy.png"), scores)
    common.finish(args, {"test_accuracy": scores, "published": PUBLISHED})


if __name__ == "__main__":
    main()
