"""Tag entities in BIO with a recurrent tagger: a CRF head (learning the
transitions, or held to BIO's) against a per-token softmax, over the cells,
each variant tuned with keras-tuner.

Data: GENERATED, not a real corpus (no labelled sequence corpus ships
inside an installable package that we found, and nothing is downloaded at
run time). Sentences of "words" hold spans of three types (PER, LOC, ORG),
tagged B-X on a span's first word and I-X after. Half of a span's words
are ambiguous: shared by the three types, so a word's tag depends on the
span it is in. Spans may touch, even two of one type, where only the B
tag marks the boundary: the words cannot show it, which keeps every
model's span F1 below 1. The tag sequence obeys constraints (I-X only after B-X
or I-X) that a CRF's transitions learn, a per-token softmax does not see,
and a CRF given `keras_recur.layers.allowed_transitions("BIO", ...)` cannot
break. Padding is on the right, as `Embedding(mask_zero=True)` masks it.

Each variant (cell x head: crf, crf+BIO, softmax; with --quick one cell,
crf+BIO and softmax) gets its own search with the same budget and
tuner seed on validation span F1; its best model is scored on the test set
(span F1, token accuracy, and the share of sentences whose decoded tags
break BIO). Writes variants.md, f1.png (test span F1 per variant),
decoded.png (a test sentence as each variant tags it: the first that one of
them tags out of BIO), a trial table and
plot per variant, the best tagger (best_tagger.keras) and results.json to
--out.
"""

import os

import common
import keras_tuner
import matplotlib.pyplot as plt
import numpy as np

from keras_recur import tuning

TYPES = ("PER", "LOC", "ORG")
TAG_NAMES = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
# Word ids: 0 pads; then outside words, ambiguous span words, and each
# type's own words.
OUTSIDE, AMBIGUOUS, OWN = 40, 12, 12
FIRST_AMBIGUOUS = 1 + OUTSIDE
FIRST_OWN = FIRST_AMBIGUOUS + AMBIGUOUS
VOCABULARY = FIRST_OWN + OWN * len(TYPES)
CELLS = ("GRU", "PeepholeLSTM", "CoupledLSTM")


def sentences(count, rng, max_length=24):
    """(words, tags), both (count, max_length) int32, right padded."""
    words = np.zeros((count, max_length), "int32")
    tags = np.zeros((count, max_length), "int32")
    for row in range(count):
        length = rng.integers(8, max_length + 1)
        t = 0
        while t < length:
            if rng.random() < 0.65:
                words[row, t] = 1 + rng.integers(OUTSIDE)
                t += 1
                continue
            kind = rng.integers(len(TYPES))
            span = min(rng.integers(1, 5), length - t)
            own = rng.integers(span)  # at least one word shows the type
            for k in range(span):
                if k == own or rng.random() < 0.5:
                    word = FIRST_OWN + kind * OWN + rng.integers(OWN)
                else:
                    word = FIRST_AMBIGUOUS + rng.integers(AMBIGUOUS)
                words[row, t + k] = word
                tags[row, t + k] = 1 + 2 * kind + (k > 0)
            t += span
    return words, tags


