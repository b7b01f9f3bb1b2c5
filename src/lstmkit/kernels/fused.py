"""The fused CPU backend: every variant, with a hand-written back-propagation through time in C++.

Where the compiled kernel (``csrc/fused_cpu.cpp``) comes from, first match wins (:func:`extension_origin`):

1. ``"cached"``: a build this machine made before, cached per source, flags, compiler, torch build, Python ABI
   and CPU (:func:`build_key`; in ``$LSTMKIT_CACHE`` or ``~/.cache/lstmkit``; a cache made read-only after
   the build is still used);
2. ``"prebuilt"``: the kernel a wheel built with ``python -m build --wheel --no-isolation`` carries
   (``_fused_cpu_prebuilt*.so``, see ``setup.py``), used only where its manifest matches this torch build,
   Python ABI and source, and the CPU has the features it was compiled for (x86-64-v3 on x86-64);
   ``LSTMKIT_NATIVE_BUILD=1`` skips it for a ``-march=native`` build;
3. ``"built"``: compiled here on first use with ``torch.utils.cpp_extension`` (about 30 s, then cached), so
   a pure ``pip install lstmkit`` compiles nothing at install time and ``import lstmkit`` needs no compiler.

If none is possible (no compiler, no ninja), the backend reports why and ``"auto"`` falls back to the
reference loop. Set ``LSTMKIT_DISABLE_FUSED=1`` to switch it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from . import activations, masks
from ._manifest import CSRC, installation_manifest, source_digest
from .boundary import (DIFFERENTIABLE, CellOptions, KernelInputs, KernelSaved, check_fields, grads_in_input_order,
                       saved_from)
from .config import LSTMConfig
from .functional import DirectionWeights, Gates
from .reference import recurrence  # the specification the kernel is held to (and double backward)
from .registry import Backend, Request, register
from .stack import DirectionResult, Noise, run_stack

log = logging.getLogger(__name__)

_SOURCE = CSRC / "fused_cpu.cpp"  # includes csrc/lstm_cell.h
# -fno-trapping-math lets gcc vectorise the float->int step of vexp; it changes no results. -fopenmp: ATen's
# at::parallel_for is an inline `#pragma omp parallel` that runs serially in code compiled without it (the
# library resolves to the libgomp torch already loaded), and it honours the layer norms' `omp simd` sums.
_CFLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp"]
_LDFLAGS = ["-fopenmp"]

_PREBUILT = "_fused_cpu_prebuilt"  # the module name setup.py gives the wheel's kernel

_lock = threading.Lock()
_module = None
_error: Optional[str] = None
_origin: Optional[str] = None


def cache_dir() -> Path:
    root = os.environ.get("LSTMKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lstmkit")
    return Path(root)


def _cpu_fingerprint() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    import platform

    return platform.machine() + platform.processor()


def _put_ninja_on_path() -> None:
    """torch's builder runs ``ninja`` from PATH; the pip package installs it beside this Python."""
    if shutil.which("ninja"):
        return
    candidates = [os.path.dirname(sys.executable)]
    try:
        import ninja

        candidates.insert(0, ninja.BIN_DIR)
    except (ImportError, AttributeError):
        pass
    for directory in candidates:
        if shutil.which("ninja", path=directory):
            os.environ["PATH"] = directory + os.pathsep + os.environ.get("PATH", "")
            return


def _compiler_id() -> str:
    """The C++ compiler torch's builder will run (``$CXX`` or ``c++``) and its version line."""
    return _compiler_id_of(os.environ.get("CXX", "c++"))


@functools.lru_cache(maxsize=None)
def _compiler_id_of(cxx: str) -> str:
    # cached: a process asks once per compiler (load_extension changes PATH, which must not change the key)
    import subprocess

    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=20).stdout
        return f"{shutil.which(cxx) or cxx}|{out.splitlines()[0] if out else ''}"
    except (OSError, subprocess.SubprocessError):
        return cxx


