"""A table of a tuner's trials, as Markdown, CSV or a pandas DataFrame."""

import csv
import io
import math

from keras_recur.validation import check_one_of

_FIXED_COLUMNS = ("trial", "trial_id", "status", "score", "seconds")


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class ResultsTable:
    """The trials of a keras-tuner search, best first.

    Columns: `trial` (the number keras-tuner prints, "Trial 3 Complete",
    counted from 1), `trial_id` (keras-tuner's id, which names the trial's
    folder), `status`, `score` (the objective), `seconds` (training time,
    from the `fit_seconds` the keras_recur hypermodels record; empty for
    other hypermodels), then one column per hyperparameter (empty where it
    did not apply).

    Args:
        rows: List of dicts, one per trial, keyed by column name.
        columns: Column names, in order.
        objective: Name of the objective the scores are, such as
            `"val_mae"` (`from_tuner` takes the tuner's); labels plots.
        direction: `"min"` or `"max"`: whether a lower or a higher score
            is better.

    Example:

    After a search, `ResultsTable.from_tuner(tuner)`; by hand:

    >>> from keras_recur.tuning import ResultsTable
    >>> table = ResultsTable(
    ...     [{"trial": 1, "score": 0.125, "cell": "GRU"}],
    ...     ["trial", "score", "cell"],
    ... )
    >>> print(table.to_markdown(), end="")
    | trial | score | cell |
    |---|---|---|
    | 1 | 0.125 | GRU |
    >>> print(table.to_csv(), end="")
    trial,score,cell
    1,0.125,GRU
    """

    def __init__(self, rows, columns, objective=None, direction="min"):
        check_one_of("direction", direction, ("min", "max"))
        self.rows = list(rows)
        self.columns = list(columns)
        self.objective = objective
        self.direction = direction

    def best(self):
        """The best scored row, or None when no trial has a score."""
        scored = [row for row in self.rows if row.get("score") is not None]
        if not scored:
            return None
        pick = min if self.direction == "min" else max
        return pick(scored, key=lambda row: row["score"])

    @classmethod
    def from_tuner(cls, tuner):
        """Every trial of `tuner`'s oracle, ordered best first (trials
        without a score last)."""
        trials = list(tuner.oracle.trials.values())
        direction = tuner.oracle.objective.direction
        scored = [trial for trial in trials if trial.score is not None]
        scored.sort(key=lambda t: t.score, reverse=direction == "max")
        unscored = [trial for trial in trials if trial.score is None]
        hyperparameter_names = []
        rows = []
        for trial in scored + unscored:
            values = trial.hyperparameters.values
            for name in values:
                if name not in hyperparameter_names:
                    hyperparameter_names.append(name)
            rows.append(
                {
                    "trial": _trial_number(trial.trial_id),
                    "trial_id": trial.trial_id,
                    "status": trial.status,
                    "score": trial.score,
                    "seconds": _fit_seconds(trial),
                    **values,
                }
            )
        return cls(
            rows,
            [*_FIXED_COLUMNS, *hyperparameter_names],
            objective=tuner.oracle.objective.name,
            direction=direction,
        )

    def to_markdown(self):
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "---|" * len(self.columns),
        ]
        for row in self.rows:
            cells = (_cell_text(row.get(column)) for column in self.columns)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self, path=None):
        """Writes the table to `path` if given; returns the CSV text."""
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, self.columns, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in self.rows:
            writer.writerow(
                {
                    key: "" if value is None else value
                    for key, value in row.items()
                }
            )
        text = buffer.getvalue()
        if path is not None:
            with open(path, "w", newline="") as file:
                file.write(text)
        return text

    def to_dataframe(self):
        """The table as a `pandas.DataFrame` (needs pandas)."""
        try:
            import pandas
        except ImportError as error:
            raise ImportError(
                "ResultsTable.to_dataframe needs pandas; to_markdown and "
                "to_csv do not."
            ) from error
        return pandas.DataFrame(self.rows, columns=self.columns)


def _trial_number(trial_id):
    # keras-tuner's oracles name trials by their zero-padded creation index
    # ("00", "01", ...) and print them counted from 1 ("Trial 1 Complete").
    try:
        return int(trial_id) + 1
    except ValueError:
        return trial_id


def _fit_seconds(trial):
    if not trial.metrics.exists("fit_seconds"):
        return None
    history = trial.metrics.get_history("fit_seconds")
    seconds = max(observation.value[0] for observation in history)
    return None if math.isnan(seconds) else seconds
