"""Image captioning with soft attention ("Show, Attend and Tell", Xu et al.
2015) on images made of scikit-learn's handwritten digits: each image is 3
to 5 digits side by side, its caption their words ("three one four").

Data: scikit-learn's 8x8 digits (1,797 images), split into disjoint pools
(1,200 / 300 / 297) before composing, so that the test images hold digit
instances never seen in training; `--images` training images (a tenth as
many for validation and for test), each 8 x 40 pixels (up to five digits,
left-aligned, the rest blank), its caption the digits' words then an end
token.

The model is the paper's: a small convolutional encoder (two 3x3
convolutions and a 2x2 pooling) gives a 4 x 20 grid of annotation vectors
(with a learned embedding of each location added: the paper's deep
features carry where they are, two convolutions over identical digits do
not);
a recurrent cell decodes, at every word attending over the grid with
Bahdanau's additive attention queried by the previous state, the context
scaled by the paper's gate `beta = sigmoid(W h_{t-1})` and read with the
previous word's embedding; the cell's states start from the mean
annotation (a tanh layer per state); the word comes from the paper's deep
output, `L_o(E y_{t-1} + L_h h_t + L_z z_t)`. Training minimises the
cross-entropy plus the doubly stochastic penalty `lambda sum_i (1 - sum_t
alpha_ti)^2`, which asks every location to receive a total attention of 1.

A grid search tries each cell of `--cells` (as the decoder cell) with each
`lambda` of `--penalties`, scored by the validation loss. Every trial's
model then captions the test images through keras_recur's decoding loop
(`keras_recur.models.decoding.decode`, the model's step written as a
function), greedily and with a beam search of width 4, measured by the
exact-caption rate, corpus BLEU-4 (NLTK's, against the one reference,
with Chen & Cherry's first smoothing), and, where the greedy caption is
right, the share of each word's attention that falls on its digit's
columns of the grid (1 / the number of digits if attention were spread
evenly; 1 where it is all on the right digit).
The best model draws its attention maps over test images.

Writes captioning.md (per trial: cell, lambda, exact captions greedy and
beam, BLEU-4, attention on the right digit), attention.png, the trial
table and its plot (trials.png), and results.json to --out.
"""

import os

import common
import keras
import numpy as np
from keras import ops
from sklearn.datasets import load_digits

import keras_recur
from keras_recur import catalogue
from keras_recur import tuning
from keras_recur.models import decoding

WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
]
PAD, START, END = 0, 1, 2
VOCABULARY = len(WORDS) + 3
MOST_DIGITS, HEIGHT, DIGIT_WIDTH = 5, 8, 8
WIDTH = MOST_DIGITS * DIGIT_WIDTH
# The encoder's grid: one 2x2 pooling.
GRID = (HEIGHT // 2, WIDTH // 2)
MAX_LENGTH = MOST_DIGITS + 1  # the words and the end token


def digit_pools(seed):
    """The digits (images scaled to [0, 1], labels) in three disjoint
    pools: training, validation, test."""
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    images, labels = digits.images[order] / 16.0, digits.target[order]
    return [
        (images[part], labels[part])
        for part in np.split(np.arange(len(images)), [1200, 1500])
    ]


def composed(pool, count, rng):
    """`count` images of 3-5 digits drawn from `pool`: (images (count, 8,
    40, 1), caption inputs and targets (count, 6), digit counts)."""
    pool_images, pool_labels = pool
    images = np.zeros((count, HEIGHT, WIDTH, 1), "float32")
    captions = np.zeros((count, MAX_LENGTH + 1), "int32")
    captions[:, 0] = START
    sizes = rng.integers(3, MOST_DIGITS + 1, count)
    for row, size in enumerate(sizes):
        chosen = rng.integers(0, len(pool_labels), size)
        for k, index in enumerate(chosen):
            columns = slice(k * DIGIT_WIDTH, (k + 1) * DIGIT_WIDTH)
            images[row, :, columns, 0] = pool_images[index]
        captions[row, 1 : size + 1] = pool_labels[chosen] + 3
        captions[row, size + 1] = END
    return images, captions[:, :-1], captions[:, 1:], sizes


@keras.saving.register_keras_serializable(package="examples")
class Captioner(keras.Model):
    """Show, Attend and Tell's captioner over any recurrent cell: called on
    (images, caption inputs) it gives the logits of every next word
    (teacher forcing) and adds the doubly stochastic penalty."""

    def __init__(
        self,
        cell,
        embedding_dim=16,
        attention_units=32,
        filters=32,
        doubly_stochastic=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.attention_units = attention_units
        self.filters = filters
        self.doubly_stochastic = doubly_stochastic
        self.encoder = keras.Sequential(
            [
                keras.layers.Conv2D(
                    filters, 3, padding="same", activation="relu"
                ),
                keras.layers.Conv2D(
                    filters, 3, padding="same", activation="relu"
                ),
                keras.layers.MaxPooling2D(2),
            ]
        )
        # Where each annotation is: a convolution gives the same vector to
        # the same digit anywhere, and attention must tell the second
        # digit from the fourth.
        self.positions = keras.layers.Embedding(GRID[0] * GRID[1], filters)
        self.embedding = keras.layers.Embedding(VOCABULARY, embedding_dim)
        self.attention = keras_recur.BahdanauAttention(attention_units)
        self.gate = keras.layers.Dense(1, activation="sigmoid")
        sizes = cell.state_size
        self.state_sizes = (
            list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        )
        self.initial = [
            keras.layers.Dense(size, activation="tanh")
            for size in self.state_sizes
        ]
        self.from_hidden = keras.layers.Dense(embedding_dim)
        self.from_context = keras.layers.Dense(embedding_dim)
        self.readout = keras.layers.Dense(VOCABULARY)

    def build(self, input_shape):
        image_shape, _ = input_shape
        self.encoder.build(image_shape)
        locations, f = GRID[0] * GRID[1], self.filters
        units = self.state_sizes[0]
        self.embedding.build((None,))
        self.positions.build((locations,))
        self.attention.build([(None, units), (None, locations, f)])
        self.gate.build((None, units))
        for layer in self.initial:
            layer.build((None, f))
        self.cell.build((None, self.embedding_dim + f))
        self.from_hidden.build((None, units))
        self.from_context.build((None, f))
        self.readout.build((None, self.embedding_dim))
        self.built = True

    def annotations(self, images):
        """The grid's annotation vectors, (batch, 80, filters), row-major."""
        grid = self.encoder(images)
        annotations = ops.reshape(grid, (ops.shape(grid)[0], -1, self.filters))
        return annotations + self.positions(ops.arange(GRID[0] * GRID[1]))

    def start(self, annotations):
        """The cell's first states (from the mean annotation) and the
        attention's projected keys."""
        mean = ops.mean(annotations, axis=1)
        states = [layer(mean) for layer in self.initial]
        return states, self.attention.project_keys(annotations)

    def step(self, tokens, states, annotations, keys, training=False):
        """One word: (logits, new states, attention weights)."""
        embedded = self.embedding(tokens)
        h = states[0]
        context, weights = self.attention.attend(h[:, None], annotations, keys)
        context = self.gate(h) * context[:, 0]
        output, states = self.cell(
            ops.concatenate([embedded, context], axis=-1),
            states,
            training=training,
        )
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        logits = self.readout(
            embedded + self.from_hidden(output) + self.from_context(context)
        )
        return logits, states, weights[:, 0]

    def call(self, inputs, training=False):
        images, words = inputs
        annotations = self.annotations(images)
        states, keys = self.start(annotations)
        logits, weights = [], []
        for t in range(words.shape[1]):
            step_logits, states, step_weights = self.step(
                words[:, t], states, annotations, keys, training
            )
            logits.append(step_logits)
            weights.append(step_weights)
        if self.doubly_stochastic:
            # Over the steps that read a word (not padding).
            real = ops.cast(words != PAD, "float32")[..., None]
            attention = ops.sum(ops.stack(weights, axis=1) * real, axis=1)
            self.add_loss(
                self.doubly_stochastic
                * ops.mean(ops.sum(ops.square(1.0 - attention), axis=-1))
            )
        return ops.stack(logits, axis=1)

    def caption(self, images, strategy):
        """Captions `images` under a decoding strategy: a `Decoded` whose
        `attention` holds each word's weights over the grid."""
        annotations = self.annotations(images)
        states, keys = self.start(annotations)

        def step(tokens, states, context):
            return self.step(tokens, states, *context)

        return decoding.decode(
            step,
            states,
            ops.full((ops.shape(images)[0],), START, "int32"),
            strategy,
            MAX_LENGTH,
            END,
            VOCABULARY,
            context=(annotations, keys),
            record_size=GRID[0] * GRID[1],
        )

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "embedding_dim": self.embedding_dim,
            "attention_units": self.attention_units,
            "filters": self.filters,
            "doubly_stochastic": self.doubly_stochastic,
        }

    @classmethod
    def from_config(cls, config):
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)