def build_key() -> str:
    """What a compiled kernel depends on: its source and flags, the compiler, the torch build it links against
    (version, git revision, C++ ABI, install location: two environments with their own torch must not share
    and rebuild one directory in turn), the Python ABI, and the CPU (-march=native binaries are specific to
    it: a home directory shared by different machines must not hand one machine's build to another)."""
    import sysconfig

    parts = [
        source_digest(), " ".join(_CFLAGS + _LDFLAGS), _compiler_id(),
        torch.__version__, str(getattr(torch.version, "git_version", "")),
        str(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", "")), os.path.dirname(torch.__file__),
        sys.implementation.cache_tag or "", str(sysconfig.get_config_var("EXT_SUFFIX")), _cpu_fingerprint(),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _import_built(build: Path, name: str):
    """The extension module already built in ``build`` (by an earlier process, possibly in a cache that is
    read-only now), or None. The key in ``name`` fixes the source, flags, compiler and torch it was built for."""
    import importlib.util

    so = build / f"{name}.so"
    if not so.is_file():
        return None
    try:
        spec = importlib.util.spec_from_file_location(name, so)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    except (ImportError, OSError) as err:  # a half-written file from a killed build: build again
        log.info("lstmkit: could not load %s (%s); rebuilding", so, err)
        return None


def _cpu_flags() -> set:
    line = _cpu_fingerprint()
    return set(line.split(":", 1)[1].split()) if ":" in line else set()


def prebuilt_mismatch(manifest: dict) -> Optional[str]:
    """Why the kernel a wheel carries (described by ``manifest``, see ``setup.py``) cannot run here, or None."""
    for key, value in installation_manifest().items():
        if manifest.get(key) != value:
            return f"it was built for {key} {manifest.get(key)!r}, this installation has {value!r}"
    needed = list(manifest.get("cpu_flags") or [])
    missing = [f for f in needed if f not in _cpu_flags()] if needed else []
    if missing:
        return f"this CPU lacks {' '.join(missing)}, which it was compiled for"
    return None


_NO_PREBUILT = "this installation has none"


def _load_prebuilt():
    """(the wheel's kernel, None) where it can run here, else (None, why not)."""
    import importlib.util

    here = Path(__file__).parent
    manifest_path = here / f"{_PREBUILT}.json"
    if not manifest_path.is_file():
        return None, _NO_PREBUILT
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        return None, f"its manifest {manifest_path} is unreadable ({err})"
    why = prebuilt_mismatch(manifest)
    if why is not None:
        return None, why
    so = here / f"{_PREBUILT}{manifest['ext_suffix']}"
    if not so.is_file():
        return None, f"{so} is missing"
    try:
        spec = importlib.util.spec_from_file_location(f"{__package__}.{_PREBUILT}", so)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as err:
        return None, f"{so} does not load ({err})"
    return module, None


def extension_origin() -> Optional[str]:
    """Where the loaded kernel came from: ``"cached"``, ``"prebuilt"`` or ``"built"`` (None before
    :func:`load_extension` or when it is unavailable); see the module docstring."""
    return _origin


def load_extension():
    """Load (or build, once) and return the compiled module, or None with the reason in
    :func:`extension_error`; :func:`extension_origin` says which of the module docstring's sources it is."""
    global _module, _error, _origin
    if _module is not None or _error is not None:
        return _module
    with _lock:
        if _module is not None or _error is not None:
            return _module
        if os.environ.get("LSTMKIT_DISABLE_FUSED"):
            _error = "disabled by LSTMKIT_DISABLE_FUSED"
            return None
        try:
            name = f"lstmkit_fused_cpu_{build_key()}"
            build = cache_dir() / "extensions" / name
            module, origin = _import_built(build, name), "cached"  # built before, even in a read-only cache
            if module is None and not os.environ.get("LSTMKIT_NATIVE_BUILD"):
                module, why = _load_prebuilt()
                origin = "prebuilt"
                if module is None:  # say why where a wheel did bring one
                    level = logging.DEBUG if why == _NO_PREBUILT else logging.INFO
                    log.log(level, "lstmkit: not using the prebuilt fused kernel: %s", why)
            if module is None:
                module, origin = _build(build, name), "built"
            _check_activation_ids(module)
            check_fields(module)
            masks.fast_impl = module.bernoulli_mask  # the same masks, drawn in C++
            _module, _origin = module, origin
            log.info("lstmkit: fused CPU kernel %s (%s)", Path(module.__file__).name, origin)
        except Exception as err:  # no compiler, no ninja, a read-only cache, ...: fall back with the reason
            lines = str(err).strip().splitlines() or [""]
            detail = next((ln for ln in lines if "error:" in ln), None) or next(
                (ln for ln in lines if "error" in ln.lower()), lines[-1])
            detail = detail.strip()[:300]
            _error = f"C++ extension unavailable ({type(err).__name__}: {detail})"
            log.warning("lstmkit: fused backend off: %s", _error)
    return _module


def _check_activation_ids(module) -> None:
    """The C++ enum must say what activations.py says: a disagreement would run the wrong function."""
    ours, theirs = activations.kernel_ids(), dict(module.activation_ids())
    wrong = {n: (k, theirs.get(n)) for n, k in ours.items() if theirs.get(n) != k}
    if wrong:
        raise RuntimeError(f"the kernel's activation ids disagree with activations.py (name: (ours, kernel's)) "
                           f"{wrong}; rebuild the extension")


def _build(build: Path, name: str):
    """Compile the kernel with ``-march=native`` into ``build`` (or a temporary directory if that is
    read-only) and import it."""
    from torch.utils.cpp_extension import load  # here: it imports setuptools, which `import lstmkit` need not

    _put_ninja_on_path()
    try:
        build.mkdir(parents=True, exist_ok=True)
        if not os.access(build, os.W_OK):
            raise PermissionError(f"{build} is not writable")
    except OSError:  # a read-only home: build under the temporary directory instead
        uid = os.getuid() if hasattr(os, "getuid") else 0
        build = Path(tempfile.gettempdir()) / f"lstmkit-{uid}" / name
        build.mkdir(parents=True, exist_ok=True)
    log.info("lstmkit: building the fused CPU kernel in %s (once; about 30 s)", build)
    return load(name=name, sources=[str(_SOURCE)], extra_cflags=_CFLAGS, extra_ldflags=_LDFLAGS,
                build_directory=str(build), verbose=False)


def extension_error() -> Optional[str]:
    return _error


def release_buffers() -> int:
    """Free the fused kernel's pooled work arrays that no tensor uses now; returns the bytes freed.

    The kernel keeps up to ``$LSTMKIT_POOL_MB`` (default 1024) MiB of freed per-step history arrays for the
    next call, as torch's CUDA caching allocator does: reallocating them each step cost a quarter of char-lm's
    training time in page faults. ``LSTMKIT_POOL_MB=0`` keeps none.
    """
    return int(_module.release_buffers()) if _module is not None else 0


def _has_onednn_linear() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


_ONEDNN_LINEAR = _has_onednn_linear()
_ONEDNN_MIN_MACS = 1_500_000  # below this at::mm's lower call overhead wins (measured on the build machine)


def _linear(x: Tensor, w: Tensor, bias: Optional[Tensor]) -> Tensor:
    """x (N, K) @ w (M, K)^T + bias: oneDNN's GEMM for large float32 products (about 2x MKL's on AVX-512)."""
    if _ONEDNN_LINEAR and x.dtype == torch.float32 and x.shape[0] * x.shape[1] * w.shape[0] >= _ONEDNN_MIN_MACS:
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), w.contiguous(), bias, "none", [], "")
    return x @ w.t() if bias is None else torch.addmm(bias, x, w.t())


