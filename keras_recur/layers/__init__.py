"""The keras_recur layers; importing registers them for `.keras` loading.

Laid out as Keras' own: `rnn/` holds the cells, their layer wrapper and the
recurrence engine, `attention/` the attention mechanisms and the decoder,
`crf.py` the conditional random field of taggers, `ridge_readout.py` the
readout of reservoir computing.
"""

from keras_recur.layers.attention.attention_decoder import AttentionDecoder
from keras_recur.layers.attention.attention_mechanism import AttentionMechanism
from keras_recur.layers.attention.bahdanau_attention import BahdanauAttention
from keras_recur.layers.attention.luong_attention import LuongAttention
from keras_recur.layers.crf import CRF
from keras_recur.layers.ridge_readout import RidgeReadout
from keras_recur.layers.rnn.clockwork_rnn import ClockworkRNN
from keras_recur.layers.rnn.clockwork_rnn import ClockworkRNNCell
from keras_recur.layers.rnn.coupled_lstm import CoupledLSTM
from keras_recur.layers.rnn.coupled_lstm import CoupledLSTMCell
from keras_recur.layers.rnn.dense_gates_cell import DenseGatesCell
from keras_recur.layers.rnn.depth_gated_lstm import DepthGatedLSTM
from keras_recur.layers.rnn.depth_gated_lstm import DepthGatedLSTMCell
from keras_recur.layers.rnn.echo_state_network import EchoStateNetwork
from keras_recur.layers.rnn.echo_state_network import ESNCell
from keras_recur.layers.rnn.grid_lstm import GridLSTM
from keras_recur.layers.rnn.grid_lstm import GridLSTMCell
from keras_recur.layers.rnn.grid_lstm_1d import GridLSTM1D
from keras_recur.layers.rnn.gru import GRU
from keras_recur.layers.rnn.gru import GRUCell
from keras_recur.layers.rnn.layer_norm_lstm import LayerNormLSTM
from keras_recur.layers.rnn.layer_norm_lstm import LayerNormLSTMCell
from keras_recur.layers.rnn.linear_recurrent_cell import LinearRecurrentCell
from keras_recur.layers.rnn.linear_recurrent_cell import MinimalGatesCell
from keras_recur.layers.rnn.lru import LRU
from keras_recur.layers.rnn.lru import LRUCell
from keras_recur.layers.rnn.lstm_cell_base import LSTMCellBase
from keras_recur.layers.rnn.min_gru import MinGRU
from keras_recur.layers.rnn.min_gru import MinGRUCell
from keras_recur.layers.rnn.min_lstm import MinLSTM
from keras_recur.layers.rnn.min_lstm import MinLSTMCell
from keras_recur.layers.rnn.peephole_lstm import PeepholeLSTM
from keras_recur.layers.rnn.peephole_lstm import PeepholeLSTMCell
from keras_recur.layers.rnn.recurrent_cell import RecurrentCell
from keras_recur.layers.rnn.recurrent_layer import RecurrentLayer
from keras_recur.tag_schemes import allowed_transitions

__all__ = [
    "AttentionDecoder",
    "AttentionMechanism",
    "BahdanauAttention",
    "CRF",
    "ClockworkRNN",
    "ClockworkRNNCell",
    "CoupledLSTM",
    "CoupledLSTMCell",
    "DenseGatesCell",
    "DepthGatedLSTM",
    "DepthGatedLSTMCell",
    "ESNCell",
    "EchoStateNetwork",
    "GRU",
    "GRUCell",
    "GridLSTM",
    "GridLSTM1D",
    "GridLSTMCell",
    "LRU",
    "LRUCell",
    "LSTMCellBase",
    "LayerNormLSTM",
    "LayerNormLSTMCell",
    "LinearRecurrentCell",
    "LuongAttention",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "MinimalGatesCell",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "RecurrentCell",
    "RecurrentLayer",
    "RidgeReadout",
    "allowed_transitions",
]
