"""Reservoir computing's training: the readout fitted in one pass."""

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.layers.ridge_readout import RidgeReadout
from keras_recur.validation import check_positive_int


def fit_readout(model, x, y, *, washout=0, batch_size=32):
    """Fits the `RidgeReadout` that ends `model` to predict `y` from `x`, by
    ridge regression on the states that reach it (reservoir computing's
    one-pass training; `model.fit` is not needed), and returns `model`.

    The layers before the readout (an `EchoStateNetwork`, with masking,
    `Bidirectional` or anything else) run once over `x`, in inference mode
    and batch by batch; `RidgeReadout.fit` then solves for its weights,
    leaving out the steps that the Keras mask reaching the readout marks
    as padding (per-step targets of variable-length sequences).

    Args:
        model: A built functional or `Sequential` Keras model whose last
            layer is a `keras_recur.layers.RidgeReadout`.
        x: The model's inputs (what `model.predict` takes).
        y: The targets, shaped as the model's outputs.
        washout: Leading steps of each sequence left out of the fit
            (sequence outputs only). Default: 0.
        batch_size: Batch size of the pass over `x`. Default: 32.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((None, 1)),
    ...     keras_recur.layers.EchoStateNetwork(
    ...         50, return_sequences=True, seed=0),
    ...     keras_recur.layers.RidgeReadout(1),
    ... ])
    >>> x = np.sin(np.arange(200.0) / 4).reshape(1, 200, 1)
    >>> model = keras_recur.models.fit_readout(
    ...     model, x[:, :-1], x[:, 1:], washout=50)
    >>> error = model.predict(x[:, :-1], verbose=0)[:, 50:] - x[:, 51:]
    >>> bool(np.abs(error).max() < 1e-2)
    True

    Reference:

    - Jaeger & Haas (2004). Harnessing nonlinearity: predicting chaotic
      systems and saving energy in wireless communication. Science 304.
      <https://doi.org/10.1126/science.1091277>
    """
    readout = model.layers[-1] if getattr(model, "layers", None) else None
    if not isinstance(readout, RidgeReadout):
        raise ValueError(
            "`model` must end in a keras_recur.layers.RidgeReadout. "
            f"Received: model={model!r} whose last layer is {readout!r}"
        )
    try:
        inputs = model.inputs
        # One input as a tensor, not a list: called on an array, the
        # features model then matches its structure.
        # The mask that reaches the readout, as a second output.
        features = keras.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            [readout.input, MaskOf()(readout.input)],
        )
    except (AttributeError, ValueError) as error:
        raise ValueError(
            "`model` must be a built functional or Sequential model (its "
            f"inputs and the readout's input are needed): {error} "
            f"Received: model={model!r}"
        ) from None
    check_positive_int("batch_size", batch_size)
    states, mask = _states(features, x, batch_size)
    readout.fit(states, y, washout=washout, mask=mask)
    return model


def _states(features, x, batch_size):
    """`features` called on `x` batch by batch: the states and their mask,
    as NumPy.

    Called directly rather than through `predict`: a search builds a model
    per trial, and each one's compiled `predict` function traced anew makes
    TensorFlow warn of retracing. The pass is inference: no gradient.
    """
    count = len(keras.tree.flatten(x)[0])
    states, masks = [], []
    with backend.no_gradient():
        for start in range(0, count, batch_size):
            rows = slice(start, start + batch_size)
            batch = keras.tree.map_structure(lambda a, rows=rows: a[rows], x)
            batch_states, batch_mask = features(batch, training=False)
            states.append(ops.convert_to_numpy(batch_states))
            masks.append(ops.convert_to_numpy(batch_mask))
    return np.concatenate(states), np.concatenate(masks)


class MaskOf(keras.layers.Layer):
    """The Keras mask of its input as booleans, all `True` where it has
    none: how `fit_readout` learns which steps are padding (Keras hands a
    layer the mask of its input through `call`'s `mask` argument)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.ones(ops.shape(inputs)[:-1], "bool")
        return ops.cast(mask, "bool")

    def compute_mask(self, inputs, mask=None):
        return None
