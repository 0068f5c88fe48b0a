"""Cost of a training step of the training methods of keras_recur.training
against Adam, side by side in one run on one backend.

A tanh `keras.layers.SimpleRNN` of --units units reads --steps steps of 2
features and a dense head predicts one value (squared error): the network
of the pathological problems (examples/pathological.py). Each method takes
the same batches of --batch sequences through `fit`:

- Adam: `model.fit` with Adam (compiled as Keras compiles: XLA on
  TensorFlow and JAX, eager on PyTorch).
- SGD + clipping: SGD with `global_clipnorm=1`, the same way.
- + regulariser: `VanishingGradientRegularization` (strength 4) around the
  same SGD: the loss's gradient, the error signal at every state through a
  probed copy of the layer, and Omega's gradient (second order, through one
  cell step).
- Hessian-free: `HessianFree`, --cg-iterations conjugate gradient
  iterations a step (its stopping rule off, so that every step does the
  same work), each a Gauss-Newton product; then backtracking and the line
  search (a few loss evaluations).
- + structural damping: the same with structural damping (mu 0.03): the
  products also carry the hidden states.

Each time is the median over --repeats interleaved rounds of one epoch of
--batches steps, after a warm-up epoch (compilation); the table gives
milliseconds per step and the ratio to Adam's step.

Writes training.md (the table) and training.json to --out.
"""

import argparse
import json
import os

import keras
import numpy as np
from crf import medians  # this folder is on the path of a script run

from keras_recur import training

SIZES = ("batch", "steps", "units", "batches", "cg_iterations", "repeats")
METHODS = (
    "Adam",
    "SGD + clipping",
    "+ regulariser",
    "Hessian-free",
    "+ structural damping",
)


def network(steps, units):
    inputs = keras.Input((steps, 2))
    states = keras.layers.SimpleRNN(units, return_sequences=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(states[:, -1]))


def trained(method, steps, units, cg_iterations):
    """A compiled model (or trainer) whose `fit` takes `method`'s steps."""
    keras.utils.set_random_seed(0)
    model = network(steps, units)
    clipped = keras.optimizers.SGD(0.01, global_clipnorm=1.0)
    if method == "Adam":
        model.compile(keras.optimizers.Adam(1e-3), "mse")
        return model
    if method == "SGD + clipping":
        model.compile(clipped, "mse")
        return model
    if method == "+ regulariser":
        trainer = training.VanishingGradientRegularization(model, strength=4.0)
        trainer.compile(clipped, "mse")
        return trainer
    trainer = training.HessianFree(
        model,
        structural_damping=0.03 if method == "+ structural damping" else 0.0,
        max_cg_iterations=cg_iterations,
        # No early stop: every step runs max_cg_iterations products.
        cg_tolerance=1e-30,
    )
    trainer.compile("mse")
    return trainer


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--cg-iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.steps, args.units = 4, 5, 3
        args.batches, args.cg_iterations, args.repeats = 2, 2, 1
    for name in SIZES:
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be at least 1. "
                f"Received: {name}={getattr(args, name)}"
            )
    rng = np.random.default_rng(0)
    count = args.batch * args.batches
    x = rng.uniform(size=(count, args.steps, 2)).astype("float32")
    y = x[:, :, 0].mean(axis=1, keepdims=True)
    functions = {}
    for method in METHODS:
        model = trained(method, args.steps, args.units, args.cg_iterations)
        functions[method] = lambda model=model: model.fit(
            x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0
        )
    times = medians(functions, args.repeats)
    backend = keras.backend.backend()
    per_step = {m: 1000 * s / args.batches for m, s in times.items()}
    lines = [
        f"One training step on **{backend}**: a tanh SimpleRNN of "
        f"{args.units} units, {args.steps} steps, batch {args.batch}; "
        f"Hessian-free with {args.cg_iterations} CG iterations a step "
        f"(median of {args.repeats} interleaved rounds of {args.batches} "
        "steps):",
        "",
        "| method | ms per step | vs Adam |",
        "|---|---|---|",
    ]
    for method in METHODS:
        lines.append(
            f"| {method} | {per_step[method]:,.1f} | "
            f"{per_step[method] / per_step['Adam']:.1f}x |"
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "training.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "training.json"), "w") as file:
        json.dump(
            {
                "backend": backend,
                **{name: getattr(args, name) for name in SIZES},
                "ms_per_step": per_step,
            },
            file,
            indent=2,
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
