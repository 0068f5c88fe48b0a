"""The recurrent layers under torch.compile, which Keras applies to `fit`,
`evaluate` and `predict` when a model's `jit_compile` is True (as a `.keras`
file saved on JAX or TensorFlow says): no graph breaks in a layer's call,
counted by torch's own `torch._dynamo.explain`, but where a training call
draws seeded dropout masks (Keras' PyTorch random functions are then
`torch.compiler.disable`d: dynamo cannot trace a `torch.Generator`); and
the captured graph computes what the eager call does.
benchmarks/torch_compile.py measures what compiling costs and gives."""

import numpy as np
import pytest

from keras_recur import catalogue
from tests.testing import BACKEND
from tests.testing import to_numpy

pytestmark = pytest.mark.skipif(
    BACKEND != "torch", reason="torch.compile is PyTorch's"
)
LAYERS = [name for name in catalogue.CELLS if name != "LSTM"]


def setup(name, **arguments):
    """A built layer of 4 units, 2 sequences of 2 steps (dynamo unrolls
    the eager loop: few steps trace fast), one step padded."""
    import torch

    layer = catalogue.CELLS[name].layer(4, return_sequences=True, **arguments)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(2, 2, 3)).astype("float32"))
    mask = torch.tensor([[True, False], [True, True]])
    layer(x, mask=mask)  # built eagerly: a traced build breaks the graph
    return layer, x, mask


def break_reasons(call, *inputs):
    import torch._dynamo

    torch._dynamo.reset()
    explained = torch._dynamo.explain(call)(*inputs)
    return [reason.reason for reason in explained.break_reasons]


@pytest.mark.parametrize("name", LAYERS)
def test_an_inference_call_compiles_without_graph_breaks(name):
    # Dropout configured (no draw in inference) where the cell trains.
    trained = catalogue.CELLS[name].trained
    layer, x, mask = setup(name, **{"dropout": 0.25} if trained else {})
    assert break_reasons(lambda x, m: layer(x, mask=m), x, mask) == []


@pytest.mark.parametrize("seed", [None, 1])
def test_a_training_call_breaks_only_to_draw_seeded_dropout_masks(seed):
    # Unseeded, Keras draws with torch's own dropout, which dynamo traces.
    layer, x, mask = setup(
        "GRU", dropout=0.25, recurrent_dropout=0.25, seed=seed
    )
    reasons = break_reasons(
        lambda x, m: layer(x, mask=m, training=True), x, mask
    )
    if seed is None:
        assert reasons == []
    else:
        assert reasons
        assert all("torch_seed_generator" in r for r in reasons), reasons


def test_the_captured_graph_computes_the_eager_numbers():
    import torch
    import torch._dynamo

    layer, x, mask = setup("LRU")  # complex state, a readout, a padded step
    eager = to_numpy(layer(x, mask=mask))
    torch._dynamo.reset()
    # Run as traced (no inductor compile); fullgraph: one graph, no break.
    compiled = torch.compile(
        lambda x, m: layer(x, mask=m), backend="eager", fullgraph=True
    )
    np.testing.assert_allclose(to_numpy(compiled(x, mask)), eager, atol=1e-6)
