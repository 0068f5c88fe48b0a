"""The LSTM family's PyTorch autograd function (keras_recur/backend/
torch_lstm.py): its hand-written backward pass against finite differences."""

import pytest

from tests.testing import BACKEND
from tests.testing import MASK


@pytest.mark.skipif(BACKEND != "torch", reason="torch's fused LSTM path")
@pytest.mark.parametrize("coupled", [False, True])
@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("recurrent_dropout", [False, True])
def test_fused_lstm_backward_matches_finite_differences(
    coupled, peepholes, masked, recurrent_dropout
):
    # The hand-written backward pass through time against central
    # differences of its own forward pass, in float64, every input at once.
    import torch

    from keras_recur.backend.torch_lstm import LSTMRecurrence

    steps, batch, units = 5, 3, 4
    lead = 1 if coupled else 2
    gen = torch.Generator().manual_seed(7)

    def rand(*shape, scale=1.0):
        values = torch.randn(*shape, generator=gen, dtype=torch.float64)
        return (scale * values).requires_grad_()

    inputs = [
        rand(steps, batch, (lead + 2) * units),
        rand(batch, units),
        rand(batch, units),
        rand(units, (lead + 2) * units, scale=0.5),
        rand(lead, units) if peepholes else None,
        rand(units) if peepholes else None,
        torch.tensor(MASK[:, :steps].T[..., None]) if masked else None,
        (torch.rand(batch, units, generator=gen, dtype=torch.float64) > 0.3)
        .double()
        .div(0.7)
        if recurrent_dropout
        else None,
        coupled,
    ]
    assert torch.autograd.gradcheck(
        lambda *args: LSTMRecurrence.apply(*args), inputs, atol=1e-6
    )
