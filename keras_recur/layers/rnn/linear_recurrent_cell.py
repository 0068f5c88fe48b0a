"""The bases of the cells whose recurrence is linear in the state,
`h_t = a_t * h_{t-1} + b_t` with `a_t`, `b_t` computed from `x_t` alone, so
that a whole sequence runs as one scan (`keras_recur.backend`)."""

from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_recur import backend
from keras_recur.backend import linear
from keras_recur.backend.pairs import map_parts
from keras_recur.backend.pairs import parts
from keras_recur.layers.rnn import recurrence
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.validation import check_bool
from keras_recur.validation import check_one_of
from keras_recur.validation import check_rate
from keras_recur.validation import resolve


class LinearRecurrentCell(RecurrentCell):
    """Base of the cells linear in their state (not used directly): MinGRU,
    MinLSTM and the LRU.

    Holds `dropout` (of the inputs: a dropout of `h_{t-1}` would not leave
    the recurrence linear in `x` alone) and `scan`, which of
    `keras_recur.backend.linear_recurrence`'s scans runs a whole sequence
    in the cell's `fused_recurrence`: `"parallel"`, `"sequential"`, or
    `"auto"`, the faster one measured for the device
    (`keras_recur.backend.auto_scan`). Stepped once (`keras.layers.RNN`, a
    decoder), the cell computes the same recurrence one step at a time.

    Args:
        units: Positive integer, dimensionality of the output space.
        dropout: Float in [0, 1): fraction of the inputs dropped, one mask
            per sequence. Default: 0.
        seed: Integer seed of the cell's random draws. Default: `None`.
        scan: `"auto"`, `"parallel"` or `"sequential"`. Default: `"auto"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: The list of state tensors.
        training: Whether dropout is applied.

    Example:

    >>> cell = keras_recur.layers.MinGRUCell(4)
    >>> isinstance(cell, keras_recur.layers.LinearRecurrentCell)
    True
    >>> cell.scan, cell.scan_for(np.zeros((2, 5, 3), "float32"))  # on a CPU
    ('auto', 'sequential')
    """

    # Whether the state is complex (pairs of real tensors), which
    # `keras_recur.backend.auto_scan` weighs.
    complex_state = False
    # Whether `sequence_coefficients` gives logs, for the log-space scan.
    log_space = False
    # `readout(hidden, inputs) -> y`, for a cell whose output is not its
    # state (the LRU's), or None: the output is the state.
    readout = None

    def __init__(self, units, dropout=0.0, seed=None, scan="auto", **kwargs):
        check_rate("dropout", dropout)
        check_one_of("scan", scan, backend.SCAN_CHOICES)
        super().__init__(units, seed=seed, **kwargs)
        self.dropout = float(dropout)
        self.scan = scan

    def sequence_coefficients(self, inputs):
        """`(a_t, b_t)` of every step of `inputs` (batch, time, features)
        (their logs with `log_space`); `a` may be (units,), the same at
        every step, and either may be a pair `(real, imag)`."""
        raise NotImplementedError

    def recurrence_state(self, states):
        """Of the cell's states, the `h` of `h_t = a_t * h_{t-1} + b_t`:
        the first state, here."""
        return states[0]

    def fused_linear_recurrence(
        self, inputs, initial_states, mask, training, return_sequences=True
    ):
        """The whole sequence as one linear recurrence, a subclass's
        `fused_recurrence` (`fused_recurrence =
        LinearRecurrentCell.fused_linear_recurrence`, so that the engine
        checks the step it pairs with: see
        `keras_recur.layers.rnn.recurrence`), then, where the
        output is not the state, the engine's `read_out` (the mask rule of
        the outputs). The states are the output, where there is a readout,
        then the recurrence's states."""
        coefficients = self.sequence_coefficients
        if not training:
            # Inference: on TensorFlow one XLA kernel instead of an
            # operation per line over whole sequences (MinLSTM at 1,000
            # steps: 54 -> 40 ms); XLA's gradient of the products is the
            # slower, so training keeps TensorFlow's.
            coefficients = backend.compiled(self.sequence_coefficients)
        a, b = coefficients(inputs)
        run = backend.linear_recurrence
        if self.log_space:
            run = backend.log_linear_recurrence
        hidden = run(
            a,
            b,
            self.recurrence_state(initial_states),
            mask=mask,
            scan=self.scan_for(inputs),
            return_sequences=return_sequences,
        )
        last = hidden
        if return_sequences:
            last = map_parts(lambda p: p[:, -1], hidden)
        if self.readout is None:
            return (hidden if return_sequences else None), [last]
        outputs, last_output = recurrence.read_out(
            self.readout,
            hidden,
            inputs,
            mask,
            initial_states[0],
            return_sequences,
        )
        return outputs, [last_output, *parts(last)]

    def scan_for(self, inputs):
        """The scan that runs `inputs`: `scan`, with `"auto"` resolved;
        `"parallel"` needs a known number of steps (a graph traced for
        sequences of any length has none)."""
        if self.scan == "auto":
            return backend.auto_scan(inputs, self.complex_state)
        if self.scan == "parallel":
            # Here, where the message can show the layer's inputs.
            linear.require_known_steps(inputs, "inputs")
        return self.scan

    def get_config(self):
        return {
            **super().get_config(),
            "dropout": self.dropout,
            "scan": self.scan,
        }


