"""A small search through the examples' shared driver (examples/common.py:
its command line, tuner, search and trial report), for the scale-out tests:
the examples run a distributed or resumed search through exactly this code,
and what an example does after its search is tested by its own quick run.

Run as the chief or a worker with KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP
and KERASTUNER_ORACLE_PORT set, like the examples. --kill-in-trial N makes
the process kill itself (SIGKILL, nothing saved on the way out) as trial N
starts to train, so a test can resume a search cut off mid-trial without
racing the clock.
"""

import os
import signal
import sys

EXAMPLES = os.path.join(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ),
    "examples",
)
sys.path.insert(0, EXAMPLES)

import common  # noqa: E402  (before Keras: see examples/common.py)
import numpy as np  # noqa: E402

from keras_recur import tuning  # noqa: E402


class KilledRegressor(tuning.SequenceRegressor):
    """Dies as trial `kill_in_trial` (counted from 1) starts to train."""

    def __init__(self, *args, kill_in_trial=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill_in_trial = kill_in_trial
        self.trials_started = 0

    def fit(self, hp, model, *args, **kwargs):
        self.trials_started += 1
        if self.trials_started == self.kill_in_trial:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(hp, model, *args, **kwargs)


def main():
    arguments = common.parser(__doc__, trials=4, epochs=2, out="scale_out")
    arguments.add_argument("--kill-in-trial", type=common.at_least_one)
    args = arguments.parse_args()
    common.setup(args)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6, 1)).astype("float32")
    y = x.mean(axis=1)
    hypermodel = KilledRegressor(
        (6, 1),
        outputs=1,
        cell=["GRU", "MinGRU"],
        units=[4, 8],
        depth=1,
        dropout=0.0,
        learning_rate=[5e-3, 1e-2],
        kill_in_trial=args.kill_in_trial,
    )
    tuner = common.make_tuner(args, hypermodel, "val_loss", "search")
    common.search(tuner, args, x[:32], y[:32], validation_data=(x[32:], y[32:]))
    if tuning.is_worker():
        print(f"Worker {os.environ['KERASTUNER_TUNER_ID']} done.")
        return
    common.report(tuner, args, "trials of the search")


if __name__ == "__main__":
    main()
