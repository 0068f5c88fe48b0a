"""Deep stacks: does the Depth-Gated LSTM's depth gate (Yao et al. 2015)
help a deep stack of LSTMs train? scikit-learn's 8x8 digits read as
sequences, a stack of 2 to 8 LSTM layers against a Depth-Gated LSTM of as
many layers, each tuned with the same budget, test accuracy by depth.

Each digit image is read as `--steps` steps of `64 / --steps` pixels (the
default 16 steps of 4 pixels, half a row each). For each depth of
`--depths`, two networks of `--units` units per layer and a softmax output:
a stack of Keras' LSTMs (`depth` layers, `keras.layers.LSTM`, through
`tuning.SequenceClassifier`) and one `DepthGatedLSTM` of `depth` layers,
whose depth gates add each layer's memory to the one above at every step.
A grid search per network tries each learning rate of `--learning-rates`
(the same seed, the same epochs), scored by validation accuracy (1,100
training images, 300 validating, 397 held out). Writes deep_stacks.md (per
depth and network: weights, best learning rate, test accuracy, training
seconds), accuracy.png (test accuracy against depth), a trial table and
plot per network, and results.json to --out.

The paper reports the depth gate's gains on machine translation and
language modelling, with 3 to 6 layers; it has no experiment of this kind.
"""

import os

import common
import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_recur
from keras_recur import tuning


class DepthGatedClassifier(tuning.SequenceClassifier):
    """`tuning.SequenceClassifier` around one `DepthGatedLSTM` of `layers`
    layers: its layers are the gate's own (the hypermodels' `depth`
    stacks separate recurrent layers, so it stays 1 here)."""

    def __init__(self, input_shape, layers, **kwargs):
        super().__init__(input_shape, depth=1, **kwargs)
        self.layers = layers

    def recurrent_stack(self, hp, inputs, return_sequences=False):
        layer = keras_recur.DepthGatedLSTM(
            self.value(hp, "units"),
            depth=self.layers,
            return_sequences=return_sequences,
        )
        return layer(inputs)


def digit_sequences(steps, seed):
    """The digits as (images, steps, 64 / steps) in [0, 1] and their
    labels, split 1,100 / 300 / the rest, shuffled with `seed`."""
    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")
    images = images.reshape(len(images), steps, 64 // steps)
    order = np.random.default_rng(seed).permutation(len(images))
    parts = np.split(order, [1100, 1400])
    return [(images[part], digits.target[part]) for part in parts]


def hypermodels(args, depth, shape):
    """The two networks of one depth."""
    common_arguments = dict(
        num_classes=10,
        units=args.units,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rates,
        seed=args.seed,
        distribution=args.distribution,
    )
    return {
        f"LSTM x{depth}": tuning.SequenceClassifier(
            shape, cell="LSTM", depth=depth, **common_arguments
        ),
        f"DepthGatedLSTM depth={depth}": DepthGatedClassifier(
            shape, depth, cell="DepthGatedLSTM", **common_arguments
        ),
    }


def parse_arguments():
    args = common.parser(__doc__, trials=2, epochs=15, out="out/deep_stacks")
    args.set_defaults(tuner="grid")
    args.add_argument("--depths", default="2,4,8")
    args.add_argument("--units", type=common.at_least_one, default=32)
    args.add_argument(
        "--steps",
        type=common.at_least_one,
        default=16,
        help="steps per image, a divisor of 64 (default 16)",
    )
    args.add_argument("--learning-rates", default="0.001,0.003")
    args = args.parse_args()
    args.depths = common.positive_ints("--depths", args.depths)
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    if 64 % args.steps:
        raise ValueError(
            f"--steps must divide 64 (the pixels of a digit). "
            f"Received: --steps={args.steps}"
        )
    return args


def plot_accuracy(depths, accuracy, path):
    """Test accuracy against depth, one line per network."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4), layout="constrained")
    axes = figure.add_subplot()
    for network, scores in accuracy.items():
        axes.plot(depths, scores, marker="o", label=network)
    axes.set_xticks(depths)
    axes.set_xlabel("layers")
    axes.set_ylabel("test accuracy")
    axes.set_title("Digits read in steps: accuracy by depth")
    axes.legend()
    figure.savefig(path, dpi=100)


def main():
    args = parse_arguments()
    common.setup(args)
    if args.quick:
        args.units = min(args.units, 8)
        args.learning_rates = args.learning_rates[: args.trials]
    train, validation, test = digit_sequences(args.steps, args.seed)
    if args.quick:
        train = (train[0][:200], train[1][:200])
        validation = (validation[0][:100], validation[1][:100])
    shape = train[0].shape[1:]
    print(
        f"digits: {len(train[0])} training images of {shape[0]} steps of "
        f"{shape[1]} pixels; depths {args.depths}"
    )
    networks = {}
    for depth in args.depths:
        networks.update(hypermodels(args, depth, shape))
    tuners = common.tune_each(
        args,
        networks,
        "val_accuracy",
        *train,
        validation_data=validation,
        batch_size=32 if args.quick else 64,
    )
    if tuning.is_worker():
        return

    rows, scores = [], {}
    accuracy = {"LSTM stack": [], "DepthGatedLSTM": []}
    for name, tuner in tuners.items():
        best = tuning.ResultsTable.from_tuner(tuner).best()
        model = tuner.get_best_models(1)[0]
        probabilities = keras.ops.convert_to_numpy(model(test[0]))
        test_accuracy = float(np.mean(probabilities.argmax(-1) == test[1]))
        weights = int(model.count_params())
        scores[name] = {
            "weights": weights,
            "learning_rate": best["learning_rate"],
            "test_accuracy": test_accuracy,
            "fit_seconds": float(best["seconds"]),
        }
        network = "LSTM stack" if name.startswith("LSTM") else "DepthGatedLSTM"
        accuracy[network].append(test_accuracy)
        rows.append(
            [
                name,
                f"{weights:,}",
                f"{best['learning_rate']:g}",
                f"{test_accuracy:.3f}",
                f"{float(best['seconds']):.1f}",
            ]
        )
    common.write_table(
        args,
        "deep_stacks",
        [
            "network",
            "weights",
            "best learning rate",
            "test accuracy",
            "training seconds",
        ],
        rows,
    )
    plot_accuracy(args.depths, accuracy, os.path.join(args.out, "accuracy.png"))
    common.finish(
        args,
        {
            "steps": int(shape[0]),
            "units": args.units,
            "depths": args.depths,
            "epochs": args.epochs,
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