def _weight_grad(g: Tensor, x: Tensor) -> Tensor:
    """g (N, M)^T @ x (N, I) over all N = T*B rows: the kernel's brgemm for float32 (1.2-3x at::mm's MKL)."""
    if g.dtype == torch.float32 and x.dtype == torch.float32 and _module is not None and _module.brgemm_available():
        return _module.weight_grad(g, x)
    return g.t() @ x


class _Projection(torch.autograd.Function):
    """The input projection of all steps, x (T*B, I) @ W_ih^T + bias, with oneDNN GEMMs both ways.

    forward/setup_context (not forward(ctx, ...)) so ``torch.func`` transforms can run it.
    """

    @staticmethod
    def forward(x, w, bias):
        return _linear(x, w, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, bias = inputs
        ctx.save_for_backward(x, w)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiable torch ops, so a second backward works
            dx = g @ w if ctx.needs_input_grad[0] else None
            dw = g.t() @ x if ctx.needs_input_grad[1] else None
        else:
            dx = _linear(g, w.t().contiguous(), None) if ctx.needs_input_grad[0] else None  # (N, I) = g W
            dw = _weight_grad(g, x) if ctx.needs_input_grad[1] else None  # (M, I)
        db = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db


def _store_gh(w_hh: Tensor) -> bool:
    """Whether the forward pass keeps W_hh h_{t-1} for the recurrent layer norm's backward.

    Recomputing it costs a (B, P) x (P, 4H) GEMM per step; keeping it costs T*B*4H fresh memory. The GEMM
    grows with P while the memory does not, so large recurrent widths keep it.
    """
    return w_hh.shape[1] >= int(os.environ.get("LSTMKIT_LN_STORE_MIN_P", "256"))


# Small batches split the hidden units across threads instead of the rows, forward and backward (not with
# layer norm or projection): one row cannot be split, and a few rows per thread leave each streaming all of
# W_hh. Measured at T=100-1000, 2 threads, against the row split: forward B=1 H=256 27 -> 9.3 ms, B=4 H=256
# 5.7 -> 2.9; forward+backward B=1 H=256 6.7 -> 3.1, B=4 H=512 25 -> 18, B=16 H=256 13.2 -> 11.7; but
# B=16 H=512 44 -> 53 and B=8 H=512 25 -> 27, hence the bound on batch x hidden.
COLUMN_MAX_UNITS = 4096  # batch * hidden at most, at hidden >= 256
COLUMN_MIN_HIDDEN = 256


_LOAD_TTL_S = 0.5
_load_cache = [0.0, 0, 0]  # [time read, this reading, the previous one]


def _running_tasks() -> tuple[int, int]:
    """(runnable tasks on the machine, runnable threads of this process) from /proc; (0, 0) elsewhere."""
    try:
        with open("/proc/stat", "rb") as f:
            total = next((int(line.split()[1]) for line in f if line.startswith(b"procs_running")), 0)
        ours = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                    ours += f.read().rsplit(b")", 1)[1].split()[0] == b"R"
            except (OSError, IndexError):
                pass
        return total, ours
    except (OSError, ValueError):
        return 0, 0


def _others_running() -> int:
    """Runnable tasks of other processes (this one's own threads, spinning OpenMP workers included, do not
    count), read at most every half second; the smaller of the last two readings, so that a process that runs
    for an instant (a shell command) does not count as load but one that keeps a core busy does."""
    now = time.monotonic()
    if now - _load_cache[0] > _LOAD_TTL_S:
        total, ours = _running_tasks()
        _load_cache[:] = [now, max(0, total - ours), _load_cache[1]]
    return min(_load_cache[1], _load_cache[2])


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _column_shape(batch: int, hidden: int) -> bool:
    """The shapes on which the column split was measured faster than the row split on idle cores."""
    if hidden >= COLUMN_MIN_HIDDEN:
        return batch * hidden <= COLUMN_MAX_UNITS
    return hidden >= 128 and batch <= 2  # B=1 H=128: 3.3 -> 2.6 ms forward; from B=8 the rows were faster


def _split_columns(batch: int, hidden: int) -> bool:
    """Whether this call splits the hidden units across threads: the shape rule, and free cores for them.
    ``LSTMKIT_COLUMN_SPLIT=always`` or ``never`` overrides the decision (``auto``, the default)."""
    mode = os.environ.get("LSTMKIT_COLUMN_SPLIT", "auto")
    if mode == "never" or not _column_shape(batch, hidden):
        return False
    if mode == "always":
        return True
    # One barrier per step: a thread that another process keeps off its core stalls every step for a time
    # slice. On a 2-core machine with one core busy, 2 threads took 2.1-2.5x the time of 1 (benchmarks/
    # threads.py), so the split runs only when the cores its threads need are free.
    threads = min(torch.get_num_threads(), (hidden + 15) // 16)
    return _others_running() + threads <= _cores()


class KernelFlags(NamedTuple):
    """The non-tensor arguments of one direction's kernel call, by name: the cell's options and how to run it."""

    options: CellOptions
    save: bool  # keep what the backward pass needs
    split: bool  # split the hidden units across threads (small batches); the backward splits the same way

    def cell_options(self):
        return _kernel_options(_module, self.options)


@functools.lru_cache(maxsize=256)
def _kernel_options(module, options: CellOptions):
    """The kernel's CellOptions for ``options``, made once (a training step asks twice per layer)."""
    return module.CellOptions(**options._asdict())


def _recurrence_graph(inputs: KernelInputs, options: CellOptions):
    """The kernel's contract written with differentiable torch ops (the reference loop): what a second-order
    gradient differentiates. Returns (out, h_n, c_n)."""
    a, ln_ih_w = inputs.a, inputs.get("ln_ih_w")
    if ln_ih_w is not None:
        a = torch.nn.functional.layer_norm(a, a.shape[-1:], ln_ih_w, inputs.get("ln_ih_b"), options.eps)
    if inputs.get("bias") is not None:
        a = a + inputs.bias
    H = inputs.c0.shape[-1]
    P = inputs.h0.shape[-1]
    cfg = LSTMConfig(1, H, activation=activations.kernel_name(options.act),
                     recurrent_activation=activations.kernel_name(options.rec_act), cifg=options.cifg,
                     layer_norm_eps=options.eps, cell_clip=options.cell_clip, proj_clip=options.proj_clip,
                     proj_size=P if P != H else 0)
    get = inputs.get
    w = DirectionWeights(None, inputs.w_hh, None, None, get("w_hr"), get("w_ph"), None, None, get("ln_hh_w"),
                         get("ln_hh_b"), get("ln_c_w"), get("ln_c_b"))
    zh, zc = (get("zone_h"), get("zone_c")) if options.zone_p == 0.0 else (options.zone_p, options.zone_p)
    noise = Noise(get("rec_mask"), zh, zc)
    res = recurrence(a, inputs.h0, inputs.c0, w, cfg, get("valid"), noise, False, forget_bias=0.0)
    return res.out, res.h_n, res.c_n


_N_IN = len(KernelInputs._fields)


class _FusedDirection(torch.autograd.Function):
    """One layer and direction over the projected input ``a`` (T, B, G*H).

    ``apply(*KernelInputs, KernelFlags)``: autograd needs the tensors as separate arguments; inside, they are
    a :class:`~lstmkit.kernels.boundary.KernelInputs` again, and the kernel reads its fields by name.
    Returns (out, h_n, c_n, gates, c_all, *the rest of the saved state), the saved state marked
    non-differentiable.

    forward/setup_context (not forward(ctx, ...)) so ``torch.func`` transforms can run it. Its backward is the
    kernel's hand-written BPTT; under ``create_graph=True`` (a gradient of a gradient) it differentiates the
    same recurrence written in torch ops instead, so double backward gives a real result.
    """

    @staticmethod
    def forward(*args):
        inputs, flags = KernelInputs(*args[:_N_IN]).contiguous(), args[_N_IN]
        result = _module.forward(inputs, flags.cell_options(), save=flags.save, store_gh=_store_gh(inputs.w_hh),
                                 split_columns=flags.split)
        saved = saved_from(result)
        return (result["out"], saved.h_all[-1], saved.c_all[-1], *saved)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.flags = inputs[_N_IN]
        ctx.set_materialize_grads(False)  # no zero-filled (T, B, 4H) grads for the gates nobody differentiates
        saved = output[3:]
        ctx.save_for_backward(*inputs[:_N_IN], *saved)
        ctx.mark_non_differentiable(*saved)

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n, *_unused):
        tensors = ctx.saved_tensors
        inputs, saved = KernelInputs(*tensors[:_N_IN]), KernelSaved(*tensors[_N_IN:])
        if torch.is_grad_enabled():  # create_graph=True
            return _FusedDirection._graph_backward(ctx, inputs, dout, dh_n, dc_n)
        dout = dout.contiguous() if dout is not None else torch.zeros_like(saved.h_all[1:])
        dh_n = dh_n if dh_n is not None else torch.zeros_like(saved.h_all[0])
        dc_n = dc_n if dc_n is not None else torch.zeros_like(saved.c_all[0])
        grads = _module.backward(dout, dh_n, dc_n, inputs.contiguous(), saved, ctx.flags.cell_options(),
                                 split_columns=ctx.flags.split)
        return (*grads_in_input_order(grads), None)

    @staticmethod
    def _graph_backward(ctx, inputs: KernelInputs, dout, dh_n, dc_n):
        need = [bool(n) and t is not None and t.numel() > 0 for n, t in zip(ctx.needs_input_grad[:_N_IN], inputs)]
        outs = _recurrence_graph(inputs, ctx.flags.options)
        pairs = [(o, g) for o, g in zip(outs, (dout, dh_n, dc_n)) if g is not None]
        wrt = [t for t, n in zip(inputs, need) if n]
        grads = iter(torch.autograd.grad([o for o, _ in pairs], wrt, [g for _, g in pairs], create_graph=True,
                                         allow_unused=True) if wrt and pairs else ())
        result = [next(grads) if n else None for n in need]
        if need[0] and result[0] is None:
            result[0] = torch.zeros_like(inputs.a)
        return (*result, None)


def fused_direction(x: Tensor, h0: Tensor, c0: Tensor, w: DirectionWeights, cfg: LSTMConfig,
                    valid: Optional[Tensor], noise: Noise, return_gates: bool) -> DirectionResult:
    """Same contract as :func:`lstmkit.kernels.reference.reference_direction`."""
    H = cfg.hidden_size
    T, B = x.shape[0], x.shape[1]
    # Every constant added to the gate pre-activations before the loop, as one vector: b_ih, b_hh (unless
    # it has to follow the recurrent layer norm) and the forget bias.
    bias = w.b_ih
    if w.b_hh is not None and w.ln_hh_w is None:
        bias = w.b_hh if bias is None else bias + w.b_hh
    if cfg.forget_bias:
        f_rows = slice(0, H) if cfg.cifg else slice(H, 2 * H)
        shift = x.new_zeros(w.w_ih.shape[0])
        shift[f_rows] = cfg.forget_bias
        bias = shift if bias is None else bias + shift
    x2 = x.reshape(T * B, x.shape[-1])  # (T*B, I)
    # the input projection of all steps in one GEMM; with LN_ih the kernel normalises it, then adds the bias
    kernel_bias = bias if w.ln_ih_w is not None else None
    a = _Projection.apply(x2, w.w_ih, None if w.ln_ih_w is not None else bias)  # (T*B, G*H)
    a = a.view(T, B, w.w_ih.shape[0])  # (T, B, G*H)
    ln_hh_b = None
    if w.ln_hh_w is not None:
        # LN(W_hh h) + b_hh: the LN bias and b_hh are both constants after the normalisation
        ln_hh_b = w.ln_hh_b if w.b_hh is None else w.ln_hh_b + w.b_hh
    zone_p = 0.0
    zone_h, zone_c = noise.zone_h, noise.zone_c
    if isinstance(zone_h, float):
        zone_p, zone_h, zone_c = zone_h, None, None
    inputs = KernelInputs(a=a, h0=h0, c0=c0, w_hh=w.w_hh, w_hr=w.w_hr, w_ph=w.w_ph, ln_hh_w=w.ln_hh_w,
                          ln_hh_b=ln_hh_b, ln_c_w=w.ln_c_w, ln_c_b=w.ln_c_b, ln_ih_w=w.ln_ih_w, ln_ih_b=w.ln_ih_b,
                          bias=kernel_bias, rec_mask=noise.rec_mask, zone_h=zone_h, zone_c=zone_c, valid=valid)
    # Inference keeps no per-step history (much less memory to touch); gates need it, and so does autograd.
    save = return_gates or (torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in map(inputs.get, DIFFERENTIABLE)))
    flags = KernelFlags(CellOptions.of(cfg, zone_p), save=save, split=_split_columns(B, H))
    out, h_n, c_n, *rest = _FusedDirection.apply(*inputs, flags)
    saved = KernelSaved(*rest)
    gate_tuple = None
    if return_gates:
        parts = saved.gates.split(H, dim=-1)  # (T, B, H) each
        f, g, o = parts if cfg.cifg else parts[1:]
        i = 1.0 - f if cfg.cifg else parts[0]
        c = saved.c_all[1:]
        if valid is not None:  # zero past the end, like the reference backend
            m = valid.unsqueeze(-1)
            i, f, g, o, c = (torch.where(m, v, 0.0) for v in (i, f, g, o, c))
        gate_tuple = Gates(i, f, g, o, c)
    return DirectionResult(out, h_n, c_n, gate_tuple)


