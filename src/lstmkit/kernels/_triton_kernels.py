"""The Triton kernels of the ``triton`` backend (kernels/triton_backend.py): one LSTM cell step forward and
its backward, one program per batch row. Imported on first use: ``triton.jit`` reads TRITON_INTERPRET when
this module is imported, so the environment at that moment decides between the GPU and the interpreter."""

import triton
import triton.language as tl


@triton.jit
def act_fwd(x, KIND: tl.constexpr):  # the ids of kernels/activations.py (csrc/lstm_cell.h's enum Act)
    if KIND == 0:
        y = 2.0 * tl.sigmoid(2.0 * x) - 1.0  # tanh
    elif KIND == 1:
        y = tl.sigmoid(x)
    elif KIND == 2:
        y = tl.where(x < 0.0, 0.0, x)  # relu (NaN stays NaN)
    elif KIND == 3:
        y = tl.minimum(tl.maximum(x / 6.0 + 0.5, 0.0), 1.0)  # hard_sigmoid (Keras 3, torch)
    elif KIND == 4:
        y = tl.minimum(tl.maximum(0.2 * x + 0.5, 0.0), 1.0)  # hard_sigmoid_legacy (Keras 2)
    elif KIND == 5:
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))  # gelu (erf)
    elif KIND == 6:
        y = x / (1.0 + tl.abs(x))  # softsign
    else:
        y = x  # identity
    return y

@triton.jit
def act_grad(x, y, KIND: tl.constexpr):  # act'(x) from x and y = act(x), as csrc/lstm_cell.h's act_bwd
    if KIND == 0:
        d = 1.0 - y * y
    elif KIND == 1:
        d = y * (1.0 - y)
    elif KIND == 2:
        d = tl.where(y <= 0.0, 0.0, 1.0)
    elif KIND == 3:
        d = tl.where((y > 0.0) & (y < 1.0), 1.0 / 6.0, 0.0)
    elif KIND == 4:
        d = tl.where((y > 0.0) & (y < 1.0), 0.2, 0.0)
    elif KIND == 5:
        d = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476)) + x * tl.exp(-0.5 * x * x) * 0.3989422804014327
    elif KIND == 6:
        q = 1.0 - tl.abs(y)
        d = q * q
    else:
        d = x * 0.0 + 1.0
    return d

