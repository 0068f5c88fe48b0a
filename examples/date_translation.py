"""Date translation with attention: human-written dates to ISO 8601.

A character-level seq2seq model with Bahdanau attention learns to turn dates
written in many human formats ("Sunday, 22 November 2026", "11/22/26",
"22 nov. 2026", ...) into ISO 8601 ("2026-11-22"). The data is generated
with Python's datetime (nothing is downloaded); held-out dates never appear
in training. The script reports exact-match accuracy on the held-out dates
with greedy and beam-search decoding, and saves attention heatmaps in which
the output digits line up with the input characters they were read from.

    python examples/date_translation.py                 # a few minutes on a CPU
    python examples/date_translation.py --quick         # seconds, for tests
    KERAS_BACKEND=jax python examples/date_translation.py --cell peephole

The backend comes from KERAS_BACKEND.
"""

import argparse
import datetime
import json
import os
import time

import keras
import numpy as np

import keras_recur

# Target alphabet: 0 padding, 1 start, 2 end, then ISO characters.
PAD, START, END = 0, 1, 2
TARGET_CHARS = "0123456789-"
TARGET_VOCABULARY = 3 + len(TARGET_CHARS)
TARGET_LENGTH = len("2026-11-22") + 1  # and the end token

FORMATS = [
    "{weekday}, {day} {month} {year}",  # Sunday, 22 November 2026
    "{mm}/{dd}/{yy}",  # 11/22/26
    "{day} {mon}. {year}",  # 22 nov. 2026
    "{month} {day}, {year}",  # November 22, 2026
    "{dd}.{mm}.{year}",  # 22.11.2026
    "{day} {MON} {year}",  # 22 NOV 2026
    "{wd} {day} {mon} {year}",  # sun 22 nov 2026
    "{dd}-{mm}-{year}",  # 22-11-2026
    "{Mon} {day} {year}",  # Nov 22 2026
    "the {ordinal} of {month}, {year}",  # the 22nd of November, 2026
    "{year}/{mm}/{dd}",  # 2026/11/22
    "{weekday} {month} {day} {year}",  # Sunday November 22 2026
]


def ordinal(day):
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    suffixes = {1: "st", 2: "nd", 3: "rd"}
    return f"{day}{suffixes.get(day % 10, 'th')}"


def human(date, form):
    month, weekday = date.strftime("%B"), date.strftime("%A")
    return form.format(
        weekday=weekday,
        wd=weekday[:3].lower(),
        day=date.day,
        dd=f"{date.day:02d}",
        mm=f"{date.month:02d}",
        month=month,
        mon=month[:3].lower(),
        Mon=month[:3],
        MON=month[:3].upper(),
        year=date.year,
        yy=f"{date.year % 100:02d}",
        ordinal=ordinal(date.day),
    )


def make_dates(rng, first=datetime.date(1950, 1, 1), years=100):
    """Every date of `years` years from `first`, shuffled."""
    days = np.arange((first.replace(year=first.year + years) - first).days)
    return [
        first + datetime.timedelta(days=int(d)) for d in rng.permutation(days)
    ]


def encode_pairs(dates, rng, source_chars):
    """A random human format of each date, encoded: (source texts, ISO
    texts, source ids, decoder inputs, decoder targets)."""
    sources = [human(d, FORMATS[rng.integers(len(FORMATS))]) for d in dates]
    targets = [d.isoformat() for d in dates]
    index = {c: i + 1 for i, c in enumerate(source_chars)}  # 0 pads
    length = max(len(s) for s in sources)
    source = np.zeros((len(dates), length), "int32")
    for row, text in enumerate(sources):
        source[row, : len(text)] = [index[c] for c in text]
    out = np.array(
        [[3 + TARGET_CHARS.index(c) for c in t] + [END] for t in targets],
        "int32",
    )
    target_in = np.concatenate(
        [np.full((len(dates), 1), START), out[:, :-1]], 1
    )
    return sources, targets, source, target_in.astype("int32"), out


def source_alphabet():
    """Every character any format can produce."""
    chars = set()
    for date in (datetime.date(2000, m, 1) for m in range(1, 13)):
        for day in range(7):
            d = date + datetime.timedelta(days=day + 20)
            for form in FORMATS:
                chars.update(human(d, form))
    chars.update("0123456789")
    return "".join(sorted(chars))


