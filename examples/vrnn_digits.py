"""The variational RNN (Chung et al. 2015) on scikit-learn's digits: its
evidence lower bound against the exact negative log-likelihood of a plain
recurrent network of the same size, and digits drawn from both.

Each 8x8 digit, its pixels binarised at half intensity, is a sequence of 8
rows of 8 pixels (1,100 training images, 300 validating, 397 held out).
Both models read the rows in order with a GRU of `--units` units and give
each pixel of row t a Bernoulli probability:

  VRNN  a latent variable z_t at every row (`--latent-dims`, searched), the
        prior from h_{t-1}, trained on the negative ELBO; its held-out
        score is the negative ELBO, an upper bound on its negative
        log-likelihood (one latent sample per row, averaged over
        `--samples` draws).
  GRU   an autoregressive GRU: row t's pixels from the rows before it
        (h_{t-1}), each pixel independent given h_{t-1}; its score is the
        exact negative log-likelihood. Its units are searched among
        `--gru-units` (default 64, the VRNN's, and 128, about the VRNN's
        weight count with its feature, prior, posterior and decoder
        networks).

Both are in nats per image (64 pixels), lower is better. A grid search per
model tries each learning rate of `--learning-rates` (and the VRNN each
latent size, the GRU each size), scored by the validation loss. Writes
vrnn_digits.md (per model: weights, best settings, held-out nats per
image), samples.png (digits drawn from each best model), a trial table and
plot per model, and results.json to --out.

The paper's finding (its Table 1, on speech and handwriting): the VRNN's
bound is better than the plain RNN's log-likelihood, with Gaussian outputs.
"""

import os

import common
import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_recur
from keras_recur import catalogue
from keras_recur import tuning

ROWS = 8


def binary_digits(seed):
    """The digits as (images, 8 rows, 8 pixels) of 0 and 1, split 1,100 /
    300 / the rest, shuffled with `seed`."""
    digits = load_digits()
    images = (digits.images >= 8).astype("float32")
    order = np.random.default_rng(seed).permutation(len(images))
    return np.split(images[order], [1100, 1400])


def shifted(images):
    """The rows before each row (zeros before the first): the GRU's inputs."""
    return np.concatenate([np.zeros_like(images[:, :1]), images[:, :-1]], 1)


def nats_per_image(targets, logits):
    """The Bernoulli negative log-likelihood of every pixel, summed over
    the image (Keras' binary cross-entropy averages over the last axis)."""
    per_pixel = keras.losses.binary_crossentropy(
        targets[..., None], logits[..., None], from_logits=True
    )
    return keras.ops.sum(per_pixel, axis=(1, 2))


class VRNNSearch(tuning.RecurrentHyperModel):
    """Searches a Bernoulli VRNN over a GRU: its latent size, and the
    learning rate (`RecurrentHyperModel`'s); trained on its own loss."""

    loss, metrics = None, ()

    def __init__(self, latent_dims, **kwargs):
        super().__init__(cell="GRU", **kwargs)
        self.searchable("latent_dim", latent_dims, catalogue.positive_int)

    def build_model(self, hp):
        units = self.value(hp, "units")
        return keras_recur.models.VRNN(
            keras_recur.GRUCell(units),
            latent_dim=self.value(hp, "latent_dim"),
            feature_units=units,
            hidden_units=units,
            distribution="bernoulli",
            seed=self.seed,
        )

    def input_shapes(self):
        return (None, ROWS, 8)


class AutoregressiveGRU(tuning.RecurrentHyperModel):
    """Searches a GRU that gives row t's pixels their probabilities from
    the rows before it (the inputs are the rows shifted by one)."""

    loss, metrics = staticmethod(nats_per_image), ()

    def __init__(self, **kwargs):
        super().__init__(cell="GRU", **kwargs)

    def build_model(self, hp):
        inputs = keras.Input((ROWS, 8))
        states = self.recurrent_stack(hp, inputs, return_sequences=True)
        return keras.Model(inputs, keras.layers.Dense(8)(states))


def parse_arguments():
    args = common.parser(__doc__, trials=4, epochs=40, out="out/vrnn_digits")
    args.set_defaults(tuner="grid")
    args.add_argument("--units", type=common.at_least_one, default=64)
    args.add_argument("--latent-dims", default="8,16")
    args.add_argument("--gru-units", default="64,128")
    args.add_argument("--learning-rates", default="0.001,0.003")
    args.add_argument(
        "--samples",
        type=common.at_least_one,
        default=10,
        help="latent draws averaged in the VRNN's held-out bound",
    )
    args = args.parse_args()
    args.latent_dims = common.positive_ints("--latent-dims", args.latent_dims)
    args.gru_units = common.positive_ints("--gru-units", args.gru_units)
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    return args


