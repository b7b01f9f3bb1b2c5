// lstmkit fused CPU kernel: one layer, one direction, every variant; forward and hand-written BPTT.
//
// The input projection a = [LN](W_ih x) + b_ih + b_hh + forget bias is computed for all steps by the caller
// (one GEMM). This file runs the recurrence: per step one GEMM h_{t-1} W_hh^T (oneDNN's brgemm micro-kernel),
// then one fused pass over the gates. Each thread owns a block of batch rows for the whole sequence. The
// backward pass walks the steps in reverse doing the same, and the weight gradients dW_hh and dW_hr are
// computed after the loop as single large GEMMs over all T*B rows (the trick cuDNN and haste use).
// The per-row cell math is in lstm_cell.h; equations: docs/equations.md; specification:
// kernels/functional.py::cell_step.
//
// Layouts: all tensors contiguous, time-major. z/gates: (T, B, G*H) with gate blocks [i, f, g, o]
// (G = 4) or [f, g, o] (G = 3, cifg). Optional tensors are passed as empty tensors.

#include <ATen/Parallel.h>
#include <omp.h>
#include <ATen/native/CPUBlas.h>
#include <torch/extension.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define LSTMKIT_HAVE_MXCSR 1
#endif

#include "kernel_io.h"  // the named boundary with Python: inputs, saved state, gradients
#include "lstm_cell.h"  // the cell's math: activations, layer norm, gates_fwd/gates_bwd, zoneout, state_update

using namespace lstmkit_cell;
using namespace lstmkit_io;

namespace {

// Subnormal floats flushed to zero on this thread while the guard lives, the previous mode restored after.
// Gradients flowing back through many steps of a saturating recurrence decay geometrically and reach the
// subnormal range (below 1.2e-38 in float32) within a few hundred steps; x86 processes subnormal operands in
// microcode, tens of times slower, which made the backward pass of a 208-step sequence ten times slower than a
// 104-step one (torch.nn.LSTM's kernel slows down the same way). Values that small are zero to every loss in
// float32, and 1e-308 in float64 is never reached, so results change only below the smallest normal number.
// Set per thread (the control register is per thread): at each entry and inside each parallel region.
struct FlushSubnormals {
#ifdef LSTMKIT_HAVE_MXCSR
  unsigned int saved;
  FlushSubnormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040u); }  // FTZ (bit 15) and DAZ (bit 6)
  ~FlushSubnormals() { _mm_setcsr(saved); }
#else
  FlushSubnormals() = default;  // elsewhere (ARM) the default mode stays
#endif
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;
};

inline bool has(const at::Tensor& t) { return t.defined() && t.numel() > 0; }

template <typename T>
inline const T* ptr_or_null(const at::Tensor& t) { return has(t) ? t.data_ptr<T>() : nullptr; }

// ---- column split --------------------------------------------------------------------------------------
// Threads for splitting H hidden units in whole 16-float vectors (at most one thread per vector).
inline int64_t column_threads(int64_t H) { return std::min<int64_t>(at::get_num_threads(), (H + 15) / 16); }

// The calling OpenMP thread's units [j0, j0 + nu) of H; threads past the last vector get nu = 0 and must
// still meet every barrier.
inline void column_slice(int64_t H, int64_t* j0, int64_t* nu) {
  const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
  const int64_t chunk = ((H + nth - 1) / nth + 15) / 16 * 16;
  *j0 = std::min(H, tid * chunk);
  *nu = std::min(H, *j0 + chunk) - *j0;
}

// ---- buffer pool ------------------------------------------------------------------------------------------
// The per-step histories (gates, states, W_hh h, the gradients) are arrays of tens of MB. glibc serves blocks
// above its mmap threshold (at most 32 MB) with a fresh mmap each time, so every training step faulted in and
// zeroed them again: char-lm spent about a quarter of its time in the kernel's page-fault path. The kernel's
// own large arrays therefore come from this pool and go back to it when their tensors die (like torch's CUDA
// caching allocator): a block is reused for a request between half its size and its size, and at most
// LSTMKIT_POOL_MB (default 1024) of free blocks are kept. release_buffers() hands them all back.
class BufferPool {
 public:
  static BufferPool& get() {
    static BufferPool* pool = new BufferPool();  // never destroyed: tensors may die after static teardown
    return *pool;
  }
  void* take(size_t n, size_t* got) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first <= 2 * n) {
        void* p = it->second;
        *got = it->first;
        held_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = nullptr;
    TORCH_CHECK(posix_memalign(&p, 64, n) == 0 && p, "lstmkit fused: out of memory allocating ", n, " bytes");
    *got = n;
    return p;
  }
  void give(void* p, size_t n) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (held_ + n <= cap_) {
        free_.emplace(n, p);
        held_ += n;
        return;
      }
    }
    std::free(p);
  }
  int64_t release() {
    std::lock_guard<std::mutex> guard(mutex_);
    const int64_t bytes = static_cast<int64_t>(held_);
    for (auto& [n, p] : free_) std::free(p);
    free_.clear();
    held_ = 0;
    return bytes;
  }

 private:
  BufferPool() {
    const char* mb = std::getenv("LSTMKIT_POOL_MB");
    cap_ = static_cast<size_t>(mb ? std::max(0L, std::atol(mb)) : 1024L) << 20;
  }
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t held_ = 0, cap_ = 0;
};

constexpr size_t kPoolMinBytes = size_t(1) << 20;  // smaller arrays stay with the system allocator

at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  const size_t n = static_cast<size_t>(numel) * opts.dtype().itemsize();
  if (n < kPoolMinBytes) return at::empty(sizes, opts);
  size_t got = 0;
  void* p = BufferPool::get().take(n, &got);
  return at::from_blob(p, sizes, [got](void* q) { BufferPool::get().give(q, got); }, opts);
}

// ---- GEMMs ------------------------------------------------------------------------------------------------
// The recurrence needs, per step and per block of batch rows, C (M, N) = A (M, K) @ Bt (K, N), row-major.
// float32 uses oneDNN's batch-reduce GEMM micro-kernel (at::native::cpublas::brgemm, the kernel torch's own
// CPU flash attention uses): it runs on the calling thread with no dispatch, about 1 us for the first seed's
// 10x50 @ 50x200 where at::mm costs 11 us, and 654 us for 64x512 @ 512x2048 on one core where at::mm takes
// 1049 us on two. Builds without the micro-kernel, and float64, use at::mm on the blocks.
bool probe_brgemm() {
  try {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0, 0, 0, 0};
    at::native::cpublas::brgemm(2, 2, 2, 2, 2, 2, false, a, b, c, false);
    at::native::cpublas::brgemm_release(false);
    return c[0] == 1 && c[3] == 4;
  } catch (const std::exception&) {
    return false;
  }
}

bool brgemm_available() {
  static const bool ok = probe_brgemm();
  return ok;
}

template <typename T>
void gemm_rows(const T* A, int64_t M, int64_t K, const T* Bt, int64_t N, T* C) {
  if (M == 0) return;  // an empty batch
  if constexpr (std::is_same_v<T, float>) {
    if (brgemm_available()) {
      // A weight matrix larger than a core's L2 share is streamed from L3 once per block of rows inside one
      // brgemm call; in 64-column slices (K x 64 floats each) it is read once per step instead. char-lm's
      // forward (4 MB W_hh): 173-181 -> 152-162 ms; small matrices gain nothing and stay in one call.
      // LSTMKIT_GEMM_NB sets the slice width (0: never slice).
      static const int64_t nb_env = [] {
        const char* e = std::getenv("LSTMKIT_GEMM_NB");
        return e ? std::atol(e) : -1L;
      }();
      const int64_t nb = nb_env >= 0 ? nb_env : (K * N * int64_t(sizeof(T)) > (int64_t(512) << 10) ? 64 : 0);
      if (nb <= 0 || nb >= N) {
        at::native::cpublas::brgemm(M, N, K, K, N, N, false, A, Bt, C, false);
      } else {
        for (int64_t n0 = 0; n0 < N; n0 += nb)
          at::native::cpublas::brgemm(M, std::min(nb, N - n0), K, K, N, N, false, A, Bt + n0, C + n0, false);
      }
      return;
    }
  }
  auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  auto a = at::from_blob(const_cast<T*>(A), {M, K}, opts);
  auto b = at::from_blob(const_cast<T*>(Bt), {K, N}, opts);
  auto c = at::from_blob(C, {M, N}, opts);
  at::mm_out(c, a, b);
}

