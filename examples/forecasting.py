"""Forecast a real series with a tuner search over the recurrent cells, and
score the best model against seasonal-naive and SARIMAX baselines.

The series ship with statsmodels (nothing is downloaded): Mauna Loa CO2
(`--dataset co2`, weekly 1958-2001, averaged to months) or yearly sunspot
numbers (`--dataset sunspots`, 1700-2008). The last `--test` points are held
out. From every point of that tail, each method forecasts the next
`--horizon` points using only the data before it:

- the tuned network, which reads the last `--window` points (each window
  shifted to end at zero, so it forecasts changes, not levels) and outputs
  the whole horizon at once;
- seasonal naive: the value one season earlier;
- SARIMAX, fitted once on the data before the tail (statsmodels).

The search ranks each trial by the validation MAE (the last 15% of the
training windows) averaged over `--executions` trainings from different
initial weights, so that one lucky initialisation does not pick the
configuration; the chosen one is then trained again, as many times, on
every training window, validation ones included, for its trial's best
number of epochs, and forecasts with the mean of those networks. Its space
holds the one-budget setting below; it has no input dropout, which on a
one-feature series would drop whole windows.

Errors are in the series' units. Then every cell of --cells trains once more
with one budget (32 units, one layer, learning rate 5e-3, --epochs, every
training window; no search), and cells.md sets each one's training time
beside its held-out error: the echo state network, whose reservoir is fixed
and whose readout alone learns, against the trained cells.

Writes errors.md, cells.md, forecast.png (truth and each method's forecasts,
horizon after horizon, over the tail), horizon_error.png, the trial table
and plot, results.json and best_model.keras to --out. best_model.keras is
what forecast: one Keras model from raw windows, (samples, --window, 1) in
the series' units, to the next --horizon values, with the shift and the
scaling inside it and the retrained networks averaged;
`keras.saving.load_model` reads it on any backend after `import keras_recur`.

Distributed search: run the same command as the chief and as each worker
with KERASTUNER_TUNER_ID (chief, tuner0, tuner1, ...),
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set; workers exit after
their trials and the chief writes the results.
"""

import os
import time

import common
import keras
import keras_tuner
import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.statespace.sarimax import SARIMAX

from keras_recur import tuning

# name -> (loader, season length, SARIMAX order, seasonal order, window,
#          horizon, held-out tail, unit)
DATASETS = {
    "co2": (
        lambda: (
            sm.datasets.co2.load_pandas()
            .data["co2"]
            .resample("MS")
            .mean()
            .interpolate()
        ),
        12,
        (1, 1, 1),
        (0, 1, 1, 12),
        36,
        12,
        72,
        "ppm",
    ),
    "sunspots": (
        lambda: sm.datasets.sunspots.load_pandas().data.set_index("YEAR")[
            "SUNACTIVITY"
        ],
        11,
        (9, 0, 0),
        (0, 0, 0, 0),
        33,
        11,
        55,
        "sunspot number",
    ),
}


