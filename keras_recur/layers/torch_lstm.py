"""The LSTM family's recurrence as one PyTorch autograd function.

On eager PyTorch every tensor operation costs a Python round trip, and
autograd records every one of them. This function runs the whole recurrence
of the keras_recur LSTM cells (peephole LSTM and CIFG, with or without
peepholes) with in-place raw torch operations, and computes its gradient
with a hand-written backward pass through time, in which everything that
does not depend on the recurrence (gate derivatives, the kernel's and the
peepholes' gradients) is computed for all steps at once.

It computes the model of `LSTMCellBase` with sigmoid gates and tanh
activation; `recurrence.py` only sends it those cells, and
tests/test_recurrence.py checks it against the general path.

Gate blocks are laid out as `[i, f, c, o]` (peephole LSTM) or `[f, c, o]`
(CIFG, where `i = 1 - f`): the "leading" gates `i, f` see `c_{t-1}`, the
output gate sees `c_t`.
"""

import torch


def _gate_blocks(z, lead, units):
    """Views of the gate blocks on `z`'s last axis: the leading gates
    (`[i, f]` or `[f]`), `f`, the cell input and the output gate."""
    return (
        z[..., : lead * units],
        z[..., (lead - 1) * units : lead * units],
        z[..., lead * units : (lead + 1) * units],
        z[..., (lead + 1) * units :],
    )


