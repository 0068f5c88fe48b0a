"""NumPy transcriptions of the papers' equations, written independently of
the layers (float64), and a loop with Keras' masking and go_backwards rules.
"""

import itertools

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# `recurrent_mask` multiplies h_{t-1} where it enters the recurrent matmul
# (recurrent dropout, one mask per sequence).


def peephole_lstm_step(x, h, c, w, recurrent_mask=1.0):
    """Gers, Schraudolph & Schmidhuber 2002, TF-Addons weight layout."""
    h = h * recurrent_mask
    W_i, W_f, W_c, W_o = np.split(w["kernel"], 4, axis=1)
    U_i, U_f, U_c, U_o = np.split(w["recurrent_kernel"], 4, axis=1)
    b_i, b_f, b_c, b_o = np.split(w["bias"], 4)
    i = sigmoid(x @ W_i + h @ U_i + b_i + w["p_i"] * c)
    f = sigmoid(x @ W_f + h @ U_f + b_f + w["p_f"] * c)
    c_new = f * c + i * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o + w["p_o"] * c_new)
    return o * np.tanh(c_new), c_new


def coupled_lstm_step(x, h, c, w, recurrent_mask=1.0):
    """Greff et al. 2015 CIFG: the input gate is 1 - f."""
    h = h * recurrent_mask
    W_f, W_c, W_o = np.split(w["kernel"], 3, axis=1)
    U_f, U_c, U_o = np.split(w["recurrent_kernel"], 3, axis=1)
    b_f, b_c, b_o = np.split(w["bias"], 3)
    p_f, p_o = w.get("p_f", 0.0), w.get("p_o", 0.0)
    f = sigmoid(x @ W_f + h @ U_f + b_f + p_f * c)
    c_new = f * c + (1.0 - f) * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o + p_o * c_new)
    return o * np.tanh(c_new), c_new


def layer_norm(z, gamma, beta, epsilon=1e-3):
    """Ba et al. 2016 over the last axis (population variance)."""
    mean = z.mean(-1, keepdims=True)
    variance = ((z - mean) ** 2).mean(-1, keepdims=True)
    return gamma * (z - mean) / np.sqrt(variance + epsilon) + beta


def layer_norm_lstm_step(x, h, c, w, recurrent_mask=1.0, epsilon=1e-3):
    """Ba, Kiros & Hinton 2016 (TF-Addons LayerNormLSTMCell): norms of the
    whole input and recurrent projections, and of the new cell state."""
    h = h * recurrent_mask
    z = (
        layer_norm(x @ w["kernel"], w["k_gamma"], w["k_beta"], epsilon)
        + layer_norm(
            h @ w["recurrent_kernel"], w["r_gamma"], w["r_beta"], epsilon
        )
        + w["bias"]
    )
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    c_new = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
    c_new = layer_norm(c_new, w["s_gamma"], w["s_beta"], epsilon)
    return sigmoid(z_o) * np.tanh(c_new), c_new


