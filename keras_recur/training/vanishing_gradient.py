"""Pascanu, Mikolov & Bengio's (2013) regulariser against vanishing
gradients: it asks each step of a recurrent layer to preserve the norm of
the error signal it passes back."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur import validation
from keras_recur.training.trainer import ModelTrainer


class _ProbedCell(keras.layers.Layer):
    """`cell`, with a perturbation (zero) added to each new state, and its
    whole state as its output: the gradient of a loss with respect to the
    perturbation of step `k` is the loss's total derivative with respect
    to the state after step `k`."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.state_size = cell.state_size
        self.state_sizes = keras.tree.flatten(cell.state_size)
        self.output_size = sum(self.state_sizes)

    def call(self, inputs, states, training=False):
        features = ops.shape(inputs)[-1] - self.output_size
        step_inputs, probes = inputs[..., :features], inputs[..., features:]
        _, new_states = self.cell(step_inputs, states, training=training)
        new_states = keras.tree.flatten(new_states)
        offsets = [0]
        for size in self.state_sizes:
            offsets.append(offsets[-1] + size)
        new_states = [
            state + probes[..., start:end]
            for state, start, end in zip(new_states, offsets, offsets[1:])
        ]
        return ops.concatenate(new_states, axis=-1), new_states


@keras.saving.register_keras_serializable(package="keras_recur")
class VanishingGradientRegularization(ModelTrainer):
    """Trains a Keras model with Pascanu et al.'s vanishing-gradient
    regulariser added to its loss's gradient.

    For each regularised recurrent layer, with `x_k` its state after step
    `k` (all its state tensors together) and `E` the loss,

        Omega = mean over the terms of
                (||dE/dx_k . dx_k/dx_{k-1}|| / ||dE/dx_k|| - 1) ** 2,

    one term per example and step `k = 1 ... T` (`dE/dx_k` the total
    derivative, through every later step). Omega is small when each step
    passes the error signal back with its norm kept. As the paper defines
    it, its gradient is taken with respect to the recurrent weights only
    (each layer's cell's `recurrent_kernel`), with `x_{k-1}` and `dE/dx_k`
    held constant; `strength` times it is added to the loss's gradient,
    which the compiled optimizer then applies. The paper pairs it with
    clipping the gradient by its global norm: `global_clipnorm` of Keras'
    optimizers (`clipnorm` clips each variable on its own).

    As the authors' code, terms whose `||dE/dx_k|| ** 2` is below
    `gradient_floor` are left out (their ratio is noise), and Omega is the
    mean over the terms kept (the paper writes a sum over `k`; the mean
    keeps one `strength` across lengths). Omega is logged as `omega`.
    Masks are not supported (the regularised layer must read one
    unmasked sequence).

    Args:
        model: the Keras model to train, built, Sequential or functional.
        strength: the regulariser's weight (the paper's alpha).
        recurrent_layers: the recurrent layers (or their names) to
            regularise, each a `keras.layers.RNN` (any keras_recur or Keras
            recurrent layer) whose cell has a `recurrent_kernel`. `None`:
            every such layer of `model`.
        gradient_floor: terms whose squared error-signal norm is below it
            are left out.
        **kwargs: `keras.Model`'s (`name`).

    Call arguments:
        inputs: the wrapped model's inputs.

    Example:

    >>> inputs = keras.Input((10, 1))
    >>> states = keras.layers.SimpleRNN(8, return_sequences=True)(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(states[:, -1]))
    >>> trainer = keras_recur.training.VanishingGradientRegularization(
    ...     model, strength=2.0
    ... )
    >>> trainer.compile(
    ...     optimizer=keras.optimizers.SGD(0.01, global_clipnorm=1.0),
    ...     loss="mse",
    ... )
    >>> x = np.random.default_rng(0).uniform(size=(64, 10, 1))
    >>> history = trainer.fit(x, x.sum(axis=1), epochs=2, verbose=0)
    >>> sorted(history.history)
    ['loss', 'omega']

    `model`, trained in place, is the one to save.

    Reference:

    - Pascanu, Mikolov & Bengio (2013). On the difficulty of training
      recurrent neural networks (ICML).
      <https://arxiv.org/abs/1211.5063>
    """

    def __init__(
        self,
        model,
        strength=1.0,
        recurrent_layers=None,
        gradient_floor=1e-20,
        **kwargs,
    ):
        super().__init__(model, **kwargs)
        validation.check_non_negative_float("strength", strength)
        validation.check_non_negative_float("gradient_floor", gradient_floor)
        layers = self._recurrent_layers(model, recurrent_layers)
        self._strength = float(strength)
        self._recurrent_layer_names = [layer.name for layer in layers]
        self._gradient_floor = float(gradient_floor)
        self.omega_tracker = keras.metrics.Mean(name="omega")
        # Per layer: the model up to its input, its probed copy (the same
        # cell and weights), and the model after it.
        self._parts = []
        for layer in layers:
            before = (
                None
                if any(layer.input is i for i in model.inputs)
                else keras.Model(model.inputs, layer.input)
            )
            after = (
                None
                if layer.output is model.outputs[0]
                else keras.Model(layer.output, model.outputs[0])
            )
            probed = keras.layers.RNN(
                _ProbedCell(layer.cell), return_sequences=True
            )
            *batch_time, features = layer.input.shape
            probed.build((*batch_time, features + probed.cell.output_size))
            self._parts.append((layer, before, probed, after))

    @staticmethod
    def _recurrent_layers(model, recurrent_layers):
        if not getattr(model, "inputs", None) or len(model.outputs) != 1:
            raise ValueError(
                "The regulariser reads the recurrent layers' states inside "
                "a Sequential or functional model with one output. "
                f"Received: model={model.name!r}"
            )
        if recurrent_layers is None:
            layers = [
                layer
                for layer in model.layers
                if isinstance(layer, keras.layers.RNN)
                and hasattr(layer.cell, "recurrent_kernel")
            ]
            if not layers:
                raise ValueError(
                    f"`model` {model.name!r} has no keras.layers.RNN whose "
                    "cell has a `recurrent_kernel`. Received: "
                    "recurrent_layers=None"
                )
        else:
            layers = [
                model.get_layer(layer) if isinstance(layer, str) else layer
                for layer in recurrent_layers
            ]
        for layer in layers:
            problem = None
            if not isinstance(layer, keras.layers.RNN):
                problem = "is not a keras.layers.RNN"
            elif not hasattr(layer.cell, "recurrent_kernel"):
                problem = "has a cell without a `recurrent_kernel`"
            elif layer.go_backwards or layer.stateful:
                problem = "runs backwards or is stateful"
            elif len(keras.tree.flatten(layer.input)) != 1:
                problem = "reads more than one sequence (a mask)"
            if problem:
                raise ValueError(
                    f"The regulariser cannot read layer {layer.name!r}: it "
                    f"{problem}. Received: recurrent_layers with "
                    f"{layer.name!r}"
                )
        return layers

    @property
    def strength(self):
        return self._strength

    @property
    def recurrent_layers(self):
        return list(self._recurrent_layer_names)

    @property
    def gradient_floor(self):
        return self._gradient_floor

    def omega(self, x, y, sample_weight=None):
        """Omega at the current weights on a batch, and its gradient with
        respect to each regularised layer's recurrent kernel (a list, in
        `recurrent_layers`' order)."""
        omega, gradients = self._at_current_weights(
            self._omega_and_gradients, x, y, sample_weight
        )
        return omega, [
            gradients[id(layer.cell.recurrent_kernel)]
            for layer, *_ in self._parts
        ]

    def _omega_and_gradients(
        self, trainable, non_trainable, x, y, sample_weight
    ):
        """Omega (the mean of every layer's) and its gradient by
        recurrent kernel (`id` of the variable)."""
        mapping = self._mapping(trainable, non_trainable)
        omegas, gradients = [], {}
        for part in self._parts:
            kernel = part[0].cell.recurrent_kernel
            position = next(
                i for i, v in enumerate(self.trainable_variables) if v is kernel
            )
            omega, gradients[id(kernel)] = self._layer_omega_and_gradient(
                part, mapping, trainable[position], x, y, sample_weight
            )
            omegas.append(omega)
        return ops.mean(ops.stack(omegas)), gradients

    def _layer_omega_and_gradient(
        self, part, mapping, kernel_value, x, y, sample_weight
    ):
        sequence, previous, signals = self._states_and_signals(
            part, mapping, x, y, sample_weight
        )
        layer = part[0]
        kernel = layer.cell.recurrent_kernel

        def layer_omega(value):
            kernel_mapping = [
                (v, value[0] if v is kernel else given) for v, given in mapping
            ]
            return self._layer_omega(
                layer, kernel_mapping, sequence, previous, signals
            )

        omega, pullback = backend.vjp(layer_omega, [kernel_value])
        return omega, pullback(ops.ones_like(omega))[0]

    def _states_and_signals(self, part, mapping, x, y, sample_weight):
        """A layer's input sequence, its states before each step (x_{k-1})
        and the error signals after each (dE/dx_k), from its probed copy."""
        layer, before, probed, after = part
        with keras.StatelessScope(state_mapping=mapping):
            sequence = x if before is None else before(x, training=False)
        sequence = ops.convert_to_tensor(sequence)
        probes = ops.zeros(
            (*ops.shape(sequence)[:2], probed.cell.output_size),
            dtype=sequence.dtype,
        )

        def loss_and_states(perturbation):
            with keras.StatelessScope(state_mapping=mapping):
                states = probed(
                    ops.concatenate([sequence, perturbation[0]], axis=-1),
                    training=False,
                )
                outputs = states[..., : probed.cell.state_sizes[0]]
                if not layer.return_sequences:
                    outputs = outputs[:, -1]
                y_pred = (
                    outputs if after is None else after(outputs, training=False)
                )
            return self._loss(x, y, y_pred, sample_weight), states

        (_, states), pullback = backend.vjp(loss_and_states, [probes])
        signals = pullback((ops.ones(()), ops.zeros_like(states)))[0]
        # x_{k-1}: the initial (zero) state, then every state but the last.
        previous = ops.concatenate(
            [ops.zeros_like(states[:, :1]), states[:, :-1]], axis=1
        )
        return sequence, previous, signals

    def _layer_omega(self, layer, mapping, sequence, previous, signals):
        """One layer's Omega as a function of its recurrent kernel, the
        states and error signals held constant."""
        sizes = keras.tree.flatten(layer.cell.state_size)
        total = sum(sizes)
        rows = ops.shape(sequence)[0] * ops.shape(sequence)[1]
        inputs = ops.reshape(sequence, (rows, ops.shape(sequence)[-1]))
        before = ops.reshape(previous, (rows, total))
        signal = ops.reshape(signals, (rows, total))

        def split(state):
            parts, start = [], 0
            for size in sizes:
                parts.append(state[:, start : start + size])
                start += size
            return parts

        def step(state):
            with keras.StatelessScope(state_mapping=mapping):
                _, new_states = layer.cell(
                    inputs, split(state[0]), training=False
                )
            return ops.concatenate(keras.tree.flatten(new_states), axis=-1)

        _, pullback = backend.vjp(step, [before])
        carried = pullback(signal)[0]
        carried_norm = ops.sum(carried**2, axis=-1)
        signal_norm = ops.sum(signal**2, axis=-1)
        kept = signal_norm >= self._gradient_floor
        # (Safe values where a term is left out: no 0/0 in the gradient.)
        ratio = ops.sqrt(
            ops.where(kept, carried_norm, 1.0)
            / ops.where(kept, signal_norm, 1.0)
        )
        terms = ops.where(kept, (ratio - 1.0) ** 2, 0.0)
        count = ops.maximum(ops.sum(ops.cast(kept, terms.dtype)), 1.0)
        return ops.sum(terms) / count

    def _step(self, trainable, non_trainable, x, y, sample_weight):
        loss, gradients, y_pred = self._loss_and_gradient(
            trainable, non_trainable, x, y, sample_weight
        )
        omega, omega_gradients = self._omega_and_gradients(
            trainable, non_trainable, x, y, sample_weight
        )
        gradients = [
            g + self._strength * omega_gradients[id(v)]
            if id(v) in omega_gradients
            else g
            for g, v in zip(gradients, self.trainable_variables)
        ]
        return gradients, loss, y_pred, {"omega": omega}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "strength": self._strength,
                "recurrent_layers": self.recurrent_layers,
                "gradient_floor": self._gradient_floor,
            }
        )
        return config
