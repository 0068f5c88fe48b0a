"""Echo state network (Jaeger 2001), as TF-Addons' ESNCell."""

import keras
import numpy as np
from keras import activations
from keras import initializers
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_float
from keras_recur.validation import resolve

# A small sparse reservoir may have no cycle, hence no radius to scale; it is
# drawn again, up to this many times.
_DRAWS = 10


@keras.saving.register_keras_serializable(package="keras_recur")
class ESNCell(RecurrentCell):
    """Cell of the echo state network: a fixed random reservoir.

    ```
    h_t = (1 - leaky) * h_{t-1} + leaky * tanh(x W + h_{t-1} U + b)
    ```

    `U` is a sparse random matrix: each entry kept with probability
    `connectivity`, then scaled so that its spectral radius (largest
    absolute eigenvalue) is `spectral_radius`, or, with `use_norm2`, so that
    its Frobenius norm is (an upper bound of the spectral radius that needs
    no eigenvalues). No weight of the cell is trainable: the reservoir only
    echoes its inputs, and a readout layer after it (`keras.layers.Dense`)
    is what learns. A spectral radius below 1 gives the echo state property
    (the state forgets its start) for most reservoirs. A draw without any
    cycle (spectral radius 0: likely for a few units at low connectivity)
    is drawn again; after 10 such draws, building raises a `ValueError`.

    Weights, in order: `recurrent_kernel` (units, units), `kernel`
    (input_dim, units), `bias` (units,), all non-trainable: the order of
    `tfa.rnn.ESNCell`, whose arguments, with their defaults and positions,
    this cell takes too.

    Args:
        units: Positive integer, the reservoir size.
        connectivity: Float in (0, 1], the probability that a reservoir
            connection exists. Default: 0.1.
        leaky: Float in (0, 1], the leaking rate (1: no leaky integration).
            Default: 1.
        spectral_radius: Positive float, the spectral radius of `U` (its
            Frobenius norm with `use_norm2`). Default: 0.9.
        use_norm2: Scale `U` by its norm rather than by its eigenvalues.
            Default: `False`.
        use_bias: Default: `True`.
        activation: Default: `"tanh"`.
        kernel_initializer: Initializer of the input kernel `W`.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of `U` before sparsification and
            scaling. Default: `"glorot_uniform"`.
        bias_initializer: Default: `"zeros"`.
        seed: Integer seed of which reservoir connections exist (seed
            `recurrent_initializer` too for reproducible values).
            Default: `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h]`, `(batch, units)`.
        training: Unused (no dropout: the reservoir is not trained).

    Example:

    >>> cell = keras_recur.layers.ESNCell(50, spectral_radius=0.8, seed=1)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 50)
    >>> U = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    >>> round(float(np.abs(np.linalg.eigvals(U)).max()), 4)
    0.8
    >>> cell.trainable_weights
    []

    Reference:

    - Jaeger (2001). The "echo state" approach to analysing and training
      recurrent neural networks. GMD Report 148.
      <https://www.ai.rug.nl/minds/uploads/EchoStatesTechRep.pdf>
    """

    def __init__(
        self,
        units,
        connectivity=0.1,
        leaky=1.0,
        spectral_radius=0.9,
        use_norm2=False,
        use_bias=True,
        activation="tanh",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="glorot_uniform",
        bias_initializer="zeros",
        *,
        seed=None,
        **kwargs,
    ):
        check_positive_float("connectivity", connectivity, at_most=1.0)
        check_positive_float("leaky", leaky, at_most=1.0)
        check_positive_float("spectral_radius", spectral_radius)
        check_bool("use_norm2", use_norm2)
        check_bool("use_bias", use_bias)
        activation = resolve("activation", activation)
        kernel_initializer = resolve("kernel_initializer", kernel_initializer)
        recurrent_initializer = resolve(
            "recurrent_initializer", recurrent_initializer
        )
        bias_initializer = resolve("bias_initializer", bias_initializer)
        super().__init__(units, seed=seed, **kwargs)
        self.connectivity = float(connectivity)
        self.leaky = float(leaky)
        self.spectral_radius = float(spectral_radius)
        self.use_norm2 = use_norm2
        self.use_bias = use_bias
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        input_dim = feature_dim(input_shape)
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            name="recurrent_kernel",
            initializer=self.reservoir_initializer,
            trainable=False,
        )
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            trainable=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                trainable=False,
            )
        self.built = True

    def reservoir_initializer(self, shape, dtype=None):
        """`recurrent_initializer`'s matrix, sparsified to `connectivity` and
        scaled to `spectral_radius`."""
        for _ in range(_DRAWS):
            dense = self.recurrent_initializer(shape, dtype="float32")
            kept = keras.random.uniform(shape, seed=self.seed_generator)
            sparse = ops.where(kept < self.connectivity, dense, 0.0)
            # Eigenvalues of a non-symmetric matrix: JAX computes them on
            # CPU only, so NumPy (float64) does, once, when the cell is built.
            reservoir = ops.convert_to_numpy(sparse).astype("float64")
            if self.use_norm2:
                radius = np.linalg.norm(reservoir)
            else:
                radius = np.abs(np.linalg.eigvals(reservoir)).max()
            if radius > 0.0:
                scaled = reservoir * (self.spectral_radius / radius)
                return ops.convert_to_tensor(scaled, dtype=dtype)
        raise ValueError(
            f"{_DRAWS} reservoirs drawn had no cycle (spectral radius 0), so "
            f"no scaling gives them spectral_radius={self.spectral_radius}: "
            "raise `units` or `connectivity`, or check "
            "`recurrent_initializer`. Received: "
            f"units={self.units}, connectivity={self.connectivity}"
        )

    def project_inputs(self, inputs):
        """`x W + b`, the part of the echo known before the loop."""
        projected = backend.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.bias
        return projected

    def recurrent_step(self, projected, states, training=False):
        h_prev = states[0]
        echo = self.activation(
            projected + backend.matmul(h_prev, self.recurrent_kernel)
        )
        h = (1.0 - self.leaky) * h_prev + self.leaky * echo
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "connectivity": self.connectivity,
            "leaky": self.leaky,
            "spectral_radius": self.spectral_radius,
            "use_norm2": self.use_norm2,
            "use_bias": self.use_bias,
            "activation": activations.serialize(self.activation),
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "recurrent_initializer": initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class EchoStateNetwork(RecurrentLayer):
    """Echo state network layer (Jaeger 2001), as `tfa.layers.ESN`.

    A fixed sparse random reservoir (see `ESNCell`); put a trainable readout
    after it. Takes `ESNCell`'s arguments (those of TF-Addons' ESN, in its
    order) and `RecurrentLayer`'s, and every cell argument reads on the
    layer (`layer.spectral_radius`). Trains in a fraction of a trained
    cell's time: only the readout has gradients.

    Args:
        units: Positive integer, the reservoir size.
        connectivity: Float in (0, 1], the probability that a reservoir
            connection exists. Default: 0.1.
        leaky: Float in (0, 1], the leaking rate. Default: 1.
        spectral_radius: Positive float, the spectral radius of the
            reservoir. Default: 0.9.
        use_norm2: Scale the reservoir by its norm. Default: `False`.
        use_bias: Default: `True`.
        activation: Default: `"tanh"`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"glorot_uniform"`.
        bias_initializer: Default: `"zeros"`.
        seed: Integer seed of which reservoir connections exist.
            Default: `None`.
        return_sequences: Return the whole output sequence rather than the
            last output. Default: `False`.
        return_state: Also return the final states. Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed
            sequence. Default: `False`.
        stateful: Use each batch's final states as the next batch's initial
            states (needs a fixed batch size). Default: `False`.
        unroll: Unroll the loop (needs a fixed number of steps).
            Default: `False`.
        activity_regularizer: Regularizer of the layer's output.
            Default: `None`.
        use_cudnn: `"auto"` (default) and `False` run the general loop (no
            fused kernel serves this cell), so `True` raises a `ValueError`
            saying so.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`) and
            `zero_output_for_mask`.

    Call arguments:
        inputs: A 3D tensor `(batch, timesteps, features)`.
        mask: Optional boolean `(batch, timesteps)`; `False` steps are
            skipped (the state is carried over).
        training: Unused by the reservoir (kept for the Keras interface).
        initial_state: Optional list `[h]` of one `(batch, units)` tensor.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((None, 1)),
    ...     keras_recur.layers.EchoStateNetwork(100, leaky=0.5, seed=0),
    ...     keras.layers.Dense(1),
    ... ])
    >>> len(model.layers[0].trainable_weights), len(model.trainable_weights)
    (0, 2)

    Reference:

    - Jaeger (2001). The "echo state" approach to analysing and training
      recurrent neural networks. GMD Report 148.
      <https://www.ai.rug.nl/minds/uploads/EchoStatesTechRep.pdf>
    """

    cell_class = ESNCell

    def __init__(
        self,
        units,
        connectivity=0.1,
        leaky=1.0,
        spectral_radius=0.9,
        use_norm2=False,
        use_bias=True,
        activation="tanh",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="glorot_uniform",
        bias_initializer="zeros",
        *,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        activity_regularizer=None,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = ESNCell(
            units,
            connectivity=connectivity,
            leaky=leaky,
            spectral_radius=spectral_radius,
            use_norm2=use_norm2,
            use_bias=use_bias,
            activation=activation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="esn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            use_cudnn=use_cudnn,
            **kwargs,
        )
