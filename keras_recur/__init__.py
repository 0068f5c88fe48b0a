"""keras_recur: recurrent layers for Keras 3 on TensorFlow, JAX and PyTorch.

`import keras_recur` registers every layer, so `keras.saving.load_model`
needs no `custom_objects`. The layers are importable from here and from
`keras_recur.layers`.
"""

from keras_recur import layers
from keras_recur import metrics
from keras_recur import models
from keras_recur.layers import *  # noqa: F403 (the public layers)
from keras_recur.models import Seq2Seq

__version__ = "0.1.0"

__all__ = ["layers", "metrics", "models", "Seq2Seq", *layers.__all__]
