"""Speed and memory of the keras_recur layers next to Keras' and torch.nn's.

    python benchmarks/run.py                       # all backends, issue-3 shape
    python benchmarks/run.py --backends jax --steps 100 1000 --repeats 20
    python benchmarks/run.py --smoke               # tiny run that CI makes
    python benchmarks/run.py --suite canon         # equal weight counts

Each backend is measured in its own process (Keras fixes the backend at
import); inside that process every layer is timed side by side, one training
step and one inference call per layer per round, so that ratios compare runs
made under the same conditions. Reported per layer: median time with min and
max, the ratio to Keras' built-in layer of the same kind (LSTM for the LSTMs,
GRU for the GRU, SimpleRNN for the echo state network, whose reservoir has
the same tanh recurrence but trains only its readout; for the attention
decoders, which Keras lacks, the Bahdanau decoder is the reference of the
Luong one: both read the input sequence as their memory, with a GRU cell)
as the median of the per-round ratios with their min and max,
and the memory of one training step, measured with each backend's own
accounting (resident-set growth says little, as the allocators keep memory
between steps): on TensorFlow the peak of its CPU allocator during the step
above its level before (the worker sets TF_CPU_ALLOCATOR_USE_BFC=true, which
makes the allocator keep statistics); on JAX the temporary buffers XLA
allocates for the compiled gradient of the loss; on PyTorch the tensors
autograd keeps for the backward pass (distinct storages, counted through
saved-tensor hooks). torch.nn's layers get a memory figure on the PyTorch
backend only. The floor row times the same
matrix multiplications alone in NumPy: the input projection of every step and
the recurrent matmul, three times over for a training step (forward, and two
for the gradients).
Results go to OUT/results.md, OUT/results.json and OUT/ratios.png.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")


def _catalogue():
    """keras_recur's catalogue of cells (keras_recur.catalogue), imported
    with whichever backend is installed (the workers set their own), from
    the checkout where keras_recur is not installed."""
    if "KERAS_BACKEND" not in os.environ:
        os.environ["KERAS_BACKEND"] = next(
            (b for b in BACKENDS if importlib.util.find_spec(b)), "torch"
        )
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_recur import catalogue

    return catalogue


def _layers():
    """name -> (family, gate blocks): Keras' baselines, torch.nn's, the
    attention decoders, and every cell of the catalogue (a cell linear in
    its state once per scan, and in log space where it has one; no
    recurrent matmul, so no floor row: None). The family picks the Keras
    baseline."""
    layers = {
        "keras.LSTM": ("lstm", 4),
        "keras.SimpleRNN": ("rnn", 1),
        "keras.GRU": ("gru", 3),
        "torch.nn.LSTM": ("lstm", 4),
        "torch.nn.GRU": ("gru", 3),
        "torch.nn.LSTM in Keras": ("lstm", 4),
        "torch.nn.GRU in Keras": ("gru", 3),
        "decoder+Bahdanau": ("decoder", 3),
        "decoder+Luong": ("decoder", 3),
    }
    # The variational RNN (keras_recur.models.VRNN) over a GRU cell: a
    # model trained on its own loss, timed as a layer is.
    layers["VRNN"] = ("gru", 3)
    for name, record in _catalogue().CELLS.items():
        if record.keras_own:
            continue
        family = record.keras_family
        if not record.linear:
            # The floor's gate blocks: the cell's own (the coupled LSTM has
            # three), else its family's (the reservoir's one).
            gates = getattr(record.cell(1), "gate_count", GATE_BLOCKS[family])
            layers[name] = (family, gates)
            if "use_peepholes" in record.hyperparameters:
                layers[f"{name}+peepholes"] = (family, gates)
            continue
        for scan in ("sequential", "parallel"):
            layers[f"{name} {scan}"] = (family, None)
        if "log_space" in record.hyperparameters:
            layers[f"{name} log-space parallel"] = (family, None)
    return layers


# The gate blocks of each family's Keras layer.
GATE_BLOCKS = {"lstm": 4, "gru": 3, "rnn": 1}
LAYERS = _layers()
LINEAR = [name for name, (_, gates) in LAYERS.items() if gates is None]
# --suite: the layers and lengths of each published table.
SUITES = {
    "classic": ([n for n in LAYERS if n not in LINEAR], [100]),
    "linear": (["keras.GRU", "keras.LSTM", *LINEAR], [100, 1000, 4000]),
    # The architectures whose papers compare networks of equal weight
    # counts, next to Keras' layers of that count (--same-weights).
    "canon": (
        [
            "keras.LSTM",
            "keras.GRU",
            "keras.SimpleRNN",
            "ClockworkRNN",
            "DepthGatedLSTM",
            "GridLSTM",
            "VRNN",
        ],
        [100],
    ),
}
SAME_WEIGHTS_SUITES = ("canon",)
BASELINE = {
    "lstm": "keras.LSTM",
    "gru": "keras.GRU",
    "rnn": "keras.SimpleRNN",
    "decoder": "decoder+Bahdanau",
}
# ATen's kernels, timed raw and inside the same Keras model as ours
# (TorchModuleWrapper, train_on_batch): the second isolates the layer.
TORCH_REFERENCES = {
    "lstm": ("torch.nn.LSTM in Keras", "torch.nn.LSTM"),
    "gru": ("torch.nn.GRU in Keras", "torch.nn.GRU"),
}


def weight_count(name, units, features):
    """The weights of the layer `name` with `units` units on `features`
    inputs."""
    layer = keras_layer(name, units, features)
    layer.build((None, None, features))
    return layer.count_params()


def matched_units(name, target, features):
    """The units whose layer `name` has the weight count closest to
    `target` (`catalogue.units_for_weight_count`)."""
    from keras_recur import catalogue

    return catalogue.units_for_weight_count(
        lambda units: weight_count(name, units, features), target
    )


def keras_layer(name, units, features):
    import keras

    from keras_recur import catalogue

    if name.endswith(" in Keras"):
        return keras.layers.TorchModuleWrapper(
            torch_last_output(name.split()[0], features, units)
        )
    if name.startswith("decoder+"):
        return attention_decoder(name, units, features)
    if name == "VRNN":
        import keras_recur

        # Its feature extractors and encoder as wide as its GRU; 16 latent
        # dimensions.
        return keras_recur.models.VRNN(
            keras_recur.GRUCell(units),
            latent_dim=16,
            feature_units=units,
            hidden_units=units,
        )
    keras_layers = {
        "keras.LSTM": keras.layers.LSTM,
        "keras.GRU": keras.layers.GRU,
        "keras.SimpleRNN": keras.layers.SimpleRNN,
    }
    if name in keras_layers:
        return keras_layers[name](units)
    cell_name, *options = name.replace("+", " ").split()
    layer_class = catalogue.CELLS[cell_name].layer
    if name in LINEAR:
        if "log-space" in options:
            return layer_class(units, scan=options[-1], log_space=True)
        return layer_class(units, scan=options[-1])
    if options == ["peepholes"]:
        return layer_class(units, use_peepholes=True)
    return layer_class(units)


def attention_decoder(name, units, features):
    """A decoder reading the sequence as its inputs and its memory: its last
    output, as a layer."""
    import keras

    import keras_recur

    attention = (
        keras_recur.LuongAttention()
        if name.endswith("Luong")
        else keras_recur.BahdanauAttention(units)
    )
    decoder = keras_recur.AttentionDecoder(
        keras_recur.GRUCell(units), attention, return_sequences=False
    )
    inputs = keras.Input((None, features))
    return keras.Model(inputs, decoder(inputs, inputs), name=name[8:])


def torch_last_output(name, features, units):
    """A torch.nn.LSTM / GRU module that returns its last output."""
    import torch

    rnn_class = torch.nn.LSTM if name == "torch.nn.LSTM" else torch.nn.GRU

    class LastOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn_class(features, units, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    return LastOutput()


class KerasRunner:
    def __init__(self, name, x, y, units):
        import keras

        self.model = keras.Sequential(
            [
                keras.Input(x.shape[1:], batch_size=x.shape[0]),
                keras_layer(name, units, x.shape[-1]),
                keras.layers.Dense(1),
            ]
        )
        self.model.compile(keras.optimizers.Adam(1e-3), "mse")
        self.x, self.y = x, y

    def train(self):
        self.model.train_on_batch(self.x, self.y)  # returns numbers: synced

    def infer(self):
        self.model.predict_on_batch(self.x)

    def step_memory_bytes(self):
        import keras

        backend = keras.backend.backend()
        if backend == "torch":
            return torch_saved_bytes(self.train)
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("CPU:0")
            before = tf.config.experimental.get_memory_info("CPU:0")
            self.train()
            after = tf.config.experimental.get_memory_info("CPU:0")
            return after["peak"] - before["current"]
        return self._jax_gradient_temp_bytes()

    def jax_loss(self, predicted, y, losses):
        """The training loss from the model's stateless outputs."""
        import jax

        return jax.numpy.mean((predicted - y) ** 2)

    def _jax_gradient_temp_bytes(self):
        import jax

        model = self.model

        def loss(trainable, non_trainable, x, y):
            predicted, _, losses = model.stateless_call(
                trainable, non_trainable, x, training=True, return_losses=True
            )
            return self.jax_loss(predicted, y, losses)

        compiled = (
            jax.jit(jax.grad(loss))
            .lower(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                self.x,
                self.y,
            )
            .compile()
        )
        return compiled.memory_analysis().temp_size_in_bytes


