"""The LSTM family's recurrence as one PyTorch autograd function.

On eager PyTorch every tensor operation costs a Python round trip, and
autograd records every one of them. This function runs the whole recurrence
of the keras_recur LSTM cells (peephole LSTM and CIFG, with or without
peepholes) with in-place raw torch operations, and computes its gradient
with a hand-written backward pass through time, in which everything that
does not depend on the recurrence (gate derivatives, the kernel's and the
peepholes' gradients) is computed for all steps at once.

It computes the LSTM family with sigmoid gates and tanh activation;
`torch.py`'s `lstm` checks that before calling it, and the tests check it
against the general loop and against finite differences.

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
        # Per-step views made once: indexing inside the loop costs a
        # Python round trip per view.
        h, c, x, z = (t.unbind(0) for t in (h_all, c_all, projected, gates))
        z_lead, f, g, o = (
            block.unbind(0) for block in _gate_blocks(gates, lead, units)
        )
        z_lead_by_gate = gates[..., : lead * units].unflatten(-1, (lead, units))
        z_lead_by_gate = z_lead_by_gate.unbind(0)
        c_by_gate = c_all.unsqueeze(2).unbind(0)
        i = None if coupled else gates[..., :units].unbind(0)
        tanh_c = torch.empty_like(c0)
        new_c = torch.empty_like(c0)
        for t in range(steps):
            h_prev = h[t]
            if recurrent_mask is not None:
                h_prev = h_prev * recurrent_mask
            torch.addmm(x[t], h_prev, kernel, out=z[t])
            if lead_peepholes is not None:
                z_lead_by_gate[t].addcmul_(lead_peepholes, c_by_gate[t])
            z_lead[t].sigmoid_()  # f is a view into z_lead
            g[t].tanh_()
            c_t = c[t + 1] if mask is None else new_c
            if coupled:  # f * c + (1 - f) * g
                torch.addcmul(g[t], f[t], c[t] - g[t], out=c_t)
            else:
                torch.mul(f[t], c[t], out=c_t).addcmul_(i[t], g[t])
            if output_peephole is not None:
                o[t].addcmul_(output_peephole, c_t)
            o[t].sigmoid_()
            torch.tanh(c_t, out=tanh_c)
            if mask is None:
                torch.mul(o[t], tanh_c, out=h[t + 1])
            else:
                torch.where(mask[t], o[t] * tanh_c, h[t], out=h[t + 1])
                torch.where(mask[t], c_t, c[t], out=c[t + 1])
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
        # Each operation here is a pass over every step's buffer, so they
        # are few and in place: x - x * y is one addcmul.
        tanh_c = torch.tanh(c_new_all)
        gate_lead, f, g, o = _gate_blocks(gates, lead, units)
        # dz/dc_t of the leading gates and the cell input, adjacent blocks
        # of one buffer: one multiplication per step fills both.
        d_lead_and_g_by_dc = gates.new_empty((steps, batch, lead + 1, units))
        d_lead_by_dc = d_lead_and_g_by_dc[..., :lead, :].flatten(-2)
        d_g_by_dc = d_lead_and_g_by_dc[..., lead, :]
        torch.addcmul(
            gate_lead, gate_lead, gate_lead, value=-1.0, out=d_lead_by_dc
        )
        if coupled:  # i = 1 - f; dc/df = c_{t-1} - g
            i = 1.0 - f
            d_lead_by_dc.mul_(c_prev_all - g)
        else:  # dc/di = g, dc/df = c_{t-1}
            i = gate_lead[..., :units]
            d_lead_by_dc[..., :units].mul_(g)
            d_lead_by_dc[..., units:].mul_(c_prev_all)
        torch.addcmul(i, i * g, g, value=-1.0, out=d_g_by_dc)  # i (1 - g^2)
        d_o_by_dh = torch.addcmul(o, o, o, value=-1.0).mul_(tanh_c)
        # dc_t/dh_t, through tanh(c) and through the output peephole.
        d_c_by_dh = torch.addcmul(o, o * tanh_c, tanh_c, value=-1.0)
        if output_peephole is not None:
            d_c_by_dh.addcmul_(d_o_by_dh, output_peephole)
        # dc_{t-1}/dc_t, through f and through the leading peepholes.
        d_c_carry = f
        if lead_peepholes is not None:
            for gate in range(lead):
                d_c_carry = torch.addcmul(
                    d_c_carry,
                    d_lead_by_dc[..., gate * units : (gate + 1) * units],
                    lead_peepholes[gate],
                )

        d_z = torch.empty_like(gates)
        d_z_steps = d_z.unbind(0)
        d_z_o = _gate_blocks(d_z, lead, units)[3].unbind(0)
        d_z_lead_and_g = (
            d_z[..., : (lead + 1) * units]
            .unflatten(-1, (lead + 1, units))
            .unbind(0)
        )
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
            torch.mul(d_h, d_o_by_dh[t], out=d_z_o[t])
            d_c.addcmul_(d_h, d_c_by_dh[t])
            torch.mul(
                d_c.unsqueeze(1), d_lead_and_g_by_dc[t], out=d_z_lead_and_g[t]
            )
            d_c.mul_(d_c_carry[t])
            if t > 0 and recurrent_mask is None:
                d_h = torch.addmm(d_outputs[t - 1], d_z_steps[t], kernel_t)
            else:
                d_h = d_z_steps[t] @ kernel_t
                if recurrent_mask is not None:
                    d_h.mul_(recurrent_mask)
                if t > 0:
                    d_h.add_(d_outputs[t - 1])
            if mask is not None:
                d_h.add_(d_h_carried)
                d_c.add_(d_c_carried)

        h_in = h_all[:-1]
        if recurrent_mask is not None:
            h_in = h_in * recurrent_mask
        d_kernel = h_in.reshape(-1, units).t() @ d_z.reshape(-1, width)
        d_lead_peepholes = d_output_peephole = None
        d_z_lead, _, _, d_z_o = _gate_blocks(d_z, lead, units)
        if lead_peepholes is not None:
            d_lead_peepholes = (
                d_z_lead.unflatten(-1, (lead, units)) * c_prev_all.unsqueeze(2)
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
