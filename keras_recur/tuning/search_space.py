"""How a hypermodel argument becomes a keras-tuner hyperparameter.

Every searchable argument of the hypermodels takes one of three forms:

- a single value (`units=64`): fixed, recorded with `hp.Fixed`;
- a list or tuple of values (`units=[32, 64]`): `hp.Choice` over them, in
  that order (the first is the default);
- a `Range(min_value, max_value, step=None, sampling="linear")`: `hp.Int`
  when both ends are integers, `hp.Float` otherwise.
"""

import collections
import numbers

Range = collections.namedtuple(
    "Range",
    ["min_value", "max_value", "step", "sampling"],
    defaults=(None, "linear"),
)
Range.__doc__ = """A numeric interval to search.

min_value, max_value: the ends, both included.
step: the spacing of the searched values (None: continuous for floats,
    1 for integers).
sampling: "linear", "log" or "reverse_log", as keras-tuner's.
"""

_SAMPLINGS = ("linear", "log", "reverse_log")


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integral_range(spec):
    """Both ends integers: searched with hp.Int."""
    return all(
        isinstance(value, numbers.Integral)
        for value in (spec.min_value, spec.max_value)
    )


def check_spec(argument, spec, check_value):
    """Validates a spec and returns it in canonical form.

    `check_value(argument, value)` raises on a bad value and returns it
    canonical (floats as `float`, so that a choice holds one type); lists
    become tuples.
    """
    if isinstance(spec, Range):
        if not (_is_number(spec.min_value) and _is_number(spec.max_value)):
            raise ValueError(
                f"`{argument}` range ends must be numbers. "
                f"Received: {argument}={spec!r}"
            )
        if spec.min_value > spec.max_value:
            raise ValueError(
                f"`{argument}` range must have min_value <= max_value. "
                f"Received: {argument}={spec!r}"
            )
        if spec.sampling not in _SAMPLINGS:
            raise ValueError(
                f"`{argument}` range sampling must be one of {_SAMPLINGS}. "
                f"Received: {argument}={spec!r}"
            )
        if spec.sampling != "linear" and spec.min_value <= 0:
            raise ValueError(
                f"`{argument}` range with {spec.sampling} sampling must be "
                f"positive. Received: {argument}={spec!r}"
            )
        if spec.step is not None and (
            not _is_number(spec.step) or spec.step <= 0
        ):
            raise ValueError(
                f"`{argument}` range step must be a positive number. "
                f"Received: {argument}={spec!r}"
            )
        if (
            _is_integral_range(spec)
            and spec.step is not None
            and not isinstance(spec.step, numbers.Integral)
        ):
            # hp.Int takes it, and every trial then fails inside
            # keras-tuner without naming the argument.
            raise ValueError(
                f"`{argument}` range of integers needs an integer step. "
                f"Received: {argument}={spec!r}"
            )
        return spec._replace(
            min_value=check_value(argument, spec.min_value),
            max_value=check_value(argument, spec.max_value),
        )
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(
                f"`{argument}` must list at least one value. "
                f"Received: {argument}={spec!r}"
            )
        if len(set(spec)) != len(spec):
            raise ValueError(
                f"`{argument}` lists a value twice. "
                f"Received: {argument}={spec!r}"
            )
        return tuple(check_value(argument, value) for value in spec)
    return check_value(argument, spec)


def declare(hp, name, spec):
    """Registers `name` in `hp` according to `spec`; returns its value.

    As everywhere in keras-tuner, a hyperparameter that `hp` already holds
    (for example one the user passed to the tuner as `hyperparameters=`)
    keeps its definition.
    """
    if isinstance(spec, Range):
        declare_range = hp.Int if _is_integral_range(spec) else hp.Float
        return declare_range(
            name,
            spec.min_value,
            spec.max_value,
            step=spec.step,
            sampling=spec.sampling,
        )
    if isinstance(spec, tuple):
        if len(spec) == 1:
            return hp.Fixed(name, spec[0])
        if all(isinstance(value, bool) for value in spec):
            # hp.Choice would turn booleans into 0 and 1.
            return hp.Boolean(name, default=spec[0])
        return hp.Choice(name, list(spec))
    return hp.Fixed(name, spec)
