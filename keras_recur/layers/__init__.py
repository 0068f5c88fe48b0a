"""The keras_recur layers; importing registers them for `.keras` loading."""

from keras_recur.layers.attention_decoder import AttentionDecoder
from keras_recur.layers.bahdanau_attention import BahdanauAttention
from keras_recur.layers.coupled_lstm import CoupledLSTM
from keras_recur.layers.coupled_lstm import CoupledLSTMCell
from keras_recur.layers.gru import GRU
from keras_recur.layers.gru import GRUCell
from keras_recur.layers.peephole_lstm import PeepholeLSTM
from keras_recur.layers.peephole_lstm import PeepholeLSTMCell

__all__ = [
    "AttentionDecoder",
    "BahdanauAttention",
    "CoupledLSTM",
    "CoupledLSTMCell",
    "GRU",
    "GRUCell",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
]