def esn_step(x, h, w, leaky):
    """Jaeger 2001 leaky echo state network (TF-Addons ESNCell)."""
    echo = np.tanh(x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
    return (1.0 - leaky) * h + leaky * echo


def clockwork_step(x, h, clock, w, periods, origin=0, recurrent_mask=1.0):
    """Koutník et al. 2014, section 3, one step: the modules i whose period
    divides t = clock + origin compute tanh(W_H h + W_I x + b), with W_H
    block upper-triangular in the paper's (to, from) layout (module i reads
    modules j >= i); the others keep h. The clock counts the steps modulo
    the least common multiple of the periods, in every unit."""
    g, units = len(periods), w["kernel"].shape[1]
    k = units // g
    w_h = np.zeros((units, units))  # (to, from)
    for i in range(g):
        w_h[i * k : (i + 1) * k, i * k :] = w[f"recurrent_kernel_{i}"].T
    a = (h * recurrent_mask) @ w_h.T + x @ w["kernel"] + w["bias"]
    period = np.repeat(periods, k)
    ticks = np.mod(clock + origin, period) == 0
    new_h = np.where(ticks, np.tanh(a), h)
    return new_h, np.mod(clock + 1, np.lcm.reduce(periods))


def depth_gated_lstm_step(x, states, layers, recurrent_mask=1.0):
    """Yao et al. 2015, equations (1)-(8), one step of the stack: each layer
    an LSTM (Graves 2013's, diagonal peepholes optional) on the layer below's
    new h, its memory plus the depth gate times the layer below's new
    memory. `states` are (h, c) per layer from the top down; `layers` from
    the bottom up, each a dict of its per-gate weights: W_*, U_*, b_* for
    the gates i, f (absent: f = 1 - i), c, o; peepholes p_i, p_f, p_o
    (optional); the depth gate's W_d, b_d, w_cd, w_ld (absent on the
    first layer); and on the first layer, W_x0 (optional: the authors'
    code's input term in place of the lower memory)."""
    depth = len(layers)
    pairs = [
        states[2 * (depth - 1 - n) : 2 * (depth - n)] for n in range(depth)
    ]
    new_pairs, below_h, below_c = [], x, None
    for n, w in enumerate(layers):
        h, c = pairs[n]
        h = h * recurrent_mask
        inp = below_h
        i = sigmoid(
            inp @ w["W_i"] + h @ w["U_i"] + w["b_i"] + w.get("p_i", 0) * c
        )
        if "W_f" in w:
            f = sigmoid(
                inp @ w["W_f"] + h @ w["U_f"] + w["b_f"] + w.get("p_f", 0) * c
            )
        else:
            f = 1.0 - i
        g = np.tanh(inp @ w["W_c"] + h @ w["U_c"] + w["b_c"])
        c_new = f * c + i * g
        if "W_d" in w:
            lower = below_c if n > 0 else x @ w["W_x0"]
            z_d = inp @ w["W_d"] + w["b_d"] + w["w_cd"] * c
            if n > 0:
                z_d = z_d + w["w_ld"] * below_c
            c_new = c_new + sigmoid(z_d) * lower
        o = sigmoid(
            inp @ w["W_o"] + h @ w["U_o"] + w["b_o"] + w.get("p_o", 0) * c_new
        )
        h_new = o * np.tanh(c_new)
        new_pairs.append((h_new, c_new))
        below_h, below_c = h_new, c_new
    return tuple(v for pair in reversed(new_pairs) for v in pair)


def grid_lstm_transform(H, m, w, hidden_form="paper"):
    """Kalchbrenner, Danihelka & Graves 2015, section 3.1's LSTM(H, m, W):
    gates g^u, g^f, g^o (sigmoid) and g^c (tanh) of W^* H (plus a bias),
    m' = g^f * m + g^u * g^c, h' = tanh(g^o * m') as the paper writes it,
    or the usual h' = g^o * tanh(m') with hidden_form="lstm"."""
    g_u = sigmoid(H @ w["W_u"] + w["b_u"])
    g_f = sigmoid(H @ w["W_f"] + w["b_f"])
    g_o = sigmoid(H @ w["W_o"] + w["b_o"])
    g_c = np.tanh(H @ w["W_c"] + w["b_c"])
    m_new = g_f * m + g_u * g_c
    if hidden_form == "paper":
        return np.tanh(g_o * m_new), m_new
    return g_o * np.tanh(m_new), m_new


def grid_lstm_step(
    x,
    states,
    projection,
    blocks,
    priority="depth",
    hidden_form="paper",
    recurrent_mask=1.0,
):
    """Section 3, one step of the 2-D grid over time and depth: a column of
    blocks, block n taking H = [h^time; h^depth] (the time vectors carried
    from the previous step, the depth vectors from the block below); each
    dimension's LSTM (its own W^time / W^depth, per block) on H and its own
    memory (3.1); the priority dimension computed after the other, on H
    with the other's new hidden vector in place (3.2). The input enters as
    h^depth_0 = x I (I: `projection`), with m^depth_0 = 0; the output is
    the top h^depth.
    `states` = [output, h^time_L, m^time_L, ..., h^time_1, m^time_1];
    `blocks` from the bottom up, each {"time": w, "depth": w} of per-gate
    matrices over H (rows: h^time first). Returns the new states."""
    depth = len(blocks)
    h_d = x @ projection
    m_d = np.zeros_like(h_d)
    new_pairs = []
    for n, w in enumerate(blocks):
        index = 1 + 2 * (depth - 1 - n)
        h_t, m_t = states[index] * recurrent_mask, states[index + 1]
        H = np.concatenate([h_t, h_d], axis=-1)
        if priority == "time":
            h_d_new, m_d_new = grid_lstm_transform(
                H, m_d, w["depth"], hidden_form
            )
            H_time = np.concatenate([h_t, h_d_new], axis=-1)
            h_t, m_t = grid_lstm_transform(H_time, m_t, w["time"], hidden_form)
        else:
            h_t_new, m_t_new = grid_lstm_transform(
                H, m_t, w["time"], hidden_form
            )
            if priority == "depth":
                H = np.concatenate([h_t_new, h_d], axis=-1)
            h_d_new, m_d_new = grid_lstm_transform(
                H, m_d, w["depth"], hidden_form
            )
            h_t, m_t = h_t_new, m_t_new
        h_d, m_d = h_d_new, m_d_new
        new_pairs.append((h_t, m_t))
    return (h_d, *(v for pair in reversed(new_pairs) for v in pair))


def grid_lstm_1d(x, projection, blocks, hidden_form="paper"):
    """Section 3's one-dimensional grid (the parity networks): h_0 = x I,
    m_0 = 0, then each block's LSTM(h, m, W_n) up the depth; returns the
    top h."""
    h = x @ projection
    m = np.zeros_like(h)
    for w in blocks:
        h, m = grid_lstm_transform(h, m, w, hidden_form)
    return h


def dglstm_cc_step(x, h_prev, c_prev, params):
    """The authors' DyNet code, dglstm.cc's `add_input_impl`, line by line
    (column vectors: x is (features,), weights (out, in); h_prev, c_prev
    lists per layer from the bottom up, as DyNet holds them). Per layer:
    X2I H2I C2I BI, X2O H2O C2O BO, X2C H2C BC, X2K C2K Q2K BK, STAB; X2K0
    on the first. Returns the lists of new h and c."""
    h_new, c_new = [], []
    lower_layer_c = x  # "at layer 0, no lower memory but observation"
    inp = x
    for i, p in enumerate(params):
        in_stb = np.exp(p["STAB"]) * inp
        i_ait = (
            p["BI"]
            + p["X2I"] @ in_stb
            + p["H2I"] @ h_prev[i]
            + p["C2I"] @ c_prev[i]
        )
        i_it = sigmoid(i_ait)
        i_ft = 1.0 - i_it
        i_awt = p["BC"] + p["X2C"] @ in_stb + p["H2C"] @ h_prev[i]
        i_wt = np.tanh(i_awt)
        before = i_ft * c_prev[i] + i_it * i_wt
        i_k_lowerc = p["C2K"] * lower_layer_c + p["BK"] if i > 0 else p["BK"]
        i_k_t = sigmoid(i_k_lowerc + p["X2K"] @ in_stb + p["Q2K"] * c_prev[i])
        lower = p["X2K0"] @ lower_layer_c if i == 0 else lower_layer_c
        ct = before + i_k_t * lower
        i_aot = (
            p["BO"] + p["X2O"] @ in_stb + p["H2O"] @ h_prev[i] + p["C2O"] @ ct
        )
        ht = sigmoid(i_aot) * np.tanh(ct)
        h_new.append(ht)
        c_new.append(ct)
        inp = ht
        lower_layer_c = ct
    return h_new, c_new


def gru_step(x, h_prev, w, reset_after, recurrent_mask=1.0):
    """Keras/cuDNN GRU: h_t = z * h_{t-1} + (1 - z) * candidate."""
    h = h_prev * recurrent_mask
    W_z, W_r, W_h = np.split(w["kernel"], 3, axis=1)
    U_z, U_r, U_h = np.split(w["recurrent_kernel"], 3, axis=1)
    if reset_after:
        b_z, b_r, b_h = np.split(w["bias"][0], 3)
        rb_z, rb_r, rb_h = np.split(w["bias"][1], 3)
    else:
        b_z, b_r, b_h = np.split(w["bias"], 3)
        rb_z = rb_r = rb_h = 0.0
    z = sigmoid(x @ W_z + b_z + h @ U_z + rb_z)
    r = sigmoid(x @ W_r + b_r + h @ U_r + rb_r)
    if reset_after:
        candidate = np.tanh(x @ W_h + b_h + r * (h @ U_h + rb_h))
    else:
        candidate = np.tanh(x @ W_h + b_h + (r * h) @ U_h)
    return z * h_prev + (1.0 - z) * candidate


def min_gru_step(x, h, w, log_space=False):
    """Feng et al. 2024, minGRU (Algorithm 2; log space: Appendix B's g)."""
    W_z, W_h = np.split(w["kernel"], 2, axis=1)
    b_z, b_h = np.split(w["bias"], 2)
    z = sigmoid(x @ W_z + b_z)
    h_tilde = x @ W_h + b_h
    if log_space:
        h_tilde = positive_candidate(h_tilde)
    return (1.0 - z) * h + z * h_tilde


def min_lstm_step(x, h, w, log_space=False):
    """Feng et al. 2024, minLSTM (Algorithm 4; log space: Appendix B)."""
    W_f, W_i, W_h = np.split(w["kernel"], 3, axis=1)
    b_f, b_i, b_h = np.split(w["bias"], 3)
    f = sigmoid(x @ W_f + b_f)
    i = sigmoid(x @ W_i + b_i)
    h_tilde = x @ W_h + b_h
    if log_space:
        h_tilde = positive_candidate(h_tilde)
    return f / (f + i) * h + i / (f + i) * h_tilde


def positive_candidate(x):
    """The minGRU paper's g: x + 0.5 for x >= 0, sigmoid(x) below."""
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def lru_step(u, y, x_re, x_im, w):
    """Orvieto et al. 2023, one step of the LRU with keras_recur's weight
    layout (u B, x C, u D); the state as real and imaginary parts."""
    lam = np.exp(-np.exp(w["nu_log"]) + 1j * np.exp(w["theta_log"]))
    b = (w["B_re"] + 1j * w["B_im"]) * np.exp(w["gamma_log"])
    x = lam * (x_re + 1j * x_im) + u @ b
    y = (x @ (w["C_re"] + 1j * w["C_im"])).real + u @ w["D"]
    return y, x.real, x.imag


def lru_paper_init(N, H, r_min=0.0, r_max=1.0, max_phase=6.28, rng=None):
    """The paper's Appendix A `init_lru_parameters`, transcribed (NumPy's
    global generator replaced by `rng`)."""
    u1 = rng.uniform(size=(N,))
    u2 = rng.uniform(size=(N,))
    nu_log = np.log(-0.5 * np.log(u1 * (r_max**2 - r_min**2) + r_min**2))
    theta_log = np.log(max_phase * u2)
    B_re = rng.normal(size=(N, H)) / np.sqrt(2 * H)
    B_im = rng.normal(size=(N, H)) / np.sqrt(2 * H)
    C_re = rng.normal(size=(H, N)) / np.sqrt(N)
    C_im = rng.normal(size=(H, N)) / np.sqrt(N)
    D = rng.normal(size=(H,))
    diag_lambda = np.exp(-np.exp(nu_log) + 1j * np.exp(theta_log))
    gamma_log = np.log(np.sqrt(1 - np.abs(diag_lambda) ** 2))
    return nu_log, theta_log, B_re, B_im, C_re, C_im, D, gamma_log


def lru_paper_forward(lru_parameters, input_sequence):
    """The paper's Appendix A `forward` of one sequence (time, H), with its
    parallel scan written as the sequential loop it equals."""
    nu_log, theta_log, B_re, B_im, C_re, C_im, D, gamma_log = lru_parameters
    Lambda = np.exp(-np.exp(nu_log) + 1j * np.exp(theta_log))
    B_norm = (B_re + 1j * B_im) * np.expand_dims(np.exp(gamma_log), axis=-1)
    C = C_re + 1j * C_im
    x = np.zeros(Lambda.shape, complex)
    y = []
    for u in input_sequence:
        x = Lambda * x + B_norm @ u
        y.append((C @ x).real + D * u)
    return np.stack(y)


def run(step, x, states, mask=None, go_backwards=False):
    """Runs `step(x_t, *states) -> new states`; the output is states[0].

    A masked step keeps the states, so its output is the carried h (before
    any real step, the initial h); go_backwards walks the steps in reverse
    and returns the outputs in the order they were computed, as Keras does.
    Returns (outputs, final states).
    """
    x = np.asarray(x, np.float64)
    states = [np.asarray(s, np.float64) for s in states]
    steps = range(x.shape[1])
    if go_backwards:
        steps = reversed(steps)
    outputs = []
    for t in steps:
        new = step(x[:, t], *states)
        new = list(new) if isinstance(new, tuple) else [new]
        if mask is not None:
            keep = mask[:, t][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
        states = new
        outputs.append(states[0])
    return np.stack(outputs, axis=1), states


def lstm_family(kind, weights, recurrent_mask=1.0):
    """Step function of one of the two LSTMs, closed over its weights."""
    fn = peephole_lstm_step if kind == "peephole" else coupled_lstm_step
    return lambda x, h, c: fn(x, h, c, weights, recurrent_mask)


def bahdanau_attention(query, value, w, key=None, value_mask=None):
    """Bahdanau et al. 2014 additive attention, one query at a time.

    query (batch, query_dim); value (batch, Tv, dim); weights by name:
    query_kernel, memory_kernel, v, and with weight normalisation g and b.
    Returns context (batch, dim) and weights (batch, Tv).
    """
    key = value if key is None else key
    batch, steps = value.shape[0], value.shape[1]
    context = np.zeros((batch, value.shape[2]))
    alphas = np.zeros((batch, steps))
    for n in range(batch):
        energies = []
        for j in range(steps):
            hidden = (
                query[n] @ w["query_kernel"] + key[n, j] @ w["memory_kernel"]
            )
            if "g" in w:  # weight normalisation (TF-Addons `normalize=True`)
                v = w["g"] * w["v"] / np.linalg.norm(w["v"])
                energies.append(v @ np.tanh(hidden + w["b"]))
            else:
                energies.append(w["v"] @ np.tanh(hidden))
        energies = np.array(energies)
        valid = np.ones(steps, bool) if value_mask is None else value_mask[n]
        if valid.any():
            exp = np.where(valid, np.exp(energies - energies[valid].max()), 0.0)
            alphas[n] = exp / exp.sum()
        context[n] = alphas[n] @ value[n]
    return context, alphas


def attention_decoder(
    cell_step,
    states,
    inputs,
    memory,
    attention_weights,
    memory_mask=None,
    mask=None,
    attend=None,
):
    """Bahdanau's decoder: the query of step i is the previous state's first
    element; the cell reads [y_i, c_i]; the output is [h_i, c_i].

    `attend(query, memory, value_mask) -> (context, weights)` is the
    attention (default: `bahdanau_attention` with `attention_weights`).

    `cell_step(x, *states) -> new states` (h first). A masked step keeps the
    states and repeats the previous output, with zero attention weights.
    Returns outputs (batch, Ty, units + dim), final states, weights
    (batch, Ty, Tx).
    """
    states = [np.asarray(s, np.float64) for s in states]
    outputs, alphas = [], []
    previous = np.zeros((inputs.shape[0], states[0].shape[1] + memory.shape[2]))
    for i in range(inputs.shape[1]):
        if attend is None:
            context, alpha = bahdanau_attention(
                states[0], memory, attention_weights, value_mask=memory_mask
            )
        else:
            context, alpha = attend(states[0], memory, memory_mask)
        new = cell_step(np.concatenate([inputs[:, i], context], -1), *states)
        new = list(new) if isinstance(new, tuple) else [new]
        output = np.concatenate([new[0], context], -1)
        if mask is not None:
            keep = mask[:, i][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
            output = np.where(keep, output, previous)
            alpha = np.where(keep, alpha, 0.0)
        states, previous = new, output
        outputs.append(output)
        alphas.append(alpha)
    return np.stack(outputs, 1), states, np.stack(alphas, 1)


def keras_lstm_step(x, h, c, w):
    """keras.layers.LSTMCell: gates [i, f, c, o], no peepholes."""
    W_i, W_f, W_c, W_o = np.split(w["kernel"], 4, axis=1)
    U_i, U_f, U_c, U_o = np.split(w["recurrent_kernel"], 4, axis=1)
    b_i, b_f, b_c, b_o = np.split(w["bias"], 4)
    i = sigmoid(x @ W_i + h @ U_i + b_i)
    f = sigmoid(x @ W_f + h @ U_f + b_f)
    c_new = f * c + i * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o)
    return o * np.tanh(c_new), c_new


def general_attention(query, value, kernel, value_mask=None, scale=1.0):
    """Luong et al. 2015 "general" score e_j = q . (W h_j) (here h_j W with
    W (dim, query_dim)), times TF-Addons' learned `scale` g, softmax over
    the unmasked values."""
    scores = scale * np.einsum("bd,btd->bt", query, value @ kernel)
    valid = np.ones(scores.shape, bool) if value_mask is None else value_mask
    exp = np.where(valid, np.exp(scores - scores.max(-1, keepdims=True)), 0.0)
    alphas = exp / np.maximum(exp.sum(-1, keepdims=True), 1e-300)
    return np.einsum("bt,btd->bd", alphas, value), alphas


def luong_decoder(
    cell_step,
    states,
    inputs,
    memory,
    attend,
    attention_kernel,
    input_feeding=True,
    memory_mask=None,
    mask=None,
):
    """Luong, Pham & Manning 2015: the cell reads [y_i, h~_{i-1}] (input
    feeding) or y_i; its output h_i queries; the output is the attentional
    vector h~_i = tanh([c_i; h_i] W_c). A masked step keeps the states (the
    fed vector too) and repeats the previous output, with zero weights.
    `attend(query, memory, memory_mask) -> (context, weights)`. Returns
    outputs, final states (the fed vector last) and weights."""
    states = [np.asarray(s, np.float64) for s in states]
    size = attention_kernel.shape[1]
    previous = np.zeros((inputs.shape[0], size))
    if input_feeding:
        states = states + [previous]
    outputs, alphas = [], []
    for i in range(inputs.shape[1]):
        cell_states = states[:-1] if input_feeding else states
        x = inputs[:, i]
        if input_feeding:
            x = np.concatenate([x, states[-1]], -1)
        new = cell_step(x, *cell_states)
        new = list(new) if isinstance(new, tuple) else [new]
        context, alpha = attend(new[0], memory, memory_mask)
        output = np.tanh(
            np.concatenate([context, new[0]], -1) @ attention_kernel
        )
        if input_feeding:
            new.append(output)
        if mask is not None:
            keep = mask[:, i][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
            output = np.where(keep, output, previous)
            alpha = np.where(keep, alpha, 0.0)
        states, previous = new, output
        outputs.append(output)
        alphas.append(alpha)
    return np.stack(outputs, 1), states, np.stack(alphas, 1)


# --- The CRF, by enumeration of every tag sequence -----------------------


def crf_weights(values, num_tags):
    """(transitions, start, end) in float64; zeros without boundaries."""
    values = [np.asarray(v, np.float64) for v in values]
    zeros = np.zeros(num_tags)
    return values[0], *(values[1:] if len(values) == 3 else (zeros, zeros))


def crf_sequences(emissions, mask, values, allowed=None):
    """Every tag sequence of each row's unmasked steps with its score; with
    `allowed` (a set of tag-id tuples, per length), only those."""
    emissions = np.asarray(emissions, np.float64)
    transitions, start, end = crf_weights(values, emissions.shape[-1])
    rows = []
    for row, row_mask in zip(emissions, mask):
        steps = np.flatnonzero(row_mask)
        sequences = list(
            itertools.product(range(emissions.shape[-1]), repeat=len(steps))
        )
        if allowed is not None and len(steps):
            sequences = [s for s in sequences if s in allowed[len(steps)]]
        scores = []
        for tags in sequences:
            score = sum(row[t, k] for t, k in zip(steps, tags))
            if tags:
                score += start[tags[0]] + end[tags[-1]]
                score += sum(transitions[a, b] for a, b in zip(tags, tags[1:]))
            scores.append(score)
        rows.append((steps, sequences, np.array(scores)))
    return rows


def crf_top_k(emissions, mask, values, k, allowed=None):
    """The `k` best sequences of each row by enumeration, as tags
    (batch, k, time) and scores (batch, k); ties by the reversed sequence
    (the last tag first), missing ones score -inf with tags 0."""
    tags = np.zeros((len(mask), k, mask.shape[1]), int)
    best = np.full((len(mask), k), -np.inf)
    for b, (steps, sequences, scores) in enumerate(
        crf_sequences(emissions, mask, values, allowed)
    ):
        order = sorted(
            range(len(sequences)),
            key=lambda i: (-scores[i], sequences[i][::-1]),
        )
        for rank, i in enumerate(order[:k]):
            tags[b, rank, steps] = sequences[i]
            best[b, rank] = scores[i]
    return tags, best


def scheme_sequences(scheme, tag_names, length):
    """Every tag-id sequence of `length` that encodes a chunking of the
    steps under `scheme`: each chunking (single O steps and typed chunks)
    written out by the scheme's definition, not by transition rules."""
    ids = {name: i for i, name in enumerate(tag_names)}
    types = sorted({name[2:] for name in tag_names if name != "O"})
    has_outside = "O" in tag_names
    single, begin, inside, last = {
        "BIO": "BBII",
        "IOB1": "IIII",
        "BIOUL": "UBIL",
        "BIOES": "SBIE",
        "BMES": "SBME",
    }[scheme]

    def encode(kind, size, previous):
        if kind == "O":
            return ["O"]
        if scheme == "IOB1":  # B only where a chunk of its type just ended
            first = "B" if previous == kind else "I"
            return [f"{first}-{kind}"] + [f"I-{kind}"] * (size - 1)
        if size == 1:
            return [f"{single}-{kind}"]
        return (
            [f"{begin}-{kind}"]
            + [f"{inside}-{kind}"] * (size - 2)
            + [f"{last}-{kind}"]
        )

    def chunkings(remaining, previous):
        if remaining == 0:
            yield []
            return
        options = [("O", 1)] if has_outside else []
        options += [(t, n) for t in types for n in range(1, remaining + 1)]
        for kind, size in options:
            for rest in chunkings(remaining - size, kind):
                yield encode(kind, size, previous) + rest

    return {tuple(ids[name] for name in c) for c in chunkings(length, None)}


def crf_log_likelihood(emissions, tags, mask, values, allowed=None):
    out = []
    for (steps, sequences, scores), row_tags in zip(
        crf_sequences(emissions, mask, values, allowed), tags
    ):
        log_z = np.log(np.sum(np.exp(scores)))
        out.append(scores[sequences.index(tuple(row_tags[steps]))] - log_z)
    return np.array(out)
