// lstmkit's LSTM cell math for one row of units, forward and backward: what every schedule of every backend
// calls (docs/equations.md writes the equations; kernels/functional.py::cell_step is the specification).
// Plain C++ on raw pointers, no ATen: the CPU kernel (fused_cpu.cpp) includes it, and a GPU backend can port
// it function by function.

#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace lstmkit_cell {

// exp that the compiler can vectorise (libm's expf/tanhf are scalar calls and dominated the step time):
// Cephes' expf polynomial after reduction x = n ln2 + r, scaled by 2^n through the exponent bits.
// Max relative error ~2 ulp in float. double keeps std::exp (float64 is for gradcheck, not speed).
// clamp that lets NaN through (std::min/std::max return the bound for a NaN argument, which turned a NaN input
// into an ordinary number); the comparisons compile to the same vector blends.
template <typename T>
inline T clamp_nan(T x, T lo, T hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// Above ln(FLT_MAX) the result is +inf, as expf gives: the clamp at 89 makes n = 128, whose exponent bits
// (255 << 23) are inf's. So sigmoid(-inf) is exactly 0 and 0 * inf = NaN follows torch's math.
inline float vexp(float x) {
  x = clamp_nan(x, -87.3365447505531f, 89.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}
inline double vexp(double x) { return std::exp(x); }

// tanh(x) = 1 - 2 / (exp(2x) + 1); absolute error ~1e-7 in float (tanh saturates beyond |x| = 9).
inline float vtanh(float x) {
  x = clamp_nan(x, -9.0f, 9.0f);
  return 1.0f - 2.0f / (vexp(2.0f * x) + 1.0f);
}
inline double vtanh(double x) { return std::tanh(x); }

// The ids are those of lstmkit/kernels/activations.py, checked against activation_ids() when the module loads.
enum Act : int64_t { TANH = 0, SIGMOID, RELU, HARD_SIGMOID, HARD_SIGMOID_LEGACY, GELU, SOFTSIGN, IDENTITY };

template <typename T>
inline void act_fwd(int64_t kind, const T* x, T* y, int64_t n) {
  switch (kind) {
    case TANH: for (int64_t j = 0; j < n; ++j) y[j] = vtanh(x[j]); break;
    case SIGMOID: for (int64_t j = 0; j < n; ++j) y[j] = T(1) / (T(1) + vexp(-x[j])); break;
    case RELU: for (int64_t j = 0; j < n; ++j) y[j] = x[j] < T(0) ? T(0) : x[j]; break;  // relu(NaN) = NaN
    case HARD_SIGMOID:
      for (int64_t j = 0; j < n; ++j) y[j] = clamp_nan(x[j] / T(6) + T(0.5), T(0), T(1));
      break;
    case HARD_SIGMOID_LEGACY:
      for (int64_t j = 0; j < n; ++j) y[j] = clamp_nan(T(0.2) * x[j] + T(0.5), T(0), T(1));
      break;
    case GELU:
      for (int64_t j = 0; j < n; ++j) y[j] = T(0.5) * x[j] * (T(1) + std::erf(x[j] * T(M_SQRT1_2)));
      break;
    case SOFTSIGN: for (int64_t j = 0; j < n; ++j) y[j] = x[j] / (T(1) + std::abs(x[j])); break;
    default: for (int64_t j = 0; j < n; ++j) y[j] = x[j];
  }
}

// d[j] *= act'(x[j]), from y = act(x) for every activation but GELU, which needs x (only then is z kept).
template <typename T>
inline void act_bwd(int64_t kind, const T* x, const T* y, T* d, int64_t n) {
  switch (kind) {
    case TANH: for (int64_t j = 0; j < n; ++j) d[j] *= T(1) - y[j] * y[j]; break;
    case SIGMOID: for (int64_t j = 0; j < n; ++j) d[j] *= y[j] * (T(1) - y[j]); break;
    case RELU: for (int64_t j = 0; j < n; ++j) d[j] = y[j] <= T(0) ? T(0) : d[j]; break;
    case HARD_SIGMOID:  // slope 1/6 where 0 < y < 1, i.e. -3 < x < 3
      for (int64_t j = 0; j < n; ++j) d[j] = (y[j] > T(0) && y[j] < T(1)) ? d[j] / T(6) : T(0);
      break;
    case HARD_SIGMOID_LEGACY:
      for (int64_t j = 0; j < n; ++j) d[j] = (y[j] > T(0) && y[j] < T(1)) ? d[j] * T(0.2) : T(0);
      break;
    case GELU:
      for (int64_t j = 0; j < n; ++j) {
        const T cdf = T(0.5) * (T(1) + std::erf(x[j] * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * x[j] * x[j]) * T(0.3989422804014327);
        d[j] *= cdf + x[j] * pdf;
      }
      break;
    case SOFTSIGN:  // y = x / (1 + |x|)  =>  y' = 1 / (1 + |x|)^2 = (1 - |y|)^2
      for (int64_t j = 0; j < n; ++j) { const T q = T(1) - std::abs(y[j]); d[j] *= q * q; }
      break;
    default: break;
  }
}

// Row layer norm: y = (x - mean) * rstd * w + b (y may alias x). Returns rstd. The reductions carry
// `omp simd reduction` so gcc vectorises them (-fopenmp-simd; no OpenMP runtime involved): a plain
// floating-point sum is never reassociated, and scalar sums made layer norm the slowest variant.
template <typename T>
inline T ln_fwd(const T* x, const T* w, const T* b, T* y, int64_t n, double eps, T* mean_out = nullptr) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += x[j];
  const T mean = sum / T(n);
  if (mean_out) *mean_out = mean;
  T var = 0;
#pragma omp simd reduction(+ : var)
  for (int64_t j = 0; j < n; ++j) var += (x[j] - mean) * (x[j] - mean);
  const T rstd = T(1) / std::sqrt(var / T(n) + T(eps));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mean) * rstd * w[j] + b[j];
  return rstd;
}

// Given dy for y = LN(x), accumulate dw, db and write dx (may alias dy).
template <typename T>
inline void ln_bwd(const T* dy, const T* xhat, T rstd, const T* w, T* dw, T* db, T* dx, int64_t n) {
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const T g = dy[j] * w[j];
    s1 += g;
    s2 += g * xhat[j];
  }
  for (int64_t j = 0; j < n; ++j) {
    dw[j] += dy[j] * xhat[j];
    db[j] += dy[j];
  }
  const T m1 = s1 / T(n), m2 = s2 / T(n);
  for (int64_t j = 0; j < n; ++j) dx[j] = rstd * (dy[j] * w[j] - m1 - xhat[j] * m2);
}

