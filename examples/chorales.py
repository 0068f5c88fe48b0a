"""Bach's chorale melodies, per cell: a next-note model's held-out
negative log-likelihood, and a melody sampled by the best model, written
to MIDI and drawn as a piano roll.

The data are the chorales that music21 ships in its corpus (the 371 of the
Riemenschneider edition, read with music21, no download; `--chorales` of
them). Each chorale's soprano line, transposed so that its key (music21's
analysis) is C major or A minor, is a sequence of notes: a token per
(pitch, duration) pair seen in the training chorales (rests are a pitch;
an unseen pair is one "unknown" token), between a start and an end token.
The chorales are split 80 / 10 / 10 at random (`--seed`).

A grid search tries every cell of `--cells` (the comparison of Greff et
al. 2015, whose LSTM variants were compared on chorales: the vanilla
LSTM, peephole and coupled-gate LSTMs, the GRU, and the cells linear in
their state) with each learning rate of `--learning-rates`, one recurrent
layer of `--units` units between an embedding and a softmax, scored by the
validation loss. The best model of each cell is scored on the test
chorales: nats per note (the start token's successor to the end token).
The best model on validation samples a melody (`keras_recur.models.generate`,
temperature `--temperature`, from the start token to the end token),
written with music21 to sampled.mid and drawn as a piano roll
(sampled.png, beside a test chorale's).

Published results on "JSB Chorales" (Boulanger-Lewandowski et al. 2012)
use another edition, all four voices as piano-roll frames and another
split: not comparable with these numbers.

Writes chorales.md (per cell: weights, best learning rate, test nats per
note, training seconds), sampled.mid, sampled.png, the trial table and
its plot (trials.png), and results.json to --out.
"""

import math
import os

import common
import keras
import numpy as np

import keras_recur
from keras_recur import catalogue
from keras_recur import tuning

# 0: padding, 1: unknown, 2: start, 3: end, then (pitch, duration) pairs.
UNKNOWN, START, END = 1, 2, 3
REST = -1


def melodies(count):
    """The soprano line of the first `count` chorales, each in C major or
    A minor, as lists of (MIDI pitch or REST, quarter-note duration)."""
    from music21 import corpus
    from music21 import interval
    from music21 import pitch

    lines = []
    for score in corpus.chorales.Iterator(returnType="stream"):
        if len(lines) == count:
            break
        key = score.analyze("key")
        target = pitch.Pitch("C" if key.mode == "major" else "A")
        shift = interval.Interval(key.tonic, target).semitones % 12
        shift = shift - 12 if shift > 6 else shift
        soprano = score.parts[0].flatten().notesAndRests
        lines.append(
            [
                (
                    n.pitch.midi + shift if n.isNote else REST,
                    float(n.quarterLength),
                )
                for n in soprano
                if (n.isNote or n.isRest) and n.quarterLength > 0
            ]
        )
    return lines


def vocabulary_of(lines):
    """Token ids of the (pitch, duration) pairs, most frequent first."""
    counts = {}
    for line in lines:
        for note in line:
            counts[note] = counts.get(note, 0) + 1
    ordered = sorted(counts, key=lambda note: (-counts[note], note))
    return {note: i + 4 for i, note in enumerate(ordered)}


def encoded(lines, vocabulary):
    """(inputs, next tokens), padded with 0: start, notes, end."""
    sequences = [
        [START, *(vocabulary.get(note, UNKNOWN) for note in line), END]
        for line in lines
    ]
    steps = max(map(len, sequences)) - 1
    inputs = np.zeros((len(sequences), steps), "int32")
    targets = np.zeros((len(sequences), steps), "int32")
    for row, sequence in enumerate(sequences):
        inputs[row, : len(sequence) - 1] = sequence[:-1]
        targets[row, : len(sequence) - 1] = sequence[1:]
    return inputs, targets


