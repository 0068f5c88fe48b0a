"""keras_recur: recurrent layers for Keras 3 on TensorFlow, JAX and PyTorch.

`import keras_recur` registers every layer, so `keras.saving.load_model`
needs no `custom_objects`. The layers are importable from here and from
`keras_recur.layers`.

- `layers/`: the cells, their layers, attention and the CRF.
- `models/`: `Seq2Seq` and `Tagger`.
- `training/`: training methods beyond first-order optimisers
  (`HessianFree`).
- `metrics.py`: `SpanF1`.
- `tag_schemes.py`: the tagging schemes (their tags, transitions and
  spans), read by the CRF's constraints, `SpanF1` and the tagger search.
- `scores.py`: `NEVER`, the log-score of what must never be chosen.
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
from keras_recur import tag_schemes
from keras_recur import training
from keras_recur.layers import *  # noqa: F403 (the public layers)
from keras_recur.models import Seq2Seq

__version__ = "0.1.0"

__all__ = [
    "layers",
    "metrics",
    "models",
    "tag_schemes",
    "training",
    "Seq2Seq",
    *layers.__all__,
]
