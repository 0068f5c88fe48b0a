"""A character-level language model of Python source, per cell: bits per
character on held-out code, and code sampled at several temperatures.

The corpus is one every Python installation carries: the standard
library's own source (the top-level modules of the running Python, read in
sorted order; `--characters` of them). Characters are tokens (printable
ASCII, newline and tab; any other character is one "unknown" token; 0 is
padding). The text is split 80 / 10 / 10 into training, validation and
test text, cut into windows of `--window` characters: each position
predicts the next character.

A grid search per run tries every cell of `--cells` (keras_recur's and
`keras.layers.LSTM`) with each learning rate of `--learning-rates`, one
recurrent layer of `--units` units between an embedding and a softmax,
scored by the validation loss. The best model of each cell is measured on
the test text in bits per character (its cross-entropy / ln 2). The best
model on validation then writes code: `keras_recur.models.generate` continues
three prompts of different lengths (padded) one cell step per character,
greedily and by sampling at each temperature of `--temperatures`.

Writes char_lm.md (per cell: weights, best learning rate, test bits per
character, training seconds), samples.md, the trial table and its plot
(trials.png), and results.json to --out.
"""

import math
import os
import sys

import common
import keras
import numpy as np

import keras_recur
from keras_recur import catalogue
from keras_recur import tuning

# 0: padding, 1: any other character, then printable ASCII, newline, tab.
ALPHABET = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
INDEX = {character: i + 2 for i, character in enumerate(ALPHABET)}
VOCABULARY = len(ALPHABET) + 2
PROMPTS = ["def ", "import os\n", "class Parser:\n    def "]


def stdlib_text(characters):
    """The first `characters` characters of the standard library's
    top-level modules, in sorted order."""
    folder = os.path.dirname(os.__file__)
    text, total = [], 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as file:
            source = file.read()
        text.append(source)
        total += len(source)
        if total >= characters:
            break
    return "".join(text)[:characters]


def encode(text):
    return np.array([INDEX.get(c, 1) for c in text], "int32")


def decode(tokens):
    return "".join(
        ALPHABET[t - 2] if t >= 2 else ("?" if t == 1 else "") for t in tokens
    )


def windows(tokens, window):
    """Non-overlapping (inputs, next characters) windows."""
    count = (len(tokens) - 1) // window
    inputs = tokens[: count * window].reshape(count, window)
    targets = tokens[1 : count * window + 1].reshape(count, window)
    return inputs, targets


def parse_arguments():
    args = common.parser(__doc__, trials=14, epochs=8, out="out/char_lm")
    args.set_defaults(tuner="grid")
    args.add_argument(
        "--cells",
        default="LSTM,PeepholeLSTM,CoupledLSTM,GRU,MinGRU,MinLSTM,LRU",
    )
    args.add_argument("--units", type=common.at_least_one, default=128)
    args.add_argument("--embedding", type=common.at_least_one, default=32)
    args.add_argument("--characters", type=common.at_least_one, default=200_000)
    args.add_argument("--window", type=common.at_least_one, default=100)
    args.add_argument("--learning-rates", default="0.003,0.01")
    args.add_argument("--temperatures", default="0.5,0.8,1.0")
    args.add_argument("--sample-length", type=common.at_least_one, default=160)
    args = args.parse_args()
    args.cells = common.names_among("--cells", args.cells, catalogue.CELLS)
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    text = args.temperatures
    try:
        args.temperatures = [float(t) for t in text.split(",")]
    except ValueError:
        args.temperatures = []
    if not args.temperatures or not min(args.temperatures) > 0:
        raise ValueError(
            "--temperatures must be comma-separated positive numbers. "
            f"Received: --temperatures={text}"
        )
    return args


def main():
    args = parse_arguments()
    if args.quick:
        args.characters = min(args.characters, 30_000)
        args.units, args.window = min(args.units, 16), min(args.window, 50)
        args.sample_length = min(args.sample_length, 20)
    common.setup(args)
    text = stdlib_text(args.characters)
    tokens = encode(text)
    cut = [int(len(tokens) * 0.8), int(len(tokens) * 0.9)]
    train, validation, test = (
        windows(part, args.window) for part in np.split(tokens, cut)
    )
    print(
        f"{len(text):,} characters of the standard library's source "
        f"({sys.version.split()[0]}), {VOCABULARY} tokens; windows of "
        f"{args.window}: {len(train[0])} training, {len(validation[0])} "
        "validation"
    )
    best = common.search_language_models(
        args,
        VOCABULARY,
        train,
        validation,
        "char_lm",
        "Character language model: trials",
        batch_size=32,
    )
    if tuning.is_worker():
        return
    scores = common.held_out_table(
        args,
        "char_lm",
        best,
        test,
        "test_bits_per_character",
        "test bits per character (lower is better)",
        unit=math.log(2),
    )
    # The sampler: the best model on validation (the test text only scores).
    cell = min(best, key=lambda c: best[c][0]["score"])
    model = best[cell][1]
    samples = write_samples(args, cell, model)
    common.finish(
        args,
        {
            "characters": len(text),
            "window": args.window,
            "units": args.units,
            "epochs": args.epochs,
            "uniform_bits_per_character": math.log2(VOCABULARY),
            "scores": scores,
            "samples": samples,
        },
    )


def write_samples(args, cell, model):
    """The prompts continued greedily and at each temperature, written to
    samples.md; returns them."""
    encoded = [encode(p) for p in PROMPTS]
    prompts = np.zeros((len(encoded), max(map(len, encoded))), "int32")
    for row, tokens in enumerate(encoded):
        prompts[row, : len(tokens)] = tokens
    strategies = {"greedy": keras_recur.models.Greedy(banned_tokens=[0])}
    for temperature in args.temperatures:
        strategies[f"temperature {temperature:g}"] = (
            keras_recur.models.Sampling(
                temperature, seed=args.seed, banned_tokens=[0]
            )
        )
    samples = {}
    lines = [f"Samples from the best model ({cell}):", ""]
    for name, strategy in strategies.items():
        generated = keras_recur.models.generate(
            model, prompts, args.sample_length, strategy
        )
        tokens = keras.ops.convert_to_numpy(generated.tokens)
        samples[name] = [p + decode(t) for p, t in zip(PROMPTS, tokens)]
        lines += [f"### {name}", ""]
        for sample in samples[name]:
            lines += ["```text", sample, "```", ""]
    with open(os.path.join(args.out, "samples.md"), "w") as file:
        file.write("\n".join(lines))
    print("\n".join(lines))
    return samples


if __name__ == "__main__":
    main()
