"""Speed of keras_recur's CRF next to pytorch-crf's, side by side in one run.

Times, on the running backend (KERAS_BACKEND), the CRF's negative
log-likelihood (forward algorithm) with its gradient w.r.t. the
transitions, and Viterbi decoding: compiled with XLA on TensorFlow and JAX
(as `fit` and `predict` compile), eager on PyTorch. On PyTorch, where
pytorch-crf runs, the same two with pytorch-crf's `CRF` (its mean NLL and
backward; its `decode`, which returns Python lists), and the ratios.
Emissions are random, with right padding (the padding pytorch-crf takes).
Each time is the median over --repeats rounds that run every function in
turn.

Writes crf.md (the table) and crf.json to --out.
"""

import argparse
import json
import os
import statistics
import time

import keras
import numpy as np

import keras_recur


def medians(functions, repeats):
    """Median seconds of each of `functions` (name -> function) over
    `repeats` rounds, after a warm-up (compilation) run of each. Every
    round runs each function once, in turn, so that a change in the
    machine's load (2 shared cores) reaches every function alike."""
    for function in functions.values():
        function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def compiled(function, variables):
    """`function()` -> (loss, gradients of loss w.r.t. `variables`) or
    `function()` alone (variables None), compiled as Keras compiles: XLA
    on TensorFlow and JAX, eager on PyTorch."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def run():
            if variables is None:
                return function()
            with tf.GradientTape() as tape:
                loss = function()
            return loss, tape.gradient(loss, variables)

        return run
    if backend == "jax":
        import jax

        def pure(values):
            mapping = list(zip(variables or [], values))
            with keras.StatelessScope(state_mapping=mapping):
                return function()

        values = [v.value for v in variables or []]
        if variables is None:
            run = jax.jit(pure)
        else:
            run = jax.jit(jax.value_and_grad(pure))
        return lambda: jax.block_until_ready(run(values))
    import torch

    def run():
        if variables is None:
            with torch.no_grad():
                return function()
        for v in variables:
            v.value.grad = None
        loss = function()
        loss.backward()
        return loss

    return run


def keras_recur_functions(emissions, tags, mask):
    crf = keras_recur.layers.CRF(emissions.shape[-1])
    crf.build(emissions.shape)
    emissions, tags, mask = (
        keras.ops.convert_to_tensor(x) for x in (emissions, tags, mask)
    )

    def loss():
        return -keras.ops.mean(crf.log_likelihood(emissions, tags, mask))

    def decode():
        return crf.decode(emissions, mask)

    return {
        "train": compiled(loss, crf.trainable_variables),
        "infer": compiled(decode, None),
    }


def pytorch_crf_functions(emissions, tags, mask):
    import torch
    import torchcrf

    crf = torchcrf.CRF(emissions.shape[-1], batch_first=True)
    emissions, tags, mask = (
        torch.tensor(emissions),
        torch.tensor(tags, dtype=torch.int64),
        torch.tensor(mask),
    )

    def train():
        crf.zero_grad()
        loss = -crf(emissions, tags, mask, reduction="mean")
        loss.backward()

    def infer():
        with torch.no_grad():
            crf.decode(emissions, mask)

    return {"train": train, "infer": infer}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--tags", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.steps, args.repeats = 4, 6, 2
    for name in ("batch", "steps", "tags", "repeats"):
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name} must be at least 1. "
                f"Received: {name}={getattr(args, name)}"
            )
    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(args.batch, args.steps, args.tags))
    emissions = emissions.astype("float32")
    tags = rng.integers(0, args.tags, (args.batch, args.steps))
    lengths = rng.integers(args.steps // 2 + 1, args.steps + 1, args.batch)
    mask = np.arange(args.steps) < lengths[:, None]
    backend = keras.backend.backend()
    crfs = {"keras_recur.CRF": keras_recur_functions(emissions, tags, mask)}
    if backend == "torch":
        crfs["pytorch-crf"] = pytorch_crf_functions(emissions, tags, mask)
    functions = {
        (crf, task): function
        for crf, tasks in crfs.items()
        for task, function in tasks.items()
    }
    times = medians(functions, args.repeats)
    results = {
        "backend": backend,
        "shape": [args.batch, args.steps, args.tags],
        **{
            crf: {task: times[crf, task] for task in tasks}
            for crf, tasks in crfs.items()
        },
    }
    rows = [(crf, results[crf]) for crf in crfs]
    reference = results.get("pytorch-crf")
    lines = [
        f"CRF alone on **{backend}**, batch {args.batch}, {args.steps} "
        f"steps, {args.tags} tags (median of {args.repeats} "
        "interleaved rounds):",
        "",
        "| CRF | NLL + gradient (ms) | Viterbi (ms) | NLL / pytorch-crf "
        "| Viterbi / pytorch-crf |",
        "|---|---|---|---|---|",
    ]
    for name, times in rows:
        ratios = (
            [f"{times[k] / reference[k]:.2f}x" for k in ("train", "infer")]
            if reference
            else ["-", "-"]
        )
        lines.append(
            f"| {name} | {1000 * times['train']:.2f} | "
            f"{1000 * times['infer']:.2f} | {ratios[0]} | {ratios[1]} |"
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "crf.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "crf.json"), "w") as file:
        json.dump(results, file, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