def build_model(
    source_vocabulary,
    cell="gru",
    units=128,
    attention_units=64,
    normalize=False,
):
    cells = {
        "gru": lambda: keras_recur.GRUCell(units),
        "peephole": lambda: keras_recur.PeepholeLSTMCell(units),
        "coupled": lambda: keras_recur.CoupledLSTMCell(units),
        "lstm": lambda: keras.layers.LSTMCell(units),
    }
    model = keras_recur.Seq2Seq(
        keras.layers.Embedding(source_vocabulary, 32, mask_zero=True),
        keras.layers.Bidirectional(
            keras_recur.GRU(units // 2, return_sequences=True)
        ),
        keras.layers.Embedding(TARGET_VOCABULARY, 16, mask_zero=True),
        keras_recur.AttentionDecoder(
            cells[cell](),
            keras_recur.BahdanauAttention(attention_units, normalize=normalize),
        ),
        keras.layers.Dense(TARGET_VOCABULARY),
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def to_text(tokens):
    chars = []
    for token in tokens:
        if token == END:
            break
        chars.append(TARGET_CHARS[token - 3] if token >= 3 else "?")
    return "".join(chars)


def exact_match(model, source, targets, beam_width, batch_size=256):
    texts, attentions = [], []
    for begin in range(0, len(source), batch_size):
        chunk = source[begin : begin + batch_size]
        if beam_width == 1:
            decoded = model.greedy_decode(chunk, START, END, TARGET_LENGTH)
        else:
            decoded = model.beam_search(
                chunk, START, END, TARGET_LENGTH, beam_width=beam_width
            )
        tokens = keras.ops.convert_to_numpy(decoded.tokens)
        texts += [to_text(row) for row in tokens]
        attentions.append(keras.ops.convert_to_numpy(decoded.attention))
    accuracy = float(np.mean([t == want for t, want in zip(texts, targets)]))
    return accuracy, texts, np.concatenate(attentions)


def save_heatmaps(path, sources, texts, attention, count):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(5 * count, 4.5), squeeze=False)
    for ax, source, text, weights in zip(axes[0], sources, texts, attention):
        rows = len(text) + 1  # the end token's step too
        ax.imshow(weights[:rows, : len(source)], cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(source)), list(source), fontsize=8)
        ax.set_yticks(range(rows), list(text) + ["<end>"], fontsize=8)
        ax.set_xlabel("input character")
        ax.set_ylabel("output character")
        ax.set_title(source, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "--train", type=int, default=12000, help="training dates"
    )
    parser.add_argument("--test", type=int, default=1000, help="held-out dates")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--cell", default="gru", choices=["gru", "peephole", "coupled", "lstm"]
    )
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--attention-units", type=int, default=64)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--heatmaps", type=int, default=4)
    parser.add_argument("--out", default="out/date_translation")
    parser.add_argument(
        "--quick", action="store_true", help="tiny run (seconds), for tests"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs = 256, 64, 1
        args.units, args.attention_units, args.heatmaps = 16, 8, 2
    for option in (
        "train",
        "test",
        "epochs",
        "batch_size",
        "units",
        "attention_units",
        "beam_width",
        "heatmaps",
    ):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    dates = make_dates(rng)
    if args.train + args.test > len(dates):
        parser.error(f"--train + --test must be at most {len(dates)}")
    chars = source_alphabet()
    train = encode_pairs(dates[: args.train], rng, chars)
    test = encode_pairs(dates[args.train : args.train + args.test], rng, chars)
    print(
        f"backend {keras.backend.backend()}; {args.train} training dates, "
        f"{args.test} held-out dates; e.g. {test[0][0]!r} -> {test[1][0]!r}"
    )

    model = build_model(
        1 + len(chars), args.cell, args.units, args.attention_units
    )
    start = time.perf_counter()
    history = model.fit(
        (train[2], train[3]),
        train[4],
        validation_data=((test[2], test[3]), test[4]),
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=2,
    )
    seconds = time.perf_counter() - start

    os.makedirs(args.out, exist_ok=True)
    greedy, texts, attention = exact_match(model, test[2], test[1], 1)
    beam, _, _ = exact_match(model, test[2], test[1], args.beam_width)
    for source, want, got in list(zip(test[0], test[1], texts))[:8]:
        verdict = "ok" if got == want else f"want {want}"
        print(f"  {source:32s} -> {got:10s} {verdict}")
    print(
        f"exact match on held-out dates: greedy {greedy:.3f}, "
        f"beam search (width {args.beam_width}) {beam:.3f}"
    )

    heatmaps = os.path.join(args.out, "attention.png")
    save_heatmaps(heatmaps, test[0], texts, attention, args.heatmaps)
    results = {
        "backend": keras.backend.backend(),
        "cell": args.cell,
        "train_dates": args.train,
        "test_dates": args.test,
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "final_val_loss": history.history["val_loss"][-1],
        "greedy_exact_match": greedy,
        "beam_exact_match": beam,
        "beam_width": args.beam_width,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    model.save(os.path.join(args.out, "model.keras"))
    print(f"wrote {heatmaps}, results.json and model.keras in {args.out}")
    return results


if __name__ == "__main__":
    main()