@triton.jit
def cell_fwd(z_ptr, c_ptr, pw_ptr, lnw_ptr, lnb_ptr, zc_ptr, valid_ptr,
             gates_ptr, cn_ptr, stats_ptr, hraw_ptr, cnext_ptr,
             H, forget_bias, clip, eps,
             ACT: tl.constexpr, RACT: tl.constexpr, CIFG: tl.constexpr, PEEP: tl.constexpr,
             LN: tl.constexpr, ZONE: tl.constexpr, HAS_VALID: tl.constexpr,
             CLIP: tl.constexpr, BLOCK: tl.constexpr, CT: tl.constexpr):
    row = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    m = j < H
    G = 3 if CIFG else 4
    zrow = z_ptr + row * G * H
    F0 = 0 if CIFG else H  # where the f, g, o blocks start ([i,] f, g, o)
    c = tl.load(c_ptr + row * H + j, mask=m, other=0.0).to(CT)
    zf = tl.load(zrow + F0 + j, mask=m, other=0.0).to(CT) + forget_bias
    zg = tl.load(zrow + F0 + H + j, mask=m, other=0.0).to(CT)
    zo = tl.load(zrow + F0 + 2 * H + j, mask=m, other=0.0).to(CT)
    if PEEP:  # peepholes read c_{t-1} into i and f, c_t into o (Gers & Schmidhuber 2000)
        P0 = 0 if CIFG else H
        zf += tl.load(pw_ptr + P0 + j, mask=m, other=0.0).to(CT) * c
    f = act_fwd(zf, RACT)
    if CIFG:
        i = 1.0 - f  # coupled gates (Greff et al. 2017)
    else:
        zi = tl.load(zrow + j, mask=m, other=0.0).to(CT)
        if PEEP:
            zi += tl.load(pw_ptr + j, mask=m, other=0.0).to(CT) * c
        i = act_fwd(zi, RACT)
    g = act_fwd(zg, ACT)
    cn = f * c + i * g
    if CLIP:  # cell_clip (Sak et al. 2014)
        cn = tl.minimum(tl.maximum(cn, -clip), clip)
    if PEEP:
        zo += tl.load(pw_ptr + (H if CIFG else 2 * H) + j, mask=m, other=0.0).to(CT) * cn
    o = act_fwd(zo, RACT)
    if LN:  # h = o act(LN(c_t)): the row's statistics in this program
        mean = tl.sum(tl.where(m, cn, 0.0), axis=0) / H
        diff = tl.where(m, cn - mean, 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(diff * diff, axis=0) / H + eps)
        w = tl.load(lnw_ptr + j, mask=m, other=0.0).to(CT)
        b = tl.load(lnb_ptr + j, mask=m, other=0.0).to(CT)
        cout = diff * rstd * w + b
        tl.store(stats_ptr + row * 2, mean)
        tl.store(stats_ptr + row * 2 + 1, rstd)
    else:
        cout = cn
    hraw = o * act_fwd(cout, ACT)
    cnext = cn
    if ZONE:  # zoneout keeps the previous value with probability p (Krueger et al. 2017): a mask, or p itself
        zc = tl.load(zc_ptr + row * H + j, mask=m, other=0.0).to(CT)
        cnext = cn + zc * (c - cn)
    if HAS_VALID:  # past the sequence's end the state is frozen
        v = tl.load(valid_ptr + row)
        cnext = tl.where(v != 0, cnext, c)
    gt = gates_ptr + row * 4 * H
    tl.store(gt + j, i, mask=m)
    tl.store(gt + H + j, f, mask=m)
    tl.store(gt + 2 * H + j, g, mask=m)
    tl.store(gt + 3 * H + j, o, mask=m)
    tl.store(cn_ptr + row * H + j, cn, mask=m)
    tl.store(hraw_ptr + row * H + j, hraw, mask=m)
    tl.store(cnext_ptr + row * H + j, cnext, mask=m)