// C (M, N) (+)= A (M, K) @ B (K, N) with leading dimensions, float32 only (callers check brgemm_available()).
template <typename T>
void brgemm_float(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc, bool add, const T* A,
                  const T* Bm, T* C) {
  if constexpr (std::is_same_v<T, float>) {
    at::native::cpublas::brgemm(M, N, K, lda, ldb, ldc, add, A, Bm, C, false);
  } else {
    TORCH_CHECK(false, "lstmkit fused: brgemm is float32 only");
  }
}

// Batch rows never interact in an LSTM: each thread runs every time step for its own block of rows, so the
// whole sequence needs one fork and join instead of a synchronisation per step. Blocks are split only when
// the micro-kernel GEMM can run inside a parallel region (float32) and there is enough work.
constexpr int64_t kParallelMinWork = 1 << 16;  // B * T * 4H multiply-adds per GEMM column, roughly

template <typename F>
void for_row_blocks(bool parallel_ok, int64_t B, int64_t work, const F& f) {
  if (parallel_ok && B > 1 && work >= kParallelMinWork && at::get_num_threads() > 1) {
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      FlushSubnormals ftz;
      f(b0, b1);
    });
  } else {
    f(0, B);
  }
}

// Raw pointers to the optional inputs of the variants, shared by the forward and backward passes.
template <typename T>
struct Variant {
  const T* pi = nullptr;  // peephole rows i, f, o of weight_ph (no i row with cifg)
  const T* pf = nullptr;
  const T* po = nullptr;
  const T* lcw;  // layer norm of c: gain, bias
  const T* lcb;
  const T* rm;  // recurrent dropout mask (B, P)
  const T* zh;  // zoneout masks (T, B, P), (T, B, H)
  const T* zc;
  const bool* vd;  // valid steps (T, B) from lengths
  T zp;  // zoneout probability where no mask is given (eval), else 0

  bool live(int64_t row) const { return !vd || vd[row]; }  // step `row` (t * B + b) within its sequence
  T zone_h(int64_t k) const { return zh ? zh[k] : zp; }  // zoneout keep-mask of h at flat index k
  T zone_c(int64_t k) const { return zc ? zc[k] : zp; }

  Variant(const KernelInputs& in, const CellOptions& opt, int64_t H)
      : lcw(ptr_or_null<T>(in.ln_c_w)), lcb(ptr_or_null<T>(in.ln_c_b)), rm(ptr_or_null<T>(in.rec_mask)),
        zh(ptr_or_null<T>(in.zone_h)), zc(ptr_or_null<T>(in.zone_c)),
        vd(has(in.valid) ? in.valid.data_ptr<bool>() : nullptr), zp(T(opt.zone_p)) {
    const bool cifg = opt.cifg;
    if (has(in.w_ph)) {
      const T* ph = in.w_ph.data_ptr<T>();
      pi = cifg ? nullptr : ph;
      pf = ph + (cifg ? 0 : H);
      po = ph + (cifg ? H : 2 * H);
    }
  }
};

}  // namespace

at::Tensor weight_grad(const at::Tensor& g, const at::Tensor& x);

// z_t = [LN_ih](a_t) + bias + [LN_hh](W_hh h_{t-1}). Without LN_ih the caller folds bias into a.
// Returns out and the saved state (kernel_io.h lists it).
// The normalised values of the three layer norms are not stored, only their row statistics: the backward
// pass recomputes them from c_new, a and (one extra GEMM per step) W_hh h_{t-1}. Each stored value would be
// a T*B*4H array of fresh memory to fault in, which costs more than recomputing it.
KernelForward fused_forward(const KernelInputs& in, const CellOptions& opt, bool save, bool store_gh,
                            bool split_columns) {
  FlushSubnormals ftz;
  const int64_t act = opt.act, rec_act = opt.rec_act;
  const bool cifg = opt.cifg;
  const double eps = opt.eps, zone_p = opt.zone_p;
  TORCH_CHECK(in.a.dim() == 3 && in.h0.dim() == 2 && in.c0.dim() == 2 && in.w_hh.dim() == 2, "lstmkit fused: bad ranks");
  const int64_t T = in.a.size(0), B = in.a.size(1), GH = in.a.size(2), H = in.c0.size(1), P = in.h0.size(1);
  const bool proj = has(in.w_hr), peep = has(in.w_ph);
  // The kernel indexes raw memory: check every shape it relies on.
  TORCH_CHECK(GH == (cifg ? 3 : 4) * H, "lstmkit fused: a has ", GH, " gate columns, expected ", (cifg ? 3 : 4) * H);
  TORCH_CHECK(in.h0.size(0) == B && in.c0.size(0) == B, "lstmkit fused: h0/c0 batch differs from a's ", B);
  TORCH_CHECK(in.w_hh.size(0) == GH && in.w_hh.size(1) == P, "lstmkit fused: weight_hh must be (", GH, ", ", P, ")");
  TORCH_CHECK(proj ? (in.w_hr.size(0) == P && in.w_hr.size(1) == H) : P == H, "lstmkit fused: h width ", P,
              " needs a (", P, ", ", H, ") projection or P == H");
  TORCH_CHECK(!peep || (in.w_ph.numel() == (cifg ? 2 : 3) * H), "lstmkit fused: weight_ph has the wrong size");
  TORCH_CHECK(!has(in.ln_hh_w) || (in.ln_hh_w.numel() == GH && in.ln_hh_b.numel() == GH), "lstmkit fused: bad ln_hh");
  TORCH_CHECK(!has(in.ln_c_w) || (in.ln_c_w.numel() == H && in.ln_c_b.numel() == H), "lstmkit fused: bad ln_c");
  TORCH_CHECK(!has(in.ln_ih_w) || (in.ln_ih_w.numel() == GH && in.ln_ih_b.numel() == GH), "lstmkit fused: bad ln_ih");
  TORCH_CHECK(!has(in.bias) || in.bias.numel() == GH, "lstmkit fused: bias must have ", GH, " entries");
  TORCH_CHECK(!has(in.rec_mask) || in.rec_mask.numel() == B * P, "lstmkit fused: rec_mask must be (B, P)");
  TORCH_CHECK(!has(in.zone_h) || (in.zone_h.numel() == T * B * P && in.zone_c.numel() == T * B * H),
              "lstmkit fused: zoneout masks must be (T, B, P) and (T, B, H)");
  TORCH_CHECK(!has(in.valid) || (in.valid.numel() == T * B && in.valid.scalar_type() == at::kBool),
              "lstmkit fused: valid must be a (T, B) bool mask");
  const auto dtype = in.a.scalar_type();
  auto check = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(!has(t) || t.is_contiguous(), "lstmkit fused: input ", name, " must be contiguous");
    TORCH_CHECK(!has(t) || t.scalar_type() == dtype || &t == &in.valid, "lstmkit fused: input ", name, " is ",
                t.scalar_type(), ", a is ", dtype);
  };
#define LSTMKIT_CHECK_INPUT(name) check(in.name, #name);
  LSTMKIT_INPUTS(LSTMKIT_CHECK_INPUT)
