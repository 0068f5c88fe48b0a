"""Precise timing: measure the delay between two input spikes, with and
without peephole connections, each variant tuned with the same budget.

Gers, Schraudolph & Schmidhuber (2002, "Learning precise timing with LSTM
recurrent networks") added peepholes so that the gates can see the cell
state, and showed tasks that need exact intervals, such as measuring spike
delays (MSD), being learned with them and not without. Here each sequence is
`--steps` steps of silence with two unit spikes whose delay is drawn
uniformly from `--min-delay` to `--max-delay`; after the last step the
network outputs the delay (a regression, in steps). A prediction is exact
when it rounds to the true delay.

Variants: PeepholeLSTM, CoupledLSTM with peepholes, and the peephole-free
CoupledLSTM and Keras LSTM; each gets a search over units and learning rate
with the same trials and tuner seed. Writes timing.md (mean absolute error
and exact fraction on fresh sequences), error_by_delay.png, a trial table
and plot per variant, and results.json to --out.
"""

import os

import numpy as np
from common import finish
from common import parser
from common import setup
from common import tune_each

from keras_recur import tuning

# variant -> (cell, use_peepholes for CoupledLSTM)
VARIANTS = {
    "PeepholeLSTM": ("PeepholeLSTM", False),
    "CoupledLSTM+peepholes": ("CoupledLSTM", True),
    "CoupledLSTM": ("CoupledLSTM", False),
    "LSTM (Keras)": ("LSTM", False),
}


def spike_pairs(count, steps, min_delay, max_delay, rng):
    """Inputs (count, steps, 1) with two spikes, and their delays."""
    delays = rng.integers(min_delay, max_delay + 1, count)
    first = rng.integers(0, steps - delays)
    inputs = np.zeros((count, steps, 1), dtype="float32")
    rows = np.arange(count)
    inputs[rows, first, 0] = 1.0
    inputs[rows, first + delays, 0] = 1.0
    return inputs, delays


def main():
    args = parser(__doc__, trials=3, epochs=25, out="out/timing")
    args.add_argument("--steps", type=int, default=60)
    args.add_argument("--min-delay", type=int, default=10)
    args.add_argument("--max-delay", type=int, default=50)
    args.add_argument("--samples", type=int, default=1500)
    args = args.parse_args()
    if not 1 <= args.min_delay <= args.max_delay < args.steps:
        raise ValueError(
            "Need 1 <= --min-delay <= --max-delay < --steps. Received: "
            f"{args.min_delay}, {args.max_delay}, {args.steps}"
        )
    setup(args)
    samples = 200 if args.quick else args.samples
    rng = np.random.default_rng(args.seed)
    scale = float(args.max_delay)
    sets = {
        name: spike_pairs(
            count, args.steps, args.min_delay, args.max_delay, rng
        )
        for name, count in (
            ("train", samples),
            ("validation", samples // 4),
            ("test", samples // 2),
        )
    }
    x_train, d_train = sets["train"]
    x_val, d_val = sets["validation"]
    hypermodels = {
        variant: tuning.SequenceRegressor(
            (args.steps, 1),
            cell=cell,
            use_peepholes=peepholes,
            units=[8] if args.quick else [8, 16],
            depth=1,
            bidirectional=False,
            dropout=0.0,
            recurrent_dropout=0.0,
            learning_rate=tuning.Range(2e-3, 2e-2, sampling="log"),
            seed=args.seed,
            distribution=args.distribution,
        )
        for variant, (cell, peepholes) in VARIANTS.items()
    }
    tuners = tune_each(
        args,
        hypermodels,
        "val_loss",
        x_train,
        d_train / scale,
        validation_data=(x_val, d_val / scale),
    )
    if tuning.is_worker():
        return

    x_test, d_test = sets["test"]
    delays = np.arange(args.min_delay, args.max_delay + 1)
    errors_by_delay = {}
    scores = {}
    lines = [
        "| variant | mean absolute error (steps) | exact | units "
        "| learning rate |",
        "|---|---|---|---|---|",
    ]
    for variant, tuner in tuners.items():
        model = tuner.get_best_models(1)[0]
        predicted = model.predict(x_test, verbose=0)[:, 0] * scale
        error = np.abs(predicted - d_test)
        exact = float(np.mean(np.round(predicted) == d_test))
        scores[variant] = {"mae": float(error.mean()), "exact": exact}
        errors_by_delay[variant] = [
            float(error[d_test == d].mean()) if np.any(d_test == d) else np.nan
            for d in delays
        ]
        best = tuner.get_best_hyperparameters(1)[0].values
        lines.append(
            f"| {variant} | {error.mean():.3f} | {exact:.3f} | "
            f"{best['units']} | {best['learning_rate']:.4g} |"
        )
    with open(os.path.join(args.out, "timing.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    tuning.plot_lines(
        delays,
        errors_by_delay,
        os.path.join(args.out, "error_by_delay.png"),
        xlabel="true delay (steps)",
        ylabel="mean absolute error (steps)",
        title="Measuring spike delays: each variant's best model",
    )
    finish(args, {"steps": args.steps, "scores": scores})


if __name__ == "__main__":
    main()