// ln_bwd from the raw input x and its saved row statistics: xhat = (x - mean) * rstd is recomputed inside
// the two passes rather than written out first.
template <typename T>
inline void ln_bwd_raw(const T* dy, const T* x, T mean, T rstd, const T* w, T* dw, T* db, T* dx, int64_t n) {
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const T g = dy[j] * w[j];
    s1 += g;
    s2 += g * ((x[j] - mean) * rstd);
  }
  const T m1 = s1 / T(n), m2 = s2 / T(n);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T xh = (x[j] - mean) * rstd, d = dy[j];
    dw[j] += d * xh;
    db[j] += d;
    dx[j] = rstd * (d * w[j] - m1 - xh * m2);
  }
}

// ---- the cell's math, once: both thread schedules (rows, columns) call these -----------------------------
// docs/equations.md writes out the forward and backward equations these implement.

// The cell's options, by name: Python builds one (CellOptions(act=..., ...), see kernels/fused.py) per call.
// X(type, name, default): the one list of them on this side; the bindings and the load-time check read it.
#define LSTMKIT_CELL_OPTIONS(X)                                                        \
  X(int64_t, act, 0)        /* activation ids (kernels/activations.py) */              \
  X(int64_t, rec_act, 1)                                                               \
  X(bool, cifg, false)      /* coupled input and forget gates: i = 1 - f */            \
  X(double, eps, 1e-5)      /* the layer norms' epsilon */                             \
  X(double, zone_p, 0.0)    /* zoneout's eval probability where no mask is given */    \
  X(double, cell_clip, 0.0) /* clip c_t to [-v, v]; 0 = off */                         \
  X(double, proj_clip, 0.0) /* clip the projected h_t to [-v, v]; 0 = off */