#undef LSTMKIT_CHECK_INPUT
  const bool zoned = has(in.zone_h) || zone_p != 0.0;
  // What the backward pass needs is kept for every step; the rest lives in one-step scratch rows, so
  // inference writes little fresh memory (first-touch page faults cost as much as the arithmetic here).
  // Pre-activations are needed only for GELU's derivative; c_new differs from the carried c only under
  // zoneout.
  const int64_t Ts = save ? T : 1;
  const bool keep_z = save && (act == GELU || rec_act == GELU), keep_cn = save && zoned;
  auto opts = in.a.options();
  auto out = pooled_empty({T, B, P}, opts);
  // inference keeps two state slots, used in turn (fresh memory is expensive, see above)
  auto h_all = pooled_empty({save ? T + 1 : 2, B, P}, opts);
  auto c_all = pooled_empty({save ? T + 1 : 2, B, H}, opts);
  auto z = pooled_empty({keep_z ? T : 1, B, GH}, opts);
  auto gates = pooled_empty({Ts, B, GH}, opts);
  auto c_new = pooled_empty({keep_cn ? T : 1, B, H}, opts);
  auto h_raw = proj ? pooled_empty({Ts, B, H}, opts) : pooled_empty({0}, opts);
  auto mean_hh = has(in.ln_hh_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  auto rstd_hh = has(in.ln_hh_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  auto mean_c = has(in.ln_c_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  auto rstd_c = has(in.ln_c_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  auto mean_ih = has(in.ln_ih_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  auto rstd_ih = has(in.ln_ih_w) ? pooled_empty({Ts, B}, opts) : pooled_empty({0}, opts);
  h_all[0].copy_(in.h0);
  c_all[0].copy_(in.c0);
  auto w_hh_t = in.w_hh.t().contiguous();  // (P, GH): the GEMMs take B row-major (K, N)
  auto w_hr_t = proj ? in.w_hr.t().contiguous() : in.w_hr;  // (H, P)
  // W_hh h_{t-1}, one row per sequence: of the current step only, or of every step when the recurrent layer
  // norm's backward is to read it back instead of recomputing it (store_gh, chosen by the caller)
  store_gh = store_gh && save && has(in.ln_hh_w);
  auto gh = pooled_empty({store_gh ? T : 1, B, GH}, opts);
  // proj_clip's backward needs the clipped projection before zoneout mixed it into h_t
  const bool keep_hp = save && proj && opt.proj_clip > 0;
  auto h_proj = keep_hp ? pooled_empty({T, B, P}, opts) : pooled_empty({0}, opts);
  auto rh = has(in.rec_mask) ? pooled_empty({B, P}, opts) : pooled_empty({0}, opts);
  // Small batches (the caller decides, split_columns): splitting the rows leaves each thread few rows per step
  // and the whole of W_hh to stream from memory, and one row cannot be split at all. Instead each thread owns
  // a slice of the hidden units (its columns of W_hh, packed, stay in its own cache) for every row, and the
  // threads meet at a barrier after each step, when h_t is complete. Layer norms (a reduction over the whole
  // row) and the projection (a GEMM over all of h_raw) keep the row split.
  const int64_t col_threads = column_threads(H);
  const bool columns = split_columns && in.a.scalar_type() == at::kFloat && brgemm_available() && col_threads > 1 &&
                       !proj && !has(in.ln_hh_w) && !has(in.ln_c_w) && !has(in.ln_ih_w) && !at::in_parallel_region();

  AT_DISPATCH_FLOATING_TYPES(in.a.scalar_type(), "lstmkit_fused_forward", [&] {
    using T_ = scalar_t;
    const int64_t oo = GateLayout(cifg, H).o;  // the output gate's columns in the gate rows
    const Variant<T_> v(in, opt, H);
    const T_* lnw = ptr_or_null<T_>(in.ln_hh_w);
    const T_* lnb = ptr_or_null<T_>(in.ln_hh_b);
    const T_* pa = in.a.data_ptr<T_>();
    const T_* pwt = w_hh_t.data_ptr<T_>();
    const T_* pwrt = proj ? w_hr_t.data_ptr<T_>() : nullptr;
    T_* pz = z.data_ptr<T_>();
    T_* pg = gates.data_ptr<T_>();
    T_* pcn = c_new.data_ptr<T_>();
    T_* ph_all = h_all.data_ptr<T_>();
    T_* pc_all = c_all.data_ptr<T_>();
    T_* pout = out.data_ptr<T_>();
    T_* phr = proj ? h_raw.data_ptr<T_>() : nullptr;
    T_* pgh = gh.data_ptr<T_>();
    T_* prh = v.rm ? rh.data_ptr<T_>() : nullptr;
    T_* pmean_hh = has(in.ln_hh_w) ? mean_hh.data_ptr<T_>() : nullptr;
    T_* prstd_hh = has(in.ln_hh_w) ? rstd_hh.data_ptr<T_>() : nullptr;
    T_* pmean_c = has(in.ln_c_w) ? mean_c.data_ptr<T_>() : nullptr;
    T_* prstd_c = has(in.ln_c_w) ? rstd_c.data_ptr<T_>() : nullptr;
    const T_* liw = ptr_or_null<T_>(in.ln_ih_w);
    const T_* lib = ptr_or_null<T_>(in.ln_ih_b);
    const T_* pbias = ptr_or_null<T_>(in.bias);
    T_* pmean_ih = liw ? mean_ih.data_ptr<T_>() : nullptr;
    T_* prstd_ih = liw ? rstd_ih.data_ptr<T_>() : nullptr;

    if (columns) {  // small batches: the threads split the hidden units instead of the rows (see above)
      const int64_t G = cifg ? 3 : 4;  // gate blocks; o is the last
      _Pragma("omp parallel num_threads(col_threads)")
      {
        FlushSubnormals ftz;
        int64_t j0, nu;
        column_slice(H, &j0, &nu);
        const int64_t Gn = G * nu;
        // this thread's columns of W_hh^T, packed gate block after gate block: (P, G*nu)
        std::vector<T_> wk(P * Gn), ghk(B * Gn), zk(Gn), gk(Gn), yk(nu), rhk(v.rm ? B * P : 0);
        for (int64_t p = 0; p < P; ++p)
          for (int64_t q = 0; q < G; ++q)
            for (int64_t j = 0; j < nu; ++j) wk[p * Gn + q * nu + j] = pwt[p * GH + q * H + j0 + j];
        for (int64_t t = 0; t < T; ++t) {
          const int64_t slot = save ? t : t % 2, next = save ? t + 1 : (t + 1) % 2;
          const T_* hp = ph_all + slot * B * P;
          const T_* cp = pc_all + slot * B * H;
          T_* hnext = ph_all + next * B * P;
          T_* cnext = pc_all + next * B * H;
          const T_* gin = hp;
          if (v.rm) {
            for (int64_t k = 0; k < B * P; ++k) rhk[k] = hp[k] * v.rm[k];
            gin = rhk.data();
          }
          if (nu > 0) brgemm_float(B, Gn, P, P, Gn, Gn, false, gin, wk.data(), ghk.data());  // (B, G*nu)
          for (int64_t b = 0; b < B && nu > 0; ++b) {
            const int64_t row = t * B + b, srow = save ? row : b;
            const T_* ar = pa + row * GH;
            for (int64_t q = 0; q < G; ++q)
              for (int64_t j = 0; j < nu; ++j)
                zk[q * nu + j] =
                    ar[q * H + j0 + j] + ghk[b * Gn + q * nu + j] + (pbias ? pbias[q * H + j0 + j] : T_(0));
            const T_* c_prev = cp + b * H + j0;
            T_* cn = pcn + (keep_cn ? row : b) * H + j0;
            gates_fwd(zk.data(), gk.data(), c_prev, cn, v.pi ? v.pi + j0 : nullptr, v.pf ? v.pf + j0 : nullptr,
                      v.po ? v.po + j0 : nullptr, nu, act, rec_act, cifg, T_(opt.cell_clip));
            for (int64_t q = 0; q < G; ++q)
              for (int64_t j = 0; j < nu; ++j) {
                pg[srow * GH + q * H + j0 + j] = gk[q * nu + j];
                if (keep_z) pz[row * GH + q * H + j0 + j] = zk[q * nu + j];
              }
            act_fwd(act, cn, yk.data(), nu);
            T_* hn = hnext + b * P + j0;  // P == H: no projection on this path
            const T_* ok = gk.data() + GateLayout(cifg, nu).o;
            for (int64_t j = 0; j < nu; ++j) hn[j] = ok[j] * yk[j];
            state_update(v.live(row), zoned, hn, cnext + b * H + j0, pout + row * P + j0, hp + b * P + j0,
                         cp + b * H + j0, cn, v.zh ? v.zh + row * P + j0 : nullptr,
                         v.zc ? v.zc + row * H + j0 : nullptr, v.zp, nu, nu);
          }
          _Pragma("omp barrier")
        }
        if (brgemm_available()) at::native::cpublas::brgemm_release(false);
      }
    } else
    for_row_blocks(std::is_same_v<T_, float> && brgemm_available(), B, B * T * GH, [&](int64_t b0, int64_t b1) {
      const int64_t nb = b1 - b0;
      std::vector<T_> cl(H), y(H), ghn(lnw && store_gh ? GH : 0);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t slot = save ? t : t % 2, next = save ? t + 1 : (t + 1) % 2;
        const T_* hp = ph_all + slot * B * P;  // h_{t-1}: (B, P)
        const T_* cp = pc_all + slot * B * H;  // c_{t-1}: (B, H)
        T_* hnext = ph_all + next * B * P;
        T_* cnext = pc_all + next * B * H;
        const T_* gemm_in = hp + b0 * P;
        if (v.rm) {  // variational dropout on h_{t-1}
          for (int64_t k = b0 * P; k < b1 * P; ++k) prh[k] = hp[k] * v.rm[k];
          gemm_in = prh + b0 * P;
        }
        T_* pgh_t = pgh + (store_gh ? t * B * GH : 0);
        gemm_rows(gemm_in, nb, P, pwt, GH, pgh_t + b0 * GH);  // (nb, GH) = h_{t-1} W_hh^T
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = t * B + b;
          const int64_t srow = save ? row : b;  // row in the per-step (saved or scratch) buffers
          T_* zr = pz + (keep_z ? row : b) * GH;
          T_* gr = pg + srow * GH;
          const T_* ar = pa + row * GH;
          T_* ghr = pgh_t + b * GH;
          const T_* c_prev = cp + b * H;
          if (lnw) {  // LN_hh(W_hh h_{t-1}): in place, or into scratch when the raw values are kept
            prstd_hh[srow] = ln_fwd(ghr, lnw, lnb, store_gh ? ghn.data() : ghr, GH, eps, pmean_hh + srow);
            if (store_gh) ghr = ghn.data();
          }
          if (liw) {  // z = LN_ih(a_t) + bias + [LN_hh](W_hh h_{t-1})
            prstd_ih[srow] = ln_fwd(ar, liw, lib, zr, GH, eps, pmean_ih + srow);
            for (int64_t k = 0; k < GH; ++k) zr[k] += ghr[k];
          } else {
            for (int64_t k = 0; k < GH; ++k) zr[k] = ar[k] + ghr[k];  // z = a_t + [LN](W_hh h_{t-1})
          }
          if (pbias) for (int64_t k = 0; k < GH; ++k) zr[k] += pbias[k];
          T_* cn = pcn + (keep_cn ? row : b) * H;
          gates_fwd(zr, gr, c_prev, cn, v.pi, v.pf, v.po, H, act, rec_act, cifg, T_(opt.cell_clip));
          const T_* cin = cn;
          if (v.lcw) {
            prstd_c[srow] = ln_fwd(cn, v.lcw, v.lcb, cl.data(), H, eps, pmean_c + srow);
            cin = cl.data();
          }
          act_fwd(act, cin, y.data(), H);
          // h_raw = o act(c); without projection it is h_new, written straight into the carried state
          T_* hr = proj ? phr + srow * H : hnext + b * P;
          for (int64_t j = 0; j < H; ++j) hr[j] = gr[oo + j] * y[j];
        }
        if (proj) {  // (nb, P) = h_raw W_hr^T
          gemm_rows(phr + (save ? t * B + b0 : b0) * H, nb, H, pwrt, P, hnext + b0 * P);
          if (opt.proj_clip > 0) {  // proj_clip, before zoneout and lengths see the new h
            const T_ v_clip = T_(opt.proj_clip);
            for (int64_t k = b0 * P; k < b1 * P; ++k) hnext[k] = clamp_nan(hnext[k], -v_clip, v_clip);
            if (keep_hp) std::copy(hnext + b0 * P, hnext + b1 * P, h_proj.data_ptr<T_>() + (t * B + b0) * P);
          }
        }
        // zoneout and lengths: new state and output
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = t * B + b;
          state_update(v.live(row), zoned, hnext + b * P, cnext + b * H, pout + row * P, hp + b * P, cp + b * H,
                       pcn + (keep_cn ? row : b) * H, v.zh ? v.zh + row * P : nullptr,
                       v.zc ? v.zc + row * H : nullptr, v.zp, P, H);
        }
      }
      if constexpr (std::is_same_v<T_, float>) {
        if (brgemm_available()) at::native::cpublas::brgemm_release(false);
      }
    });
  });
  if (save && !keep_cn) c_new = c_all.narrow(0, 1, T);  // the same values wherever the backward reads them
  if (!save) {  // the caller reads the final state as the last slot
    h_all = h_all.narrow(0, T % 2, 1);
    c_all = c_all.narrow(0, T % 2, 1);
  }
  if (!store_gh) gh = pooled_empty({0}, opts);
  KernelForward r;
  r.out = out;
#define LSTMKIT_KEEP(name) r.saved.name = name;  // the locals above carry the saved fields' names
  LSTMKIT_SAVED(LSTMKIT_KEEP)
#undef LSTMKIT_KEEP
  return r;
}

// The gradients of the loss with respect to the differentiable inputs, given those of out, h_T and c_T
// (equations (B0)-(B5) of docs/equations.md).
KernelGrads fused_backward(const at::Tensor& dout, const at::Tensor& dh_n, const at::Tensor& dc_n,
                           const KernelInputs& in, const KernelSaved& s, const CellOptions& opt, bool split_columns) {
  FlushSubnormals ftz;
  const int64_t act = opt.act, rec_act = opt.rec_act;
  const bool cifg = opt.cifg;
  const bool has_bias = has(in.bias);
  const int64_t T = s.gates.size(0), B = s.gates.size(1), GH = s.gates.size(2), H = s.c_all.size(2), P = s.h_all.size(2);
  const bool proj = has(in.w_hr), peep = has(in.w_ph), ln_hh = has(in.ln_hh_w), ln_c = has(in.ln_c_w), ln_ih = has(in.ln_ih_w);
  auto opts = s.gates.options();
  const bool use_brgemm = s.gates.scalar_type() == at::kFloat && brgemm_available();
  static const int64_t in_loop_max = [] {
    const char* e = std::getenv("LSTMKIT_INLOOP_DW_MAX_KB");
    return (e ? std::atol(e) : 1024L) << 10;
  }();
  const bool in_loop_dw = use_brgemm && P * GH * int64_t(sizeof(float)) <= in_loop_max;
  // Gradient arrays of every step, (T, B, GH) each, exist only where something reads them after the loop:
  // da (returned), and dgh when dW_hh is one GEMM after the loop. d z_t, and d(W_hh h) under the recurrent
  // layer norm, otherwise live in per-block one-step scratch: each full array is 4*T*B*GH bytes of fresh
  // memory to fault in and stream out, which made the layer-normalised backward pass ~20% slower.
  const bool dgh_full = !in_loop_dw;
  const bool dz_full = !ln_ih || (!ln_hh && dgh_full);
  auto dz = dz_full ? pooled_empty({T, B, GH}, opts) : pooled_empty({0}, opts);  // d z_t
  auto da = ln_ih ? pooled_empty({T, B, GH}, opts) : dz;
  auto dln_ih_w = ln_ih ? at::zeros({GH}, opts) : pooled_empty({0}, opts);
  auto dln_ih_b = ln_ih ? at::zeros({GH}, opts) : pooled_empty({0}, opts);
  auto dbias = has_bias ? at::zeros({GH}, opts) : pooled_empty({0}, opts);
  auto dgh = !ln_hh ? dz : dgh_full ? pooled_empty({T, B, GH}, opts) : pooled_empty({0}, opts);
  auto dhn_all = proj ? pooled_empty({T, B, P}, opts) : pooled_empty({0}, opts);
  auto dH = dh_n.contiguous().clone();  // (B, P) grad w.r.t. h_t, carried backwards
  auto dC = dc_n.contiguous().clone();  // (B, H)
  auto dHp = pooled_empty({B, P}, opts);
  auto dhraw = pooled_empty({B, H}, opts);
  auto drh = pooled_empty({B, P}, opts);
  auto dw_ph = peep ? at::zeros_like(in.w_ph) : pooled_empty({0}, opts);
  auto dln_hh_w = ln_hh ? at::zeros({GH}, opts) : pooled_empty({0}, opts);
  auto dln_hh_b = ln_hh ? at::zeros({GH}, opts) : pooled_empty({0}, opts);
  auto dln_c_w = ln_c ? at::zeros({H}, opts) : pooled_empty({0}, opts);
  auto dln_c_b = ln_c ? at::zeros({H}, opts) : pooled_empty({0}, opts);
  auto w_hh_c = in.w_hh.contiguous();  // (GH, P): dh = dgh W_hh
  const bool gh_kept = ln_hh && has(s.gh);  // W_hh h_{t-1} stored by the forward pass, else recomputed
  TORCH_CHECK(!gh_kept || s.gh.numel() == T * B * GH, "lstmkit fused: saved W_hh h must be (T, B, 4H)");
  auto w_hh_t = ln_hh && !gh_kept ? in.w_hh.t().contiguous() : pooled_empty({0}, opts);  // (P, GH)
  // Small batches: the threads split the hidden units, as in the forward pass (see there); one barrier per
  // step, after which each thread computes dh_{t-1} for its own units from every thread's d z_t.
  const int64_t col_threads = column_threads(H);
  const bool columns = split_columns && use_brgemm && col_threads > 1 && !proj && !ln_hh && !ln_c && !ln_ih &&
                       !at::in_parallel_region();
  auto dw_hh_t = in_loop_dw && !columns ? at::zeros({P, GH}, opts) : pooled_empty({0}, opts);
  auto dw_cols = columns ? at::zeros({GH, P}, opts) : pooled_empty({0}, opts);
  auto w_hr_c = proj ? in.w_hr.contiguous() : in.w_hr;  // (P, H): dh_raw = dh_new W_hr

  AT_DISPATCH_FLOATING_TYPES(s.gates.scalar_type(), "lstmkit_fused_backward", [&] {
    using T_ = scalar_t;
    const GateLayout lg(cifg, H);  // the gate rows' blocks, H apart
    const Variant<T_> v(in, opt, H);
    const bool keep_z = s.z.size(0) == T;
    const T_* pz = s.z.data_ptr<T_>();
    const T_* pg = s.gates.data_ptr<T_>();
    const T_* pcn = s.c_new.data_ptr<T_>();
    const T_* pc_all = s.c_all.data_ptr<T_>();
    const T_* ph_all_c = s.h_all.data_ptr<T_>();
    const T_* pdout = dout.data_ptr<T_>();
    const T_* pw = w_hh_c.data_ptr<T_>();
    const T_* pwr = proj ? w_hr_c.data_ptr<T_>() : nullptr;
    const T_* pmean_c = ln_c ? s.mean_c.data_ptr<T_>() : nullptr;
    const T_* prstd_c = ln_c ? s.rstd_c.data_ptr<T_>() : nullptr;
    const T_* pmean_hh = ln_hh ? s.mean_hh.data_ptr<T_>() : nullptr;
    const T_* pwt = ln_hh && !gh_kept ? w_hh_t.data_ptr<T_>() : nullptr;
    const T_* pgh_saved = gh_kept ? s.gh.data_ptr<T_>() : nullptr;
    const T_* prstd_hh = ln_hh ? s.rstd_hh.data_ptr<T_>() : nullptr;
    const T_* plnw = ln_hh ? in.ln_hh_w.data_ptr<T_>() : nullptr;
    const T_* pliw = ln_ih ? in.ln_ih_w.data_ptr<T_>() : nullptr;
    const T_* pa = ln_ih ? in.a.data_ptr<T_>() : nullptr;
    const T_* pmean_ih = ln_ih ? s.mean_ih.data_ptr<T_>() : nullptr;
    const T_* prstd_ih = ln_ih ? s.rstd_ih.data_ptr<T_>() : nullptr;
    T_* pda = has(da) ? da.data_ptr<T_>() : nullptr;
    T_* pdz = dz_full ? dz.data_ptr<T_>() : nullptr;
    T_* pdgh = has(dgh) ? dgh.data_ptr<T_>() : nullptr;
    T_* pdhn_all = proj ? dhn_all.data_ptr<T_>() : nullptr;
    T_* pdH = dH.data_ptr<T_>();
    T_* pdC = dC.data_ptr<T_>();
    T_* pdHp = dHp.data_ptr<T_>();
    T_* pdhr = dhraw.data_ptr<T_>();
    T_* pdrh = drh.data_ptr<T_>();
    std::mutex acc_mutex;

    if (columns) {
      const int64_t G = cifg ? 3 : 4;
      T_* pdw = dw_cols.data_ptr<T_>();
      T_* pdph = peep ? dw_ph.data_ptr<T_>() : nullptr;  // rows i, f, o (f, o with cifg) of weight_ph
      T_* pdb = has_bias ? dbias.data_ptr<T_>() : nullptr;
      _Pragma("omp parallel num_threads(col_threads)")
      {
        FlushSubnormals ftz;
        int64_t j0, nu;
        column_slice(H, &j0, &nu);
        const int64_t Gn = G * nu;
        // W_hh restricted to this thread's units as GEMM input columns: (GH, nu); dh_{t-1}[:, own] = dz_t W
        std::vector<T_> wk(GH * nu), acc(P * Gn), rht(P * B), dzk(B * Gn), drk(B * nu), dhk(B * nu);
        std::vector<T_> y(nu), dcn(nu), dcl(nu), do_(nu), di(nu), df(nu), dg(nu);
        std::vector<T_> acc_p(peep ? 3 * nu : 0, T_(0)), acc_b(has_bias ? Gn : 0, T_(0));
        for (int64_t k = 0; k < GH; ++k)
          for (int64_t j = 0; j < nu; ++j) wk[k * nu + j] = pw[k * P + j0 + j];
        for (int64_t t = T - 1; t >= 0; --t) {  // every thread meets every barrier, even with no units
          for (int64_t b = 0; b < B && nu > 0; ++b) {
            const int64_t row = t * B + b;
            T_* dHr = pdH + b * P + j0;
            T_* dhn = dhk.data() + b * nu;
            T_* dzr = dzk.data() + b * Gn;
            T_* out_dz = pdz + row * GH;
            if (!v.live(row)) {  // past this sequence's end: dh passes straight to t-1, dC unchanged
              for (int64_t j = 0; j < nu; ++j) dhn[j] = T_(0);
              for (int64_t k = 0; k < Gn; ++k) dzr[k] = T_(0);
              for (int64_t q = 0; q < G; ++q)
                for (int64_t j = 0; j < nu; ++j) out_dz[q * H + j0 + j] = T_(0);
              continue;
            }
            // zoneout: the new h's share of the gradient; dh_{t-1}'s direct part stays in dHr (its recurrent
            // part is added after the barrier)
            for (int64_t j = 0; j < nu; ++j)
              zone_split(dHr[j] + pdout[row * P + j0 + j], v.zone_h(row * P + j0 + j), &dhn[j], &dHr[j]);
            const T_* gr = pg + row * GH + j0;  // this thread's units of the gate row (blocks H apart)
            const T_* zr = keep_z ? pz + row * GH + j0 : nullptr;
            const T_* cn = pcn + row * H + j0;
            const T_* c_prev = pc_all + t * B * H + b * H + j0;
            T_* dCr = pdC + b * H + j0;
            for (int64_t j = 0; j < nu; ++j) zone_split(dCr[j], v.zone_c(row * H + j0 + j), &dcn[j], &dCr[j]);
            output_bwd(dhn, gr + lg.o, zr ? zr + lg.o : nullptr, cn, y.data(), do_.data(), dcl.data(), nu, act,
                       rec_act);
            // packed gate blocks of this thread: [i,] f, g, o, each nu long; peephole sums in acc_p's i, f, o
            gates_bwd(dcn.data(), dcl.data(), do_.data(), gr, zr, lg, c_prev, cn, v.pi ? v.pi + j0 : nullptr,
                      v.pf ? v.pf + j0 : nullptr, v.po ? v.po + j0 : nullptr, dCr, acc_p.data(),
                      acc_p.data() + nu, acc_p.data() + 2 * nu, dzr, GateLayout(cifg, nu), di.data(), df.data(),
                      dg.data(), nu, act, rec_act, cifg, T_(opt.cell_clip));
            for (int64_t q = 0; q < G; ++q)
              for (int64_t j = 0; j < nu; ++j) out_dz[q * H + j0 + j] = dzr[q * nu + j];
            if (has_bias) for (int64_t k = 0; k < Gn; ++k) acc_b[k] += dzr[k];
          }
          // dW_hh^T[:, own gate columns] += (rh_{t-1})^T (P, B) @ dz_t[:, own] (B, G*nu)
          const T_* hrow = ph_all_c + t * B * P;
          if (nu > 0) {
            for (int64_t b = 0; b < B; ++b)
              for (int64_t p = 0; p < P; ++p) rht[p * B + b] = v.rm ? hrow[b * P + p] * v.rm[b * P + p] : hrow[b * P + p];
            brgemm_float(P, Gn, B, B, Gn, Gn, t < T - 1, rht.data(), dzk.data(), acc.data());
          }
          _Pragma("omp barrier")  // every thread's d z_t is in pdz
          // dh_{t-1}[:, own] = d z_t (B, GH) @ W_hh[:, own] (GH, nu), then the recurrent dropout mask
          if (nu > 0) brgemm_float(B, nu, GH, GH, nu, nu, false, pdz + t * B * GH, wk.data(), drk.data());
          for (int64_t b = 0; b < B && nu > 0; ++b)
            for (int64_t j = 0; j < nu; ++j) {
              const T_ r = drk[b * nu + j];
              pdH[b * P + j0 + j] += v.rm ? r * v.rm[b * P + j0 + j] : r;
            }
        }
        // this thread's rows of dW_hh (GH, P), peephole and bias gradients: disjoint from the others'
        for (int64_t q = 0; q < G && nu > 0; ++q)
          for (int64_t j = 0; j < nu; ++j)
            for (int64_t p = 0; p < P; ++p) pdw[(q * H + j0 + j) * P + p] = acc[p * Gn + q * nu + j];
        if (peep) {
          for (int64_t j = 0; j < nu; ++j) {
            if (!cifg) pdph[j0 + j] = acc_p[j];
            pdph[(cifg ? 0 : H) + j0 + j] = acc_p[nu + j];
            pdph[(cifg ? H : 2 * H) + j0 + j] = acc_p[2 * nu + j];
          }
        }
        if (has_bias)
          for (int64_t q = 0; q < G; ++q)
            for (int64_t j = 0; j < nu; ++j) pdb[q * H + j0 + j] = acc_b[q * nu + j];
        at::native::cpublas::brgemm_release(false);
      }
    } else
    for_row_blocks(std::is_same_v<T_, float> && brgemm_available(), B, B * T * GH, [&](int64_t b0, int64_t b1) {
      const int64_t nb = b1 - b0;
      std::vector<T_> dcn(H), y(H), cl(H), dcl(H), do_(H), di(H), df(H), dg(H), xc(H);
      std::vector<T_> gh_blk(ln_hh && !gh_kept ? nb * GH : 0), rh_blk(ln_hh && !gh_kept && v.rm ? nb * P : 0);
      std::vector<char> live(nb);
      std::vector<T_> dz_blk(dz_full ? 0 : nb * GH), dgh_blk(ln_hh && !dgh_full ? nb * GH : 0);
      // per-block sums of the parameter gradients over the batch, merged under a lock at the end
      // acc_ph has weight_ph's layout: rows i, f, o (f, o with cifg)
      std::vector<T_> acc_ph(peep ? (cifg ? 2 : 3) * H : 0, T_(0)), acc_lw(ln_c ? H : 0, T_(0)), acc_lb(ln_c ? H : 0, T_(0));
      std::vector<T_> acc_hw(ln_hh ? GH : 0, T_(0)), acc_hb(ln_hh ? GH : 0, T_(0));
      std::vector<T_> acc_iw(ln_ih ? GH : 0, T_(0)), acc_ib(ln_ih ? GH : 0, T_(0)), acc_bias(has_bias ? GH : 0, T_(0));
      // float32 + micro-kernel, W_hh up to 1 MB: dW_hh^T (P, GH) accumulated step by step from this block's
      // rows while dgh is still in cache, as (rh_t^T) (P, nb) @ dgh_t (nb, GH) with K = nb. A larger
      // accumulator no longer fits in L2 and is streamed through memory at every step; then dW_hh is one
      // weight_grad over all T*B rows after the loop (char-lm, W_hh 4 MB: fwd+bwd 503-517 -> 449-472 ms).
      // LSTMKIT_INLOOP_DW_MAX_KB moves the limit.
      std::vector<T_> acc_whh_t(in_loop_dw ? P * GH : 0), rh_t(in_loop_dw ? P * nb : 0);
      T_* dpi = (peep && !cifg) ? acc_ph.data() : nullptr;
      T_* dpf = peep ? acc_ph.data() + (cifg ? 0 : H) : nullptr;
      T_* dpo = peep ? acc_ph.data() + (cifg ? H : 2 * H) : nullptr;
      for (int64_t t = T - 1; t >= 0; --t) {
        // 1. zoneout and lengths: split dh_t, dc_t into the new values' grads and the direct path to t-1
        T_* dhn = proj ? pdhn_all + t * B * P : pdhr;  // without projection h_raw is h_new
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = t * B + b;
          T_* dHr = pdH + b * P;
          T_* dHpr = pdHp + b * P;
          live[b - b0] = v.live(row);
          if (!live[b - b0]) {
            for (int64_t j = 0; j < P; ++j) { dHpr[j] = dHr[j]; dhn[b * P + j] = T_(0); }
            continue;  // dC passes through unchanged
          }
          for (int64_t j = 0; j < P; ++j)
            zone_split(dHr[j] + pdout[row * P + j], v.zone_h(row * P + j), &dhn[b * P + j], &dHpr[j]);
        }
        // 2. projection: dh_raw = dh_new W_hr
        if (proj && opt.proj_clip > 0) {  // proj_clip: no gradient where the projection was clipped
          const T_ v_clip = T_(opt.proj_clip);
          const T_* hp = s.h_proj.data_ptr<T_>() + t * B * P;
          for (int64_t k = b0 * P; k < b1 * P; ++k)
            if (!(hp[k] > -v_clip && hp[k] < v_clip)) dhn[k] = T_(0);
        }
        if (proj) gemm_rows(dhn + b0 * P, nb, P, pwr, H, pdhr + b0 * H);
        if (ln_hh && !gh_kept && nb > 0) {  // W_hh h_{t-1} for this block again, for the recurrent layer norm's backward
          const T_* hprev = ph_all_c + (t * B + b0) * P;
          if (v.rm) {
            for (int64_t k = 0; k < nb * P; ++k) rh_blk[k] = hprev[k] * v.rm[b0 * P + k];
            hprev = rh_blk.data();
          }
          gemm_rows(hprev, nb, P, pwt, GH, gh_blk.data());
        }
        // this step's gradient rows of the block: full arrays or scratch, aliased where no layer norm sits between
        T_* dz_t = dz_full ? pdz + (t * B + b0) * GH : dz_blk.data();  // (nb, GH)
        T_* dgh_t = !ln_hh ? dz_t : dgh_full ? pdgh + (t * B + b0) * GH : dgh_blk.data();
        T_* da_t = !ln_ih ? dz_t : pda + (t * B + b0) * GH;
        // 3. gates
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t row = t * B + b;
          T_* dzr = dz_t + (b - b0) * GH;
          if (!live[b - b0]) {
            for (int64_t k = 0; k < GH; ++k) dzr[k] = T_(0);
            if (ln_hh) for (int64_t k = 0; k < GH; ++k) dgh_t[(b - b0) * GH + k] = T_(0);
            if (ln_ih) for (int64_t k = 0; k < GH; ++k) da_t[(b - b0) * GH + k] = T_(0);
            continue;
          }
          const T_* zr = keep_z ? pz + row * GH : nullptr;  // pre-activations, kept only for GELU
          const T_* gr = pg + row * GH;
          const T_* cn = pcn + row * H;
          const T_* c_prev = pc_all + t * B * H + b * H;
          T_* dCr = pdC + b * H;
          const T_* dh = pdhr + b * H;
          // the grad reaching c_new through the carried state, and zoneout's direct path to c_{t-1}
          for (int64_t j = 0; j < H; ++j) zone_split(dCr[j], v.zone_c(row * H + j), &dcn[j], &dCr[j]);
          const T_* cin = cn;
          if (ln_c) {
            const T_ mu = pmean_c[row], rs = prstd_c[row];
            for (int64_t j = 0; j < H; ++j) {
              xc[j] = (cn[j] - mu) * rs;  // LN(c) recomputed from c_new and the saved statistics
              cl[j] = xc[j] * v.lcw[j] + v.lcb[j];
            }
            cin = cl.data();
          }
          output_bwd(dh, gr + lg.o, zr ? zr + lg.o : nullptr, cin, y.data(), do_.data(), dcl.data(), H, act,
                     rec_act);  // h_raw = o act(cl)
          if (ln_c) {
            ln_bwd(dcl.data(), xc.data(), prstd_c[row], v.lcw, acc_lw.data(), acc_lb.data(), dcl.data(), H);
          }
          gates_bwd(dcn.data(), dcl.data(), do_.data(), gr, zr, lg, c_prev, cn, v.pi, v.pf, v.po, dCr, dpi, dpf,
                    dpo, dzr, lg, di.data(), df.data(), dg.data(), H, act, rec_act, cifg, T_(opt.cell_clip));
          if (ln_hh) {  // z = a + LN(W_hh h): the recurrent GEMM's gradient goes through the layer norm
            const T_* ghr = gh_kept ? pgh_saved + row * GH : gh_blk.data() + (b - b0) * GH;
            ln_bwd_raw(dzr, ghr, pmean_hh[row], prstd_hh[row], plnw, acc_hw.data(), acc_hb.data(),
                       dgh_t + (b - b0) * GH, GH);
          }
          if (ln_ih) {  // z = LN_ih(a) + ...: so does the input projection's
            const T_* ar = pa + row * GH;
            ln_bwd_raw(dzr, ar, pmean_ih[row], prstd_ih[row], pliw, acc_iw.data(), acc_ib.data(),
                       da_t + (b - b0) * GH, GH);
          }
          if (has_bias) for (int64_t k = 0; k < GH; ++k) acc_bias[k] += dzr[k];
        }
        // 4. into h_{t-1}: dh_{t-1} = direct + (dgh W_hh) * mask
        gemm_rows(dgh_t, nb, GH, pw, P, pdrh + b0 * P);  // (nb, P)
        if (in_loop_dw && nb > 0) {  // dW_hh^T += (rh_t^T) (P, nb) @ dgh_t (nb, GH)
          const T_* hrow = ph_all_c + t * B * P;  // h_{t-1}
          for (int64_t b = b0; b < b1; ++b)
            for (int64_t j = 0; j < P; ++j)
              rh_t[j * nb + (b - b0)] = v.rm ? hrow[b * P + j] * v.rm[b * P + j] : hrow[b * P + j];
          brgemm_float(P, GH, nb, nb, GH, GH, t < T - 1, rh_t.data(), dgh_t, acc_whh_t.data());
        }
        for (int64_t k = b0 * P; k < b1 * P; ++k) pdH[k] = pdHp[k] + (v.rm ? pdrh[k] * v.rm[k] : pdrh[k]);
      }
      if constexpr (std::is_same_v<T_, float>) {
        if (brgemm_available()) at::native::cpublas::brgemm_release(false);
      }
      {
        std::lock_guard<std::mutex> guard(acc_mutex);
        auto merge = [](const at::Tensor& total, const auto& part) {
          T_* out = total.data_ptr<T_>();
          for (size_t k = 0; k < part.size(); ++k) out[k] += T_(part[k]);
        };
        if (in_loop_dw && nb > 0) merge(dw_hh_t, acc_whh_t);
        if (peep) merge(dw_ph, acc_ph);
        if (ln_c) { merge(dln_c_w, acc_lw); merge(dln_c_b, acc_lb); }
        if (ln_hh) { merge(dln_hh_w, acc_hw); merge(dln_hh_b, acc_hb); }
        if (ln_ih) { merge(dln_ih_w, acc_iw); merge(dln_ih_b, acc_ib); }
        if (has_bias) merge(dbias, acc_bias);
      }
    });
  });
  // weight gradients: one GEMM each over all T*B rows
  at::Tensor dw_hh;
  if (columns) {
    dw_hh = dw_cols;
  } else if (in_loop_dw) {
    dw_hh = dw_hh_t.t().contiguous();  // (GH, P)
  } else {
    auto rh_all = s.h_all.narrow(0, 0, T);  // (T, B, P)
    if (has(in.rec_mask)) rh_all = rh_all * in.rec_mask;
    dw_hh = use_brgemm ? weight_grad(dgh.view({T * B, GH}), rh_all.reshape({T * B, P}))  // (GH, P)
                       : at::mm(dgh.view({T * B, GH}).t(), rh_all.reshape({T * B, P}));
  }
  at::Tensor dw_hr = pooled_empty({0}, opts);
  if (proj) {
    dw_hr = use_brgemm ? weight_grad(dhn_all.view({T * B, P}), s.h_raw.view({T * B, H}))  // (P, H)
                       : at::mm(dhn_all.view({T * B, P}).t(), s.h_raw.view({T * B, H}));
  }
  KernelGrads g;
  g.a = da;
  g.h0 = dH;
  g.c0 = dC;
  g.w_hh = dw_hh;
  g.w_hr = dw_hr;
  g.w_ph = dw_ph;
  g.ln_hh_w = dln_hh_w;
  g.ln_hh_b = dln_hh_b;
  g.ln_c_w = dln_c_w;
  g.ln_c_b = dln_c_b;
  g.ln_ih_w = dln_ih_w;
  g.ln_ih_b = dln_ih_b;
  g.bias = dbias;
  return g;
}

