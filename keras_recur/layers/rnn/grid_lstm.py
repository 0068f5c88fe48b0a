"""Grid LSTM over time and depth (Kalchbrenner, Danihelka & Graves 2015)."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool
from keras_recur.validation import check_one_of
from keras_recur.validation import check_positive_int

# The grid's dimensions, and what `priority` takes.
DIMENSIONS = ("time", "depth")
HIDDEN_FORMS = ("paper", "lstm")


def grid_lstm_transform(z, memory, activation, gate_activation, hidden_form):
    """The paper's `LSTM(H, m, W)` (its section 3.1) from the pre-activations
    `z = H W` (blocks `[i, f, c, o]`, bias included) and the memory `m`:
    `m' = f * m + i * act(c)`, then `h' = act(o * m')` (the paper's
    equation) or, with `hidden_form="lstm"`, `h' = o * act(m')` (the usual
    LSTM's). Returns `(h', m')`."""
    z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
    memory = gate_activation(z_f) * memory + gate_activation(z_i) * activation(
        z_c
    )
    if hidden_form == "paper":
        return activation(gate_activation(z_o) * memory), memory
    return gate_activation(z_o) * activation(memory), memory


@keras.saving.register_keras_serializable(package="keras_recur")
class GridLSTMCell(LSTMCellBase):
    """Cell of the two-dimensional Grid LSTM over time and depth: at each
    step a column of `depth` blocks, block `l` joining the time dimension
    (`h^t`, `m^t`, carried from the previous step at this depth) and the
    depth dimension (`h^d`, `m^d`, from the block below at this step).
    Each dimension runs its own LSTM on the concatenated hidden vectors `H
    = [h^t; h^d]` (section 3.1 of the paper, its `LSTM(H, m, W)`):

    ```
    h^d_0 = x_t I,   m^d_0 = 0
    (h^t_l(t), m^t_l(t)) = LSTM([h^t_l(t-1); h^d_{l-1}], m^t_l(t-1), W^t_l)
    (h^d_l,    m^d_l)    = LSTM([h^t_l(t);   h^d_{l-1}], m^d_{l-1},    W^d_l)
    output = h^d_L
    ```

    where `LSTM(H, m, W)` computes `[i, f, c, o] = H W + b`, `m' =
    sigmoid(f) * m + sigmoid(i) * tanh(c)` and the paper's `h' =
    tanh(sigmoid(o) * m')` (with `hidden_form="lstm"`, the usual `h' =
    sigmoid(o) * tanh(m')`, as `tf.contrib.grid_rnn` had it). As written,
    depth is the priority dimension (section 3.2, as in the paper's
    character models): its LSTM reads the new `h^t_l(t)`. With
    `priority="time"` the time LSTM runs second and reads the new `h^d_l`;
    with `priority=None` both read the incoming `H`. With `tied=True` every
    block shares its dimension's weights (the paper's "tied" Grid LSTM);
    each dimension keeps its own.

    The input enters the depth dimension through the projection `I` (no
    bias; the memory starts at zero), and the output is the top block's
    depth vector `h^d_L`. The states are that output, then each block's
    time vectors from the top down: `[h^d_L, h^t_L, m^t_L, ..., h^t_1,
    m^t_1]`; the step does not read the first (it is carried so that a
    masked step repeats the last output, Keras' rule, as the engine reads
    every cell's output from its first state). Input dropout applies to
    `x_t`, recurrent dropout to every `h^t_l(t-1)` (one mask per sequence,
    shared by the blocks).

    Weights: `input_kernel` (`I`), then for each dimension `dim` (`time`,
    `depth`) and block `l` (0-based; no suffix when tied)
    `{dim}_kernel_{l}`, reading `h^d` (the vector from below),
    `{dim}_recurrent_kernel_{l}`, reading `h^t` (the vector along time),
    and `{dim}_bias_{l}`, blocks `[i, f, c, o]` as Keras' LSTM: the
    paper's `W^dim_l` is the two kernels stacked. So the time LSTM of the
    first block is exactly `keras.layers.LSTM` on `x I` (its kernel,
    recurrent kernel and bias) when `hidden_form="lstm"`.

    Args:
        units: Positive integer, dimensionality of every hidden and memory
            vector.
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default:
            `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Initializer of `input_kernel` and the kernels
            reading `h^d`. Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the kernels reading `h^t`.
            Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: If `True`, each forget gate's bias starts at one.
            Default: `True`.
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Float in [0, 1), dropout of `x_t`. Default: 0.
        recurrent_dropout: Float in [0, 1), dropout of every `h^t_l(t-1)`.
            Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        depth: Positive integer, the number of blocks in a column.
            Default: 2.
        tied: Whether the blocks share their dimension's weights. Default:
            `False`.
        priority: `"depth"`, `"time"` or `None`: the dimension computed
            second, from the other's new hidden vector. Default: `"depth"`.
        hidden_form: `"paper"` (`h' = tanh(o * m')`) or `"lstm"` (`h' = o *
            tanh(m')`). Default: `"paper"`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`, one step.
        states: `[h^d_L, h^t_L, m^t_L, ..., h^t_1, m^t_1]`, each
            `(batch, units)`.
        training: Whether dropout applies.

    Example:

    >>> cell = keras_recur.layers.GridLSTMCell(4, depth=3)
    >>> layer = keras.layers.RNN(cell, return_state=True)
    >>> output, *states = layer(np.ones((2, 5, 3), "float32"))
    >>> tuple(output.shape), len(states)
    ((2, 4), 7)

    Reference:

    - Kalchbrenner, Danihelka & Graves (2015). Grid Long Short-Term
      Memory. <https://arxiv.org/abs/1507.01526>
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        *,
        depth=2,
        tied=False,
        priority="depth",
        hidden_form="paper",
        **kwargs,
    ):
        check_positive_int("depth", depth)
        check_bool("tied", tied)
        check_one_of("priority", priority, (*DIMENSIONS, None))
        check_one_of("hidden_form", hidden_form, HIDDEN_FORMS)
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            **kwargs,
        )
        self.depth = int(depth)
        self.tied = tied
        self.priority = priority
        self.hidden_form = hidden_form
        # The output, then the time dimension's (h, m) per block.
        self.state_count = 1 + 2 * self.depth
        self.state_size = [self.units] * self.state_count

    def build(self, input_shape):
        self.input_kernel = self.add_weight(
            shape=(feature_dim(input_shape), self.units),
            name="input_kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        # blocks[l][dim] = (kernel, recurrent_kernel, bias); tied blocks
        # share one entry.
        self.blocks = []
        for block in range(1 if self.tied else self.depth):
            suffix = "" if self.tied else f"_{block}"
            self.blocks.append(
                {dim: self.dimension_weights(dim, suffix) for dim in DIMENSIONS}
            )
        if self.tied:
            self.blocks *= self.depth
        self.built = True

    def dimension_weights(self, dim, suffix):
        """One dimension's kernel (reading `h^d`), recurrent kernel
        (reading `h^t`) and bias in a block."""
        width = 4 * self.units
        kernel = self.add_weight(
            shape=(self.units, width),
            name=f"{dim}_kernel{suffix}",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name=f"{dim}_recurrent_kernel{suffix}",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        bias = None
        if self.use_bias:
            bias = self.add_weight(
                shape=(width,),
                name=f"{dim}_bias{suffix}",
                initializer=self.bias_weight_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        return kernel, recurrent_kernel, bias

    def project_inputs(self, inputs):
        """`h^d_0 = x_t I` for every step at once; any number of leading
        axes."""
        return backend.matmul(inputs, self.input_kernel)

    def transform(self, block, dim, time_h, depth_h, memory):
        """One dimension's LSTM of a block: `H W + b` with `H = [time_h;
        depth_h]`, then the memory and hidden updates."""
        kernel, recurrent_kernel, bias = self.blocks[block][dim]
        z = backend.matmul(depth_h, kernel) + backend.matmul(
            time_h, recurrent_kernel
        )
        if self.use_bias:
            z = z + bias
        return grid_lstm_transform(
            z,
            memory,
            self.activation,
            self.recurrent_activation,
            self.hidden_form,
        )

    def recurrent_step(self, projected, states, training=False):
        mask = self.recurrent_dropout_mask(states[1], training)
        depth_h, depth_m = projected, ops.zeros_like(projected)
        new_states = []
        for block in range(self.depth):
            # Block l's time (h, m) are states[1 + 2 (L - 1 - l)], and the
            # next.
            index = 1 + 2 * (self.depth - 1 - block)
            time_h, time_m = states[index], states[index + 1]
            if mask is not None:
                time_h = time_h * mask
            if self.priority == "time":
                new_depth = self.transform(
                    block, "depth", time_h, depth_h, depth_m
                )
                new_time = self.transform(
                    block, "time", time_h, new_depth[0], time_m
                )
            else:
                new_time = self.transform(
                    block, "time", time_h, depth_h, time_m
                )
                # Depth's priority: its LSTM reads the new time vector.
                time_read = new_time[0] if self.priority == "depth" else time_h
                new_depth = self.transform(
                    block, "depth", time_read, depth_h, depth_m
                )
            depth_h, depth_m = new_depth
            new_states[:0] = list(new_time)
        return depth_h, [depth_h, *new_states]

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "tied": self.tied,
            "priority": self.priority,
            "hidden_form": self.hidden_form,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class GridLSTM(RecurrentLayer):
    """Two-dimensional Grid LSTM layer (Kalchbrenner et al. 2015): LSTM cells
    along time and along depth, `depth` blocks per step, each block's
    memory carried both to the next step and to the block above (see
    `GridLSTMCell` for the equations). The paper's "2D Grid LSTM" of its
    character-level language models, with tied or untied weights and a
    priority dimension. For the one-dimensional grid (depth alone, the
    paper's parity networks) see `GridLSTM1D`. Takes the cell's arguments
    and `RecurrentLayer`'s (Keras' RNN arguments); every cell argument reads
    on the layer (`layer.tied`). Its states are the last output, then each
    block's time vectors from the top down: `return_state` returns them
    after the output, and `initial_state` takes them in that order.

    Args:
        units: Positive integer, dimensionality of every hidden and memory
            vector.
        activation: Default: `"tanh"`.
        recurrent_activation: Default: `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: Default: `True`.
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        activity_regularizer: Regularizer of the layer's output. Default:
            `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Float in [0, 1), input dropout. Default: 0.
        recurrent_dropout: Float in [0, 1), dropout of each block's
            `h^t(t-1)`. Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        return_sequences: Whether to return every step's output.
            Default: `False`.
        return_state: Whether to return the states after the output.
            Default: `False`.
        go_backwards: Whether to read the sequence backwards. Default:
            `False`.
        stateful: Whether each batch starts from the last one's states.
            Default: `False`.
        unroll: Whether to unroll the loop (TensorFlow, JAX). Default:
            `False`.
        use_cudnn: `"auto"` or `False` (the layer has no fused kernel;
            `True` raises). Default: `"auto"`.
        depth: Positive integer, the number of blocks per step. Default: 2.
        tied: Whether the blocks share their dimension's weights. Default:
            `False`.
        priority: `"depth"`, `"time"` or `None`. Default: `"depth"`.
        hidden_form: `"paper"` or `"lstm"`. Default: `"paper"`.
        **kwargs: Base layer arguments.

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list of `1 + 2 * depth` tensors `(batch,
            units)`, `[h^d_L, h^t_L, m^t_L, ..., h^t_1, m^t_1]` (the first
            is the output before the first step; the step does not read
            it).
        mask: Optional boolean tensor `(batch, timesteps)`.
        training: Whether dropout applies.

    Example:

    >>> layer = keras_recur.GridLSTM(8, depth=3, tied=True)
    >>> outputs = layer(np.ones((2, 5, 3), "float32"))
    >>> tuple(outputs.shape), layer.tied
    ((2, 8), True)

    Reference:

    - Kalchbrenner, Danihelka & Graves (2015). Grid Long Short-Term
      Memory. <https://arxiv.org/abs/1507.01526>
    """

    cell_class = GridLSTMCell

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        *,
        depth=2,
        tied=False,
        priority="depth",
        hidden_form="paper",
        **kwargs,
    ):
        cell = GridLSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            depth=depth,
            tied=tied,
            priority=priority,
            hidden_form=hidden_form,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="grid_lstm_cell",
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
