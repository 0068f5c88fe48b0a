"""End-to-end demo: train the three keras_recur layers and Keras' LSTM on a
generated sequence task, compare them, and save and reload the best model.

The task is the "adding problem" (Hochreiter & Schmidhuber 1997): each
sequence carries random numbers and two marked positions; the target is the
sum of the two marked numbers, so the layer must remember across the sequence.
Run `python examples/demo.py`; the backend comes from KERAS_BACKEND.
"""

import argparse
import os
import time

import keras
import numpy as np

import keras_recur


def adding_problem(count, steps, rng):
    values = rng.uniform(0.0, 1.0, (count, steps))
    marks = np.zeros((count, steps))
    for row in range(count):
        first, second = rng.choice(steps, size=2, replace=False)
        marks[row, [first, second]] = 1.0
    inputs = np.stack([values, marks], axis=-1).astype("float32")
    targets = (values * marks).sum(axis=1, keepdims=True).astype("float32")
    return inputs, targets


def build(layer):
    return keras.Sequential(
        [keras.Input((None, 2)), layer, keras.layers.Dense(1)]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--out", default="out/demo")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = adding_problem(args.samples, args.steps, rng)
    x_test, y_test = adding_problem(500, args.steps, rng)
    # Always guessing the mean (1.0) scores about 1/6 mean squared error.
    baseline = float(np.mean((y_test - y_train.mean()) ** 2))

    candidates = {
        "keras.layers.LSTM": keras.layers.LSTM(args.units),
        "PeepholeLSTM": keras_recur.PeepholeLSTM(args.units),
        "CoupledLSTM": keras_recur.CoupledLSTM(args.units),
        "GRU": keras_recur.GRU(args.units),
    }
    print(f"backend: {keras.backend.backend()}; mean-guess MSE {baseline:.4f}")
    results = {}
    for name, layer in candidates.items():
        model = build(layer)
        model.compile(keras.optimizers.Adam(1e-2), "mse")
        start = time.perf_counter()
        model.fit(
            x_train,
            y_train,
            epochs=args.epochs,
            batch_size=64,
            validation_split=0.1,
            verbose=2,
        )
        seconds = time.perf_counter() - start
        mse = model.evaluate(x_test, y_test, verbose=0)
        results[name] = (mse, seconds, model)
        print(f"{name}: test MSE {mse:.4f} in {seconds:.1f}s")

    os.makedirs(args.out, exist_ok=True)
    lines = ["| layer | test MSE | train seconds |", "|---|---|---|"]
    lines += [f"| mean guess | {baseline:.4f} | |"]
    for name, (mse, seconds, _) in results.items():
        lines.append(f"| {name} | {mse:.4f} | {seconds:.1f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table + "\n")

    best = min(
        (n for n in results if n != "keras.layers.LSTM"),
        key=lambda n: results[n][0],
    )
    path = os.path.join(args.out, "best.keras")
    results[best][2].save(path)
    reloaded = keras.saving.load_model(path)
    same = np.allclose(
        reloaded.predict(x_test, verbose=0),
        results[best][2].predict(x_test, verbose=0),
        atol=1e-5,
    )
    print(f"saved {best} to {path}; reloaded predictions identical: {same}")
    print(f"results table: {os.path.join(args.out, 'results.md')}")


if __name__ == "__main__":
    main()
