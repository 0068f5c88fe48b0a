"""Compare the recurrent cell variants on handwritten digits read as
sequences, each tuned with the same budget, then retrained over seeds.

In the manner of Greff et al. (2017, "LSTM: A Search Space Odyssey"), on a
small scale: every variant (peephole LSTM, coupled input-forget gate LSTM
with and without peepholes, GRU, and Keras' LSTM, which has no peepholes)
gets its own search with the same trials, tuner seed and search space
(units, dropout, learning rate); its best hyperparameters are then trained
again from `--seeds` different initialisations, and the spread of held-out
accuracy shows what is noise and what is a difference.

Data: scikit-learn's 8x8 handwritten digits (1,797 images, shipped with
scikit-learn), 60% training, 20% validation (the tuner's objective), 20%
test. `--layout rows` reads an image as 8 steps of 8 pixels; `--layout
pixels` as 64 steps of one pixel, a long-range variant where the answer
depends on pixels far apart in time.

Writes accuracy.png (test accuracy per variant with its spread),
variants.md, a trial table and plot per variant, and results.json to --out.
"""

import os

import common
import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from keras_recur import tuning

# variant -> (cell, use_peepholes for CoupledLSTM)
VARIANTS = {
    "PeepholeLSTM": ("PeepholeLSTM", False),
    "CoupledLSTM": ("CoupledLSTM", False),
    "CoupledLSTM+peepholes": ("CoupledLSTM", True),
    "GRU": ("GRU", False),
    "LSTM (Keras)": ("LSTM", False),
}


def digits(layout, seed):
    images = load_digits()
    steps = 8 if layout == "rows" else 64
    x = (images.data / 16.0).astype("float32").reshape(-1, steps, 64 // steps)
    y = images.target.astype("int32")
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed
    )
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def hypermodel(cell, peepholes, shape, quick, seed, distribution):
    return tuning.SequenceClassifier(
        shape,
        num_classes=10,
        cell=cell,
        cell_space={"CoupledLSTM": {"use_peepholes": peepholes}},
        units=[16] if quick else [32, 64],
        depth=1,
        bidirectional=False,
        dropout=[0.0, 0.1, 0.2],
        recurrent_dropout=0.0,
        learning_rate=tuning.Range(1e-3, 2e-2, sampling="log"),
        seed=seed,
        distribution=distribution,
    )


def main():
    args = common.parser(
        __doc__, trials=4, epochs=25, out="out/cell_comparison"
    )
    args.add_argument("--layout", choices=["rows", "pixels"], default="rows")
    args.add_argument(
        "--seeds",
        type=common.at_least_one,
        default=3,
        help="retrainings per variant",
    )
    args.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated variants to compare",
    )
    args = args.parse_args()
    variants = common.names_among("--variants", args.variants, VARIANTS)
    common.setup(args)
    seeds = range(1, 1 + (1 if args.quick else args.seeds))

    train, validation, test = digits(args.layout, args.seed)
    if args.quick:
        train = (train[0][:200], train[1][:200])
    shape = train[0].shape[1:]
    print(
        f"digits as {shape[0]} steps of {shape[1]}: {len(train[0])} train, "
        f"{len(validation[0])} validation, {len(test[0])} test"
    )
    stop = keras.callbacks.EarlyStopping(
        "val_accuracy", patience=5, restore_best_weights=True
    )
    tuners = common.tune_each(
        args,
        {
            variant: hypermodel(
                *VARIANTS[variant],
                shape,
                args.quick,
                args.seed,
                args.distribution,
            )
            for variant in variants
        },
        "val_accuracy",
        *train,
        validation_data=validation,
    )
    if tuning.is_worker():
        return
    accuracy = {}
    rows = []
    for variant, tuner in tuners.items():
        cell, peepholes = VARIANTS[variant]
        best = tuner.get_best_hyperparameters(1)[0]
        print(f"=== {variant}: retraining with seeds {list(seeds)} ===")
        accuracy[variant] = []
        for seed in seeds:
            retrain = hypermodel(
                cell, peepholes, shape, args.quick, seed, args.distribution
            )
            model = retrain.build(best)
            retrain.fit(
                best,
                model,
                *train,
                validation_data=validation,
                epochs=args.epochs,
                callbacks=[stop],
                verbose=0,
            )
            accuracy[variant].append(float(model.evaluate(*test, verbose=0)[1]))
        scores = np.array(accuracy[variant])
        rows.append(
            [
                variant,
                f"{scores.mean():.4f}",
                f"{scores.std():.4f}",
                f"{scores.min():.4f}",
                str(best.values["units"]),
                str(best.values["dropout"]),
                f"{best.values['learning_rate']:.4g}",
            ]
        )
        print(f"{variant}: test accuracy {scores.round(4).tolist()}")

    common.write_table(
        args,
        "variants",
        ["variant", "mean test accuracy", "std", "min", "units", "dropout"]
        + ["learning rate"],
        rows,
    )
    tuning.plot_scores(
        accuracy,
        os.path.join(args.out, "accuracy.png"),
        ylabel="test accuracy",
        title=f"digits as {shape[0]}x{shape[1]}: each variant tuned, "
        f"{len(seeds)} seeds",
    )
    common.finish(args, {"layout": args.layout, "test_accuracy": accuracy})


if __name__ == "__main__":
    main()
