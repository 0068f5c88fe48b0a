"""Hessian-free optimisation (truncated Newton with Gauss-Newton products),
with structural damping for recurrent networks.

`HessianFree` wraps a Keras model as a `keras.Model` whose `fit` takes
Hessian-free steps: Keras' own training loop drives it (callbacks,
metrics, validation, `History`), and the wrapped model, trained in place,
is what one saves. A wrapper rather than an optimizer because a step needs
the model itself: a Keras optimizer receives gradients only, and
Hessian-free needs curvature-vector products of the model's function.
"""

import math
import numbers

import keras
from keras import ops

from keras_recur import backend
from keras_recur import validation
from keras_recur.training.trainer import ModelTrainer

# Martens (2010), section 4.6: the CG iterates kept for backtracking are
# those at iterations ceil(gamma ** j).
BACKTRACKING_GROWTH = 1.3
# Martens & Sutskever (2011): the step size search after backtracking.
LINE_SEARCH_SHRINK = 0.8
LINE_SEARCH_SUFFICIENT_DECREASE = 1e-2
LINE_SEARCH_TRIES = 60


def _dot(a, b):
    return float(sum(ops.sum(ops.multiply(x, y)) for x, y in zip(a, b)))


def _add(a, b, scale=1.0):
    return [x + scale * y for x, y in zip(a, b)]


def conjugate_gradient(
    product, gradient, initial, max_iterations, tolerance=5e-4
):
    """Minimises `q(d) = g.d + d.A.d / 2`, i.e. solves `A d = -g`, by
    conjugate gradient from `initial`, with Martens' (2010) stopping rule.

    Args:
        product: `product(d) -> A d` on a list of tensors (`A` symmetric
            positive definite: the damped Gauss-Newton matrix).
        gradient: `g`, a list of tensors.
        initial: the starting point, shaped as `gradient`.
        max_iterations: at most this many iterations.
        tolerance: Martens' epsilon: stop at iteration `i` once
            `q(d_i) < 0` and `(q(d_i) - q(d_{i-k})) / q(d_i) < k * epsilon`,
            `k = max(10, 0.1 i)`: when the last `k` iterations reduced `q` by
            less than `k * epsilon` of its value.

    Returns:
        The list of `(iteration, d)` kept for backtracking: the iterates at
        iterations `ceil(1.3 ** j)` and the last one, in order.
    """
    solution = list(initial)
    residual = _add([-g for g in gradient], product(solution), scale=-1.0)
    direction = list(residual)
    residual_norm = _dot(residual, residual)
    values = [0.5 * _dot(solution, _add(gradient, residual, scale=-1.0))]
    kept_at = {
        math.ceil(BACKTRACKING_GROWTH**j)
        for j in range(int(math.log(max_iterations, BACKTRACKING_GROWTH)) + 2)
    }
    kept = []
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        curved = product(direction)
        curvature = _dot(direction, curved)
        if not curvature > 0.0:
            # Only rounding makes a damped Gauss-Newton matrix look
            # indefinite: the last iterate is the answer.
            iteration -= 1
            break
        step = residual_norm / curvature
        solution = _add(solution, direction, step)
        residual = _add(residual, curved, -step)
        new_norm = _dot(residual, residual)
        # q(d) = g.d + d.A.d / 2 = d.(g - r) / 2, where r = -g - A d.
        values.append(0.5 * _dot(solution, _add(gradient, residual, -1.0)))
        if iteration in kept_at:
            kept.append((iteration, solution))
        gap = max(10, int(0.1 * iteration))
        value = values[iteration]
        if (
            iteration > gap
            and value < 0.0
            and (value - values[iteration - gap]) / value < gap * tolerance
        ):
            break
        if new_norm == 0.0:
            break
        direction = _add(residual, direction, new_norm / residual_norm)
        residual_norm = new_norm
    if not kept or kept[-1][0] != iteration:
        kept.append((iteration, solution))
    return kept


def adjusted_damping(damping, reduction_ratio):
    """The Levenberg-Marquardt rule of Martens (2010), section 4.1: the
    damping times 3/2 where the quadratic model over-promised (the
    reduction ratio `rho` below 1/4), times 2/3 where it was good (above
    3/4), else unchanged."""
    if reduction_ratio < 0.25:
        return damping * 1.5
    if reduction_ratio > 0.75:
        return damping * 2.0 / 3.0
    return damping


