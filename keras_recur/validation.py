"""Argument checks used across keras_recur.

Each raises a `ValueError` that names the argument and the value received,
in Keras' style ("Received: units=0"), before any work is done.
"""

import numbers

import keras
from keras import activations
from keras import constraints
from keras import initializers
from keras import regularizers

_GETTERS = {
    "activation": activations.get,
    "initializer": initializers.get,
    "regularizer": regularizers.get,
    "constraint": constraints.get,
}


def resolve(argument, value):
    """Looks up a Keras identifier of the kind `argument`'s name ends in
    (`..._activation`, `..._initializer`, `..._regularizer`,
    `..._constraint`).

    Keras' own error does not name the argument; this one does.
    """
    getter = _GETTERS[argument.rsplit("_", 1)[-1]]
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Could not interpret `{argument}`: {error} "
            f"Received: {argument}={value!r}"
        ) from None


def check_positive_int(argument, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
    ):
        raise ValueError(
            f"`{argument}` must be a positive integer. "
            f"Received: {argument}={value!r}"
        )


def check_token(argument, value, vocabulary_size):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= value < vocabulary_size
    ):
        raise ValueError(
            f"`{argument}` must be a token id in [0, {vocabulary_size}). "
            f"Received: {argument}={value!r}"
        )


def check_rate(argument, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{argument}` must be a float in [0, 1). "
            f"Received: {argument}={value!r}"
        )


def check_positive_float(argument, value, at_most=None):
    """A finite real number above 0 (and at most `at_most` where given)."""
    valid = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and 0.0 < value < float("inf")
        and (at_most is None or value <= at_most)
    )
    if not valid:
        bounds = (
            "a positive number"
            if at_most is None
            else (f"a number in (0, {at_most}]")
        )
        raise ValueError(
            f"`{argument}` must be {bounds}. Received: {argument}={value!r}"
        )


def check_non_negative_float(argument, value, zero_means=None):
    """A finite real number of at least 0 (`zero_means`: what 0 stands for,
    said in the message)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < float("inf")
    ):
        meaning = f" (0: {zero_means})" if zero_means else ""
        raise ValueError(
            f"`{argument}` must be a finite number >= 0{meaning}. "
            f"Received: {argument}={value!r}"
        )


def check_non_negative_int(argument, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 0
    ):
        raise ValueError(
            f"`{argument}` must be a non-negative integer. "
            f"Received: {argument}={value!r}"
        )


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(
            f"`{argument}` must be True or False. "
            f"Received: {argument}={value!r}"
        )


def check_one_of(argument, value, choices):
    """`value` must be one of `choices`, of the same type too (so that 1 is
    not taken for True)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(
            f"`{argument}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {argument}={value!r}"
        )


def check_seed(seed, generator=False):
    """An int or None (and with `generator`, a keras.random.SeedGenerator)."""
    if seed is None or (
        generator and isinstance(seed, keras.random.SeedGenerator)
    ):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        kinds = "an integer"
        if generator:
            kinds += ", a keras.random.SeedGenerator"
        raise ValueError(
            f"`seed` must be {kinds} or None. Received: seed={seed!r}"
        )


def checked_initial_state(layer_name, state_size, initial_state, batch_size):
    """`initial_state` as a list, checked against the cell's `state_size`."""
    sizes = (
        state_size if isinstance(state_size, (list, tuple)) else [state_size]
    )
    states = (
        list(initial_state)
        if isinstance(initial_state, (list, tuple))
        else [initial_state]
    )
    shapes = [tuple(state.shape) for state in states]
    expected = [(batch_size, size) for size in sizes]
    valid = len(shapes) == len(expected) and all(
        len(shape) == 2
        and shape[1] == want[1]
        and (None in (shape[0], want[0]) or shape[0] == want[0])
        for shape, want in zip(shapes, expected)
    )
    if not valid:
        raise ValueError(
            f"`initial_state` of layer '{layer_name}' must be "
            f"{len(expected)} tensor(s) of shapes {expected}. "
            f"Received: initial_state with shapes {shapes}"
        )
    return states


def layer_argument(argument, value, kind=None, description="a Keras layer"):
    """`value` as a layer: deserialized where it is a config (as
    `from_config` passes sublayers), and an instance of `kind`
    (`keras.layers.Layer` by default), or a `ValueError` naming it."""
    if isinstance(value, dict):
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, kind or keras.layers.Layer):
        raise ValueError(
            f"`{argument}` must be {description}. "
            f"Received: {argument}={value!r}"
        )
    return value


def check_batch_time(argument, tensor, batch_time, of):
    """`tensor` must be (batch, time) as `of` is, `batch_time` its first two
    dimensions (None matches any): a shorter mask would otherwise drop the
    steps it does not cover."""
    shape = tuple(tensor.shape)
    if len(shape) != 2 or any(
        None not in (got, want) and got != want
        for got, want in zip(shape, batch_time)
    ):
        raise ValueError(
            f"`{argument}` must have the shape (batch, time) of {of}, "
            f"{tuple(batch_time)}. Received: {argument} with shape {shape}"
        )


def check_weight_list(layer, weights, names):
    """`weights` must be a list of one array per name in `names` (another
    library's order, which the caller maps to its own)."""
    if isinstance(weights, (list, tuple)) and len(weights) == len(names):
        return
    received = (
        f"{len(weights)} arrays"
        if isinstance(weights, (list, tuple))
        else repr(weights)
    )
    raise ValueError(
        f"{layer} expects TF-Addons' {len(names)} weights "
        f"[{', '.join(names)}]. Received: weights={received}"
    )
