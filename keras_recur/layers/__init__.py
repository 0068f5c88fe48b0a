"""The keras_recur layers; importing registers them for `.keras` loading."""

from keras_recur.layers.coupled_lstm import CoupledLSTM
from keras_recur.layers.coupled_lstm import CoupledLSTMCell
from keras_recur.layers.gru import GRU
from keras_recur.layers.gru import GRUCell
from keras_recur.layers.peephole_lstm import PeepholeLSTM
from keras_recur.layers.peephole_lstm import PeepholeLSTMCell

__all__ = [
    "CoupledLSTM",
    "CoupledLSTMCell",
    "GRU",
    "GRUCell",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
]
