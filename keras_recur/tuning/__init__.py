"""keras-tuner search over the keras_recur cells (needs the `tuner` extra).

- Hypermodels: `SequenceRegressor`, `SequenceClassifier`,
  `SequenceTagger` (CRF or softmax head) and `Seq2SeqHyperModel`, all
  searching the cell among the catalogue's (`keras_recur.catalogue`:
  `PeepholeLSTM`, `CoupledLSTM`, `GRU`, `LayerNormLSTM`,
  `EchoStateNetwork`, `MinGRU`, `MinLSTM`, `LRU`, `ClockworkRNN`,
  `DepthGatedLSTM`, `GridLSTM`, and
  `keras.layers.LSTM` as the baseline) with each cell's own
  hyperparameters (`cell_space`), units, depth, bidirectionality, dropout,
  recurrent dropout, learning rate and gradient clipping; the seq2seq one
  also the attention mechanism and its settings, the tagger the embedding
  size and the head. Every
  searchable argument takes a fixed value, a list of choices or a
  `Range`.
- Helpers: `make_windows` (forecasting windows), `ResultsTable` (trials as
  Markdown, CSV or pandas), `plot_scores`, `plot_trials`, `plot_lines`
  (matplotlib), `objective_label`, `is_worker` (distributed search).

Modules: `search_space.py` (choices, ranges, conditions), `hypermodels.py`,
`results.py`, `data.py`, `plots.py`.

Importing it silences two things that are not the user's: keras-tuner's
own deprecation warnings, and TensorFlow's warning that Keras' train,
test or predict function "triggered tf.function retracing", which each
trial's new model does by design.
"""

import logging
import os
import warnings

from keras_recur.tuning.data import make_windows
from keras_recur.tuning.hypermodels import CELLS
from keras_recur.tuning.hypermodels import ElapsedTime
from keras_recur.tuning.hypermodels import RecurrentHyperModel
from keras_recur.tuning.hypermodels import Seq2SeqHyperModel
from keras_recur.tuning.hypermodels import SequenceClassifier
from keras_recur.tuning.hypermodels import SequenceRegressor
from keras_recur.tuning.hypermodels import SequenceTagger
from keras_recur.tuning.plots import objective_label
from keras_recur.tuning.plots import plot_lines
from keras_recur.tuning.plots import plot_scores
from keras_recur.tuning.plots import plot_trials
from keras_recur.tuning.results import ResultsTable
from keras_recur.tuning.search_space import Range

# keras-tuner 1.4.8 calls threading APIs that Python deprecated
# (currentThread, getName) on every trial; the warning is keras-tuner's, not
# the user's, so it is silenced for keras-tuner's modules only.
warnings.filterwarnings(
    "ignore", category=DeprecationWarning, module=r"keras_tuner(\.|$)"
)


class _TrialRetracing(logging.Filter):
    """Drops TensorFlow's warning that Keras' own train, test or predict
    function "triggered tf.function retracing".

    A search builds a new model for every trial, and each model traces its
    functions anew, by design; TensorFlow counts the traces of all those
    functions (one code, many closures) as one function's retraces and
    warns after a few trials. Any other retracing warning still shows.
    """

    def filter(self, record):
        message = record.getMessage()
        return not (
            "triggered tf.function retracing" in message
            and "TensorFlowTrainer" in message
        )


logging.getLogger("tensorflow").addFilter(_TrialRetracing())


def is_worker():
    """Whether this process is a worker of a distributed keras-tuner search
    (KERASTUNER_ORACLE_IP set, KERASTUNER_TUNER_ID not a chief's): its
    `search` runs trials for the chief, which holds the results."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in (
        os.environ.get("KERASTUNER_TUNER_ID", "")
    )


__all__ = [
    "CELLS",
    "ElapsedTime",
    "Range",
    "RecurrentHyperModel",
    "ResultsTable",
    "Seq2SeqHyperModel",
    "SequenceClassifier",
    "SequenceRegressor",
    "SequenceTagger",
    "is_worker",
    "make_windows",
    "objective_label",
    "plot_lines",
    "plot_scores",
    "plot_trials",
]
