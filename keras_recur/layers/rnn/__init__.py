"""Recurrent cells and their layers.

- `recurrent_cell.py`: `RecurrentCell`, the slim base of every cell (state
  sizes, the step methods, dropout masks, config).
- `dense_gates_cell.py`: `DenseGatesCell`, the cells whose gates are
  `x W + h U + b` (the three weights and their arguments).
- `lstm_cell_base.py`: `LSTMCellBase`, the LSTM family (cell state, gate
  layout, the fused LSTM), and the `PeepholeWeights` mixin.
- `linear_recurrent_cell.py`: `LinearRecurrentCell`, the cells linear in
  their state (`h_t = a_t * h_{t-1} + b_t`, run as one scan), and
  `MinimalGatesCell`, the minimal cells' gates from `x_t W + b`.
- `dropout.py`: `sequence_dropout_masks`, one draw of a cell's dropout
  masks per sequence.
- `recurrent_layer.py`: `RecurrentLayer`, the one layer wrapper.
- `recurrence.py`: the engine (fused recurrence or general loop).
- One file per cell and its layer: `gru.py`, `peephole_lstm.py`,
  `coupled_lstm.py`, `layer_norm_lstm.py`, `echo_state_network.py`,
  `min_gru.py`, `min_lstm.py`, `lru.py`, `clockwork_rnn.py`,
  `depth_gated_lstm.py`, `grid_lstm.py` (and `grid_lstm_1d.py`, the
  one-dimensional grid, a feed-forward layer).
"""