class VRNNRunner(KerasRunner):
    """The VRNN: trained on its negative ELBO (through `add_loss`), so no
    head and no targets; inference draws its latent samples."""

    def __init__(self, name, x, y, units):
        import keras

        self.model = keras_layer(name, units, x.shape[-1])
        self.model.compile(keras.optimizers.Adam(1e-3))
        self.x, self.y = x, y

    def train(self):
        self.model.train_on_batch(self.x)

    def jax_loss(self, predicted, y, losses):
        return sum(losses)


class TorchRunner:
    def __init__(self, name, x, y, units):
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        self.rnn = torch_last_output(name, x.shape[-1], units)
        self.head = torch.nn.Linear(units, 1)
        params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.Adam(params, 1e-3)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.torch = torch

    def _predict(self):
        return self.head(self.rnn(self.x))

    def train(self):
        self.optimizer.zero_grad()
        loss = ((self._predict() - self.y) ** 2).mean()
        loss.backward()
        self.optimizer.step()

    def infer(self):
        with self.torch.no_grad():
            self._predict()

    def step_memory_bytes(self):
        import keras

        # Only the PyTorch backend's measure applies to a torch module.
        if keras.backend.backend() != "torch":
            return None
        return torch_saved_bytes(self.train)


def torch_saved_bytes(train):
    """Bytes of the distinct storages autograd saves during train()."""
    import torch

    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        train()
    return sum(storages.values())


