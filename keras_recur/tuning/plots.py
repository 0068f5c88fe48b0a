"""Plots of searches and their results, written straight to image files.

They draw on `matplotlib.figure.Figure` objects, never through pyplot, so
they need no display and leave matplotlib's global state alone; each returns
its figure, to restyle or save again.
"""

import numpy as np


def _figure(width=7.0, height=4.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def plot_scores(scores, path, ylabel="score", title=None, ylim=None):
    """Each group's score, its value written: a bar where a group has one
    score, a box with its points and mean where it has several (seeds).

    Args:
        scores: Dict from group name to a list of numbers.
        path: Image file to write (its suffix picks the format).
        ylabel: The score's name.
        title: Optional figure title, wrapped to the figure's width.
        ylim: `(bottom, top)` of the score axis. Default: from 0 for
            single scores in [0, 1] (an accuracy, an F1), so that a small
            gap between two bars is not magnified; Matplotlib's own range
            for spreads, which are what their boxes show.
    """
    names = list(scores)
    values = [np.asarray(scores[name], dtype=float) for name in names]
    width = max(5.0, 1.2 * len(names) + 2.0)
    figure, axes = _figure(width, 4.5)
    positions = np.arange(1, len(names) + 1)
    singles = [i for i, group in enumerate(values) if len(group) == 1]
    several = [i for i, group in enumerate(values) if len(group) > 1]
    if singles:
        bars = axes.bar(
            positions[singles],
            [values[i][0] for i in singles],
            width=0.6,
            alpha=0.8,
        )
        axes.bar_label(bars, fmt="%.3f", padding=2, fontsize=8)
    if several:
        axes.boxplot(
            [values[i] for i in several],
            positions=positions[several],
            showfliers=False,
        )
        jitter = np.random.default_rng(0)
        for i in several:
            offsets = jitter.uniform(-0.08, 0.08, len(values[i]))
            axes.plot(positions[i] + offsets, values[i], "o", alpha=0.7)
            axes.annotate(
                f"mean {values[i].mean():.3f}",
                (positions[i], values[i].max()),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
    long_names = max(len(name) for name in names) * len(names) > 9 * width
    axes.set_xticks(
        positions,
        names,
        rotation=25 if long_names else 0,
        ha="right" if long_names else "center",
    )
    axes.set_xlim(0.4, len(names) + 0.6)
    every = np.concatenate(values) if values else np.array([])
    in_unit_range = every.size and every.min() >= 0 and every.max() <= 1
    if ylim is None and in_unit_range and not several:
        ylim = (0.0, 1.08)  # room for the values written above
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    if title:
        axes.set_title(_wrapped(title, width))
    figure.savefig(path, dpi=120)
    return figure


def _wrapped(title, width):
    """`title` in lines that fit a figure `width` inches wide."""
    import textwrap

    return textwrap.fill(title, max(30, int(width * 9)))


def objective_label(objective, direction="min"):
    """A reader's name for a keras-tuner objective: `"val_mae"` becomes
    "validation MAE, lower is better"."""
    if not objective:
        name = "objective"
    else:
        name = objective
        prefix = ""
        if name.startswith("val_"):
            prefix, name = "validation ", name[len("val_") :]
        name = prefix + _METRIC_NAMES.get(name, name.replace("_", " "))
    better = "lower" if direction == "min" else "higher"
    return f"{name}, {better} is better"


_METRIC_NAMES = {
    "mae": "MAE",
    "mse": "MSE",
    "rmse": "RMSE",
    "mape": "MAPE",
    "auc": "AUC",
}


def plot_trials(table, path, by="cell", title=None):
    """Every scored trial of a `ResultsTable` as a dot, one column per value
    of the hyperparameter `by` (trials without it are "n/a"), the best
    trial marked and named. A search has a handful of trials per group, so
    the dots themselves are drawn, not a summary of them.

    Args:
        table: A `ResultsTable`; its `objective` and `direction` label the
            score axis ("validation MAE, lower is better").
        path: Image file to write (its suffix picks the format).
        by: The hyperparameter whose values name the groups; with the
            default, `cell`, CoupledLSTM trials with peepholes get a group
            of their own.
        title: Figure title; by default the number of trials and the best.
    """
    groups = {}
    for row in table.rows:
        if row.get("score") is None:
            continue
        key = row.get(by)
        name = "n/a" if key is None else str(key)
        if by == "cell" and row.get("use_peepholes"):
            name += "+peepholes"
        groups.setdefault(name, []).append(row)
    if not groups:
        raise ValueError(f"The table has no scored trials to plot: {path}")
    best = table.best()
    figure, axes = _figure(max(5.0, 1.7 * len(groups) + 2.0))
    jitter = np.random.default_rng(0)
    for position, rows in enumerate(groups.values()):
        scores = np.array([row["score"] for row in rows], dtype=float)
        offsets = jitter.uniform(-0.12, 0.12, len(scores))
        axes.plot(position + offsets, scores, "o", alpha=0.75, markersize=6)
        index = next((i for i, row in enumerate(rows) if row is best), None)
        if index is not None:
            axes.plot(
                position + offsets[index],
                best["score"],
                marker="*",
                markersize=18,
                markerfacecolor="none",
                markeredgecolor="black",
                linestyle="none",
                label=f"best: trial {best.get('trial', '?')}",
            )
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_xlim(-0.6, len(groups) - 0.4)
    axes.set_xlabel(by)
    axes.set_ylabel(objective_label(table.objective, table.direction))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="best")
    if title is None:
        title = (
            f"{sum(len(rows) for rows in groups.values())} trials by {by}; "
            f"best: trial {best.get('trial', '?')} ({best['score']:.4g})"
        )
    axes.set_title(title)
    figure.savefig(path, dpi=120)
    return figure


def plot_lines(
    x, lines, path, xlabel, ylabel, title=None, truth=None, marks=None
):
    """Named curves over one x axis: forecasts against the truth, errors by
    horizon, learning curves.

    Args:
        x: Array of x positions (numbers or dates).
        lines: Dict from name to an array of the same length as `x`.
        path: Image file to write (its suffix picks the format).
        xlabel: Label of the x axis.
        ylabel: Label of the y axis.
        title: Optional figure title.
        truth: Optional array drawn first, thick and black, as "truth".
        marks: Optional dict from a label to the x positions where a thin
            vertical line marks an event (where each forecast starts).
    """
    figure, axes = _figure(8.0, 4.0)
    for label, positions in (marks or {}).items():
        for index, position in enumerate(positions):
            axes.axvline(
                position,
                color="grey",
                linestyle=":",
                linewidth=1,
                label=label if index == 0 else None,
            )
    if truth is not None:
        axes.plot(x, truth, color="black", linewidth=2, label="truth")
    marker = "o" if len(x) <= 30 else None
    for name, values in lines.items():
        axes.plot(x, values, marker=marker, markersize=3, label=name)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.savefig(path, dpi=120)
    return figure
