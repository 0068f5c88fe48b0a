"""What the tuner-driven examples share: their command line, the tuner, the
search and the trial report. Each example imports it from its own folder,
before Keras, so that TensorFlow's start-up output is shown once."""

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile


@contextlib.contextmanager
def repeated_stderr_lines_dropped():
    """Writes what the block printed to stderr, each line once.

    TensorFlow 2.21 logs its start-up banner ("oneDNN custom operations are
    on") from two of its native libraries, before its logging can be
    configured; this shows it once. Every distinct line still appears.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            seen = set()
            for line in (
                captured.read()
                .decode(errors="replace")
                .splitlines(keepends=True)
            ):
                # Native log lines start with a timestamp and thread id.
                text = re.sub(r"^[IWEF]\d{4} [\d:.]+ +\d+ ", "", line)
                if text not in seen:
                    seen.add(text)
                    sys.stderr.write(line)
            sys.stderr.flush()


# TensorFlow logs informational C++ messages at error level on some CPUs
# ("oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back to
# the default Eigen-based implementation", for any masked model, Keras' own
# too); errors that matter still raise. Set the variable to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

with repeated_stderr_lines_dropped():
    import keras
    import keras_tuner
    import numpy as np

    from keras_recur import catalogue
    from keras_recur import tuning

TUNERS = {
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
    "grid": keras_tuner.GridSearch,
}


def at_least_one(text):
    """argparse type of the examples' sizes: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 1. Received: {value}"
        )
    return value


def parser(doc, trials, epochs, out):
    """The options every example has, with its own defaults."""
    arguments = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arguments.add_argument(
        "--trials",
        type=at_least_one,
        help=f"trials per search (default {trials})",
    )
    arguments.add_argument(
        "--epochs",
        type=at_least_one,
        help=f"most epochs per trial (default {epochs})",
    )
    arguments.set_defaults(default_budget=(trials, epochs))
    arguments.add_argument("--out", default=out, help="output folder")
    arguments.add_argument(
        "--quick", action="store_true", help="a tiny run, for the tests"
    )
    arguments.add_argument("--tuner", choices=sorted(TUNERS), default="random")
    arguments.add_argument(
        "--resume",
        action="store_true",
        help="continue the search saved in --out (keras-tuner's "
        "overwrite=False) instead of starting afresh; distributed runs "
        "always do",
    )
    arguments.add_argument(
        "--data-parallel",
        action="store_true",
        help="JAX only: split each batch over all devices "
        "(keras.distribution.DataParallel, given to the hypermodel)",
    )
    arguments.add_argument("--seed", type=int, default=0)
    return arguments


def names_among(option, value, known):
    """The comma-separated names of a command-line option, each checked to
    be one of `known`; a `ValueError` names the option and the stranger."""
    names = value.split(",")
    for name in names:
        if name not in known:
            raise ValueError(
                f"{option} must be among {list(known)}. Received: {name!r}"
            )
    return names


def positive_ints(option, text):
    """The comma-separated integers of an option, each at least 1; a
    `ValueError` names the option otherwise."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ValueError(
            f"{option} must be comma-separated integers of at least 1. "
            f"Received: {option}={text}"
        )
    return values


def rates(option, text):
    """The comma-separated numbers in (0, 1) of an option (learning rates);
    a `ValueError` names the option otherwise."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < value < 1 for value in values):
        raise ValueError(
            f"{option} must be comma-separated numbers in (0, 1). "
            f"Received: {option}={text}"
        )
    return values


def setup(args):
    """The budget; seeds, the data-parallel distribution (as
    args.distribution, for the hypermodels) and the output folder. --quick
    makes the default budget 2 trials of 2 epochs."""
    default = (2, 2) if args.quick else args.default_budget
    for name, value in zip(("trials", "epochs"), default):
        if getattr(args, name) is None:
            setattr(args, name, value)
    keras.utils.set_random_seed(args.seed)
    args.distribution = None
    if args.data_parallel:
        if keras.backend.backend() != "jax":
            raise ValueError(
                "--data-parallel needs KERAS_BACKEND=jax. "
                f"Received: KERAS_BACKEND={keras.backend.backend()}"
            )
        devices = keras.distribution.list_devices()
        args.distribution = keras.distribution.DataParallel(devices=devices)
        print(f"Data parallel over {len(devices)} devices: {devices}")
    os.makedirs(args.out, exist_ok=True)
    print(f"Backend: {keras.backend.backend()}; output folder: {args.out}")