@keras.saving.register_keras_serializable(package="keras_recur")
class HessianFree(ModelTrainer):
    """Trains a Keras model by Hessian-free optimisation.

    Each step (one batch) minimises the local quadratic model of the loss,
    `q(d) = g.d + d.(G + lambda I).d / 2`, with `G` the Gauss-Newton matrix
    of the loss, by conjugate gradient on Gauss-Newton-vector products (a
    forward-mode product through the model, the loss's Hessian at the
    outputs, a reverse-mode product back: `keras_recur.backend.jvp` and
    `vjp`, so any differentiable Keras model). The details are the
    published ones: CG warm-started from the previous step's solution
    times `warm_start_decay`, Martens' stopping rule, backtracking over the
    iterates kept at iterations `ceil(1.3 ** j)` (Martens 2010), the
    Levenberg-Marquardt schedule of `lambda` from the reduction ratio
    (`adjusted_damping`), and a backtracking line search on the step
    (Martens & Sutskever 2011).

    Structural damping (Martens & Sutskever 2011) adds `lambda * mu *
    S(theta)` to the quadratic model, `S` the mean over the batch of
    `sum((h - h_k) ** 2) / 2` over the hidden states `h` of
    `hidden_layers` (their outputs: whole sequences), so that a step
    cannot change the recurrent states much where the loss's curvature
    does not see it.

    The Gauss-Newton matrix is positive semi-definite for a loss convex in
    the model's outputs (squared error; cross-entropy on logits or on
    probabilities). Martens recommends pairing the output's nonlinearity
    with its loss: a linear output with `from_logits=True` cross-entropy.
    The model is evaluated with `training=False` throughout a step (the
    quadratic model needs one function: no dropout); layers' own losses
    (regularisers, `add_loss`) are not supported.

    `fit`, `evaluate` and `predict` run eagerly around compiled products
    (the conjugate gradient decides in Python when to stop).

    Args:
        model: the Keras model to train, built, with one output.
        damping: the initial Tikhonov damping `lambda` (then adapted).
        structural_damping: `mu`, the weight of the hidden states' change
            relative to `lambda`; 0 turns structural damping off.
        hidden_layers: the layers (or their names) whose outputs are the
            hidden states that structural damping keeps; each must output a
            sequence (`return_sequences=True`). `None`: every
            `keras.layers.RNN` in `model`. Needs a Sequential or functional
            `model`.
        max_cg_iterations: the most conjugate gradient iterations a step.
        cg_tolerance: Martens' epsilon in the stopping rule
            (`conjugate_gradient`).
        warm_start_decay: the previous solution times this starts the
            next conjugate gradient (0: a cold start).
        curvature_batch_size: the Gauss-Newton products use the first this
            many examples of each batch (Martens: a smaller batch for the
            curvature than for the gradient); `None`: the whole batch.
        **kwargs: `keras.Model`'s (`name`).

    Call arguments:
        inputs: the wrapped model's inputs.

    Example:

    >>> inputs = keras.Input((10, 1))
    >>> states = keras.layers.SimpleRNN(8, return_sequences=True)(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(states[:, -1]))
    >>> trainer = keras_recur.training.HessianFree(
    ...     model, structural_damping=0.3, max_cg_iterations=20
    ... )
    >>> trainer.compile(loss="mse")
    >>> x = np.random.default_rng(0).uniform(size=(64, 10, 1))
    >>> history = trainer.fit(x, x.sum(axis=1), batch_size=32, epochs=2,
    ...                       verbose=0)
    >>> len(history.history["loss"])
    2

    `model`, trained in place, is the one to save.

    Reference:

    - Martens (2010). Deep learning via Hessian-free optimization (ICML).
      <https://www.cs.toronto.edu/~jmartens/docs/Deep_HessianFree.pdf>
    - Martens & Sutskever (2011). Learning recurrent neural networks with
      Hessian-free optimization (ICML; structural damping).
      <https://www.cs.toronto.edu/~jmartens/docs/RNN_HF.pdf>
    """

    def __init__(
        self,
        model,
        damping=1.0,
        structural_damping=0.0,
        hidden_layers=None,
        max_cg_iterations=250,
        cg_tolerance=5e-4,
        warm_start_decay=0.95,
        curvature_batch_size=None,
        **kwargs,
    ):
        super().__init__(model, **kwargs)
        validation.check_positive_float("damping", damping)
        validation.check_non_negative_float(
            "structural_damping", structural_damping, zero_means="off"
        )
        validation.check_positive_int("max_cg_iterations", max_cg_iterations)
        validation.check_positive_float("cg_tolerance", cg_tolerance)
        if (
            isinstance(warm_start_decay, bool)
            or not isinstance(warm_start_decay, numbers.Real)
            or not 0.0 <= warm_start_decay <= 1.0
        ):
            raise ValueError(
                "`warm_start_decay` must be a number in [0, 1]. "
                f"Received: warm_start_decay={warm_start_decay!r}"
            )
        if curvature_batch_size is not None:
            validation.check_positive_int(
                "curvature_batch_size", curvature_batch_size
            )
        if hidden_layers is not None and structural_damping == 0.0:
            raise ValueError(
                "`hidden_layers` are read by structural damping alone, which "
                "is off: set `structural_damping` > 0 or leave "
                "`hidden_layers` out. Received: "
                f"hidden_layers={hidden_layers!r}, structural_damping=0"
            )
        hidden = (
            self._hidden_layers(model, hidden_layers)
            if structural_damping > 0.0
            else []
        )
        self.damping = float(damping)
        self._structural_damping = float(structural_damping)
        self._hidden_layer_names = [layer.name for layer in hidden]
        self._max_cg_iterations = max_cg_iterations
        self._cg_tolerance = float(cg_tolerance)
        self._warm_start_decay = float(warm_start_decay)
        self._curvature_batch_size = curvature_batch_size
        # The function a step differentiates: the output, then the hidden
        # states that structural damping keeps.
        self._network = (
            keras.Model(
                model.inputs,
                [model.outputs[0], *(layer.output for layer in hidden)],
            )
            if hidden
            else model
        )
        self._previous_solution = None
        self._loss_and_gradient_program = backend.compiled_function(
            self._loss_and_gradient
        )
        self._loss_program = backend.compiled_function(self._loss_at)
        self._curvature_program = backend.compiled_function(
            self._curvature_product
        )

    @staticmethod
    def _hidden_layers(model, hidden_layers):
        if not hasattr(model, "inputs") or not model.inputs:
            raise ValueError(
                "Structural damping reads the hidden states of a Sequential "
                "or functional model. Received: a subclassed model "
                f"{model.name!r} with structural_damping > 0"
            )
        if hidden_layers is None:
            layers = [
                layer
                for layer in model.layers
                if isinstance(layer, keras.layers.RNN)
            ]
            if not layers:
                raise ValueError(
                    "`structural_damping` > 0 needs recurrent layers: "
                    f"`model` {model.name!r} has no keras.layers.RNN; name "
                    "the layers whose outputs are the hidden states. "
                    "Received: hidden_layers=None"
                )
        else:
            layers = [
                model.get_layer(layer) if isinstance(layer, str) else layer
                for layer in hidden_layers
            ]
        for layer in layers:
            if getattr(layer, "return_sequences", True) is False:
                raise ValueError(
                    "Structural damping keeps every step's hidden state: "
                    f"layer {layer.name!r} must return sequences (take the "
                    "last step after it, e.g. `h[:, -1]`). Received: "
                    f"hidden_layers with {layer.name!r}, "
                    "return_sequences=False"
                )
        return layers

    @property
    def structural_damping(self):
        return self._structural_damping

    @property
    def hidden_layers(self):
        return list(self._hidden_layer_names)

    @property
    def max_cg_iterations(self):
        return self._max_cg_iterations

    @property
    def cg_tolerance(self):
        return self._cg_tolerance

    @property
    def warm_start_decay(self):
        return self._warm_start_decay

    @property
    def curvature_batch_size(self):
        return self._curvature_batch_size

    def compile(self, loss, metrics=None, weighted_metrics=None):
        """Configures the loss and metrics. The step is Hessian-free's: an
        SGD optimizer with rate 1 applies it (and counts `iterations`)."""
        super().compile(
            optimizer=keras.optimizers.SGD(learning_rate=1.0),
            loss=loss,
            metrics=metrics,
            weighted_metrics=weighted_metrics,
            run_eagerly=True,
        )

    def curvature_product(self, x, y, vector, sample_weight=None, damping=None):
        """The matrix of the step's quadratic model times `vector` at the
        current weights: `(G + lambda * mu * G_S + lambda I) vector`, `G` the
        loss's Gauss-Newton matrix on `(x, y)`, `G_S` structural damping's.

        Args:
            x, y, sample_weight: a batch, as `fit` takes it.
            vector: a list of arrays shaped as `trainable_variables`.
            damping: `lambda`; `None`: the current `damping` (0: `G v`
                alone).

        Returns:
            A list of tensors shaped as `vector`.
        """
        damping = self.damping if damping is None else damping
        validation.check_non_negative_float("damping", damping)
        return self._at_current_weights(
            self._curvature_program,
            x,
            y,
            sample_weight,
            [ops.convert_to_tensor(v) for v in vector],
            ops.convert_to_tensor(damping, dtype=self.compute_dtype),
        )

    # The functions of a step, on the values of the variables (`theta`, in
    # the trainer's order), compiled once each.

    def _outputs(self, trainable, non_trainable, x):
        """The output, then the hidden states structural damping keeps."""
        with keras.StatelessScope(
            state_mapping=self._mapping(trainable, non_trainable)
        ):
            outputs = self._network(x, training=False)
        return tuple(keras.tree.flatten(outputs))

    def _loss_at(self, trainable, non_trainable, x, y, sample_weight):
        y_pred = self._outputs(trainable, non_trainable, x)[0]
        return self._loss(x, y, y_pred, sample_weight)

    def _curvature_product(
        self, trainable, non_trainable, x, y, sample_weight, vector, damping
    ):
        """`(G + lambda * mu * G_S + lambda I) v`, G_S the Gauss-Newton
        matrix of structural damping's S."""

        def outputs(theta):
            return self._outputs(theta, non_trainable, x)

        def loss_gradient(y_pred):
            loss, pullback = backend.vjp(
                lambda z: self._loss(x, y, z[0], sample_weight), y_pred
            )
            return pullback(ops.ones_like(loss))[0]

        values, directional = backend.jvp(outputs, trainable, vector)
        _, loss_curvature = backend.jvp(
            loss_gradient, [values[0]], [directional[0]]
        )
        batch_size = ops.cast(ops.shape(values[0])[0], values[0].dtype)
        hidden = [
            damping * self._structural_damping / batch_size * h
            for h in directional[1:]
        ]
        _, pullback = backend.vjp(outputs, trainable)
        products = pullback((loss_curvature, *hidden))
        return [p + damping * v for p, v in zip(products, vector)]

    def _step(self, trainable, non_trainable, x, y, sample_weight):
        # The step's change of `trainable`, as the gradient that an SGD of
        # rate 1 applies.
        loss, gradient, y_pred = self._loss_and_gradient_program(
            trainable, non_trainable, x, y, sample_weight
        )
        curvature_batch = (
            (x, y, sample_weight)
            if self._curvature_batch_size is None
            else keras.tree.map_structure(
                lambda t: t[: self._curvature_batch_size],
                (x, y, sample_weight),
            )
        )
        damping = ops.convert_to_tensor(self.damping, dtype=loss.dtype)

        def product(vector):
            return self._curvature_program(
                trainable, non_trainable, *curvature_batch, vector, damping
            )

        def loss_at(change):
            return float(
                self._loss_program(
                    _add(trainable, change), non_trainable, x, y, sample_weight
                )
            )

        initial = (
            [ops.zeros_like(g) for g in gradient]
            if self._previous_solution is None
            else [self._warm_start_decay * d for d in self._previous_solution]
        )
        iterates = conjugate_gradient(
            product,
            gradient,
            initial,
            self._max_cg_iterations,
            self._cg_tolerance,
        )
        # The next step starts from the last iterate, not the backtracked.
        self._previous_solution = iterates[-1][1]
        # Backtracking: from the last iterate back while the loss falls.
        change, new_loss = iterates[-1][1], loss_at(iterates[-1][1])
        for _, earlier in reversed(iterates[:-1]):
            earlier_loss = loss_at(earlier)
            if earlier_loss > new_loss:
                break
            change, new_loss = earlier, earlier_loss
        loss = float(loss)
        slope = _dot(gradient, change)
        predicted = 0.5 * _dot(change, product(change)) + slope
        ratio = (new_loss - loss) / predicted if predicted != 0.0 else 1.0
        self.damping = adjusted_damping(self.damping, ratio)
        # Line search: shrink the step until it decreases the loss enough.
        rate = 1.0
        least_decrease = min(LINE_SEARCH_SUFFICIENT_DECREASE * slope, 0.0)
        for _ in range(LINE_SEARCH_TRIES):
            if new_loss <= loss + rate * least_decrease:
                break
            rate *= LINE_SEARCH_SHRINK
            new_loss = loss_at([rate * d for d in change])
        else:
            rate = 0.0
        return [-rate * d for d in change], loss, y_pred, {}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "damping": self.damping,
                "structural_damping": self._structural_damping,
                "hidden_layers": (
                    self.hidden_layers if self._hidden_layer_names else None
                ),
                "max_cg_iterations": self._max_cg_iterations,
                "cg_tolerance": self._cg_tolerance,
                "warm_start_decay": self._warm_start_decay,
                "curvature_batch_size": self._curvature_batch_size,
            }
        )
        return config
