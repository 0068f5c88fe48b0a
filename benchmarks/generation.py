"""Speed of decoder-only generation: each cell stepped once per token
(`keras_recur.models.generate`) against re-running the whole model on the
growing sequence, side by side in one run on one backend.

For each layer, a language model (an embedding, the recurrent layer, a
softmax head; randomly initialised) continues a batch of prompts greedily.
Stepped: `generate`, the prompt through the layer's own loop once, then
one cell step per token. Re-run: for every new token, the whole model on
the prompt and the tokens so far, padded to the final length and masked
(one compiled shape), and the argmax at the last real position; what a
model without a step function costs. Compiled with XLA on TensorFlow and
JAX (as `predict` compiles), eager on PyTorch. Each time is the median over
--repeats interleaved rounds; the table gives tokens per second and the
stepped generation's speed-up.

Writes generation.md (the table) and generation.json to --out.
"""

import argparse
import json
import os

import keras
import numpy as np
from crf import medians  # this folder is on the path of a script run
from decoding import compiled

import keras_recur

# The run's sizes, as options.
SIZES = ("batch", "prompt_length", "max_length", "vocabulary", "units")
LAYERS = {
    "keras.LSTM": lambda units: keras.layers.LSTM(units, return_sequences=True),
    "keras.GRU": lambda units: keras.layers.GRU(units, return_sequences=True),
    "PeepholeLSTM": lambda units: keras_recur.PeepholeLSTM(
        units, return_sequences=True
    ),
    "GRU": lambda units: keras_recur.GRU(units, return_sequences=True),
    "MinGRU": lambda units: keras_recur.MinGRU(units, return_sequences=True),
    "LRU": lambda units: keras_recur.LRU(units, return_sequences=True),
}


def language_model(layer, vocabulary, units):
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocabulary, units, mask_zero=True),
            layer,
            keras.layers.Dense(vocabulary, activation="softmax"),
        ]
    )
    return model


def rerun_greedy(model, prompts, steps):
    """Greedy tokens by re-running `model` on the whole padded sequence
    for every token (token 0, the padding, banned)."""
    ops = keras.ops
    batch, prompt_length = prompts.shape
    sequence = ops.concatenate(
        [prompts, ops.zeros((batch, steps), "int32")], axis=1
    )
    tokens = []
    for t in range(steps):
        probabilities = model(sequence)[:, prompt_length + t - 1]
        token = ops.cast(ops.argmax(probabilities[:, 1:], axis=-1) + 1, "int32")
        tokens.append(token)
        position = ops.arange(prompt_length + steps) == prompt_length + t
        sequence = ops.where(position[None], token[:, None], sequence)
    return ops.stack(tokens, axis=1)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--prompt-length", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--vocabulary", type=int, default=256)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.prompt_length, args.max_length = 2, 3, 3
        args.vocabulary, args.units, args.repeats = 12, 8, 1
        args.layers = args.layers or ["GRU", "keras.LSTM"]
    args.layers = args.layers or list(LAYERS)
    for name in (*SIZES, "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be at least 1. "
                f"Received: {name}={getattr(args, name)}"
            )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    prompts = keras.ops.convert_to_tensor(
        rng.integers(1, args.vocabulary, (args.batch, args.prompt_length)),
        "int32",
    )
    strategy = keras_recur.models.Greedy(banned_tokens=[0])
    functions, agree = {}, {}
    for name in args.layers:
        model = language_model(
            LAYERS[name](args.units), args.vocabulary, args.units
        )
        # Large logits: ties (which the two ways could break apart under
        # rounding) are unlikely.
        for weight in model.weights:
            weight.assign(
                rng.normal(size=weight.shape).astype("float32")
                * (3.0 / np.sqrt(max(weight.shape[0], 1)))
            )
        stepped = compiled(
            lambda p, model=model: (
                keras_recur.models.generate(
                    model, p, args.max_length, strategy
                ).tokens
            )
        )
        rerun = compiled(
            lambda p, model=model: rerun_greedy(model, p, args.max_length)
        )
        agree[name] = bool(
            np.array_equal(
                keras.ops.convert_to_numpy(stepped(prompts)),
                keras.ops.convert_to_numpy(rerun(prompts)),
            )
        )
        for kind, run in (("stepped", stepped), ("re-run", rerun)):
            functions[(name, kind)] = lambda run=run: (
                keras.ops.convert_to_numpy(run(prompts))
            )
    times = medians(functions, args.repeats)
    backend = keras.backend.backend()
    tokens = args.batch * args.max_length
    lines = [
        f"Greedy generation on **{backend}**: batch {args.batch}, prompts of "
        f"{args.prompt_length} tokens, {args.max_length} new tokens, "
        f"vocabulary {args.vocabulary}, {args.units} units (median of "
        f"{args.repeats} interleaved rounds):",
        "",
        "| layer | stepped tokens/s | re-run tokens/s | speed-up | same |",
        "|---|---|---|---|---|",
    ]
    results = {
        "backend": backend,
        **{name: getattr(args, name) for name in SIZES},
        "seconds": {f"{n} {k}": s for (n, k), s in times.items()},
        "same_tokens": agree,
    }
    for name in args.layers:
        stepped, rerun = times[(name, "stepped")], times[(name, "re-run")]
        lines.append(
            f"| {name} | {tokens / stepped:,.0f} | {tokens / rerun:,.0f} | "
            f"{rerun / stepped:.1f}x | {'yes' if agree[name] else 'no'} |"
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "generation.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "generation.json"), "w") as file:
        json.dump(results, file, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