def breaks_bio(tags, mask):
    """Per sentence, whether an I-X follows neither B-X nor I-X."""
    previous = np.pad(tags[:, :-1], ((0, 0), (1, 0)))
    inside = (tags > 0) & (tags % 2 == 0)
    allowed = (previous > 0) & ((previous + 1) // 2 == tags // 2)
    return np.any(inside & ~allowed & mask, axis=1)


# Variant heads: the SequenceTagger's head, and whether its CRF is held to
# BIO's transitions.
HEADS = {
    "crf": ("crf", False),
    "crf+BIO": ("crf", True),
    "softmax": ("softmax", False),
}


def hypermodel(cell, head, quick, seed, distribution):
    head, scheme_constraints = HEADS[head]
    return tuning.SequenceTagger(
        VOCABULARY,
        TAG_NAMES,
        embedding_dim=16 if quick else [16, 32],
        head=head,
        scheme_constraints=scheme_constraints,
        cell=cell,
        units=[16] if quick else [16, 32],
        depth=1,
        bidirectional=True,
        dropout=[0.0, 0.2],
        recurrent_dropout=0.0,
        learning_rate=tuning.Range(3e-3, 3e-2, sampling="log"),
        seed=seed,
        distribution=distribution,
    )


def plot_decoded(words, truth, decoded, path):
    """One sentence: its words and the tags of the truth and each head."""
    steps = int(np.sum(words > 0))
    rows = {"truth": truth, **decoded}
    figure, axes = plt.subplots(figsize=(0.75 * steps + 2, 0.5 * len(rows) + 1))
    axes.set_xlim(-0.5, steps - 0.5)
    axes.set_ylim(-0.5, len(rows) - 0.5)
    for y, (label, tags) in enumerate(reversed(rows.items())):
        for t in range(steps):
            name = TAG_NAMES[tags[t]]
            wrong = label != "truth" and tags[t] != truth[t]
            axes.text(
                t,
                y,
                name,
                ha="center",
                va="center",
                fontsize=8,
                color="red" if wrong else "black",
            )
    axes.set_yticks(range(len(rows)), list(reversed(rows)))
    axes.set_xticks(range(steps), [f"w{w}" for w in words[:steps]], fontsize=7)
    axes.set_title("a test sentence: true tags and each head's (red: wrong)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return figure


def main():
    args = common.parser(__doc__, trials=4, epochs=12, out="out/tagging")
    args.add_argument(
        "--cells",
        default=",".join(CELLS),
        help="comma-separated cells to compare, each with every head",
    )
    args = args.parse_args()
    cells = common.names_among("--cells", args.cells, tuning.CELLS)
    common.setup(args)
    heads = list(HEADS)
    if args.quick:
        cells, heads = cells[:1], ["crf+BIO", "softmax"]
    rng = np.random.default_rng(args.seed)
    sizes = (300, 100, 200) if args.quick else (2000, 400, 1000)
    train, validation, test = (sentences(n, rng) for n in sizes)
    print(
        f"generated BIO sentences: {sizes[0]} train, {sizes[1]} validation, "
        f"{sizes[2]} test; {VOCABULARY} word ids, {len(TAG_NAMES)} tags"
    )
    variants = {
        f"{cell}+{head}": (cell, head) for cell in cells for head in heads
    }
    tuners = common.tune_each(
        args,
        {
            name: hypermodel(
                cell, head, args.quick, args.seed, args.distribution
            )
            for name, (cell, head) in variants.items()
        },
        keras_tuner.Objective("val_span_f1", "max"),
        *train,
        validation_data=validation,
        batch_size=32,
    )
    if tuning.is_worker():
        return
    rows, scores, decoded, best, breaking = [], {}, {}, None, {}
    shown = None  # the test sentence plotted: the first a head tags out of BIO
    test_mask = test[0] > 0
    for name, tuner in tuners.items():
        model = tuner.get_best_models(1)[0]
        metrics = model.evaluate(*test, verbose=0, return_dict=True)
        tags = model.predict(test[0], verbose=0)["tags"]
        broken = breaks_bio(tags, test_mask)
        violations = breaking[name] = float(np.mean(broken))
        scores[name] = [metrics["span_f1"]]
        decoded[name] = tags
        if shown is None and broken.any():
            shown = int(np.argmax(broken))
        hp = tuner.get_best_hyperparameters(1)[0].values
        rows.append(
            [
                name,
                f"{metrics['span_f1']:.4f}",
                f"{metrics['token_accuracy']:.4f}",
                f"{violations:.3f}",
                *(str(hp[k]) for k in ("units", "embedding_dim", "dropout")),
                f"{hp['learning_rate']:.3g}",
            ]
        )
        if best is None or metrics["span_f1"] > best[1]:
            best = (name, metrics["span_f1"], model)
        print(f"{name}: test span F1 {metrics['span_f1']:.4f}")
    common.write_table(
        args,
        "variants",
        ["variant", "test span F1", "token accuracy", "sentences breaking BIO"]
        + ["units", "embedding", "dropout", "learning rate"],
        rows,
    )
    tuning.plot_scores(
        scores,
        os.path.join(args.out, "f1.png"),
        ylabel="test span F1",
        title="BIO tagging: each cell with a CRF (free or held to BIO) or a "
        "softmax head, tuned",
    )
    shown = shown or 0
    plot_decoded(
        test[0][shown],
        test[1][shown],
        {name: tags[shown] for name, tags in decoded.items()},
        os.path.join(args.out, "decoded.png"),
    )
    best[2].save(os.path.join(args.out, "best_tagger.keras"))
    print(f"best: {best[0]} (test span F1 {best[1]:.4f})")
    common.finish(
        args,
        {
            "best": best[0],
            "test_span_f1": {k: v[0] for k, v in scores.items()},
            "sentences_breaking_bio": breaking,
        },
    )


if __name__ == "__main__":
    main()
