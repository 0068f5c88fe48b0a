"""Models built from the keras_recur layers."""

from keras_recur.models.seq2seq import Decoded
from keras_recur.models.seq2seq import Seq2Seq
from keras_recur.models.tagger import Tagger

__all__ = ["Decoded", "Seq2Seq", "Tagger"]
