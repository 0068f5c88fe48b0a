"""Recurrent cells and their layers.

- `recurrent_cell.py`: `RecurrentCell`, the base of every cell (weights,
  dropout masks, config, signatures).
- `lstm_cell_base.py`: `LSTMCellBase`, the LSTM family (cell state, gate
  layout, peepholes, the fused LSTM).
- `recurrent_layer.py`: `RecurrentLayer`, the one layer wrapper.
- `recurrence.py`: the engine (fused recurrence or general loop).
- One file per cell and its layer: `gru.py`, `peephole_lstm.py`,
  `coupled_lstm.py`, `layer_norm_lstm.py`, `echo_state_network.py`.
"""
