"""The readout of reservoir computing, fitted in closed form by ridge
regression (as reservoirpy's `Ridge`)."""

import keras
import numpy as np
from keras import ops

from keras_recur import backend
from keras_recur.validation import check_bool
from keras_recur.validation import check_non_negative_float
from keras_recur.validation import check_non_negative_int
from keras_recur.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_recur")
class RidgeReadout(keras.layers.Layer):
    """A linear readout `y = x W + b` fitted in one pass by ridge regression.

    An echo state network learns only its readout, and the readout's best
    weights for a squared error have a closed form: with the states `S`
    and the targets `Y` centred on their means (so that the bias is not
    penalised),

    ```
    (S^T S + ridge * I) W = S^T Y,    b = mean(Y) - mean(S) W
    ```

    `fit(states, targets, washout=..., mask=...)` solves it, in float64
    where the backend has it (TensorFlow, PyTorch, JAX with
    `jax_enable_x64`), else in float32 as the least squares problem
    `[S; sqrt(ridge) I] W = [Y; 0]` (which keeps the digits the normal
    equations would lose). It leaves out the first `washout` steps of every
    sequence, while the reservoir still remembers its initial state, and
    the steps that `mask` marks as padding, and it refuses NaN or inf in
    what it would solve with. The weights are not trainable: Keras' `fit`
    leaves them alone, and a model ending in this layer predicts, evaluates
    and saves as any other. Use `keras_recur.models.fit_readout(model, x,
    y)` to fit the readout of a whole model from its inputs (its mask
    included).

    Args:
        units: Positive integer, the output size.
        ridge: Non-negative float, the L2 penalty `lambda` (0: ordinary
            least squares, which needs `S^T S` invertible). Default: 1e-6.
        use_bias: Fit the bias `b` (else `b = 0` and nothing is centred).
            Default: `True`.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Call arguments:
        inputs: A tensor `(..., features)`, e.g. the states of
            `EchoStateNetwork`.

    Example:

    >>> states = np.random.default_rng(0).normal(size=(100, 3))
    >>> targets = states @ [[10.0], [-0.2], [7.0]] + 12.0
    >>> readout = keras_recur.layers.RidgeReadout(1, ridge=1e-3)
    >>> readout = readout.fit(states, targets)
    >>> np.round(keras.ops.convert_to_numpy(readout.kernel)[:, 0], 2)
    array([10. , -0.2,  7. ], dtype=float32)
    >>> round(float(keras.ops.convert_to_numpy(readout.bias)[0]), 2)
    12.0

    Reference:

    - Lukosevicius (2012). A practical guide to applying echo state
      networks. In Neural Networks: Tricks of the Trade, 2nd ed., LNCS 7700.
      <https://doi.org/10.1007/978-3-642-35289-8_36>
    """

    def __init__(self, units, ridge=1e-6, use_bias=True, **kwargs):
        check_positive_int("units", units)
        check_non_negative_float(
            "ridge", ridge, zero_means="ordinary least squares"
        )
        check_bool("use_bias", use_bias)
        super().__init__(**kwargs)
        self.units = units
        self.ridge = float(ridge)
        self.use_bias = use_bias
        # Per step, as Dense: a sequence's mask passes through.
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                "RidgeReadout needs the inputs' last dimension. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            shape=(features, self.units),
            name="kernel",
            initializer="zeros",
            trainable=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer="zeros",
                trainable=False,
            )

    def call(self, inputs):
        outputs = backend.matmul(inputs, ops.cast(self.kernel, inputs.dtype))
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, inputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def fit(self, states, targets, washout=0, mask=None):
        """Sets the weights to the ridge regression of `targets` on
        `states`, and returns the layer.

        Args:
            states: `(samples, features)`, or `(batch, time, features)`
                sequences (each step one sample).
            targets: `(samples, units)`, or `(batch, time, units)` with
                sequence `states`.
            washout: Non-negative integer, the number of leading steps of
                each sequence left out (sequences only). Default: 0.
            mask: Optional boolean array shaped as `states` less its last
                axis: the samples (or steps) that enter the fit; the
                others, padding for example, are left out. Default: `None`
                (every one).

        Raises:
            ValueError: for a bad shape or argument, and for NaN or inf
                among the states or targets that enter the fit (naming the
                index of the first), before any solve.
        """
        states = np.asarray(ops.convert_to_numpy(states))
        targets = np.asarray(ops.convert_to_numpy(targets))
        if mask is not None:
            mask = np.asarray(ops.convert_to_numpy(mask))
        self._check_fit_arguments(states, targets, washout, mask)
        used = np.ones(states.shape[:-1], bool)
        if mask is not None:
            used &= mask
        if states.ndim == 3:
            used[:, :washout] = False
        if not used.any():
            given = (
                "no mask"
                if mask is None
                else (
                    f"mask with {int(mask.sum())} of {mask.size} entries True"
                )
            )
            raise ValueError(
                "No sample is left after the washout and the mask. Received: "
                f"washout={washout}, {given}, states.shape={states.shape}"
            )
        check_finite("states", states, used)
        check_finite("targets", targets, used)
        if not self.built:
            self.build(states.shape)
        dtype = backend.widest_float()
        states = ops.convert_to_tensor(states[used], dtype)
        targets = ops.convert_to_tensor(targets[used], dtype)
        if self.use_bias:
            states_mean = ops.mean(states, axis=0)
            targets_mean = ops.mean(targets, axis=0)
            states = states - states_mean
            targets = targets - targets_mean
        features = states.shape[-1]
        if dtype == "float64":
            states_t = ops.transpose(states)
            gram = backend.matmul(states_t, states)
            penalty = self.ridge * ops.eye(features, dtype=dtype)
            moments = backend.matmul(states_t, targets)
            kernel = ops.solve(gram + penalty, moments)
        else:
            # In float32 the normal equations square the states' condition
            # number and lose the fit; least squares of the same problem,
            # [S; sqrt(ridge) I] W = [Y; 0], does not.
            penalty = (self.ridge**0.5) * ops.eye(features, dtype=dtype)
            kernel = ops.lstsq(
                ops.concatenate([states, penalty]),
                ops.concatenate(
                    [targets, ops.zeros((features, self.units), dtype)]
                ),
                # Keep every direction float32 resolves (the default cuts
                # those below eps * samples: the ridge decides, not it).
                rcond=float(np.finfo("float32").eps),
            )
        self.kernel.assign(ops.cast(kernel, self.kernel.dtype))
        if self.use_bias:
            bias = targets_mean - backend.matmul(states_mean[None], kernel)[0]
            self.bias.assign(ops.cast(bias, self.bias.dtype))
        return self

    def _check_fit_arguments(self, states, targets, washout, mask):
        rank = len(states.shape)
        if rank not in (2, 3):
            raise ValueError(
                "`states` must be (samples, features) or (batch, time, "
                f"features). Received: states.shape={tuple(states.shape)}"
            )
        expected = (*states.shape[:-1], self.units)
        if tuple(targets.shape) != expected:
            raise ValueError(
                f"`targets` must be {expected}: the leading dimensions of "
                f"`states` and `units={self.units}`. "
                f"Received: targets.shape={tuple(targets.shape)}"
            )
        if self.built and states.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"The readout was built for {self.kernel.shape[0]} features. "
                f"Received: states.shape={tuple(states.shape)}"
            )
        if mask is not None and (
            mask.dtype != bool or mask.shape != states.shape[:-1]
        ):
            raise ValueError(
                "`mask` must be boolean, shaped as `states` less its last "
                f"axis, {tuple(states.shape[:-1])}. Received: "
                f"mask.shape={tuple(mask.shape)}, mask.dtype={mask.dtype}"
            )
        check_non_negative_int("washout", washout)
        if washout and rank == 2:
            raise ValueError(
                "`washout` drops leading steps of sequences: it needs "
                "(batch, time, features) states. Received: "
                f"washout={washout}, states.shape={tuple(states.shape)}"
            )
        if rank == 3 and washout >= states.shape[1]:
            raise ValueError(
                "No step is left after the washout. Received: "
                f"washout={washout}, states.shape={tuple(states.shape)}"
            )

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "ridge": self.ridge,
            "use_bias": self.use_bias,
        }


def check_finite(name, values, used):
    """Refuses NaN or inf in the rows of `values` that `used` selects (a
    solve would return NaN weights, silently), naming where the first is."""
    bad = ~np.isfinite(values) & used[..., None]
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` must be finite where the fit reads it: it holds "
            f"{int(bad.sum())} NaN or inf values, the first at index "
            f"{index}. Received: {name}[{index}]={values[index]}"
        )
