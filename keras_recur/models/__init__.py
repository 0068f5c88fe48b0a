"""Models built from the keras_recur layers.

- `seq2seq.py`: `Seq2Seq` (encoder, attention decoder, greedy and beam
  search) and `Decoded`.
- `tagger.py`: `Tagger`, a recurrent encoder with a CRF head.
- `reservoir.py`: `fit_readout`, an echo state network's readout fitted
  in one pass by ridge regression.
"""

from keras_recur.models.reservoir import fit_readout
from keras_recur.models.seq2seq import Decoded
from keras_recur.models.seq2seq import Seq2Seq
from keras_recur.models.tagger import Tagger

__all__ = ["Decoded", "Seq2Seq", "Tagger", "fit_readout"]
