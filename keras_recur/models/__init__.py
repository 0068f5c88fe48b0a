"""Models built from the keras_recur layers.

- `seq2seq.py`: `Seq2Seq` (encoder, attention decoder, greedy and beam
  search) and `Decoded`.
- `tagger.py`: `Tagger`, a recurrent encoder with a CRF head.
- `reservoir.py`: `fit_readout`, an echo state network's readout fitted
  in one pass by ridge regression.
- `vrnn.py`: `VRNN` (and STORN), a recurrent network with a latent
  variable at every step, trained on its ELBO; `VRNNCell`, its step.
"""

from keras_recur.models.reservoir import fit_readout
from keras_recur.models.seq2seq import Decoded
from keras_recur.models.seq2seq import Seq2Seq
from keras_recur.models.tagger import Tagger
from keras_recur.models.vrnn import VRNN
from keras_recur.models.vrnn import VRNNCell

__all__ = ["VRNN", "VRNNCell", "Decoded", "Seq2Seq", "Tagger", "fit_readout"]