struct CellOptions {
#define LSTMKIT_OPTION_FIELD(type, name, value) type name = value;
  LSTMKIT_CELL_OPTIONS(LSTMKIT_OPTION_FIELD)
#undef LSTMKIT_OPTION_FIELD
};

// Where the gate blocks [i,] f, g, o start in a row whose blocks are `n` apart (cifg: no i block; rows f, g, o).
struct GateLayout {
  int64_t i, f, g, o;
  GateLayout(bool cifg, int64_t n) : i(0), f(cifg ? 0 : n), g(cifg ? n : 2 * n), o(cifg ? 2 * n : 3 * n) {}
};

// Zoneout keeps a unit's previous value with probability m (a 0/1 mask in training, p itself in eval):
// next = new + m (prev - new) (Krueger et al. 2017); its gradient g splits into (1 - m) g for the new value
// and m g for the previous one.
template <typename T>
inline T zone_mix(T fresh, T prev, T m) { return fresh + m * (prev - fresh); }

template <typename T>
inline void zone_split(T g, T m, T* d_fresh, T* d_prev) {
  *d_fresh = (T(1) - m) * g;
  *d_prev = m * g;
}

// The gate pass of one row over n hidden units (equations (1)-(6) of docs/equations.md). z holds the
// pre-activations of the G gate blocks of n ([i,] f, g, o), input and recurrent products and biases already
// summed; pi/pf/po are these units' peephole weights (or null) and c_prev their previous cell state. Adds the
// peephole terms to z, writes the gate activations into g (same layout) and the new cell state into cn.
template <typename T>
inline void gates_fwd(T* z, T* g, const T* c_prev, T* cn, const T* pi, const T* pf, const T* po, int64_t n,
                      int64_t act, int64_t rec_act, bool cifg, T clip = T(0)) {
  const GateLayout L(cifg, n);
  const int64_t fo = L.f, go = L.g, oo = L.o;
  if (pf) {
    for (int64_t j = 0; j < n; ++j) z[fo + j] += pf[j] * c_prev[j];
    if (pi) for (int64_t j = 0; j < n; ++j) z[j] += pi[j] * c_prev[j];
  }
  act_fwd(rec_act, z + fo, g + fo, n);  // f = s(z_f)
  if (!cifg) act_fwd(rec_act, z, g, n);  // i = s(z_i)
  act_fwd(act, z + go, g + go, n);  // g = act(z_g)
  for (int64_t j = 0; j < n; ++j) {
    const T i = cifg ? T(1) - g[fo + j] : g[j];
    cn[j] = g[fo + j] * c_prev[j] + i * g[go + j];  // c = f c_{t-1} + i g
  }
  if (clip > T(0)) for (int64_t j = 0; j < n; ++j) cn[j] = clamp_nan(cn[j], -clip, clip);  // cell_clip
  if (po) for (int64_t j = 0; j < n; ++j) z[oo + j] += po[j] * cn[j];
  act_fwd(rec_act, z + oo, g + oo, n);  // o = s(z_o)
}

// Backward of h_raw = o act(x) for one row over n units (x = c_new, or LN_c(c_new)), equation (B1): from dh,
// the gradient of h_raw, writes dz_o into do_ and dx into dx. o and z_o are the output gate's activation and
// pre-activation (z_o may be null unless GELU needs it); y is scratch for act(x).
template <typename T>
inline void output_bwd(const T* dh, const T* o, const T* z_o, const T* x, T* y, T* do_, T* dx, int64_t n,
                       int64_t act, int64_t rec_act) {
  act_fwd(act, x, y, n);
  for (int64_t j = 0; j < n; ++j) {
    do_[j] = dh[j] * y[j];
    dx[j] = dh[j] * o[j];
  }
  act_bwd(act, x, y, dx, n);
  act_bwd(rec_act, z_o, o, do_, n);  // do_ is now dz_o
}