class LSTMRecurrence(torch.autograd.Function):
    """`apply(projected, h0, c0, kernel, lead_peepholes, output_peephole,
    mask, recurrent_mask, coupled) -> (h for every step, last c)`.

    projected: (time, batch, gates * units), `x_t W + b` of every step.
    h0, c0: (batch, units). kernel: the recurrent kernel (units, gates *
    units). lead_peepholes: (leading gates, units) or None; output_peephole:
    (units,) or None. mask: (time, batch, 1) bool or None; a masked step
    keeps h and c. recurrent_mask: (batch, units) dropout mask of h_{t-1}
    or None. coupled: True for `[f, c, o]` with `i = 1 - f`.
    """

    @staticmethod
    def forward(
        ctx,
        projected,
        h0,
        c0,
        kernel,
        lead_peepholes,
        output_peephole,
        mask,
        recurrent_mask,
        coupled,
    ):
        steps, batch, width = projected.shape
        units = h0.shape[-1]
        lead = 1 if coupled else 2
        h_all = projected.new_empty((steps + 1, batch, units))
        c_all = projected.new_empty((steps + 1, batch, units))
        gates = projected.new_empty((steps, batch, width))
        h_all[0], c_all[0] = h0, c0
        for t in range(steps):
            h_prev, c_prev = h_all[t], c_all[t]
            if recurrent_mask is not None:
                h_prev = h_prev * recurrent_mask
            z = torch.addmm(projected[t], h_prev, kernel, out=gates[t])
            z_lead, f, g, o = _gate_blocks(z, lead, units)
            if lead_peepholes is not None:
                z_lead.view(batch, lead, units).addcmul_(
                    lead_peepholes, c_prev.unsqueeze(1)
                )
            z_lead.sigmoid_()  # f is a view into z_lead
            g.tanh_()
            c = torch.empty_like(c_prev) if mask is not None else c_all[t + 1]
            if coupled:  # f * c + (1 - f) * g
                torch.addcmul(g, f, c_prev - g, out=c)
            else:
                torch.mul(f, c_prev, out=c).addcmul_(z_lead[:, :units], g)
            if output_peephole is not None:
                o.addcmul_(output_peephole, c)
            o.sigmoid_()
            tanh_c = torch.tanh(c)
            if mask is None:
                torch.mul(o, tanh_c, out=h_all[t + 1])
            else:
                torch.where(mask[t], o * tanh_c, h_all[t], out=h_all[t + 1])
                torch.where(mask[t], c, c_prev, out=c_all[t + 1])
        # Saved through autograd (not as ctx attributes) so that
        # saved-tensor hooks (offloading, memory accounting) see them.
        ctx.save_for_backward(
            kernel,
            lead_peepholes,
            output_peephole,
            mask,
            recurrent_mask,
            h_all,
            c_all,
            gates,
        )
        ctx.coupled = coupled
        return h_all[1:], c_all[steps]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_outputs, d_c_last):
        (
            kernel,
            lead_peepholes,
            output_peephole,
            mask,
            recurrent_mask,
            h_all,
            c_all,
            gates,
        ) = ctx.saved_tensors
        coupled = ctx.coupled
        steps, batch, width = gates.shape
        units = h_all.shape[-1]
        lead = 1 if coupled else 2
        c_prev_all, c_new_all = c_all[:-1], c_all[1:]
        if d_outputs is None:
            d_outputs = torch.zeros_like(h_all[1:])

        # What does not depend on the recurrence, for all steps at once.
        # (A masked step stores the carried c, not its new one, but all its
        # gradient terms are multiplied by zero, so recomputing is exact.)
        tanh_c = torch.tanh(c_new_all)
        gate_lead, f, g, o = _gate_blocks(gates, lead, units)
        i = 1.0 - f if coupled else gate_lead[..., :units]
        d_lead_by_dc = gate_lead * (1.0 - gate_lead)  # sigma'
        if coupled:  # dc/df = c_{t-1} - g
            d_lead_by_dc = d_lead_by_dc * (c_prev_all - g)
        else:  # dc/di = g, dc/df = c_{t-1}
            d_lead_by_dc = d_lead_by_dc * torch.cat([g, c_prev_all], dim=-1)
        d_lead_by_dc = d_lead_by_dc.view(steps, batch, lead, units)
        d_g_by_dc = i * (1.0 - g * g)
        d_o_by_dh = tanh_c * o * (1.0 - o)
        d_c_by_dh = o * (1.0 - tanh_c * tanh_c)

        d_z = torch.empty_like(gates)
        kernel_t = kernel.t()
        d_h = d_outputs[steps - 1].clone()
        d_c = (
            torch.zeros_like(c_all[0]) if d_c_last is None else d_c_last.clone()
        )
        for t in reversed(range(steps)):
            if mask is not None:
                kept = mask[t]
                d_h_carried = torch.where(kept, 0.0, d_h)
                d_c_carried = torch.where(kept, 0.0, d_c)
                d_h = torch.where(kept, d_h, 0.0)
                d_c = torch.where(kept, d_c, 0.0)
            d_z_t = d_z[t]
            d_z_lead, _, d_z_g, d_z_o = _gate_blocks(d_z_t, lead, units)
            torch.mul(d_h, d_o_by_dh[t], out=d_z_o)
            d_c.addcmul_(d_h, d_c_by_dh[t])
            if output_peephole is not None:
                d_c.addcmul_(d_z_o, output_peephole)
            d_z_lead = d_z_lead.view(batch, lead, units)
            torch.mul(d_c.unsqueeze(1), d_lead_by_dc[t], out=d_z_lead)
            torch.mul(d_c, d_g_by_dc[t], out=d_z_g)
            d_c.mul_(f[t])
            if lead_peepholes is not None:
                d_c.add_((d_z_lead * lead_peepholes).sum(1))
            d_h = d_z_t @ kernel_t
            if recurrent_mask is not None:
                d_h.mul_(recurrent_mask)
            if mask is not None:
                d_h.add_(d_h_carried)
                d_c.add_(d_c_carried)
            if t > 0:
                d_h.add_(d_outputs[t - 1])

        h_in = h_all[:-1]
        if recurrent_mask is not None:
            h_in = h_in * recurrent_mask
        d_kernel = h_in.reshape(-1, units).t() @ d_z.reshape(-1, width)
        d_lead_peepholes = d_output_peephole = None
        d_z_lead, _, _, d_z_o = _gate_blocks(d_z, lead, units)
        if lead_peepholes is not None:
            d_lead_peepholes = (
                d_z_lead.reshape(steps, batch, lead, units)
                * c_prev_all.unsqueeze(2)
            ).sum((0, 1))
        if output_peephole is not None:
            d_output_peephole = (d_z_o * c_new_all).sum((0, 1))
        return (
            d_z,
            d_h,
            d_c,
            d_kernel,
            d_lead_peepholes,
            d_output_peephole,
            None,
            None,
            None,
        )