def seasonal_naive(series, origin, horizon, season):
    """The last observed value of the same season, for each step ahead."""
    steps = np.arange(horizon)
    return series[origin + steps - season * (steps // season + 1)]


def sarimax_forecasts(series, origins, horizon, train_end, order, seasonal):
    fitted = SARIMAX(
        series[:train_end],
        order=order,
        seasonal_order=seasonal,
        trend="c" if order[1] == 0 else None,
    ).fit(disp=False)
    # The same parameters, filtered over the data up to each origin.
    return np.stack(
        [fitted.apply(series[:origin]).forecast(horizon) for origin in origins]
    )


def shifted_windows(series, window, horizon):
    """Windows shifted so that each input ends at zero; returns the
    network's inputs and targets and each window's last value."""
    inputs, targets = tuning.make_windows(series, window, horizon)
    last = inputs[:, -1, 0]
    return inputs - last[:, None, None], targets - last[:, None], last


def forecaster(networks, window, scale):
    """One model from raw windows (samples, window, 1) to forecasts in the
    series' units: each window shifted to end at zero and divided by
    `scale`, as the networks were trained, their mean forecast scaled back
    and the window's last value added."""
    windows = keras.Input((window, 1), name="window")
    last = windows[:, -1, :]
    shifted = (windows - last[:, None, :]) / scale
    outputs = [network(shifted) for network in networks]
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average()(outputs)
    return keras.Model(windows, mean * scale + last, name="forecaster")


def errors(forecasts, truth):
    difference = forecasts - truth
    return {
        "mae": float(np.abs(difference).mean()),
        "rmse": float(np.sqrt((difference**2).mean())),
        "mae_by_horizon": np.abs(difference).mean(axis=0).tolist(),
    }


def one_budget(args, cells, window, horizon, train, test):
    """Each cell trained once with the same settings and epochs on every
    training window, as the tuned network is retrained: its trainable
    weights, fit time and held-out errors (model -> scores)."""
    x_test, truth, scale, last = test
    rows = {}
    for cell in cells:
        keras.utils.set_random_seed(args.seed)
        model = tuning.SequenceRegressor(
            (window, 1),
            outputs=horizon,
            cell=cell,
            units=8 if args.quick else 32,
            depth=1,
            bidirectional=False,
            dropout=0.0,
            recurrent_dropout=0.0,
            learning_rate=5e-3,
        ).build(keras_tuner.HyperParameters())
        start = time.perf_counter()
        model.fit(*train, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
        forecasts = model.predict(x_test / scale, verbose=0) * scale
        rows[cell] = {
            "trainable_weights": int(
                sum(np.prod(w.shape) for w in model.trainable_weights)
            ),
            "fit_seconds": seconds,
            **errors(forecasts + last[:, None], truth),
        }
    return rows


def main():
    args = common.parser(__doc__, trials=8, epochs=40, out="out/forecasting")
    args.add_argument("--dataset", choices=sorted(DATASETS), default="co2")
    args.add_argument("--window", type=common.at_least_one, help="input steps")
    args.add_argument(
        "--horizon", type=common.at_least_one, help="steps forecast"
    )
    args.add_argument(
        "--test", type=common.at_least_one, help="held-out tail length"
    )
    args.add_argument(
        "--cells",
        default=",".join(tuning.CELLS),
        help="comma-separated cells to search among",
    )
    args.add_argument(
        "--executions",
        type=common.at_least_one,
        help="trainings per trial, averaged (default 2; 1 with --quick)",
    )
    args = args.parse_args()
    args.executions = args.executions or (1 if args.quick else 2)
    (load, season, order, seasonal, window, horizon, test, unit) = DATASETS[
        args.dataset
    ]
    window = args.window or window
    horizon = args.horizon or horizon
    test = args.test or (2 * horizon if args.quick else test)
    common.setup(args)

    data = load()
    series = data.to_numpy(dtype="float64")
    time = np.asarray(data.index)
    train_end = len(series) - test
    print(
        f"{args.dataset}: {len(series)} points, training on the first "
        f"{train_end}, forecasting {horizon} ahead over the last {test}"
    )

    # Training windows end before the tail; the last 15% validate.
    x_train, y_train, _ = shifted_windows(series[:train_end], window, horizon)
    scale = float(y_train.std())
    x_train, y_train = x_train / scale, y_train / scale
    validation = max(1, int(0.15 * len(x_train)))
    x_fit, y_fit = x_train[:-validation], y_train[:-validation]
    x_val, y_val = x_train[-validation:], y_train[-validation:]

    # The space holds the one-budget setting below (32 units, one layer,
    # one direction, no dropout, learning rate 5e-3). No seed per build:
    # a trial's executions then start from different weights (the run as
    # a whole is still seeded, by --seed).
    # Input dropout on a one-feature series would drop whole windows (one
    # mask per sequence), leaving nothing to read: recurrent dropout
    # regularises instead.
    hypermodel = tuning.SequenceRegressor(
        (window, 1),
        outputs=horizon,
        cell=args.cells.split(","),
        units=[8] if args.quick else [16, 32, 64],
        depth=1 if args.quick else [1, 2],
        dropout=0.0,
        learning_rate=[5e-3, 2e-3, 1e-2],
        distribution=args.distribution,
    )
    tuner = common.make_tuner(
        args,
        hypermodel,
        "val_mae",
        args.dataset,
        executions_per_trial=args.executions,
    )
    tuner.search_space_summary()
    common.search(tuner, args, x_fit, y_fit, validation_data=(x_val, y_val))
    if tuning.is_worker():
        print(f"Worker {os.environ['KERASTUNER_TUNER_ID']} done.")
        return
    table = common.report(tuner, args, f"{args.dataset}: trials of the search")
    # The chosen configuration trained again on every training window (the
    # validated ones too), for as many epochs as its trial's best, once per
    # execution as the trial was scored; the forecast is their mean.
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_epochs = best_trial.best_step + 1
    retrained = []
    for _ in range(args.executions):
        model = hypermodel.build(best_trial.hyperparameters)
        hypermodel.fit(
            best_trial.hyperparameters,
            model,
            x_train,
            y_train,
            epochs=best_epochs,
            verbose=0,
        )
        retrained.append(model)
    print(
        f"Best trial {table.rows[0]['trial']} retrained {args.executions} "
        f"times on all {len(x_train)} training windows, {best_epochs} epochs"
    )
    best_model = forecaster(retrained, window, scale)
    best_model.save(os.path.join(args.out, "best_model.keras"))

    # Every origin in the tail with a whole horizon after it.
    origins = np.arange(train_end, len(series) - horizon + 1)
    x_test, _, last = shifted_windows(
        series[train_end - window :], window, horizon
    )
    raw_windows, _ = tuning.make_windows(
        series[train_end - window :], window, horizon
    )
    network = best_model.predict(raw_windows, verbose=0)
    truth = np.stack([series[o : o + horizon] for o in origins])
    forecasts = {
        f"tuned {table.rows[0]['cell']}": network,
        "seasonal naive": np.stack(
            [seasonal_naive(series, o, horizon, season) for o in origins]
        ),
        "SARIMAX": sarimax_forecasts(
            series, origins, horizon, train_end, order, seasonal
        ),
    }
    scores = {name: errors(f, truth) for name, f in forecasts.items()}
    cells = one_budget(
        args,
        args.cells.split(","),
        window,
        horizon,
        (x_train, y_train),
        (x_test, truth, scale, last),
    )

    lines = [
        f"| method | MAE ({unit}) | RMSE ({unit}) |",
        "|---|---|---|",
        *(
            f"| {name} | {s['mae']:.3f} | {s['rmse']:.3f} |"
            for name, s in scores.items()
        ),
    ]
    with open(os.path.join(args.out, "errors.md"), "w") as file:
        file.write("\n".join(lines) + "\n")
    print(f"\nHeld-out errors, {len(origins)} origins x {horizon} steps:")
    print("\n".join(lines))

    common.write_table(
        args,
        "cells",
        ["cell", "trainable weights", "fit seconds", f"MAE ({unit})"],
        [
            [
                cell,
                str(row["trainable_weights"]),
                f"{row['fit_seconds']:.1f}",
                f"{row['mae']:.3f}",
            ]
            for cell, row in cells.items()
        ],
    )

    # Non-overlapping horizons laid end to end across the tail.
    starts = np.arange(0, len(origins), horizon)
    span = slice(train_end, train_end + len(starts) * horizon)
    tuning.plot_lines(
        time[span],
        {name: f[starts].reshape(-1) for name, f in forecasts.items()},
        os.path.join(args.out, "forecast.png"),
        xlabel="time",
        ylabel=unit,
        title=f"{args.dataset}: {horizon}-step forecasts, held-out tail",
        truth=series[span],
        marks={"forecast starts": time[span][::horizon]},
    )
    tuning.plot_lines(
        np.arange(1, horizon + 1),
        {name: s["mae_by_horizon"] for name, s in scores.items()},
        os.path.join(args.out, "horizon_error.png"),
        xlabel="steps ahead",
        ylabel=f"mean absolute error ({unit})",
        title=f"{args.dataset}: error by horizon",
    )
    common.finish(
        args,
        {
            "dataset": args.dataset,
            "window": window,
            "horizon": horizon,
            "test_points": test,
            "best_trial": table.rows[0],
            "best_epochs": best_epochs,
            "executions_per_trial": args.executions,
            "errors": scores,
            "one_budget": {"epochs": args.epochs, "cells": cells},
        },
    )


if __name__ == "__main__":
    main()