def plot_samples(samples, path):
    """Each model's drawn digits in a row of images."""
    from matplotlib.figure import Figure

    count = max(len(images) for images in samples.values())
    figure = Figure(figsize=(count * 0.9, 1.2 * len(samples) + 0.3))
    axes = figure.subplots(len(samples), count, squeeze=False)
    for row, (name, images) in zip(axes, samples.items()):
        for ax, image in zip(row, images):
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name, rotation=0, ha="right", va="center")
    figure.suptitle("Digits drawn from each model")
    figure.savefig(path, dpi=150, bbox_inches="tight")


def gru_samples(model, count, seed):
    """Digits drawn row by row from the autoregressive GRU, each row's
    pixels from the rows drawn before it."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, ROWS, 8), "float32")
    for row in range(ROWS):
        logits = keras.ops.convert_to_numpy(model(shifted(images)))[:, row]
        images[:, row] = rng.random((count, 8)) < 1 / (1 + np.exp(-logits))
    return images


def main():
    args = parse_arguments()
    common.setup(args)
    if args.quick:
        args.units = min(args.units, 8)
        args.gru_units = [args.units]
        args.samples = min(args.samples, 2)
    train, validation, test = binary_digits(args.seed)
    if args.quick:
        train, validation = train[:200], validation[:100]
    print(
        f"digits: {len(train)} training images of {ROWS} rows of 8 binary "
        f"pixels; the VRNN's GRU has {args.units} units"
    )
    common_arguments = dict(
        units=args.units,
        depth=1,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rates,
        seed=args.seed,
        distribution=args.distribution,
    )
    batch_size = 32 if args.quick else 64
    tuners = common.tune_each(
        args,
        {"VRNN": VRNNSearch(args.latent_dims, **common_arguments)},
        "val_loss",
        train,
        validation_data=(validation,),
        batch_size=batch_size,
    )
    tuners.update(
        common.tune_each(
            args,
            {
                "GRU": AutoregressiveGRU(
                    **{**common_arguments, "units": args.gru_units}
                )
            },
            "val_loss",
            shifted(train),
            train,
            validation_data=(shifted(validation), validation),
            batch_size=batch_size,
        )
    )
    if tuning.is_worker():
        return

    vrnn = tuners["VRNN"].get_best_models(1)[0]
    gru = tuners["GRU"].get_best_models(1)[0]
    bounds = np.mean(
        [
            -keras.ops.convert_to_numpy(vrnn.elbo(test)).mean()
            for _ in range(args.samples)
        ]
    )
    exact = float(
        keras.ops.convert_to_numpy(
            nats_per_image(test, gru(shifted(test)))
        ).mean()
    )
    held_out = {
        "VRNN": float(bounds),
        "GRU": exact,
    }
    rows, scores = [], {}
    for name, tuner in tuners.items():
        best = tuning.ResultsTable.from_tuner(tuner).best()
        model = vrnn if name == "VRNN" else gru
        setting = f"learning rate {best['learning_rate']:g}"
        if name == "VRNN":
            setting += f", latent size {best['latent_dim']}"
        else:
            setting += f", {best['units']} units"
        scores[name] = {
            "weights": int(model.count_params()),
            "learning_rate": best["learning_rate"],
            "nats_per_image": held_out[name],
            "fit_seconds": float(best["seconds"]),
        }
        if name == "VRNN":
            scores[name]["latent_dim"] = int(best["latent_dim"])
        else:
            scores[name]["units"] = int(best["units"])
        measure = "negative ELBO (bound)" if name == "VRNN" else "exact NLL"
        rows.append(
            [
                name,
                f"{int(model.count_params()):,}",
                setting,
                f"{held_out[name]:.2f} ({measure})",
                f"{float(best['seconds']):.1f}",
            ]
        )
    common.write_table(
        args,
        "vrnn_digits",
        [
            "model",
            "weights",
            "best setting",
            "held-out nats per image (lower is better)",
            "training seconds",
        ],
        rows,
    )
    count = 10
    samples = {
        "VRNN": keras.ops.convert_to_numpy(
            vrnn.generate(count, ROWS, seed=args.seed)
        ),
        "GRU": gru_samples(gru, count, args.seed),
    }
    plot_samples(samples, os.path.join(args.out, "samples.png"))
    common.finish(
        args,
        {
            "units": args.units,
            "epochs": args.epochs,
            "latent_draws": args.samples,
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
