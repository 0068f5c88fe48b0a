"""What torch.compile does to the recurrent layers on PyTorch, side by side
with keras.layers.LSTM in one run.

Keras compiles `fit`, `evaluate` and `predict` with torch.compile when a
model's `jit_compile` is True, which a `.keras` file saved on JAX or
TensorFlow stores. For each layer, a model `Input((steps, features))`,
`layer(units)`, `Dense(1)` is measured compiled (`jit_compile=True`) and
eager (`jit_compile=False`):

- graph breaks: of the layer's call, counted by `torch._dynamo.explain`
  (each break splits the compiled program and runs Python in between);
- recompiles: how many more programs dynamo made in three rounds of
  `predict` and `train_on_batch` after the first of each (a guard that
  fails on a later call compiles again; Keras' own state causes some);
- compile seconds: the first `predict` and the first `train_on_batch`;
- the median seconds of a `predict` and of a `train_on_batch` after them,
  over --repeats rounds that run every layer in turn, and the ratio
  compiled / eager.

    python benchmarks/torch_compile.py --out benchmarks/results-torch-compile

Writes torch_compile.md and torch_compile.json to --out.
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "torch"
# The checkout, where keras_recur is not installed.
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch._dynamo  # noqa: E402

from keras_recur import catalogue  # noqa: E402


def graph_breaks(layer, x):
    torch._dynamo.reset()
    return torch._dynamo.explain(lambda inputs: layer(inputs))(x)


def programs_made():
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def measure(name, args, x, y):
    row = {}
    for compiled in (True, False):
        keras.utils.set_random_seed(0)
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        layer = catalogue.CELLS[name].layer(args.units)
        model = keras.Sequential(
            [keras.Input(x.shape[1:]), layer, keras.layers.Dense(1)]
        )
        model.compile("adam", "mse", jit_compile=compiled)
        start = time.perf_counter()
        model.predict(x, verbose=0)
        first_predict = time.perf_counter() - start
        start = time.perf_counter()
        model.train_on_batch(x, y)
        first_train = time.perf_counter() - start
        after_first = programs_made()
        for _ in range(3):  # as the rounds below alternate them
            model.predict(x, verbose=0)
            model.train_on_batch(x, y)
        recompiles = programs_made() - after_first
        key = "compiled" if compiled else "eager"
        row[key] = {"model": model, "first_predict": first_predict}
        row[key]["first_train"] = first_train
        if compiled:
            row["recompiles"] = recompiles
            row["graph_breaks"] = graph_breaks(layer, x).graph_break_count
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="+", default=list(catalogue.CELLS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results-torch-compile")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.steps, args.features))
    x = x.astype("float32")
    y = rng.normal(size=(args.batch, 1)).astype("float32")

    rows = {}
    for name in args.layers:
        rows[name] = measure(name, args, x, y)
        print(name, "measured", flush=True)
    times = {
        (name, key, kind): []
        for name in rows
        for key in ("compiled", "eager")
        for kind in ("predict", "train")
    }
    for _ in range(args.repeats):
        for name, row in rows.items():
            for key in ("compiled", "eager"):
                model = row[key]["model"]
                start = time.perf_counter()
                model.predict(x, verbose=0)
                times[name, key, "predict"].append(time.perf_counter() - start)
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times[name, key, "train"].append(time.perf_counter() - start)

    results = {}
    for name, row in rows.items():
        median = {
            k[1:]: statistics.median(v)
            for k, v in times.items()
            if k[0] == name
        }
        results[name] = {
            "graph_breaks": row["graph_breaks"],
            "recompiles": row["recompiles"],
            "compile_predict_s": row["compiled"]["first_predict"],
            "compile_train_s": row["compiled"]["first_train"],
            **{
                f"{key}_{kind}_ms": 1e3 * t for (key, kind), t in median.items()
            },
        }
    header = (
        "| layer | graph breaks | recompiles | first predict (s) | first "
        "train step (s) | predict ms, compiled / eager | train step ms, "
        "compiled / eager |"
    )
    lines = [header, "|---" * 7 + "|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['graph_breaks']} | {r['recompiles']} | "
            f"{r['compile_predict_s']:.1f} | {r['compile_train_s']:.1f} | "
            f"{r['compiled_predict_ms']:.1f} / {r['eager_predict_ms']:.1f} "
            f"({r['compiled_predict_ms'] / r['eager_predict_ms']:.2f}x) | "
            f"{r['compiled_train_ms']:.1f} / {r['eager_train_ms']:.1f} "
            f"({r['compiled_train_ms'] / r['eager_train_ms']:.2f}x) |"
        )
    setting = (
        f"torch {torch.__version__}, keras {keras.__version__}, batch "
        f"{args.batch}, {args.steps} steps, {args.features} features, "
        f"{args.units} units, median of {args.repeats} rounds"
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "torch_compile.md"), "w") as file:
        file.write(f"{setting}\n\n" + "\n".join(lines) + "\n")
    with open(os.path.join(args.out, "torch_compile.json"), "w") as file:
        json.dump({"setting": setting, "layers": results}, file, indent=1)
    print(setting)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
