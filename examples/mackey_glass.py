"""Chaotic time series prediction: the echo state network trained as
reservoir computing trains it (its readout fitted in one pass by ridge
regression) against the cells trained by gradient descent, on the
Mackey-Glass series, each predicting 84 steps ahead free-running.

The series (Mackey & Glass 1977, tau = 17, a = 0.2, b = 0.1, n = 10) is
integrated here by fourth-order Runge-Kutta at step 0.1 (the delayed value
interpolated within a step) and sampled every time unit, then squashed by
tanh(x - 1) as Jaeger & Haas (2004) do. Their protocol: the network sees
3000 steps of the series (its input is the current value, the target the
next one), the first 1000 of which only wash out the initial state; it
then runs free, fed its own predictions, and the error 84 steps later,
over many prediction runs, is the NRMSE84 (root mean squared error over
the series' standard deviation). They report 10^-4.2
with a 1000-unit reservoir (and output feedback, training noise and 100
runs of their own).

Here every model predicts from `--origins` points after the training
stretch, each warmed up on the 500 true steps before it. The echo state
network (`--units` units, connectivity 10 / units, spectral radius 0.8)
runs in float64 where the backend has it (TensorFlow, PyTorch); its readout
is `keras_recur.layers.RidgeReadout`. Each cell of `--cells` (default: every
trained cell) learns next-step prediction with Adam on windows of the same
3000 steps for `--epochs` epochs. Writes mackey_glass.md (fit seconds, the
one-step error from the true past and NRMSE84 for each model),
prediction.png (one free run against the truth, and the NRMSE at every
horizon) and results.json to --out.
"""

import argparse
import os
import time

import common
import keras
import numpy as np

import keras_recur
from keras_recur import backend
from keras_recur import catalogue
from keras_recur import tuning

TRAIN_STEPS = 3000
WASHOUT = 1000
HORIZON = 84
WARM_UP = 500
# The cells gradient descent trains: all but the fixed reservoir.
TRAINED_CELLS = catalogue.cells(trained=True)


