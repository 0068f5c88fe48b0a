"""Plots of searches and their results, written straight to image files.

They draw on `matplotlib.figure.Figure` objects, never through pyplot, so
they need no display and leave matplotlib's global state alone.
"""

import numpy as np


def _figure(width=7.0, height=4.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def plot_scores(scores, path, ylabel="score", title=None):
    """One box per group with its points on top: the spread of a score.

    Args:
        scores: Dict from group name to a list of numbers.
        path: Image file to write (its suffix picks the format).
        ylabel: The score's name.
        title: Optional figure title.
    """
    names = list(scores)
    figure, axes = _figure(max(5.0, 1.2 * len(names) + 2.0))
    values = [np.asarray(scores[name], dtype=float) for name in names]
    axes.boxplot(values, tick_labels=names, showfliers=False)
    jitter = np.random.default_rng(0)
    for position, group in enumerate(values, start=1):
        offsets = jitter.uniform(-0.08, 0.08, len(group))
        axes.plot(position + offsets, group, "o", alpha=0.7, markersize=4)
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    if title:
        axes.set_title(title)
    figure.savefig(path, dpi=120)


def plot_trials(table, path, by="cell", title=None):
    """The score of every scored trial of a `ResultsTable`, grouped by the
    value of the hyperparameter `by` (trials without it are "n/a").

    Args:
        table: A `ResultsTable`.
        path: Image file to write (its suffix picks the format).
        by: The hyperparameter whose values name the groups; with the
            default, `cell`, CoupledLSTM trials with peepholes get a group
            of their own.
        title: Optional figure title.
    """
    groups = {}
    for row in table.rows:
        if row.get("score") is None:
            continue
        key = row.get(by)
        name = "n/a" if key is None else str(key)
        if by == "cell" and row.get("use_peepholes"):
            name += "+peepholes"
        groups.setdefault(name, []).append(row["score"])
    if not groups:
        raise ValueError(f"The table has no scored trials to plot: {path}")
    plot_scores(groups, path, ylabel="objective (per trial)", title=title)


def plot_lines(x, lines, path, xlabel, ylabel, title=None, truth=None):
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
    """
    figure, axes = _figure(8.0, 4.0)
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