class CaptionerSearch(tuning.RecurrentHyperModel):
    """Searches the decoder cell and the doubly stochastic penalty."""

    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=PAD
    )
    metrics = ()

    def __init__(self, penalties, **kwargs):
        super().__init__(**kwargs)
        self.searchable("doubly_stochastic", penalties, _penalty)

    def build_model(self, hp):
        cell = catalogue.CELLS[self.value(hp, "cell")].cell
        return Captioner(
            cell(self.value(hp, "units")),
            doubly_stochastic=self.value(hp, "doubly_stochastic"),
        )

    def input_shapes(self):
        return ((None, HEIGHT, WIDTH, 1), (None, MAX_LENGTH))


def _penalty(argument, value):
    value = float(value)
    if not value >= 0:
        raise ValueError(
            f"`{argument}` must be at least 0. Received: {argument}={value}"
        )
    return value


def words_of(tokens):
    """The words of a caption's tokens, up to the end token."""
    words = []
    for token in tokens:
        if token == END:
            break
        words.append(WORDS[token - 3] if token >= 3 else "?")
    return words


def measured(model, test, strategies):
    """Exact-caption rate and BLEU-4 per strategy, and the greedy
    captions' share of attention on the right digit."""
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import corpus_bleu

    # Chen & Cherry's first smoothing: a caption set with no 4-gram in
    # common scores near 0 rather than exactly 0 (with NLTK's warning).
    smoothing = SmoothingFunction().method1

    images, _, targets, sizes = test
    references = [[words_of(row)] for row in targets]
    scores, decoded = {}, {}
    for name, strategy in strategies.items():
        decoded[name] = model.caption(images, strategy)
        hypotheses = [
            words_of(row) for row in ops.convert_to_numpy(decoded[name].tokens)
        ]
        exact = np.mean([h == r[0] for h, r in zip(hypotheses, references)])
        scores[f"exact {name}"] = float(exact)
        scores[f"BLEU-4 {name}"] = float(
            corpus_bleu(references, hypotheses, smoothing_function=smoothing)
        )
    tokens = ops.convert_to_numpy(decoded["greedy"].tokens)
    attention = ops.convert_to_numpy(decoded["greedy"].attention)
    column = np.arange(GRID[0] * GRID[1]) % GRID[1]
    digit_of_column = column // (GRID[1] // MOST_DIGITS)
    shares = []
    for row, size in enumerate(sizes):
        if list(tokens[row, : size + 1]) != list(targets[row, : size + 1]):
            continue
        for k in range(size):
            shares.append(attention[row, k][digit_of_column == k].sum())
    scores["attention on the right digit"] = (
        float(np.mean(shares)) if shares else float("nan")
    )
    scores["even attention"] = float(np.mean(1.0 / sizes))
    return scores, decoded


