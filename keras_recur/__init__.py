"""keras_recur: recurrent layers for Keras 3 on TensorFlow, JAX and PyTorch.

`import keras_recur` registers every layer, so `keras.saving.load_model`
needs no `custom_objects`. The layers are importable from here and from
`keras_recur.layers`.

- `layers/`: the cells, their layers, attention and the CRF.
- `models/`: `Seq2Seq` and `Tagger`.
- `metrics.py`: `SpanF1`.
- `tuning/`: keras-tuner hypermodels, results and plots (the `tuner`
  extra).
- `catalogue.py`: one record per public cell (what the tuner, the
  benchmarks, the examples and the tests know of it).
- `backend/`: backend code on tensors (the loop, the linear recurrences,
  the fused kernels).
- `validation.py`: the argument checks.
"""

from keras_recur import layers
from keras_recur import metrics
from keras_recur import models
from keras_recur.layers import *  # noqa: F403 (the public layers)
from keras_recur.models import Seq2Seq

__version__ = "0.1.0"

__all__ = ["layers", "metrics", "models", "Seq2Seq", *layers.__all__]