def g(x):
    """The minGRU paper's positive candidate (its Appendix B): `x + 0.5`
    for `x >= 0`, `sigmoid(x)` below; continuous, with slope 1/4 and 1."""
    return ops.where(x >= 0, x + 0.5, ops.sigmoid(x))


def log_g(x):
    """`log g(x)`, computed without forming `g(x)` below 0."""
    return ops.where(x >= 0, ops.log(ops.relu(x) + 0.5), -ops.softplus(-x))


class MinimalGatesCell(LinearRecurrentCell):
    """Base of the minimal cells of Feng et al. 2024 (not used directly):
    gates and candidate from `x_t W + b` alone, `gate_count` blocks of
    `units` (MinGRU's `[z, h]`, MinLSTM's `[f, i, h]`).

    A subclass sets `gate_count` and writes `coefficients(projected)`, the
    `(a_t, b_t)` of `h_t = a_t * h_{t-1} + b_t` from the tuple of projected
    blocks, and `log_coefficients`,
    their logs for `log_space`. With `log_space` the candidate goes through
    `g` (positive, so that every state is) and the parallel scan runs in
    log space (the paper's Appendix B), for long sequences.

    Args:
        units: Positive integer, dimensionality of the output space.
        use_bias: Whether the cell uses a bias vector. Default: `True`.
        kernel_initializer: Initializer of the kernel.
            Default: `"glorot_uniform"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        kernel_regularizer: Regularizer of the kernel. Default: `None`.
        bias_regularizer: Regularizer of the bias. Default: `None`.
        kernel_constraint: Constraint of the kernel. Default: `None`.
        bias_constraint: Constraint of the bias. Default: `None`.
        dropout: Float in [0, 1): fraction of the inputs dropped, one mask
            per sequence. Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        log_space: The paper's log-space variant. Default: `False`.
        scan: `"auto"`, `"parallel"` or `"sequential"`. Default: `"auto"`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h]`, `(batch, units)`.
        training: Whether dropout is applied.

    Example:

    An exponential moving average of `x W + b`, `h_t = 0.5 h_{t-1} +
    0.5 (x_t W + b)`, run as one scan:

    >>> class Average(keras_recur.layers.MinimalGatesCell):
    ...     gate_count = 1
    ...     def coefficients(self, projected):
    ...         (k,) = projected
    ...         return keras.ops.full_like(k, 0.5), 0.5 * k
    >>> layer = keras_recur.layers.RecurrentLayer(
    ...     Average(4), return_sequences=True
    ... )
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    """

    gate_count = None
    # Its fused recurrence runs the scan of the subclass's own
    # `project_inputs` and `coefficients`: only a new step or recurrent
    # input would leave it computing another model.
    fused_recurrence = LinearRecurrentCell.fused_linear_recurrence
    fused_recurrence_assumes = ("recurrent_input", "recurrent_step")

    def __init__(
        self,
        units,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        seed=None,
        *,
        log_space=False,
        scan="auto",
        **kwargs,
    ):
        check_bool("use_bias", use_bias)
        check_bool("log_space", log_space)
        kernel_initializer = resolve("kernel_initializer", kernel_initializer)
        bias_initializer = resolve("bias_initializer", bias_initializer)
        kernel_regularizer = resolve("kernel_regularizer", kernel_regularizer)
        bias_regularizer = resolve("bias_regularizer", bias_regularizer)
        kernel_constraint = resolve("kernel_constraint", kernel_constraint)
        bias_constraint = resolve("bias_constraint", bias_constraint)
        super().__init__(units, dropout=dropout, seed=seed, scan=scan, **kwargs)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.log_space = log_space

    def build(self, input_shape):
        width = self.gate_count * self.units
        self.kernel = self.add_weight(
            shape=(feature_dim(input_shape), width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def project_inputs(self, inputs):
        """`x W + b` of each block, a tuple; any number of leading axes.
        One product per block: splitting one wide product copies both
        halves (on TensorFlow, a 1,000-step inference spent a quarter of
        its time there)."""
        blocks = []
        for start in range(0, self.gate_count * self.units, self.units):
            block = backend.matmul(
                inputs, self.kernel[:, start : start + self.units]
            )
            if self.use_bias:
                block = block + self.bias[start : start + self.units]
            blocks.append(block)
        return tuple(blocks)

    def candidate(self, preactivation):
        """`h~`: linear, or `g` of it in log space."""
        return g(preactivation) if self.log_space else preactivation

    def coefficients(self, projected):
        """`(a_t, b_t)` from the projected inputs (the tuple of blocks)."""
        raise NotImplementedError

    def log_coefficients(self, projected):
        """`(log a_t, log b_t)`, for `log_space`."""
        raise NotImplementedError

    def recurrent_step(self, projected, states, training=False):
        a, b = self.coefficients(projected)
        h = a * states[0] + b
        return h, [h]

    def sequence_coefficients(self, inputs):
        """`(a_t, b_t)` of every step of `inputs` (their logs in log
        space): the projection, then `coefficients` (or
        `log_coefficients`)."""
        projected = self.project_inputs(inputs)
        if self.log_space:
            return self.log_coefficients(projected)
        return self.coefficients(projected)

    def get_config(self):
        return {
            **super().get_config(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "log_space": self.log_space,
        }