// Backward of gates_fwd for one row over n units, equations (B2)-(B5). dcn: the gradient reaching c_new
// through the carried state, dcl: through the output (output_bwd's dx, after LN_c's backward if any), do_:
// dz_o. g/z: the gate activations and pre-activations (z may be null unless GELU needs it) with layout lg;
// writes dz_i, dz_f, dz_g, dz_o into dz (layout lz), adds c_{t-1}'s gradient into dc_prev and the peephole
// gradients into dpi/dpf/dpo (null without peepholes). di, df, dg: scratch of n.
template <typename T>
inline void gates_bwd(const T* dcn, const T* dcl, const T* do_, const T* g, const T* z, GateLayout lg,
                      const T* c_prev, const T* cn, const T* pi, const T* pf, const T* po, T* dc_prev, T* dpi,
                      T* dpf, T* dpo, T* dz, GateLayout lz, T* di, T* df, T* dg, int64_t n, int64_t act,
                      int64_t rec_act, bool cifg, T clip = T(0)) {
  const bool peep = pf != nullptr;
  auto zat = [z](int64_t off) { return z ? z + off : nullptr; };
  for (int64_t j = 0; j < n; ++j) {
    T dc = dcn[j] + dcl[j];
    if (peep) { dc += do_[j] * po[j]; dpo[j] += do_[j] * cn[j]; }  // z_o peeks at c_t
    if (clip > T(0) && !(cn[j] > -clip && cn[j] < clip)) dc = T(0);  // cell_clip: no gradient where clipped
    const T f = g[lg.f + j], gg = g[lg.g + j];
    const T i = cifg ? T(1) - f : g[lg.i + j];
    df[j] = dc * c_prev[j];
    di[j] = dc * gg;
    dg[j] = dc * i;
    dc_prev[j] += dc * f;
    if (cifg) df[j] -= di[j];  // i = 1 - f
  }
  act_bwd(rec_act, zat(lg.f), g + lg.f, df, n);
  act_bwd(act, zat(lg.g), g + lg.g, dg, n);
  if (!cifg) act_bwd(rec_act, zat(lg.i), g + lg.i, di, n);
  for (int64_t j = 0; j < n; ++j) {
    if (peep) {  // z_f and z_i peek at c_{t-1}
      dc_prev[j] += df[j] * pf[j];
      dpf[j] += df[j] * c_prev[j];
      if (!cifg) { dc_prev[j] += di[j] * pi[j]; dpi[j] += di[j] * c_prev[j]; }
    }
    if (!cifg) dz[lz.i + j] = di[j];
    dz[lz.f + j] = df[j];
    dz[lz.g + j] = dg[j];
    dz[lz.o + j] = do_[j];
  }
}

// The state carried out of step t for one row, equation (7): with zoneout the new h (nh units) and c (nc)
// are mixed with the previous ones (zh/zc: this row's masks, or null for the eval probability zp); past the
// sequence's end the state is frozen and the output is zero (lengths). hn holds the new h on entry.
template <typename T>
inline void state_update(bool live, bool zoned, T* hn, T* cx, T* out, const T* hprev, const T* cprev,
                         const T* cn, const T* zh, const T* zc, T zp, int64_t nh, int64_t nc) {
  if (!live) {
    for (int64_t j = 0; j < nh; ++j) { hn[j] = hprev[j]; out[j] = T(0); }
    for (int64_t j = 0; j < nc; ++j) cx[j] = cprev[j];
    return;
  }
  if (zoned) {
    for (int64_t j = 0; j < nh; ++j) hn[j] = zone_mix(hn[j], hprev[j], zh ? zh[j] : zp);
    for (int64_t j = 0; j < nc; ++j) cx[j] = zone_mix(cn[j], cprev[j], zc ? zc[j] : zp);
  } else {
    for (int64_t j = 0; j < nc; ++j) cx[j] = cn[j];
  }
  for (int64_t j = 0; j < nh; ++j) out[j] = hn[j];
}

}  // namespace lstmkit_cell
