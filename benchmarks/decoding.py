"""Speed of Seq2Seq's decoders, side by side in one run on one backend.

Times, on the running backend (KERAS_BACKEND), one batch of each decoder of
the same randomly initialised model: greedy decoding, sampling (top-k and
top-p), beam search (width 4), and beam search with everything on (the 4
best, GNMT's length and coverage penalties, `min_length` and
`no_repeat_ngram_size`), the beam without its early stop, and diverse beam
search with a repetition penalty. Compiled with XLA on TensorFlow and JAX (as
`predict` compiles), eager on PyTorch. Each time is the median over
--repeats rounds that run every decoder in turn, and the table gives each
as a ratio to greedy decoding: what a search or a sampler costs over the
plain loop. Keras has no decoder of its own to compare with.

Writes decoding.md (the table) and decoding.json to --out.
"""

import argparse
import json
import os

import keras
import numpy as np
from crf import medians  # this folder is on the path of a script run

import keras_recur


def build_model(vocabulary, units):
    model = keras_recur.Seq2Seq(
        keras.layers.Embedding(vocabulary, units, mask_zero=True),
        keras.layers.Bidirectional(
            keras_recur.GRU(units, return_sequences=True)
        ),
        keras.layers.Embedding(vocabulary, units, mask_zero=True),
        keras_recur.AttentionDecoder(
            keras_recur.GRUCell(2 * units), keras_recur.BahdanauAttention(units)
        ),
        keras.layers.Dense(vocabulary),
    )
    model.build(((None, None), (None, None)))
    return model


def compiled(decode):
    """`decode(source)` to tokens, compiled as `predict` compiles: XLA on
    TensorFlow and JAX, eager on PyTorch."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(decode, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(decode)
    return decode


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--source-length", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--vocabulary", type=int, default=1000)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.source_length, args.max_length = 2, 4, 4
        args.vocabulary, args.units, args.repeats = 20, 8, 2
    for name in (
        "batch",
        "source_length",
        "max_length",
        "vocabulary",
        "units",
        "repeats",
    ):
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be at least 1. "
                f"Received: {name}={getattr(args, name)}"
            )
    if args.vocabulary < 4:
        raise ValueError(
            "--vocabulary must be at least 4 (padding, start, end and a "
            f"word). Received: vocabulary={args.vocabulary}"
        )
    keras.utils.set_random_seed(0)
    model = build_model(args.vocabulary, args.units)
    rng = np.random.default_rng(0)
    source = rng.integers(
        3, args.vocabulary, (args.batch, args.source_length)
    ).astype("int32")
    source = keras.ops.convert_to_tensor(source)
    start, end, steps = 1, 2, args.max_length
    decoders = {
        "greedy": lambda s: model.greedy_decode(s, start, end, steps).tokens,
        "sample (top-k 50, top-p 0.9)": lambda s: (
            model.sample(
                s,
                start,
                end,
                steps,
                top_k=min(50, args.vocabulary),
                top_p=0.9,
                seed=0,
            ).tokens
        ),
        "beam search (width 4)": lambda s: (
            model.beam_search(s, start, end, steps, beam_width=4).tokens
        ),
        "beam search (4 best, penalties, constraints)": lambda s: (
            model.beam_search(
                s,
                start,
                end,
                steps,
                beam_width=4,
                length_penalty=0.6,
                coverage_penalty=0.2,
                num_return_sequences=4,
                min_length=min(2, steps - 1),
                no_repeat_ngram_size=3,
            ).tokens
        ),
        "beam search (width 4, no early stop)": lambda s: (
            model.decode(
                s,
                start,
                end,
                steps,
                keras_recur.models.BeamSearch(4, early_stopping=False),
            ).tokens
        ),
        "diverse beam search (2 groups of 2, repetition penalty)": lambda s: (
            model.decode(
                s,
                start,
                end,
                steps,
                keras_recur.models.BeamSearch(
                    4,
                    num_groups=2,
                    diversity_strength=0.5,
                    repetition_penalty=1.2,
                ),
            ).tokens
        ),
    }
    functions = {}
    for name, decode in decoders.items():
        run = compiled(decode)

        def timed(run=run):
            keras.ops.convert_to_numpy(run(source))

        functions[name] = timed
    times = medians(functions, args.repeats)
    backend = keras.backend.backend()
    results = {
        "backend": backend,
        "batch": args.batch,
        "source_length": args.source_length,
        "max_length": args.max_length,
        "vocabulary": args.vocabulary,
        "units": args.units,
        "seconds": times,
    }
    lines = [
        f"Seq2Seq decoding on **{backend}**: batch {args.batch}, source "
        f"{args.source_length} tokens, {args.max_length} steps, vocabulary "
        f"{args.vocabulary}, GRU encoder and decoder of {args.units} and "
        f"{2 * args.units} units (median of {args.repeats} interleaved "
        "rounds):",
        "",
        "| decoder | ms per batch | / greedy |",
        "|---|---|---|",
    ]
    for name, seconds in times.items():
        lines.append(
            f"| {name} | {1000 * seconds:.2f} | "
            f"{seconds / times['greedy']:.2f}x |"
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "decoding.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "decoding.json"), "w") as file:
        json.dump(results, file, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
