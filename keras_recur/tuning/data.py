"""Turning a series into supervised forecasting windows."""

import numpy as np

from keras_recur.validation import check_positive_int


def make_windows(series, input_steps, horizon=1, stride=1):
    """Cuts a series into (inputs, targets) pairs for forecasting.

    Window `i` starts at `i * stride`: its inputs are the `input_steps`
    values from there, its targets the `horizon` values right after them.

    Args:
        series: Array of shape (time,) or (time, features).
        input_steps: Length of each input window.
        horizon: Number of future steps in each target.
        stride: Steps between the starts of consecutive windows.

    Returns:
        `(inputs, targets)`: inputs of shape (windows, input_steps, features)
        (features 1 for a 1-D series); targets (windows, horizon) for a 1-D
        series, (windows, horizon, features) otherwise.

    Example:

    >>> from keras_recur.tuning import make_windows
    >>> x, y = make_windows(np.arange(6.0), input_steps=3, horizon=2)
    >>> x[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    check_positive_int("input_steps", input_steps)
    check_positive_int("horizon", horizon)
    check_positive_int("stride", stride)
    values = np.asarray(series)
    if values.ndim not in (1, 2):
        raise ValueError(
            "`series` must have shape (time,) or (time, features). "
            f"Received: series with shape {values.shape}"
        )
    length = values.shape[0]
    if length < input_steps + horizon:
        raise ValueError(
            "`series` is shorter than one window: it needs at least "
            f"input_steps + horizon = {input_steps + horizon} steps. "
            f"Received: series with {length} steps"
        )
    starts = np.arange(0, length - input_steps - horizon + 1, stride)
    inputs = values[starts[:, None] + np.arange(input_steps)]
    targets = values[starts[:, None] + input_steps + np.arange(horizon)]
    if values.ndim == 1:
        inputs = inputs[..., None]
    return inputs, targets