PREFER_MAX_HIDDEN = 64  # "auto" trains widths up to this, and batches from PREFER_MIN_BATCH, with fused
PREFER_MIN_BATCH = 128  # even where native could run (see FusedCPUBackend.preferred_over)


class FusedCPUBackend(Backend):
    name = "fused"
    description = "lstmkit fused C++ kernel with hand-written BPTT"
    priority = 50

    def describe(self, req: Request) -> str:
        origin = {"prebuilt": "prebuilt in the wheel", "cached": "built on this machine",
                  "built": "built on this machine"}.get(_origin or "")
        return f"{self.description} ({origin})" if origin else self.description

    def unsupported(self, req: Request) -> Optional[str]:
        cfg = req.config
        if req.device.type != "cpu":
            return f"fused runs on CPU only (tensors on {req.device.type})"
        if req.vmapped:
            return "the fused C++ kernel cannot run inside torch.func.vmap"
        if req.capture in ("trace", "export"):
            return f"torch.{'jit.trace' if req.capture == 'trace' else 'export'} cannot see inside the fused C++ kernel"
        if req.dtype not in (torch.float32, torch.float64):
            return f"fused supports float32 and float64, not {req.dtype}"
        for what in ("activation", "recurrent_activation"):
            spec = getattr(cfg, what)
            if not isinstance(spec, str):
                return f"fused needs a named {what}, not a callable"
            if activations.kernel_id(spec) is None:
                return f"fused has no kernel for the {what} {spec!r} (activations.py gives it no kernel id)"
        if load_extension() is None:
            return _error
        return None

    def preferred_over(self, other: str, req: Request) -> Optional[str]:
        """Where "auto" runs a configuration native could run here instead, as measured by benchmarks/dispatch.py.

        - proj_size > 0: oneDNN has no projection, so torch runs its ATen loop; fused was 2-4x faster
          forward and forward+backward.
        - training (train mode, autograd on, not packed) at hidden size <= 64 or batch >= 128: the
          hand-written BPTT took 0.53-1.07x oneDNN's forward+backward time there over several runs
          (0.66-0.95x at batch 128-256 and hidden 128-512). Smaller batches of wider layers stay native
          (0.7-2.2x, mixed from run to run), and so does inference, whose forward oneDNN runs as fast or
          faster on most shapes.
        """
        cfg = req.config
        if other != "native" or req.device.type != "cpu" or req.dtype != torch.float32:
            return None
        if cfg.proj_size > 0:
            return "chosen over native: torch runs projections in its ATen loop on CPU, not oneDNN"
        if req.training and req.grad and not req.packed:
            if cfg.hidden_size <= PREFER_MAX_HIDDEN:
                return f"chosen over native: faster to train at hidden size <= {PREFER_MAX_HIDDEN}"
            if req.batch >= PREFER_MIN_BATCH:
                return f"chosen over native: faster to train at batch >= {PREFER_MIN_BATCH}"
        return None

    def run(self, x, h0, c0, lengths, weights, cfg, req):
        return run_stack(fused_direction, x, h0, c0, lengths, weights.layers, cfg, req.training, req.return_gates)


register(FusedCPUBackend())