def mackey_glass(
    steps,
    tau=17.0,
    a=0.2,
    b=0.1,
    n=10,
    dt=0.1,
    sample_every=1.0,
    noise=0.2,
    seed=0,
):
    """`steps` values of the Mackey-Glass series, one every `sample_every`
    time units: RK4 at step `dt`, the delayed value x(t - tau) linearly
    interpolated within a step, from a history of 1.2 plus uniform noise
    of width `noise`."""
    delay = int(round(tau / dt))
    stride = int(round(sample_every / dt))
    rng = np.random.default_rng(seed)
    x = np.empty(delay + steps * stride)
    x[:delay] = 1.2 + noise * (rng.random(delay) - 0.5)

    def slope(value, delayed):
        return a * delayed / (1.0 + delayed**n) - b * value

    value = 1.2
    for i in range(delay, len(x)):
        x[i] = value
        # x(t - tau) at the step's start, middle and end (interpolated).
        start, end = x[i - delay], x[i - delay + 1]
        middle = (start + end) / 2
        k1 = dt * slope(value, start)
        k2 = dt * slope(value + k1 / 2, middle)
        k3 = dt * slope(value + k2 / 2, middle)
        k4 = dt * slope(value + k3, end)
        value += (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return x[delay::stride]


def parse_arguments():
    args = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    args.add_argument("--out", default="out/mackey_glass", help="output folder")
    args.add_argument(
        "--quick", action="store_true", help="a tiny run, for the tests"
    )
    args.add_argument(
        "--units", type=common.at_least_one, help="reservoir size (1000)"
    )
    args.add_argument(
        "--ridge", type=float, default=1e-11, help="the readout's L2 penalty"
    )
    args.add_argument(
        "--cells",
        help="comma-separated trained cells (default: every one)",
    )
    args.add_argument(
        "--cell-units", type=common.at_least_one, help="trained cells' units"
    )
    args.add_argument(
        "--epochs", type=common.at_least_one, help="trained cells' epochs"
    )
    args.add_argument(
        "--origins", type=common.at_least_one, help="prediction runs (20)"
    )
    args.add_argument("--seed", type=int, default=0)
    args = args.parse_args()
    quick = args.quick
    defaults = dict(
        units=100 if quick else 1000,
        cells="GRU,MinGRU" if quick else ",".join(TRAINED_CELLS),
        cell_units=8 if quick else 32,
        epochs=2 if quick else 30,
        origins=4 if quick else 20,
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    common.names_among("--cells", args.cells, TRAINED_CELLS)
    if not 0.0 <= args.ridge < float("inf"):
        raise ValueError(
            f"--ridge must be a non-negative number. Received: {args.ridge}"
        )
    return args


def echo_state_network(args, dtype):
    """The reservoir (its sequence and final state) and its readout."""
    uniform = keras.initializers.RandomUniform
    reservoir = keras_recur.EchoStateNetwork(
        args.units,
        connectivity=min(1.0, 10 / args.units),
        spectral_radius=0.8,
        kernel_initializer=uniform(-1.0, 1.0, seed=args.seed + 1),
        recurrent_initializer=uniform(-1.0, 1.0, seed=args.seed + 2),
        bias_initializer=uniform(-0.2, 0.2, seed=args.seed + 3),
        seed=args.seed,
        return_sequences=True,
        return_state=True,
        dtype=dtype,
    )
    readout = keras_recur.layers.RidgeReadout(1, ridge=args.ridge, dtype=dtype)
    return reservoir, readout


def trained_cell(name, args):
    layer_class = tuning.CELLS[name][0]
    layer = layer_class(
        args.cell_units, return_sequences=True, return_state=True
    )
    return layer, keras.layers.Dense(1)


def fit_reservoir(reservoir, readout, series, dtype):
    """Reservoir computing's training: one pass, one solve."""
    inputs = series[None, :TRAIN_STEPS, None].astype(dtype)
    targets = series[None, 1 : TRAIN_STEPS + 1, None]
    start = time.perf_counter()
    states = reservoir(inputs)[0]
    readout.fit(keras.ops.convert_to_numpy(states), targets, washout=WASHOUT)
    return time.perf_counter() - start


def fit_by_gradient(layer, head, series, args):
    """Next-step prediction on windows of the training stretch, with Adam."""
    inputs = keras.Input((None, 1))
    sequence = layer(inputs)[0]
    model = keras.Model(inputs, head(sequence))
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    length, stride = 100, 10
    starts = range(0, TRAIN_STEPS - length, stride)
    x = np.stack([series[s : s + length] for s in starts])[..., None]
    y = np.stack([series[s + 1 : s + length + 1] for s in starts])[..., None]
    start = time.perf_counter()
    model.fit(
        x.astype("float32"),
        y.astype("float32"),
        epochs=args.epochs,
        batch_size=32,
        verbose=0,
    )
    return time.perf_counter() - start


def free_run(layer, head, series, origins, dtype):
    """Each origin's `HORIZON` predictions, the model fed its own outputs
    after `WARM_UP` true steps: (origins, HORIZON)."""
    warm_up = np.stack([series[o - WARM_UP : o] for o in origins])[..., None]
    sequence, *states = layer(warm_up.astype(dtype))
    outputs = head(sequence[:, -1])
    predictions = []
    for _ in range(HORIZON):
        predictions.append(keras.ops.convert_to_numpy(outputs)[:, 0])
        hidden, states = layer.cell(outputs, states)
        outputs = head(hidden)
    return np.stack(predictions, axis=1).astype("float64")


def one_step_errors(layer, head, series, dtype):
    """Teacher-forced next-step predictions over the steps after the
    training stretch (each from the true past): their NRMSE."""
    end = TRAIN_STEPS + 1000
    sequence = layer(series[None, :end, None].astype(dtype))[0]
    predicted = keras.ops.convert_to_numpy(head(sequence))[
        0, TRAIN_STEPS - 1 : -1, 0
    ]
    truth = series[TRAIN_STEPS:end]
    return float(np.sqrt(np.mean((predicted - truth) ** 2)) / series.std())


def plot(path, series, origin, runs, errors):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (left, right) = pyplot.subplots(
        1, 2, figsize=(12, 4.2), layout="constrained"
    )
    steps = np.arange(1, HORIZON + 1)
    left.plot(
        steps, series[origin : origin + HORIZON], "k", lw=2.5, label="truth"
    )
    for name, run in runs.items():
        left.plot(steps, run, lw=1.2, label=name)
    left.set(
        xlabel="steps ahead (free-running)",
        ylabel="tanh(x - 1)",
        title=f"Mackey-Glass from step {origin}",
    )
    for name, error in errors.items():
        right.semilogy(steps, error, lw=1.2, label=name)
    right.set(
        xlabel="steps ahead",
        ylabel="NRMSE over the prediction runs",
        title="Error by horizon (log scale)",
    )
    for axes in (left, right):
        axes.grid(alpha=0.3)
    right.legend(fontsize=8)
    figure.savefig(path, dpi=120)


def main():
    args = parse_arguments()
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    dtype = backend.widest_float()
    print(
        f"Backend: {keras.backend.backend()}; the reservoir in {dtype}; "
        f"output folder: {args.out}"
    )
    # 1000 steps of the attractor's transient dropped.
    last_origin = TRAIN_STEPS + 1000
    series = np.tanh(mackey_glass(1000 + last_origin + HORIZON)[1000:] - 1.0)
    origins = np.linspace(TRAIN_STEPS, last_origin, args.origins).astype(int)
    spread = series.std()

    models, seconds, predictions = {}, {}, {}
    reservoir, readout = echo_state_network(args, dtype)
    name = f"EchoStateNetwork ({args.units}) + RidgeReadout"
    seconds[name] = fit_reservoir(reservoir, readout, series, dtype)
    models[name] = (reservoir, readout, dtype)
    for cell in args.cells.split(","):
        layer, head = trained_cell(cell, args)
        seconds[cell] = fit_by_gradient(layer, head, series, args)
        models[cell] = (layer, head, "float32")
        print(f"{cell}: {seconds[cell]:.1f} s of training")

    truth = np.stack([series[o : o + HORIZON] for o in origins])
    errors = {}
    for name, (layer, head, model_dtype) in models.items():
        predictions[name] = free_run(layer, head, series, origins, model_dtype)
        squared = (predictions[name] - truth) ** 2
        errors[name] = np.sqrt(squared.mean(axis=0)) / spread
    nrmse = {name: float(error[-1]) for name, error in errors.items()}
    one_step = {
        name: one_step_errors(layer, head, series, model_dtype)
        for name, (layer, head, model_dtype) in models.items()
    }
    rows = [
        [
            name,
            f"{seconds[name]:.1f}",
            f"{one_step[name]:.1e}",
            f"{nrmse[name]:.2e}",
            f"{np.log10(nrmse[name]):.2f}",
        ]
        for name in sorted(nrmse, key=nrmse.get)
    ]
    rows.append(["Jaeger & Haas 2004 (published)", "", "", "6.3e-05", "-4.20"])
    common.write_table(
        args,
        "mackey_glass",
        [
            "model",
            "fit seconds",
            "one-step NRMSE",
            "NRMSE84 (free-running)",
            "log10 NRMSE84",
        ],
        rows,
    )
    plot(
        os.path.join(args.out, "prediction.png"),
        series,
        origins[0],
        {name: run[0] for name, run in predictions.items()},
        errors,
    )
    common.finish(
        args,
        {
            "nrmse84": nrmse,
            "one_step_nrmse": one_step,
            "fit_seconds": seconds,
            "origins": origins.tolist(),
            "reservoir_dtype": dtype,
        },
    )


if __name__ == "__main__":
    main()
