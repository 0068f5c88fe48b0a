"""`ModelTrainer`: a Keras model that trains a wrapped model with its own
step, which `fit` drives (callbacks, metrics, validation, `History`)."""

import copy

import keras

from keras_recur import backend


class ModelTrainer(keras.Model):
    """The base of the training methods: wraps `model` (trained in place:
    save `model`), delegates `call` to it, and runs a step that a subclass
    writes once, on the values of the variables, for every backend.

    A subclass defines `_step(trainable, non_trainable, x, y,
    sample_weight) -> (updates, loss, y_pred, tracked)`: what the optimizer
    applies to the trainable variables (gradients, in their order), the
    batch's loss before the step, the predictions it came from, and the
    values of the subclass's own `keras.metrics.Mean` trackers by name.

    Args:
        model: the Keras model to train, built. Its own losses
            (regularisers, `add_loss`) are refused: the step minimises the
            compiled loss.
        **kwargs: `keras.Model`'s (`name`).
    """

    def __init__(self, model, **kwargs):
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"`model` must be a keras.Model. Received: model={model!r}"
            )
        if not model.built:
            raise ValueError(
                "`model` must be built (give it an `Input`, or call it "
                f"once). Received: model={model.name!r}, not built"
            )
        if model.losses:
            raise ValueError(
                f"{type(self).__name__} minimises the compiled loss alone: "
                f"`model` has {len(model.losses)} losses of its own "
                f"(regularisers or `add_loss`). Received: model={model.name!r}"
            )
        super().__init__(**kwargs)
        self.model = model

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def _mapping(self, trainable, non_trainable):
        """The variables paired with `trainable` and `non_trainable`, their
        values, for a `keras.StatelessScope`."""
        return [
            *zip(self.trainable_variables, trainable),
            *zip(self.non_trainable_variables, non_trainable),
        ]

    def _at_current_weights(self, function, x, y, sample_weight, *more):
        """`function(trainable, non_trainable, x, y, sample_weight, *more)`
        on the variables' current values and the batch as tensors, with no
        autograd graph recorded."""
        x, y, sample_weight = keras.tree.map_structure(
            lambda t: None if t is None else keras.ops.convert_to_tensor(t),
            (x, y, sample_weight),
        )
        with backend.no_gradient():
            return function(
                [v.value for v in self.trainable_variables],
                [v.value for v in self.non_trainable_variables],
                x,
                y,
                sample_weight,
                *more,
            )

    def _loss(self, x, y, y_pred, sample_weight):
        return self.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
        )

    def _loss_and_gradient(self, trainable, non_trainable, x, y, sample_weight):
        """The compiled loss at `trainable`, its gradient and the
        predictions (`training=False`)."""

        def loss_and_prediction(theta):
            with keras.StatelessScope(
                state_mapping=self._mapping(theta, non_trainable)
            ):
                y_pred = self.model(x, training=False)
            return self._loss(x, y, y_pred, sample_weight), y_pred

        (loss, y_pred), pullback = backend.vjp(loss_and_prediction, trainable)
        gradient = pullback(
            (keras.ops.ones_like(loss), keras.ops.zeros_like(y_pred))
        )
        return loss, gradient, y_pred

    def _step(self, trainable, non_trainable, x, y, sample_weight):
        raise NotImplementedError(f"{type(self).__name__} must define `_step`.")

    def _update_metrics(self, loss, x, y, y_pred, sample_weight, tracked):
        batch_size = keras.tree.flatten(x)[0].shape[0]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=batch_size)
            elif metric.name in tracked:
                metric.update_state(
                    tracked[metric.name], sample_weight=batch_size
                )
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return self.get_metrics_result()

    def _stateful_train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with backend.no_gradient():
            updates, loss, y_pred, tracked = self._step(
                [v.value for v in self.trainable_variables],
                [v.value for v in self.non_trainable_variables],
                x,
                y,
                sample_weight,
            )
            self.optimizer.apply(updates, self.trainable_variables)
        return self._update_metrics(loss, x, y, y_pred, sample_weight, tracked)

    def _stateless_train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metric_values = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        updates, loss, y_pred, tracked = self._step(
            trainable, non_trainable, x, y, sample_weight
        )
        trainable, optimizer_values = self.optimizer.stateless_apply(
            optimizer_values, updates, trainable
        )
        mapping = list(zip(self.metrics_variables, metric_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._update_metrics(
                loss, x, y, y_pred, sample_weight, tracked
            )
        metric_values = [
            scope.get_current_value(v) for v in self.metrics_variables
        ]
        return logs, (trainable, non_trainable, optimizer_values, metric_values)

    # Keras' JAX trainer is stateless: it passes the variables' values in
    # and takes them back; the others read and assign the variables.
    train_step = (
        _stateless_train_step
        if keras.backend.backend() == "jax"
        else _stateful_train_step
    )

    def get_config(self):
        config = super().get_config()
        config["model"] = keras.saving.serialize_keras_object(self.model)
        return config

    @classmethod
    def from_config(cls, config):
        # (Deserialising consumes the dict it reads.)
        config = copy.deepcopy(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)