// Weight gradient g^T x of a linear layer over all T*B rows: g (K, N), x (K, M) -> (N, M), float32 with the
// micro-kernel. at::mm runs this K-deep product through MKL at about half of the core's peak here (e.g.
// 2.8 ms for K=3584, N=512, M=128 on 2 threads); brgemm streams it in K-chunks into per-thread column blocks
// of the (M, N) transposed result, which stays in cache.
at::Tensor weight_grad(const at::Tensor& g, const at::Tensor& x) {
  TORCH_CHECK(g.dim() == 2 && x.dim() == 2 && g.size(0) == x.size(0), "lstmkit weight_grad: g (K, N), x (K, M)");
  TORCH_CHECK(g.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat && brgemm_available(),
              "lstmkit weight_grad: float32 with the brgemm micro-kernel only");
  const int64_t K = g.size(0), N = g.size(1), M = x.size(1);
  auto gc = g.contiguous();
  auto xt = x.t().contiguous();  // (M, K)
  auto ct = at::zeros({M, N}, g.options());  // (M, N) = x^T g
  if (K == 0 || N == 0 || M == 0) return ct.t().contiguous();
  constexpr int64_t kNB = 64, kKC = 512;  // column block, K chunk
  const float* pg = gc.data_ptr<float>();
  const float* px = xt.data_ptr<float>();
  float* pc = ct.data_ptr<float>();
  const int64_t nblocks = (N + kNB - 1) / kNB;
  at::parallel_for(0, nblocks, 1, [&](int64_t blk0, int64_t blk1) {
    FlushSubnormals ftz;
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      const int64_t n0 = blk * kNB, nn = std::min(kNB, N - n0);
      for (int64_t k0 = 0; k0 < K; k0 += kKC) {
        const int64_t kk = std::min(kKC, K - k0);
        at::native::cpublas::brgemm(M, nn, kk, K, N, N, k0 > 0, px + k0, pg + k0 * N + n0, pc + n0, false);
      }
    }
    at::native::cpublas::brgemm_release(false);
  });
  return ct.t().contiguous();  // (N, M)
}