def parse_arguments():
    args = common.parser(__doc__, trials=14, epochs=30, out="out/chorales")
    args.set_defaults(tuner="grid")
    args.add_argument(
        "--cells",
        default="LSTM,PeepholeLSTM,CoupledLSTM,GRU,MinGRU,MinLSTM,LRU",
    )
    args.add_argument("--chorales", type=common.at_least_one, default=371)
    args.add_argument("--units", type=common.at_least_one, default=128)
    args.add_argument("--embedding", type=common.at_least_one, default=32)
    args.add_argument("--learning-rates", default="0.003,0.01")
    args.add_argument("--temperature", type=float, default=0.8)
    args = args.parse_args()
    args.cells = common.names_among("--cells", args.cells, catalogue.CELLS)
    args.learning_rates = common.rates("--learning-rates", args.learning_rates)
    if not args.temperature > 0:
        raise ValueError(
            "--temperature must be a positive number. "
            f"Received: --temperature={args.temperature}"
        )
    return args


def main():
    args = parse_arguments()
    if args.quick:
        args.chorales = min(args.chorales, 30)
        args.units = min(args.units, 16)
    common.setup(args)
    lines = melodies(args.chorales)
    order = np.random.default_rng(args.seed).permutation(len(lines))
    cut = [int(len(lines) * 0.8), int(len(lines) * 0.9)]
    train_lines, validation_lines, test_lines = (
        [lines[i] for i in part] for part in np.split(order, cut)
    )
    vocabulary = vocabulary_of(train_lines)
    size = len(vocabulary) + 4
    train, validation, test = (
        encoded(part, vocabulary)
        for part in (train_lines, validation_lines, test_lines)
    )
    print(
        f"{len(lines)} chorales ({len(train_lines)} training), "
        f"{sum(map(len, lines)):,} notes; {size} tokens"
    )
    best = common.search_language_models(
        args,
        size,
        train,
        validation,
        "chorales",
        "Chorale melodies: trials",
        batch_size=16,
    )
    if tuning.is_worker():
        return
    scores = common.held_out_table(
        args,
        "chorales",
        best,
        test,
        "test_nats_per_note",
        "test nats per note (lower is better)",
    )
    # The sampler: the best model on validation (the test set only scores).
    best_cell = min(best, key=lambda cell: best[cell][0]["score"])
    notes = sample_melody(args, best[best_cell][1], vocabulary)
    write_midi(notes, os.path.join(args.out, "sampled.mid"))
    plot_piano_rolls(
        {
            f"sampled ({best_cell}, temperature {args.temperature:g})": notes,
            "a test chorale": test_lines[0],
        },
        os.path.join(args.out, "sampled.png"),
    )
    common.finish(
        args,
        {
            "chorales": len(lines),
            "notes": sum(map(len, lines)),
            "tokens": size,
            "units": args.units,
            "epochs": args.epochs,
            "uniform_nats_per_note": math.log(size),
            "scores": scores,
            "sampled_from": best_cell,
            "sampled": notes,
        },
    )


def sample_melody(args, model, vocabulary):
    """A melody drawn from `model` after the start token, to the end token
    (at most 128 notes), as (pitch, duration) pairs."""
    generated = keras_recur.models.generate(
        model,
        np.array([[START]], "int32"),
        128,
        keras_recur.models.Sampling(
            args.temperature, seed=args.seed, banned_tokens=[0, START]
        ),
        end_token=END,
    )
    tokens = keras.ops.convert_to_numpy(generated.tokens)[0]
    notes = {token: note for note, token in vocabulary.items()}
    return [notes[t] for t in tokens if t in notes][
        : int(keras.ops.convert_to_numpy(generated.lengths)[0])
    ]


def write_midi(notes, path):
    from music21 import note
    from music21 import stream

    melody = stream.Stream()
    for pitch, duration in notes:
        if pitch == REST:
            melody.append(note.Rest(quarterLength=duration))
        else:
            melody.append(note.Note(pitch, quarterLength=duration))
    melody.write("midi", fp=path)


def plot_piano_rolls(melodies, path):
    """Each melody as a piano roll: a bar per note, time by pitch."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 2.6 * len(melodies)))
    axes = figure.subplots(len(melodies), 1, squeeze=False)[:, 0]
    for ax, (title, notes) in zip(axes, melodies.items()):
        time = 0.0
        for pitch, duration in notes:
            if pitch != REST:
                ax.broken_barh([(time, duration)], (pitch - 0.4, 0.8))
            time += duration
        ax.set_title(title)
        ax.set_ylabel("MIDI pitch")
    axes[-1].set_xlabel("quarter notes")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