def matmul_floor(batch, steps, features, units, gates, repeats):
    """Seconds of the step's matrix multiplications alone (NumPy BLAS)."""
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, features), dtype=np.float32)
    kernel = rng.random((features, gates * units), dtype=np.float32)
    h = rng.random((batch, units), dtype=np.float32)
    recurrent = rng.random((units, gates * units), dtype=np.float32)
    times = []
    for _ in range(repeats + 1):  # the first round warms BLAS up
        start = time.perf_counter()
        x @ kernel
        for _ in range(steps):
            h @ recurrent
        times.append(time.perf_counter() - start)
    return times[1:]


def worker(args):
    """Measures every layer on the current backend; prints JSON."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    shape = (args.batch, args.steps, args.features)
    x = rng.normal(size=shape).astype("float32")
    y = rng.normal(size=(args.batch, 1)).astype("float32")
    runners, sizes = {}, {}
    torch_installed = importlib.util.find_spec("torch") is not None
    target = weight_count("keras.LSTM", args.units, args.features)
    for name in args.layers:
        in_keras = name.endswith(" in Keras")
        if in_keras and keras.backend.backend() != "torch":
            continue  # a torch module is a Keras layer on torch only
        if name.startswith("torch") and not torch_installed:
            print(f"{name}: torch is not installed; skipped", file=sys.stderr)
            continue
        raw_torch = name.startswith("torch") and not in_keras
        runner_class = TorchRunner if raw_torch else KerasRunner
        if name == "VRNN":
            runner_class = VRNNRunner
        units = args.units
        if args.same_weights:
            units = matched_units(name, target, args.features)
            sizes[name] = (units, weight_count(name, units, args.features))
        runners[name] = runner_class(name, x, y, units)
        for _ in range(args.warmup):  # compiles / traces
            runners[name].train()
            runners[name].infer()

    results = {name: {"train": [], "infer": []} for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            for kind in ("train", "infer"):
                start = time.perf_counter()
                getattr(runner, kind)()
                results[name][kind].append(time.perf_counter() - start)
    for name, runner in runners.items():
        memory = runner.step_memory_bytes()
        results[name]["memory_mb"] = None if memory is None else memory / 2**20
        if name in sizes:
            results[name]["units"], results[name]["weights"] = sizes[name]
    # The floor multiplies matrices of --units; layers of other sizes have
    # none.
    floors = set() if args.same_weights else {LAYERS[n][1] for n in runners}
    for gates in sorted(floors - {None}):
        forward = matmul_floor(
            args.batch,
            args.steps,
            args.features,
            args.units,
            gates,
            args.repeats,
        )
        results[f"floor ({gates} gates)"] = {
            "infer": forward,
            "train": [3 * t for t in forward],
        }
    json.dump(
        {"backend": keras.backend.backend(), "results": results}, sys.stdout
    )


def spread(values, scale=1.0):
    values = [v * scale for v in values]
    return statistics.median(values), min(values), max(values)


def table(backend, results, steps, same_weights=False):
    """The Markdown table of one worker's measurements and the ratios to
    each layer's baseline: its family's Keras layer, or with
    `same_weights` Keras' LSTM."""
    lines = [
        f"**{backend}**, {steps} steps"
        + (
            ", each layer with Keras' LSTM's weight count"
            if same_weights
            else ""
        ),
        "",
        "| layer | train ms (min-max) | train ratio | infer ms (min-max) "
        "| infer ratio | step memory MB | memory ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = {}
    for name, measured in results.items():
        family = "lstm" if same_weights else LAYERS.get(name, (None,))[0]
        baseline = results.get(BASELINE.get(family, ""), None)
        cells = [name]
        if "weights" in measured:
            cells = [
                f"{name} ({measured['units']} units, "
                f"{measured['weights']:,} weights)"
            ]
        for kind in ("train", "infer"):
            median, low, high = spread(measured[kind], 1000.0)
            cells.append(f"{median:.1f} ({low:.1f}-{high:.1f})")
            if baseline:
                cells.append(per_round_ratio(measured, baseline, kind))
                ratios[(name, kind)] = statistics.median(
                    a / b for a, b in zip(measured[kind], baseline[kind])
                )
            else:
                cells.append("")
        memory = measured.get("memory_mb")
        base_memory = baseline.get("memory_mb") if baseline else None
        cells.append("" if memory is None else f"{memory:.2f}")
        if memory is not None and base_memory:
            cells.append(f"{memory / base_memory:.2f}x")
            ratios[(name, "memory")] = memory / base_memory
        else:
            cells.append("")
        lines.append("| " + " | ".join(cells) + " |")
    lines += torch_reference_table(results)
    return "\n".join(lines), ratios


def per_round_ratio(measured, reference, kind):
    per_round = [a / b for a, b in zip(measured[kind], reference[kind])]
    median, low, high = spread(per_round)
    return f"{median:.2f}x ({low:.2f}-{high:.2f})"


def torch_reference_table(results):
    """Our layers against ATen's kernels, inside Keras and raw."""
    rows = []
    for name, measured in results.items():
        family = LAYERS.get(name, (None,))[0]
        if (
            name.startswith(("keras.", "torch."))
            or family not in TORCH_REFERENCES
        ):
            continue
        cells = []
        for reference in TORCH_REFERENCES[family]:
            for kind in ("train", "infer"):
                if reference in results:
                    cells.append(
                        per_round_ratio(measured, results[reference], kind)
                    )
                else:
                    cells.append("")
        if any(cells):
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return [
        "",
        "| layer | train / torch.nn in Keras | infer / torch.nn in Keras "
        "| train / raw torch.nn | infer / raw torch.nn |",
        "|---|---|---|---|---|",
        *rows,
    ]


def chart(all_ratios, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted(all_ratios)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 4), squeeze=False
    )
    for ax, key in zip(axes[0], panels):
        ratios = all_ratios[key]
        names = sorted({name for name, _ in ratios})
        positions = np.arange(len(names))
        kinds = (("train", -0.27), ("infer", 0.0), ("memory", 0.27))
        for kind, offset in kinds:
            values = [ratios.get((n, kind), np.nan) for n in names]
            ax.bar(positions + offset, values, width=0.27, label=kind)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(positions, names, rotation=45, ha="right")
        ax.set_ylabel("ratio to the reference layer (lower is better)")
        ax.set_title(f"{key[0]}, {key[1]} steps")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS
    )
    parser.add_argument(
        "--suite",
        choices=list(SUITES),
        default="classic",
        help="the layers and steps of a published table: the gated cells "
        "at 100 steps, or the linear cells at 100, 1,000 and 4,000 next to "
        "Keras' GRU and LSTM (--layers and --steps override it)",
    )
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS))
    parser.add_argument(
        "--same-weights",
        action="store_true",
        help="give each layer the units whose weight count is closest to "
        "Keras' LSTM's with --units, and compare every layer with that "
        "LSTM (default for --suite canon)",
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, nargs="+")
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one tiny shape, one repeat: checks the script",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    suite_layers, suite_steps = SUITES[args.suite]
    args.layers = args.layers or suite_layers
    args.steps = args.steps or suite_steps
    args.same_weights = args.same_weights or args.suite in SAME_WEIGHTS_SUITES
    for option in ("batch", "features", "units", "repeats"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    if args.smoke:
        args.batch, args.steps, args.features, args.units = 4, [5], 3, 8
        args.repeats, args.warmup = 1, 1

    if args.worker:
        args.steps = args.steps[0]
        return worker(args)

    os.makedirs(args.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    sections, all_ratios, raw = [], {}, []
    for backend in args.backends:
        for steps in args.steps:
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                "--layers",
                *args.layers,
                "--batch",
                str(args.batch),
                "--steps",
                str(steps),
                "--features",
                str(args.features),
                "--units",
                str(args.units),
                "--repeats",
                str(args.repeats),
                "--warmup",
                str(args.warmup),
                *(["--same-weights"] if args.same_weights else []),
            ]
            env = {
                **os.environ,
                "KERAS_BACKEND": backend,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "TF_CPU_ALLOCATOR_USE_BFC": "true",
                "PYTHONPATH": os.pathsep.join(
                    [os.path.dirname(here), os.environ.get("PYTHONPATH", "")]
                ),
            }
            print(f"measuring {backend}, {steps} steps ...", flush=True)
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                sys.exit(f"{backend} worker failed:\n{done.stderr[-4000:]}")
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            raw.append({"steps": steps, **measured})
            text, ratios = table(
                backend, measured["results"], steps, args.same_weights
            )
            sections.append(text)
            all_ratios[(backend, steps)] = ratios
            print(text + "\n", flush=True)

    shape = (
        f"batch {args.batch}, steps {args.steps}, features "
        f"{args.features}, units {args.units}, {args.repeats} rounds"
    )
    machine = f"{os.cpu_count()} CPU cores, {sys.platform}"
    report = "\n\n".join([f"Shape: {shape}. Machine: {machine}."] + sections)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"shape": shape, "runs": raw}, f, indent=1)
    if importlib.util.find_spec("matplotlib") is None:
        # (The GPU machines of benchmarks/gpu.sh have no matplotlib.)
        print(
            f"wrote {args.out}/results.md and results.json (no chart: "
            "matplotlib is not installed)"
        )
        return
    chart(all_ratios, os.path.join(args.out, "ratios.png"))
    print(f"wrote {args.out}/results.md, results.json and ratios.png")


if __name__ == "__main__":
    main()
