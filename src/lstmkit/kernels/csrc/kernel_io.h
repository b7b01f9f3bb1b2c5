// The fused kernel's boundary with Python, by name: the tensors one layer and direction takes, what the
// forward pass keeps for the backward pass, and the gradients it returns. Each list below is the one place
// on this side where a field is declared; kernels/boundary.py declares the same names on the Python side and
// checks them against fields() when the extension loads. A variant that needs a new tensor adds one entry
// here and one field there.
//
// Python passes an object with these attributes (boundary.KernelInputs, a NamedTuple) and receives a dict
// keyed by the same names, so no argument list on either side depends on an order.
#pragma once

#include <torch/extension.h>

#include <string>
#include <vector>

namespace lstmkit_io {

// One layer and direction's tensors, time-major and contiguous. Absent optional inputs are empty tensors.
#define LSTMKIT_INPUTS(X)                                                                                  \
  X(a)        /* (T, B, G*H) input projection; without ln_ih it already holds every bias */              \
  X(h0)       /* (B, P) initial hidden state */                                                           \
  X(c0)       /* (B, H) initial cell state */                                                             \
  X(w_hh)     /* (G*H, P) recurrent weights */                                                            \
  X(w_hr)     /* (P, H) projection, or empty */                                                           \
  X(w_ph)     /* ((G-1)*H) peephole rows [i,] f, o, or empty */                                           \
  X(ln_hh_w)  /* (G*H) recurrent layer norm gain, bias (+ b_hh), or empty */                             \
  X(ln_hh_b)                                                                                             \
  X(ln_c_w)   /* (H) cell-state layer norm gain, bias, or empty */                                        \
  X(ln_c_b)                                                                                              \
  X(ln_ih_w)  /* (G*H) input layer norm gain, bias, or empty */                                           \
  X(ln_ih_b)                                                                                             \
  X(bias)     /* (G*H) constant added after ln_ih, or empty */                                            \
  X(rec_mask) /* (B, P) recurrent dropout mask, or empty */                                               \
  X(zone_h)   /* (T, B, P), (T, B, H) zoneout keep-masks (training), or empty */                          \
  X(zone_c)                                                                                              \
  X(valid)    /* (T, B) bool: step t is within sequence b (lengths), or empty */

// What the forward pass keeps for the backward pass (one-step scratch, or empty, where it saves nothing).
#define LSTMKIT_SAVED(X)                                                                                   \
  X(h_all)    /* (T+1, B, P) h_0..h_T (inference: the last state only) */                                 \
  X(c_all)    /* (T+1, B, H) c_0..c_T */                                                                  \
  X(z)        /* (T, B, G*H) pre-activations, kept for GELU only */                                       \
  X(gates)    /* (T, B, G*H) gate activations [i,] f, g, o */                                             \
  X(c_new)    /* (T, B, H) c_t before zoneout mixed it with c_{t-1} */                                    \
  X(h_raw)    /* (T, B, H) o * act(c) before the projection, or empty */                                  \
  X(mean_hh)  /* (T, B) row statistics of the three layer norms, or empty */                              \
  X(rstd_hh)                                                                                             \
  X(mean_c)                                                                                              \
  X(rstd_c)                                                                                              \
  X(mean_ih)                                                                                             \
  X(rstd_ih)                                                                                             \
  X(gh)       /* (T, B, G*H) W_hh h_{t-1}, where the forward was asked to store it, or empty */           \
  X(h_proj)   /* (T, B, P) the clipped projection (proj_clip), or empty */

// The inputs the backward pass differentiates: it returns d<name> for each (empty where the input is).
#define LSTMKIT_GRADS(X) \
  X(a) X(h0) X(c0) X(w_hh) X(w_hr) X(w_ph) X(ln_hh_w) X(ln_hh_b) X(ln_c_w) X(ln_c_b) X(ln_ih_w) X(ln_ih_b) X(bias)

#define LSTMKIT_TENSOR_FIELD(name) at::Tensor name;

struct KernelInputs {
  LSTMKIT_INPUTS(LSTMKIT_TENSOR_FIELD)
};

struct KernelSaved {
  LSTMKIT_SAVED(LSTMKIT_TENSOR_FIELD)
};

struct KernelForward {
  at::Tensor out;  // (T, B, P) h_1..h_T, zero past each sequence's end
  KernelSaved saved;
};

struct KernelGrads {  // field x holds d loss / d x
  LSTMKIT_GRADS(LSTMKIT_TENSOR_FIELD)
};

#undef LSTMKIT_TENSOR_FIELD

// Every list by name, for the check at load time.
inline std::vector<std::string> names_of_inputs() {
#define LSTMKIT_NAME(name) #name,
  return {LSTMKIT_INPUTS(LSTMKIT_NAME)};
}
inline std::vector<std::string> names_of_saved() { return {LSTMKIT_SAVED(LSTMKIT_NAME)}; }
inline std::vector<std::string> names_of_grads() { return {LSTMKIT_GRADS(LSTMKIT_NAME)}; }
#undef LSTMKIT_NAME

// Read a struct's tensors from a Python object's attributes of the same names (a NamedTuple, a dict's
// values do not qualify). A missing attribute raises AttributeError naming it; None reads as an empty tensor.
namespace detail {
inline at::Tensor read_tensor(const pybind11::handle& obj, const char* name) {
  pybind11::object v = obj.attr(name);
  return v.is_none() ? at::Tensor() : v.cast<at::Tensor>();
}
}  // namespace detail

inline KernelInputs read_inputs(const pybind11::handle& obj) {
  KernelInputs in;
#define LSTMKIT_READ(name) in.name = detail::read_tensor(obj, #name);
  LSTMKIT_INPUTS(LSTMKIT_READ)
  return in;
}

inline KernelSaved read_saved(const pybind11::handle& obj) {
  KernelSaved s;
#define LSTMKIT_READ_SAVED(name) s.name = detail::read_tensor(obj, #name);
  LSTMKIT_SAVED(LSTMKIT_READ_SAVED)
#undef LSTMKIT_READ_SAVED
  return s;
}
#undef LSTMKIT_READ

inline pybind11::dict to_dict(const KernelForward& r) {
  pybind11::dict d;
  d["out"] = r.out;
#define LSTMKIT_WRITE(name) d[#name] = r.saved.name;
  LSTMKIT_SAVED(LSTMKIT_WRITE)
#undef LSTMKIT_WRITE
  return d;
}

inline pybind11::dict to_dict(const KernelGrads& g) {
  pybind11::dict d;
#define LSTMKIT_WRITE(name) d[#name] = g.name;
  LSTMKIT_GRADS(LSTMKIT_WRITE)
#undef LSTMKIT_WRITE
  return d;
}

}  // namespace lstmkit_io