@triton.jit
def cell_bwd(dh_ptr, dcn_ptr, z_ptr, c_ptr, gates_ptr, cn_ptr, stats_ptr, pw_ptr, lnw_ptr, lnb_ptr,
             zc_ptr, valid_ptr,
             dz_ptr, dc_ptr, dpw_ptr, dlnw_ptr, dlnb_ptr,
             H, clip,
             ACT: tl.constexpr, RACT: tl.constexpr, CIFG: tl.constexpr, PEEP: tl.constexpr,
             LN: tl.constexpr, ZONE: tl.constexpr, HAS_VALID: tl.constexpr,
             CLIP: tl.constexpr, BLOCK: tl.constexpr, CT: tl.constexpr):
    row = tl.program_id(0)
    j = tl.arange(0, BLOCK)
    m = j < H
    G = 3 if CIFG else 4
    F0 = 0 if CIFG else H
    zrow = z_ptr + row * G * H
    gt = gates_ptr + row * 4 * H
    i = tl.load(gt + j, mask=m, other=0.0)
    f = tl.load(gt + H + j, mask=m, other=0.0)
    g = tl.load(gt + 2 * H + j, mask=m, other=0.0)
    o = tl.load(gt + 3 * H + j, mask=m, other=0.0)
    c = tl.load(c_ptr + row * H + j, mask=m, other=0.0).to(CT)
    cn = tl.load(cn_ptr + row * H + j, mask=m, other=0.0)
    dh = tl.load(dh_ptr + row * H + j, mask=m, other=0.0).to(CT)
    dnext = tl.load(dcn_ptr + row * H + j, mask=m, other=0.0).to(CT)
    dc_prev = dnext * 0.0
    if HAS_VALID:  # a frozen step passes the carried gradient straight to c_{t-1}
        v = tl.load(valid_ptr + row)
        dc_prev = tl.where(v != 0, 0.0, dnext)
        dnext = tl.where(v != 0, dnext, 0.0)
    if ZONE:
        zc = tl.load(zc_ptr + row * H + j, mask=m, other=0.0).to(CT)
        dc_prev += zc * dnext
        dnext = (1.0 - zc) * dnext
    # h_raw = o act(c_out): dz_o and the gradient reaching c_out
    if LN:
        mean = tl.load(stats_ptr + row * 2)
        rstd = tl.load(stats_ptr + row * 2 + 1)
        w = tl.load(lnw_ptr + j, mask=m, other=0.0).to(CT)
        b = tl.load(lnb_ptr + j, mask=m, other=0.0).to(CT)
        xhat = tl.where(m, (cn - mean) * rstd, 0.0)
        cout = xhat * w + b
    else:
        cout = cn
    a = act_fwd(cout, ACT)
    do = dh * a
    dcout = dh * o * act_grad(cout, a, ACT)
    zo = tl.load(zrow + F0 + 2 * H + j, mask=m, other=0.0).to(CT)
    dzo = do * act_grad(zo, o, RACT)  # (z_o is only read by activations that need x: none of the gates)
    if LN:
        tl.store(dlnw_ptr + row * H + j, dcout * xhat, mask=m)
        tl.store(dlnb_ptr + row * H + j, dcout, mask=m)
        gw = tl.where(m, dcout * w, 0.0)
        m1 = tl.sum(gw, axis=0) / H
        m2 = tl.sum(gw * xhat, axis=0) / H
        dcl = rstd * (gw - m1 - xhat * m2)
    else:
        dcl = dcout
    dcn = dnext + dcl
    if PEEP:
        po = tl.load(pw_ptr + (H if CIFG else 2 * H) + j, mask=m, other=0.0).to(CT)
        dcn += dzo * po
        tl.store(dpw_ptr + row * 3 * H + 2 * H + j, dzo * cn, mask=m)
    if CLIP:  # no gradient where c_t was clipped
        dcn = tl.where((cn > -clip) & (cn < clip), dcn, 0.0)
    df = dcn * c
    di = dcn * g
    dg = dcn * i
    dc_prev += dcn * f
    if CIFG:
        df -= di
    zf = tl.load(zrow + F0 + j, mask=m, other=0.0).to(CT)
    zg = tl.load(zrow + F0 + H + j, mask=m, other=0.0).to(CT)
    dzf = df * act_grad(zf, f, RACT)
    dzg = dg * act_grad(zg, g, ACT)
    drow = dz_ptr + row * G * H
    if not CIFG:
        zi = tl.load(zrow + j, mask=m, other=0.0).to(CT)
        dzi = di * act_grad(zi, i, RACT)
        tl.store(drow + j, dzi, mask=m)
    if PEEP:
        P0 = 0 if CIFG else H
        dc_prev += dzf * tl.load(pw_ptr + P0 + j, mask=m, other=0.0).to(CT)
        tl.store(dpw_ptr + row * 3 * H + H + j, dzf * c, mask=m)
        if not CIFG:
            dc_prev += dzi * tl.load(pw_ptr + j, mask=m, other=0.0).to(CT)
            tl.store(dpw_ptr + row * 3 * H + j, dzi * c, mask=m)
    tl.store(drow + F0 + j, dzf, mask=m)
    tl.store(drow + F0 + H + j, dzg, mask=m)
    tl.store(drow + F0 + 2 * H + j, dzo, mask=m)
    tl.store(dc_ptr + row * H + j, dc_prev, mask=m)