def make_tuner(
    args, hypermodel, objective, project_name, executions_per_trial=1
):
    """The chosen keras-tuner tuner, its project inside --out; each trial
    trains `executions_per_trial` models and scores their average.

    A distributed run (KERASTUNER_* variables set) never overwrites: the
    chief and the workers share the project.
    """
    distributed = "KERASTUNER_ORACLE_IP" in os.environ
    common = dict(
        objective=objective,
        directory=os.path.join(args.out, "tuner"),
        project_name=project_name,
        overwrite=not (args.resume or distributed),
        seed=args.seed,
        executions_per_trial=executions_per_trial,
    )
    if args.tuner == "hyperband":
        return keras_tuner.Hyperband(
            hypermodel, max_epochs=args.epochs, **common
        )
    return TUNERS[args.tuner](hypermodel, max_trials=args.trials, **common)


def search(tuner, args, *fit_args, stop=None, **fit_kwargs):
    """`tuner.search` with Keras' progress output, stopping a trial early
    when its objective stops improving, or when the callback `stop` says
    so. Hyperband sets its own epochs."""
    if args.tuner != "hyperband":
        fit_kwargs["epochs"] = args.epochs
    if stop is None:
        stop = keras.callbacks.EarlyStopping(
            tuner.oracle.objective.name,
            patience=max(3, args.epochs // 5),
            mode=tuner.oracle.objective.direction,
        )
    # Keras' progress bar redraws itself on a terminal; written to a file
    # it keeps every redraw (334 KB for the flagship run): there, and in
    # quick runs, one line per epoch.
    progress_bar = sys.stdout.isatty() and not args.quick
    tuner.search(
        *fit_args,
        callbacks=[stop],
        verbose=1 if progress_bar else 2,
        **fit_kwargs,
    )


def report(tuner, args, title, name="trials", by="cell"):
    """Writes the trial table (NAME.md, NAME.csv) and its plot, NAME.png,
    the trials grouped by the hyperparameter `by`."""
    table = tuning.ResultsTable.from_tuner(tuner)
    path = os.path.join(args.out, name)
    with open(path + ".md", "w") as file:
        file.write(table.to_markdown())
    table.to_csv(path + ".csv")
    tuning.plot_trials(table, path + ".png", by=by, title=title)
    print()
    print(table.to_markdown())
    return table


def tune_each(args, hypermodels, objective, *fit_args, **fit_kwargs):
    """One search per named hypermodel, with the same budget and tuner
    seed, each reported as trials_NAME; returns {name: tuner}."""
    tuners = {}
    for name, hypermodel in hypermodels.items():
        print(f"\n=== {name}: search ===")
        slug = re.sub(r"\W+", "_", name).strip("_")
        tuner = make_tuner(args, hypermodel, objective, slug)
        search(tuner, args, *fit_args, **fit_kwargs)
        if not tuning.is_worker():
            report(
                tuner, args, f"{name}: trials of the search", f"trials_{slug}"
            )
        tuners[name] = tuner
    return tuners


def write_table(args, name, columns, rows):
    """Writes rows of cells under the column names as a Markdown table,
    NAME.md in --out, and prints it."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    with open(os.path.join(args.out, name + ".md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


def finish(args, results):
    """Writes results.json and says where every file is."""
    results = {"backend": keras.backend.backend(), **results}
    with open(os.path.join(args.out, "results.json"), "w") as file:
        json.dump(results, file, indent=2)
    print(f"\nWrote to {os.path.abspath(args.out)}:")
    for name in sorted(os.listdir(args.out)):
        if name != "tuner":
            print(f"  {os.path.join(args.out, name)}")


class TokenLanguageModel(tuning.RecurrentHyperModel):
    """A next-token model of `vocabulary_size` tokens (0 is padding): an
    embedding of `embedding_dim`, the searched recurrent stack returning
    sequences, and a softmax; a chain `keras_recur.models.generate`
    steps. Trained on (tokens, next tokens)."""

    loss = "sparse_categorical_crossentropy"
    metrics = ()

    def __init__(self, vocabulary_size, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim

    def build_model(self, hp):
        inputs = keras.Input((None,), dtype="int32")
        embedded = keras.layers.Embedding(
            self.vocabulary_size, self.embedding_dim, mask_zero=True
        )(inputs)
        states = self.recurrent_stack(hp, embedded, return_sequences=True)
        outputs = keras.layers.Dense(
            self.vocabulary_size, activation="softmax"
        )(states)
        return keras.Model(inputs, outputs)


def negative_log_likelihood(model, inputs, targets, batch_size=64):
    """The model's mean negative log-likelihood (nats) of the `targets`
    (0: padding, not counted) given the `inputs`."""
    total, count = 0.0, 0
    for start in range(0, len(inputs), batch_size):
        probabilities = keras.ops.convert_to_numpy(
            model(inputs[start : start + batch_size])
        ).astype("float64")
        chosen = targets[start : start + batch_size]
        picked = np.take_along_axis(probabilities, chosen[..., None], -1)
        real = chosen > 0
        total -= np.log(np.maximum(picked[..., 0][real], 1e-300)).sum()
        count += real.sum()
    return total / count


def search_language_models(
    args, vocabulary_size, train, validation, project, title, batch_size
):
    """A grid search of `TokenLanguageModel`s (one recurrent layer of
    --units, an embedding of --embedding) over --cells and
    --learning-rates, on (tokens, next tokens) pairs, reported as
    trials.md/png; returns each cell's best (trial row, model), in the
    order of --cells ({} on a distributed search's worker)."""
    hypermodel = TokenLanguageModel(
        vocabulary_size,
        args.embedding,
        cell=args.cells,
        cell_space=default_cell_space(args.cells),
        units=args.units,
        depth=1,
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        learning_rate=args.learning_rates,
        clipnorm=1.0,
        seed=args.seed,
        distribution=args.distribution,
    )
    if not args.quick:
        # The grid: every cell with every learning rate.
        args.trials = max(
            args.trials, len(args.cells) * len(args.learning_rates)
        )
    tuner = make_tuner(args, hypermodel, "val_loss", project)
    search(
        tuner, args, *train, validation_data=validation, batch_size=batch_size
    )
    if tuning.is_worker():
        return {}
    table = report(tuner, args, title)
    best = best_model_per(tuner, table, "cell")
    return {cell: best[cell] for cell in args.cells if cell in best}


def default_cell_space(cells):
    """Each cell's own hyperparameters fixed at their catalogue defaults:
    a grid over cells and learning rates then has one trial per pair."""
    return {
        cell: {
            name: hyperparameter.space[0]
            if isinstance(hyperparameter.space, tuple)
            else hyperparameter.space
            for name, hyperparameter in catalogue.CELLS[
                cell
            ].hyperparameters.items()
        }
        for cell in cells
    }


def held_out_table(args, name, best, test, key, column, unit=1.0):
    """Scores each cell's best model on `test`, its negative
    log-likelihood in nats divided by `unit` (ln 2 for bits), and writes
    NAME.md: cell, weights, learning rate, the score under `column`,
    training seconds. Returns {cell: scores}, `key` naming the score."""
    rows, scores = [], {}
    for cell, (trial, model) in best.items():
        score = negative_log_likelihood(model, *test) / unit
        scores[cell] = {
            "weights": int(model.count_params()),
            "learning_rate": trial["learning_rate"],
            key: score,
            "fit_seconds": float(trial["seconds"]),
        }
        rows.append(
            [
                cell,
                f"{int(model.count_params()):,}",
                f"{trial['learning_rate']:g}",
                f"{score:.3f}",
                f"{float(trial['seconds']):.1f}",
            ]
        )
    write_table(
        args,
        name,
        ["cell", "weights", "learning rate", column, "training seconds"],
        rows,
    )
    return scores


def best_model_per(tuner, table, column):
    """{value of `column`: (its best trial's row, that trial's model)}."""
    best = {}
    for row in table.rows:
        if row.get("score") is None:
            continue
        value = row[column]
        if value not in best or row["score"] < best[value][0]["score"]:
            best[value] = (row, None)
    return {
        value: (row, tuner.load_model(tuner.oracle.get_trial(row["trial_id"])))
        for value, (row, _) in best.items()
    }
