"""Models built from the keras_recur layers.

- `decoding.py`: `decode`, the one decoding loop, its strategies
  (`Greedy`, `Sampling`, `BeamSearch`, `KerasHubSampler`) and `Decoded`.
- `generation.py`: `generate`, decoder-only generation at one step a
  token.
- `seq2seq.py`: `Seq2Seq` (encoder, attention decoder, its decoding
  methods over `decoding.py`).
- `tagger.py`: `Tagger`, a recurrent encoder with a CRF head.
- `reservoir.py`: `fit_readout`, an echo state network's readout fitted
  in one pass by ridge regression.
- `vrnn.py`: `VRNN` (and STORN), a recurrent network with a latent
  variable at every step, trained on its ELBO; `VRNNCell`, its step.
"""

from keras_recur.models.decoding import BeamSearch
from keras_recur.models.decoding import Decoded
from keras_recur.models.decoding import Greedy
from keras_recur.models.decoding import KerasHubSampler
from keras_recur.models.decoding import Sampling
from keras_recur.models.decoding import Strategy
from keras_recur.models.generation import generate
from keras_recur.models.reservoir import fit_readout
from keras_recur.models.seq2seq import Seq2Seq
from keras_recur.models.tagger import Tagger
from keras_recur.models.vrnn import VRNN
from keras_recur.models.vrnn import VRNNCell

__all__ = [
    "VRNN",
    "VRNNCell",
    "BeamSearch",
    "Decoded",
    "Greedy",
    "KerasHubSampler",
    "Sampling",
    "Seq2Seq",
    "Strategy",
    "Tagger",
    "fit_readout",
    "generate",
]
