"""Models built from the keras_recur layers."""

from keras_recur.models.seq2seq import Decoded
from keras_recur.models.seq2seq import Seq2Seq

__all__ = ["Decoded", "Seq2Seq"]
