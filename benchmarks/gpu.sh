#!/usr/bin/env bash
# The benchmarks on a GPU machine without a package registry (the device
# machines lent to some sessions: CUDA builds of PyTorch and JAX on Python
# 3.12, no Keras, no TensorFlow).
#
#   bash benchmarks/gpu.sh prepare   # here, with the registry: the wheels
#                                    # of Keras and its dependencies, in
#                                    # benchmarks/wheels
#   bash benchmarks/gpu.sh run       # there (carry benchmarks/wheels):
#                                    # installs them beside the machine's
#                                    # torch and jax, imports keras_recur
#                                    # from this tree (no wheel of it to go
#                                    # stale), runs the linear cells'
#                                    # table and the classic one on JAX and
#                                    # PyTorch, inside 10 minutes, and
#                                    # writes the tables to $OUT (or
#                                    # benchmarks/results-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=benchmarks/wheels

case "${1:-run}" in
prepare)
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    # The Keras these benchmarks ran with here (KERAS_VERSION overrides).
    keras_version=${KERAS_VERSION:-3.15.1}
    # Binary wheels for the machine's Python 3.12 on x86-64 Linux; numpy,
    # ml_dtypes and the backends are already there.
    python3 -m pip download --quiet --dest "$WHEELS" --only-binary=:all: \
        --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --no-deps "keras==$keras_version" absl-py rich namex h5py optree \
        packaging markdown-it-py mdurl pygments typing-extensions
    du -sh "$WHEELS"
    ;;
run)
    out=${OUT:-benchmarks/results-gpu}
    mkdir -p "$out"
    # The machine's CUDA torch and jax stay; Keras joins them, and
    # keras_recur (pure Python) is this tree's, for run.py and its workers.
    python -m venv --system-site-packages /tmp/keras-recur-gpu
    py=/tmp/keras-recur-gpu/bin/python
    $py -m pip install --quiet --no-index --find-links "$WHEELS" keras
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    $py -c "import keras_recur, torch, jax; print('keras_recur', keras_recur.__file__); print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('jax', jax.__version__, jax.devices())" | tee "$out/devices.txt"
    # About 6 minutes together: the linear cells at 100, 1,000 and 4,000
    # steps beside Keras' GRU and LSTM, then the classic table at 100.
    timeout 420 $py benchmarks/run.py --suite linear --backends jax torch \
        --repeats 5 --warmup 2 --out "$out/linear" | tee "$out/linear.log"
    timeout 150 $py benchmarks/run.py --suite classic --backends jax torch \
        --repeats 5 --warmup 2 --out "$out/classic" | tee "$out/classic.log"
    ;;
*)
    echo "usage: bash benchmarks/gpu.sh prepare|run" >&2
    exit 2
    ;;
esac