def plot_attention(images, tokens, attention, path, count=3):
    """Each image, then each generated word's attention over it."""
    from matplotlib.figure import Figure

    columns = MAX_LENGTH + 1
    figure = Figure(figsize=(2.0 * columns, 0.9 * count + 0.4))
    axes = figure.subplots(count, columns, squeeze=False)
    for row in range(count):
        words = words_of(tokens[row])
        axes[row, 0].imshow(images[row, :, :, 0], cmap="gray_r")
        axes[row, 0].set_title("image", fontsize=8)
        for t in range(MAX_LENGTH):
            ax = axes[row, t + 1]
            if t < len(words):
                weights = attention[row, t].reshape(GRID)
                ax.imshow(images[row, :, :, 0], cmap="gray_r")
                ax.imshow(
                    np.kron(weights, np.ones((2, 2))),
                    cmap="magma",
                    alpha=0.6,
                )
                ax.set_title(words[t], fontsize=8)
            ax.axis("off")
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
    figure.suptitle("Where each word looks (greedy captions)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def parse_arguments():
    args = common.parser(__doc__, trials=6, epochs=30, out="out/captioning")
    args.set_defaults(tuner="grid")
    args.add_argument("--cells", default="LSTM,PeepholeLSTM,GRU")
    args.add_argument("--penalties", default="0,0.02")
    args.add_argument("--units", type=common.at_least_one, default=64)
    args.add_argument("--images", type=common.at_least_one, default=6000)
    args.add_argument("--learning-rate", type=float, default=0.003)
    args = args.parse_args()
    args.cells = common.names_among("--cells", args.cells, catalogue.CELLS)
    try:
        penalties = [
            _penalty("--penalties", p) for p in args.penalties.split(",")
        ]
    except ValueError:
        raise ValueError(
            "--penalties must be comma-separated numbers of at least 0. "
            f"Received: --penalties={args.penalties}"
        ) from None
    args.penalties = penalties
    return args


def main():
    args = parse_arguments()
    if args.quick:
        args.images, args.units = min(args.images, 400), min(args.units, 16)
    common.setup(args)
    rng = np.random.default_rng(args.seed)
    pools = digit_pools(args.seed)
    count = max(args.images // 10, 20)
    train, validation, test = (
        composed(pool, n, rng)
        for pool, n in zip(pools, (args.images, count, count))
    )
    print(
        f"{args.images} training images of 3-5 digits ({HEIGHT}x{WIDTH}); "
        f"{count} validation, {count} test"
    )
    hypermodel = CaptionerSearch(
        args.penalties,
        cell=args.cells,
        units=args.units,
        depth=1,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rate,
        clipnorm=1.0,
        seed=args.seed,
        distribution=args.distribution,
    )
    if not args.quick:
        args.trials = max(args.trials, len(args.cells) * len(args.penalties))
    tuner = common.make_tuner(args, hypermodel, "val_loss", "captioning")
    common.search(
        tuner,
        args,
        train[:2],
        train[2],
        validation_data=(validation[:2], validation[2]),
        batch_size=32,
    )
    if tuning.is_worker():
        return
    table = common.report(tuner, args, "Captioning: trials")
    strategies = {
        "greedy": keras_recur.models.Greedy(),
        "beam 4": keras_recur.models.BeamSearch(4),
    }
    rows, results, best = [], [], None
    for trial in table.rows:
        if trial.get("score") is None:
            continue
        model = tuner.load_model(tuner.oracle.get_trial(trial["trial_id"]))
        scores, decoded = measured(model, test, strategies)
        results.append(
            {
                "cell": trial["cell"],
                "doubly_stochastic": trial["doubly_stochastic"],
                "weights": int(model.count_params()),
                "validation_loss": float(trial["score"]),
                **scores,
            }
        )
        if best is None or trial["score"] < best[0]:
            best = (trial["score"], decoded["greedy"])
        rows.append(
            [
                trial["cell"],
                f"{trial['doubly_stochastic']:g}",
                f"{scores['exact greedy']:.3f}",
                f"{scores['exact beam 4']:.3f}",
                f"{scores['BLEU-4 greedy']:.3f}",
                f"{scores['BLEU-4 beam 4']:.3f}",
                f"{scores['attention on the right digit']:.3f} "
                f"(even: {scores['even attention']:.3f})",
            ]
        )
    common.write_table(
        args,
        "captioning",
        [
            "cell",
            "lambda",
            "exact (greedy)",
            "exact (beam 4)",
            "BLEU-4 (greedy)",
            "BLEU-4 (beam 4)",
            "attention on the right digit",
        ],
        rows,
    )
    _, decoded = best
    plot_attention(
        test[0],
        ops.convert_to_numpy(decoded.tokens),
        ops.convert_to_numpy(decoded.attention),
        os.path.join(args.out, "attention.png"),
    )
    common.finish(
        args,
        {
            "images": args.images,
            "units": args.units,
            "epochs": args.epochs,
            "trials": results,
        },
    )


if __name__ == "__main__":
    main()