// The masks of kernels/masks.py: element i is 1 where the top 24 bits of splitmix64(seed + i * gamma) fall
// below round(p * 2^24) (SplitMix64: Steele, Lea and Flood 2014; constants from Vigna's splitmix64.c).
// Bit-identical to the pure-torch version there; vectorised and split across threads here.
at::Tensor bernoulli_mask(int64_t n, double p, int64_t seed) {
  TORCH_CHECK(n >= 0 && p >= 0.0 && p <= 1.0, "lstmkit bernoulli_mask: n >= 0 and 0 <= p <= 1");
  auto out = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  float* po = out.data_ptr<float>();
  const uint64_t thr = static_cast<uint64_t>(std::llround(p * 16777216.0)), s = static_cast<uint64_t>(seed);
  at::parallel_for(0, n, 1 << 15, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      uint64_t x = s + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
      x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
      x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
      x ^= x >> 31;
      po[i] = (x >> 40) < thr ? 1.0f : 0.0f;
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  namespace py = pybind11;
  // CellOptions(act=..., rec_act=..., ...): keywords only, each read by its name in LSTMKIT_CELL_OPTIONS
  // module_local: two builds of this kernel may share a process (benchmarks/kernel_ab.py, prebuilt.py)
  auto cell_options = py::class_<CellOptions>(m, "CellOptions", py::module_local(),
                                              "the cell's options of one kernel call, by name");
  cell_options.def(py::init([](const py::kwargs& kw) {
    CellOptions o;
    size_t known = 0;
#define LSTMKIT_READ_OPTION(type, name, value) \
  if (kw.contains(#name)) { o.name = kw[#name].cast<type>(); ++known; }
    LSTMKIT_CELL_OPTIONS(LSTMKIT_READ_OPTION)
#undef LSTMKIT_READ_OPTION
    if (known != kw.size()) {
      std::string unknown;
      for (const auto& item : kw) {
        const auto key = item.first.cast<std::string>();
        bool found = false;
#define LSTMKIT_IS_OPTION(type, name, value) found = found || key == #name;
        LSTMKIT_CELL_OPTIONS(LSTMKIT_IS_OPTION)
#undef LSTMKIT_IS_OPTION
        if (!found) unknown += (unknown.empty() ? "" : ", ") + key;
      }
      throw py::type_error("lstmkit CellOptions: unknown option(s) " + unknown);
    }
    return o;
  }));
#define LSTMKIT_OPTION_PROPERTY(type, name, value) cell_options.def_readonly(#name, &CellOptions::name);
  LSTMKIT_CELL_OPTIONS(LSTMKIT_OPTION_PROPERTY)
#undef LSTMKIT_OPTION_PROPERTY
  m.def("release_buffers", []() { return BufferPool::get().release(); },
        "free the pooled buffers no tensor uses; returns the bytes freed");
  m.def("bernoulli_mask", &bernoulli_mask, "0/1 float32 mask from the splitmix64 hash (kernels/masks.py)");
  m.def("weight_grad", &weight_grad, "g^T x over all rows, float32 (brgemm)");
  m.def("forward",
        [](const py::handle& inputs, const CellOptions& opt, bool save, bool store_gh, bool split_columns) {
          return to_dict(fused_forward(read_inputs(inputs), opt, save, store_gh, split_columns));
        },
        "lstmkit fused LSTM direction, forward: inputs by attribute name (kernels/boundary.py KernelInputs); "
        "returns {'out': ..., and each saved field}",
        py::arg("inputs"), py::arg("options"), py::kw_only(), py::arg("save"), py::arg("store_gh"),
        py::arg("split_columns"));
  m.def("backward",
        [](const at::Tensor& dout, const at::Tensor& dh_n, const at::Tensor& dc_n, const py::handle& inputs,
           const py::handle& saved, const CellOptions& opt, bool split_columns) {
          return to_dict(fused_backward(dout, dh_n, dc_n, read_inputs(inputs), read_saved(saved), opt,
                                        split_columns));
        },
        "lstmkit fused LSTM direction, backward: the gradients {input name: d loss / d input}",
        py::arg("dout"), py::arg("dh_n"), py::arg("dc_n"), py::arg("inputs"), py::arg("saved"), py::arg("options"),
        py::kw_only(), py::arg("split_columns"));
  m.def("fields", []() {
    py::dict d;
    d["inputs"] = names_of_inputs();
    d["saved"] = names_of_saved();
    d["grads"] = names_of_grads();
    std::vector<std::string> options;
#define LSTMKIT_OPTION_NAME(type, name, value) options.push_back(#name);
    LSTMKIT_CELL_OPTIONS(LSTMKIT_OPTION_NAME)
#undef LSTMKIT_OPTION_NAME
    d["options"] = options;
    return d;
  }, "the boundary's field names, list by list (kernels/boundary.py checks them on load)");
  m.def("brgemm_available", []() -> bool { return brgemm_available(); }, "per-step GEMMs use oneDNN's brgemm");
  m.def("activation_ids", []() {
    pybind11::dict ids;
    const std::pair<const char*, Act> table[] = {
        {"tanh", TANH}, {"sigmoid", SIGMOID}, {"relu", RELU}, {"hard_sigmoid", HARD_SIGMOID},
        {"hard_sigmoid_legacy", HARD_SIGMOID_LEGACY}, {"gelu", GELU}, {"softsign", SOFTSIGN},
        {"identity", IDENTITY}, {"linear", IDENTITY}};
    for (const auto& [name, id] : table) ids[name] = static_cast<int64_t>(id);
    return ids;
  }, "the activations act_fwd/act_bwd run, by name (activations.py holds the same table)");
}
