"""Precise timing: measure the delay between two input spikes, or generate
a spike one delay after them, with and without peephole connections, each
variant tuned with the same budget.

Gers, Schraudolph & Schmidhuber (2002, "Learning precise timing with LSTM
recurrent networks") added peepholes so that the gates can see the cell
state, and showed tasks that need exact intervals being learned with them
and not without. Each sequence here is `--steps` steps of silence with two
unit spikes whose delay is drawn uniformly from `--min-delay` to
`--max-delay`, and `--task` says what the network must do:

  measure   after the last step, output the delay (a regression, in steps;
            Gers' "measuring spike delays"). The answer is exact when it
            rounds to the true delay.
  generate  at every step, output 0, except exactly one delay after the
            second spike, where the target is a spike of 1 (the network
            reproduces the interval it heard, acting at a moment it must
            time itself, as in Gers' "generating timed spikes"). Its answer
            is the step of its largest output after the second spike; exact
            when that is the target's step.

Variants: PeepholeLSTM, CoupledLSTM with peepholes, and the peephole-free
CoupledLSTM and Keras LSTM; each gets a search over units and learning rate
with the same trials and tuner seed. Writes timing.md (mean absolute timing
error and exact fraction on fresh sequences), error_by_delay.png, a trial
table and plot per variant, and results.json to --out.
"""

import os

import common
import keras
import numpy as np

from keras_recur import tuning

# variant -> (cell, use_peepholes for CoupledLSTM)
VARIANTS = {
    "PeepholeLSTM": ("PeepholeLSTM", False),
    "CoupledLSTM+peepholes": ("CoupledLSTM", True),
    "CoupledLSTM": ("CoupledLSTM", False),
    "LSTM (Keras)": ("LSTM", False),
}
# task -> default (steps, min delay, max delay); generate needs room for
# two delays after the first spike.
DEFAULT_TIMES = {"measure": (60, 10, 50), "generate": (100, 15, 40)}


def spike_pairs(count, steps, min_delay, max_delay, room, rng):
    """Inputs (count, steps, 1) with two spikes, their delays and the steps
    of the second spikes; `room` delays fit after the first spike."""
    delays = rng.integers(min_delay, max_delay + 1, count)
    first = rng.integers(0, steps - room * delays)
    second = first + delays
    inputs = np.zeros((count, steps, 1), dtype="float32")
    rows = np.arange(count)
    inputs[rows, first, 0] = 1.0
    inputs[rows, second, 0] = 1.0
    return inputs, delays, second


class Measure:
    """Output the delay after the last step, scaled by the longest delay."""

    room = 1
    per_step = False

    def __init__(self, args):
        self.scale = float(args.max_delay)

    def targets(self, inputs, delays, second):
        return delays / self.scale

    def answers(self, outputs, delays, second):
        """The delays the network gives, and the true ones."""
        return outputs[:, 0] * self.scale, delays


class Generate:
    """Output a spike exactly one delay after the second input spike."""

    room = 2
    per_step = True

    def __init__(self, args):
        """Needs no option beyond the data's."""

    def targets(self, inputs, delays, second):
        targets = np.zeros_like(inputs)
        targets[np.arange(len(delays)), second + delays, 0] = 1.0
        return targets

    def answers(self, outputs, delays, second):
        """The steps of the network's spikes, and of the targets'."""
        steps = np.arange(outputs.shape[1])
        after = steps[None, :] > second[:, None]
        spike = np.argmax(np.where(after, outputs[:, :, 0], -np.inf), axis=1)
        return spike, second + delays


TASKS = {"measure": Measure, "generate": Generate}


def parse_arguments():
    args = common.parser(__doc__, trials=3, epochs=25, out=None)
    args.add_argument("--task", choices=sorted(TASKS), default="measure")
    for name in ("steps", "min-delay", "max-delay"):
        args.add_argument(
            f"--{name}",
            type=common.at_least_one,
            help="default: by task, see DEFAULT_TIMES",
        )
    args.add_argument(
        "--samples",
        type=common.at_least_one,
        default=1500,
        help="training sequences",
    )
    args = args.parse_args()
    defaults = DEFAULT_TIMES[args.task]
    for name, default in zip(("steps", "min_delay", "max_delay"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.samples < 4:
        raise ValueError(
            "--samples must be at least 4 (a quarter as many validate). "
            f"Received: --samples={args.samples}"
        )
    room = TASKS[args.task].room
    if not 1 <= args.min_delay <= args.max_delay < args.steps / room:
        raise ValueError(
            f"--task {args.task} needs 1 <= --min-delay <= --max-delay and "
            f"{room} x --max-delay < --steps. Received: --min-delay="
            f"{args.min_delay}, --max-delay={args.max_delay}, "
            f"--steps={args.steps}"
        )
    args.out = args.out or os.path.join("out", f"timing_{args.task}")
    return args


def main():
    args = parse_arguments()
    common.setup(args)
    task = TASKS[args.task](args)
    samples = 200 if args.quick else args.samples
    rng = np.random.default_rng(args.seed)
    sets = {
        name: spike_pairs(
            count,
            args.steps,
            args.min_delay,
            args.max_delay,
            task.room,
            rng,
        )
        for name, count in (
            ("train", samples),
            ("validation", samples // 4),
            ("test", samples // 2),
        )
    }
    hypermodels = {
        variant: tuning.SequenceRegressor(
            (args.steps, 1),
            return_sequences=task.per_step,
            cell=cell,
            cell_space={"CoupledLSTM": {"use_peepholes": peepholes}},
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
    tuners = common.tune_each(
        args,
        hypermodels,
        "val_loss",
        sets["train"][0],
        task.targets(*sets["train"]),
        validation_data=(
            sets["validation"][0],
            task.targets(*sets["validation"]),
        ),
    )
    if tuning.is_worker():
        return

    x_test, d_test, second_test = sets["test"]
    delays = np.arange(args.min_delay, args.max_delay + 1)
    errors_by_delay = {}
    scores = {}
    lines = [
        "| variant | mean absolute timing error (steps) | exact | units "
        "| learning rate |",
        "|---|---|---|---|---|",
    ]
    for variant, tuner in tuners.items():
        model = tuner.get_best_models(1)[0]
        # One call on the whole test set: predict() would trace a function
        # per model and batch shape, and TensorFlow warns of retracing.
        outputs = keras.ops.convert_to_numpy(model(x_test, training=False))
        answer, truth = task.answers(outputs, d_test, second_test)
        error = np.abs(answer - truth)
        exact = float(np.mean(np.round(answer) == truth))
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
        ylabel="mean absolute timing error (steps)",
        title=f"Timing task '{args.task}': each variant's best model",
    )
    common.finish(
        args,
        {
            "task": args.task,
            "steps": args.steps,
            "delays": [args.min_delay, args.max_delay],
            "scores": scores,
        },
    )


if __name__ == "__main__":
    main()
