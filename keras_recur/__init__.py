"""keras_recur: recurrent layers for Keras 3 on TensorFlow, JAX and PyTorch.

`import keras_recur` registers every layer, so `keras.saving.load_model`
needs no `custom_objects`.
"""

from keras_recur import layers
from keras_recur.layers import GRU
from keras_recur.layers import CoupledLSTM
from keras_recur.layers import CoupledLSTMCell
from keras_recur.layers import GRUCell
from keras_recur.layers import PeepholeLSTM
from keras_recur.layers import PeepholeLSTMCell

__version__ = "0.1.0"

__all__ = [
    "CoupledLSTM",
    "CoupledLSTMCell",
    "GRU",
    "GRUCell",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "layers",
]
