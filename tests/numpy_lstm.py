"""An independent NumPy (float64) implementation of the LSTM equations in docs/equations.md.

Written from the equations, not from lstmkit's code, and used for golden values. Deterministic math only
(inference: no dropout; zoneout as its expectation).
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACT = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "identity": lambda x: x,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
}


def ln(x, gain, bias, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gain + bias


def run_direction(x, h, c, p, opt, valid=None):
    """x: (T, B, I); p: dict of numpy weights (torch layout); returns outputs (T, B, P), h, c."""
    act, ract = ACT[opt.get("activation", "tanh")], ACT[opt.get("recurrent_activation", "sigmoid")]
    H = c.shape[-1]
    cifg = opt.get("cifg", False)
    z_keep = opt.get("zoneout", 0.0)
    outs = []
    for t in range(x.shape[0]):
        a = x[t] @ p["weight_ih"].T
        b = h @ p["weight_hh"].T
        if opt.get("layer_norm"):
            a = ln(a, p["ln_ih_weight"], p["ln_ih_bias"])
            b = ln(b, p["ln_hh_weight"], p["ln_hh_bias"])
        z = a + b
        if "bias_ih" in p:
            z = z + p["bias_ih"] + p["bias_hh"]
        if cifg:
            zf, zg, zo = z[:, :H], z[:, H:2 * H], z[:, 2 * H:]
        else:
            zi, zf, zg, zo = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        zf = zf + opt.get("forget_bias", 0.0)
        if opt.get("peephole"):
            ph = p["weight_ph"]
            if cifg:
                zf = zf + ph[0] * c
            else:
                zi = zi + ph[0] * c
                zf = zf + ph[1] * c
        f = ract(zf)
        i = 1.0 - f if cifg else ract(zi)
        g = act(zg)
        c_new = f * c + i * g
        if opt.get("cell_clip"):
            c_new = np.clip(c_new, -opt["cell_clip"], opt["cell_clip"])
        if opt.get("peephole"):
            zo = zo + ph[-1] * c_new
        o = ract(zo)
        cc = ln(c_new, p["ln_c_weight"], p["ln_c_bias"]) if opt.get("layer_norm") else c_new
        h_new = o * act(cc)
        if "weight_hr" in p:
            h_new = h_new @ p["weight_hr"].T
            if opt.get("proj_clip"):
                h_new = np.clip(h_new, -opt["proj_clip"], opt["proj_clip"])
        c_new = (1 - z_keep) * c_new + z_keep * c
        h_new = (1 - z_keep) * h_new + z_keep * h
        if valid is not None:
            m = valid[t][:, None]
            h = np.where(m, h_new, h)
            c = np.where(m, c_new, c)
            outs.append(np.where(m, h_new, 0.0))
        else:
            h, c = h_new, c_new
            outs.append(h_new)
    return np.stack(outs), h, c


def reverse(x, lengths):
    if lengths is None:
        return x[::-1].copy()
    y = x.copy()
    for b, n in enumerate(lengths):
        y[:n, b] = x[:n, b][::-1]
    return y


def run_lstm(x, params, opt, num_layers, bidirectional, hidden, out_size, lengths=None):
    """x: (T, B, I) -> (out, h_n, c_n); params: {name: ndarray} as in the lstmkit state_dict."""
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    valid = None if lengths is None else (np.arange(T)[:, None] < np.asarray(lengths)[None, :])
    inp = x
    hs, cs = [], []
    for k in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            p = {n[: -len(sfx)]: v for n, v in params.items() if n.endswith(sfx)}
            xi = inp if d == 0 else reverse(inp, lengths)
            o, h, c = run_direction(xi, np.zeros((B, out_size)), np.zeros((B, hidden)), p, opt, valid)
            outs.append(o if d == 0 else reverse(o, lengths))
            hs.append(h)
            cs.append(c)
        out = np.concatenate(outs, -1)
        if opt.get("residual") and out.shape[-1] == inp.shape[-1]:
            out = out + (inp if valid is None else inp * valid[:, :, None])
        inp = out
    return inp, np.stack(hs), np.stack(cs)
