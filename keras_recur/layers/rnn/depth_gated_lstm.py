"""Depth-Gated LSTM (Yao, Cohn, Vylomova, Duh & Dyer 2015)."""

import keras
from keras import ops

from keras_recur import backend
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.lstm_cell_base import PeepholeWeights
from keras_recur.layers.rnn.recurrent_cell import feature_dim
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.layers.rnn.recurrent_layer import reads_cell_arguments
from keras_recur.validation import check_bool
from keras_recur.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_recur")
class DepthGatedLSTMCell(PeepholeWeights, LSTMCellBase):
    """Cell of the Depth-Gated LSTM: a stack of `depth` LSTM layers whose
    memory cells are linked across depth, at the same step, by a depth gate.
    Layer `l` reads `x^l` (the input for `l = 1`, else `h_t^{l-1}`):

    ```
    i = sigmoid(x^l W_i + h_{t-1}^l U_i + b_i [+ p_i * c_{t-1}^l])
    f = sigmoid(x^l W_f + h_{t-1}^l U_f + b_f [+ p_f * c_{t-1}^l])
        (f = 1 - i with coupled_forget_gate)
    g = tanh(x^l W_c + h_{t-1}^l U_c + b_c)
    d = sigmoid(x^l W_d + b_d + w_cd * c_{t-1}^l + w_ld * c_t^{l-1})
    c_t^l = f * c_{t-1}^l + i * g + d * c_t^{l-1}
    o = sigmoid(x^l W_o + h_{t-1}^l U_o + b_o [+ p_o * c_t^l])
    h_t^l = o * tanh(c_t^l)
    ```

    The depth gate `d` (diagonal weights `w_cd`, `w_ld`) lets the lower
    layer's memory flow straight into the upper one's. The first layer has
    no lower memory: in the paper's form it is a plain LSTM; with
    `input_depth_gate` its depth gate (without the `w_ld` term) carries a
    projection of the input instead, `d * (x_t W_x0)`, as the authors' code
    (DyNet's `dglstm.cc`) does. That code also couples the forget gate (`f
    = 1 - i`) and has peepholes: `coupled_forget_gate=True,
    use_peepholes=True, input_depth_gate=True` is its form, with two
    differences: its peepholes are full matrices (here diagonal, as Gers et
    al.'s and the other keras_recur cells'), and it scales each layer's
    input by a learned scalar (a self-stabiliser, initially 1; none here).
    The defaults follow the paper's equations over Keras' LSTM: separate
    forget gate, no peepholes, no first-layer depth gate.

    The output is the top layer's `h`. The states are each layer's `(h,
    c)` from the top down, `[h^L, c^L, ..., h^1, c^1]`, so that a depth-1
    cell's are an LSTM's `[h, c]`. Input dropout applies to the first
    layer's input, recurrent dropout to every layer's `h_{t-1}` (one mask
    per sequence, shared by the layers).

    Weights, per layer `l` (0-based in the names): `kernel_l` (blocks `[i,
    f, c, o, d]`, `f` absent when coupled, `d` absent on the first layer
    unless `input_depth_gate`), `recurrent_kernel_l` (`[i, f, c, o]`),
    `bias_l`, the peepholes `{input,forget,output}_gate_peephole_weights_l`
    (with `use_peepholes`; no forget one when coupled), the depth gate's
    `depth_gate_cell_weights_l` (`w_cd`) and, above the first layer,
    `depth_gate_lower_weights_l` (`w_ld`); then `input_depth_kernel`
    (`W_x0`) with `input_depth_gate`.

    Args:
        units: Positive integer, dimensionality of each layer's state.
        activation: Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default:
            `"sigmoid"`.
        use_bias: Default: `True`.
        kernel_initializer: Initializer of the input kernels (and of
            `input_depth_kernel`). Default: `"glorot_uniform"`.
        recurrent_initializer: Default: `"orthogonal"`.
        bias_initializer: Default: `"zeros"`.
        unit_forget_bias: If `True`, the forget gate's bias starts at one;
            with `coupled_forget_gate`, the input gate's starts at minus
            one (the same initial `f = sigmoid(1)`). Default: `True`.
        kernel_regularizer: Default: `None`.
        recurrent_regularizer: Default: `None`.
        bias_regularizer: Default: `None`.
        kernel_constraint: Default: `None`.
        recurrent_constraint: Default: `None`.
        bias_constraint: Default: `None`.
        dropout: Float in [0, 1), dropout of the first layer's input.
            Default: 0.
        recurrent_dropout: Float in [0, 1), dropout of every layer's
            `h_{t-1}`. Default: 0.
        seed: Integer seed of the dropout masks. Default: `None`.
        depth: Positive integer, the number of layers. Default: 2.
        coupled_forget_gate: Whether `f = 1 - i` (the authors' code).
            Default: `False`.
        use_peepholes: Whether the input and forget gates see `c_{t-1}`
            and the output gate `c_t`, through diagonal weights. Default:
            `False`.
        input_depth_gate: Whether the first layer's depth gate carries `x_t
            W_x0` into its memory (the authors' code). Default: `False`.
        peephole_initializer: Initializer of the diagonal weights (the
            peepholes and the depth gate's `w_cd` and `w_ld`). Default:
            `"glorot_uniform"`.
        peephole_regularizer: Their regularizer. Default: `None`.
        peephole_constraint: Their constraint. Default: `None`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`, one step.
        states: `[h^L, c^L, ..., h^1, c^1]`, each `(batch, units)`.
        training: Whether dropout applies.

    Example:

    >>> cell = keras_recur.layers.DepthGatedLSTMCell(4, depth=3)
    >>> layer = keras.layers.RNN(cell, return_state=True)
    >>> output, *states = layer(np.ones((2, 5, 3), "float32"))
    >>> tuple(output.shape), len(states)
    ((2, 4), 6)

    Reference:

    - Yao, Cohn, Vylomova, Duh & Dyer (2015). Depth-Gated LSTM.
      <https://arxiv.org/abs/1508.03790>
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
        coupled_forget_gate=False,
        use_peepholes=False,
        input_depth_gate=False,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        check_positive_int("depth", depth)
        check_bool("coupled_forget_gate", coupled_forget_gate)
        check_bool("use_peepholes", use_peepholes)
        check_bool("input_depth_gate", input_depth_gate)
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
            peephole_initializer=peephole_initializer,
            peephole_regularizer=peephole_regularizer,
            peephole_constraint=peephole_constraint,
            **kwargs,
        )
        self.depth = int(depth)
        self.coupled_forget_gate = coupled_forget_gate
        self.use_peepholes = use_peepholes
        self.input_depth_gate = input_depth_gate
        # (h, c) per layer.
        self.state_count = 2 * self.depth
        self.state_size = [self.units] * self.state_count

    @property
    def gates(self):
        """The gate blocks of the recurrent kernels, in order."""
        return ("i", "c", "o") if self.coupled_forget_gate else "ifco"

    @property
    def gate_count(self):
        return len(self.gates)

    @property
    def peephole_gates(self):
        if not self.use_peepholes:
            return ()
        if self.coupled_forget_gate:
            return ("input", "output")
        return ("input", "forget", "output")

    def has_depth_gate(self, layer):
        return layer > 0 or self.input_depth_gate

    def build(self, input_shape):
        input_dim = feature_dim(input_shape)
        self.kernels, self.recurrent_kernels, self.biases = [], [], []
        self.peepholes, self.depth_gate_weights = [], []
        for layer in range(self.depth):
            blocks = self.gate_count + self.has_depth_gate(layer)
            self.kernels.append(
                self.add_weight(
                    shape=(input_dim if layer == 0 else self.units,)
                    + (blocks * self.units,),
                    name=f"kernel_{layer}",
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                    constraint=self.kernel_constraint,
                )
            )
            self.recurrent_kernels.append(
                self.add_weight(
                    shape=(self.units, self.gate_count * self.units),
                    name=f"recurrent_kernel_{layer}",
                    initializer=self.recurrent_initializer,
                    regularizer=self.recurrent_regularizer,
                    constraint=self.recurrent_constraint,
                )
            )
            bias = None
            if self.use_bias:
                bias = self.add_weight(
                    shape=(blocks * self.units,),
                    name=f"bias_{layer}",
                    initializer=self.layer_bias_initializer(blocks),
                    regularizer=self.bias_regularizer,
                    constraint=self.bias_constraint,
                )
            self.biases.append(bias)
            self.peepholes.append(
                {
                    gate: self.diagonal_weight(
                        f"{gate}_gate_peephole_weights_{layer}"
                    )
                    for gate in self.peephole_gates
                }
            )
            depth_gate = {}
            if self.has_depth_gate(layer):
                depth_gate["cell"] = self.diagonal_weight(
                    f"depth_gate_cell_weights_{layer}"
                )
                if layer > 0:
                    depth_gate["lower"] = self.diagonal_weight(
                        f"depth_gate_lower_weights_{layer}"
                    )
            self.depth_gate_weights.append(depth_gate)
        self.input_depth_kernel = None
        if self.input_depth_gate:
            self.input_depth_kernel = self.add_weight(
                shape=(input_dim, self.units),
                name="input_depth_kernel",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        self.built = True

    def diagonal_weight(self, name):
        return self.add_weight(
            shape=(self.units,),
            name=name,
            initializer=self.peephole_initializer,
            regularizer=self.peephole_regularizer,
            constraint=self.peephole_constraint,
        )

    def layer_bias_initializer(self, blocks):
        """The bias initializer of a layer of `blocks` blocks: with
        `unit_forget_bias`, ones in the forget block, or with `f = 1 - i`
        minus ones in the input block (the same initial `f`)."""
        if not self.unit_forget_bias:
            return self.bias_initializer
        if self.coupled_forget_gate:
            return self.blocks_initializer(blocks, {self.gates.index("i"): -1})
        return self.blocks_initializer(blocks, {self.gates.index("f"): 1})

    def layer_projection(self, layer, inputs):
        """`x^l W + b` of every block of layer `layer`."""
        projected = backend.matmul(inputs, self.kernels[layer])
        if self.use_bias:
            projected = projected + self.biases[layer]
        return projected

    def project_inputs(self, inputs):
        """The first layer's projection of `x_t`, then `x_t W_x0` with
        `input_depth_gate`; any number of leading axes."""
        projected = self.layer_projection(0, inputs)
        if self.input_depth_gate:
            lifted = backend.matmul(inputs, self.input_depth_kernel)
            projected = ops.concatenate([projected, lifted], axis=-1)
        return projected

    def recurrent_step(self, projected, states, training=False):
        mask = self.recurrent_dropout_mask(states[0], training)
        sigma, act = self.recurrent_activation, self.activation
        new_states = []
        lower_c = None
        for layer in range(self.depth):
            # Layer l's (h, c) are states[2 (L - 1 - l)] and the next one.
            index = 2 * (self.depth - 1 - layer)
            h_prev, c_prev = states[index], states[index + 1]
            if layer == 0:
                from_input = projected
            else:
                from_input = self.layer_projection(layer, new_states[0])
            blocks = self.gate_count + self.has_depth_gate(layer)
            x_blocks = ops.split(
                from_input,
                blocks + (layer == 0 and self.input_depth_gate),
                axis=-1,
            )
            h_read = h_prev if mask is None else h_prev * mask
            recurrent = backend.matmul(h_read, self.recurrent_kernels[layer])
            z = dict(zip(self.gates, ops.split(recurrent, self.gate_count, -1)))
            for gate, x_block in zip(self.gates, x_blocks):
                z[gate] = z[gate] + x_block
            peep = self.peepholes[layer]
            # Tensor times variable, in that order: Keras 3.16's variable
            # products compute in floatx (float32) whatever their dtype.
            if "input" in peep:
                z["i"] = z["i"] + c_prev * peep["input"]
            i = sigma(z["i"])
            if self.coupled_forget_gate:
                f = 1.0 - i
            else:
                if "forget" in peep:
                    z["f"] = z["f"] + c_prev * peep["forget"]
                f = sigma(z["f"])
            c = f * c_prev + i * act(z["c"])
            if self.has_depth_gate(layer):
                gate_weights = self.depth_gate_weights[layer]
                z_d = x_blocks[self.gate_count] + c_prev * gate_weights["cell"]
                if layer == 0:
                    # The input's projection stands for the lower memory.
                    lower_c = x_blocks[self.gate_count + 1]
                else:
                    z_d = z_d + lower_c * gate_weights["lower"]
                c = c + sigma(z_d) * lower_c
            if "output" in peep:
                z["o"] = z["o"] + c * peep["output"]
            h = sigma(z["o"]) * act(c)
            new_states[:0] = [h, c]
            lower_c = c
        return new_states[0], new_states

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "coupled_forget_gate": self.coupled_forget_gate,
            "use_peepholes": self.use_peepholes,
            "input_depth_gate": self.input_depth_gate,
        }


@reads_cell_arguments
@keras.saving.register_keras_serializable(package="keras_recur")
class DepthGatedLSTM(RecurrentLayer):
    """Depth-Gated LSTM layer (Yao et al. 2015): `depth` LSTM layers in one
    recurrent layer, each layer's memory cell fed the memory of the layer
    below through a depth gate, at the same step (see `DepthGatedLSTMCell`
    for the equations). The layers run in one loop over time because the
    gate couples them within a step. Takes the cell's arguments and
    `RecurrentLayer`'s (Keras' RNN arguments); every cell argument reads on
    the layer (`layer.depth`). Its states are each layer's `(h, c)` from the
    top down: `return_state` returns them after the output, and
    `initial_state` takes them in that order.

    Args:
        units: Positive integer, dimensionality of each layer's state.
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
        recurrent_dropout: Float in [0, 1), dropout of each layer's
            `h_{t-1}`. Default: 0.
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
        depth: Positive integer, the number of layers. Default: 2.
        coupled_forget_gate: Default: `False`.
        use_peepholes: Default: `False`.
        input_depth_gate: Default: `False`.
        peephole_initializer: Default: `"glorot_uniform"`.
        peephole_regularizer: Default: `None`.
        peephole_constraint: Default: `None`.
        **kwargs: Base layer arguments.

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list of `2 * depth` tensors `(batch,
            units)`, `[h^L, c^L, ..., h^1, c^1]`.
        mask: Optional boolean tensor `(batch, timesteps)`.
        training: Whether dropout applies.

    Example:

    >>> layer = keras_recur.DepthGatedLSTM(8, depth=4)
    >>> outputs = layer(np.ones((2, 5, 3), "float32"))
    >>> tuple(outputs.shape), layer.depth
    ((2, 8), 4)

    Reference:

    - Yao, Cohn, Vylomova, Duh & Dyer (2015). Depth-Gated LSTM.
      <https://arxiv.org/abs/1508.03790>
    """

    cell_class = DepthGatedLSTMCell

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
        coupled_forget_gate=False,
        use_peepholes=False,
        input_depth_gate=False,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        cell = DepthGatedLSTMCell(
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
            coupled_forget_gate=coupled_forget_gate,
            use_peepholes=use_peepholes,
            input_depth_gate=input_depth_gate,
            peephole_initializer=peephole_initializer,
            peephole_regularizer=peephole_regularizer,
            peephole_constraint=peephole_constraint,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="depth_gated_lstm_cell",
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
