"""ONNX export of models built from lstmkit layers: every variant, dynamic batch and sequence length.

The model is traced by ``torch.onnx.export`` (its TorchScript exporter: it keeps the sequence length
dynamic and exports Dense, Embedding, LayerNorm and the rest as usual), with every LSTM layer and direction
traced as a placeholder (:mod:`lstmkit.kernels.onnx_trace`). Each placeholder is then lowered to standard
ONNX:

* the ``LSTM`` operator where it expresses the variant exactly: vanilla, peepholes (input ``P``, order
  i, o, f), coupled gates (``input_forget`` couples f = 1 - i, the other way round from lstmkit's
  i = 1 - f, so the f rows go in as the operator's i rows, negated, which is exact for the gates with
  1 - g(z) = g(-z)), ``forget_bias`` folded into the bias, the named activations the operator has, and
  lengths (``sequence_lens``);
* otherwise a ``Scan`` over time whose body is the step traced from the reference :func:`cell_step`, the
  specification itself, with the input projection (layer norm included) done for all steps before it:
  layer norm, projection, ``cell_clip`` (the operator's ``clip`` bounds the gates' pre-activations, not the
  cell), zoneout's eval expectation, and activations the operator lacks (gelu, silu...).

Before the file is written the graph passes ``onnx.checker`` with full shape inference, and (``verify``)
onnxruntime runs it on the example and must match PyTorch.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .._deps import require
from ..kernels.functional import cell_step, resolve_activation
from ..kernels.onnx_trace import ONNX_ACTIVATIONS, Record, recording
from ..train.checkpoint import atomic_write_bytes

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is a standard operator from 17 on
_GATE_ROWS = {4: (0, 3, 1, 2), 3: None}  # lstmkit [i, f, g, o] -> the operator's [i, o, f, c]


def _onnx():
    return require("onnx", "deploy")


def _array(t: Optional[Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().cpu().to(torch.float32).numpy()


# ---- the LSTM operator -----------------------------------------------------------------------------------

def _operator_weights(rec: Record) -> dict[str, np.ndarray]:
    """W (1, 4H, I), R (1, 4H, H), B (1, 8H) and P (1, 3H) of the operator, from one direction's weights."""
    cfg, w = rec.cfg, rec.weights
    H = cfg.hidden_size
    w_ih, w_hh = _array(w.w_ih), _array(w.w_hh)  # (G*H, I), (G*H, H)
    b_ih = _array(w.b_ih) if w.b_ih is not None else np.zeros(w_ih.shape[0], np.float32)
    b_hh = _array(w.b_hh) if w.b_hh is not None else np.zeros(w_ih.shape[0], np.float32)
    b_ih = b_ih.copy()

    def blocks(m: np.ndarray) -> list[np.ndarray]:
        return [m[k * H:(k + 1) * H] for k in range(m.shape[0] // H)]

    if cfg.forget_bias:
        b_ih[(0 if cfg.cifg else 1) * H:((0 if cfg.cifg else 1) + 1) * H] += cfg.forget_bias
    ph = _array(w.w_ph)  # (3, H) rows i, f, o; (2, H) f, o with cifg
    if cfg.cifg:
        # the operator computes i from its own rows and f = 1 - i; lstmkit's i = 1 - s(z_f) = s(-z_f)
        def reorder(m):
            f, g, o = blocks(m)
            return np.concatenate([-f, o, np.zeros_like(f), g])

        p = None if ph is None else np.concatenate([-ph[0], ph[1], np.zeros_like(ph[0])])
    else:
        def reorder(m):
            i, f, g, o = blocks(m)
            return np.concatenate([i, o, f, g])

        p = None if ph is None else np.concatenate([ph[0], ph[2], ph[1]])
    out = {"W": reorder(w_ih)[None], "R": reorder(w_hh)[None],
           "B": np.concatenate([reorder(b_ih), reorder(b_hh)])[None]}
    if p is not None:
        out["P"] = p[None]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _activation_attributes(cfg) -> dict[str, Any]:
    names, alphas, betas = [], [], []
    for act in (cfg.recurrent_activation, cfg.activation, cfg.activation):  # f (gates), g (candidate), h (cell)
        name, alpha, beta = ONNX_ACTIVATIONS[act]
        names.append(name)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    attrs: dict[str, Any] = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


class _Graph:
    """Nodes and initializers added while lowering, with fresh names."""

    def __init__(self, taken: set[str]) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.taken = taken

    def name(self, stem: str) -> str:
        k = 0
        while f"{stem}_{k}" in self.taken:
            k += 1
        self.taken.add(f"{stem}_{k}")
        return f"{stem}_{k}"

    def const(self, stem: str, value: np.ndarray) -> str:
        onnx = _onnx()
        name = self.name(stem)
        self.initializers.append(onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], outputs: Union[int, Sequence[str]] = 1, **attrs) -> list[str]:
        onnx = _onnx()
        outs = [self.name(f"lk_{op.lower()}") for _ in range(outputs)] if isinstance(outputs, int) else list(outputs)
        self.nodes.append(onnx.helper.make_node(op, list(inputs), outs, name=self.name(f"lk_{op}"), **attrs))
        return outs


def _lower_operator(g: _Graph, rec: Record, inputs: list[str], outputs: list[str]) -> None:
    x, h0, c0 = inputs[:3]
    ws = {k: g.const(f"lk_lstm_{k}", v) for k, v in _operator_weights(rec).items()}
    lens = ""
    if rec.masked:
        (as_int,) = g.node("Cast", [inputs[3]], to=6)  # (T, B) bool -> int32
        (lens,) = g.node("ReduceSum", [as_int, g.const("lk_axis0", np.array([0], np.int64))], keepdims=0)  # (B,)
    axis0 = g.const("lk_axis0", np.array([0], np.int64))
    (h0u,) = g.node("Unsqueeze", [h0, axis0])  # (1, B, H)
    (c0u,) = g.node("Unsqueeze", [c0, axis0])
    y, yh, yc = g.node("LSTM", [x, ws["W"], ws["R"], ws["B"], lens, h0u, c0u, ws.get("P", "")], 3,
                       hidden_size=rec.cfg.hidden_size, input_forget=int(rec.cfg.cifg),
                       **_activation_attributes(rec.cfg))
    g.node("Squeeze", [y, g.const("lk_axis1", np.array([1], np.int64))], [outputs[0]])  # (T, 1, B, H) -> (T, B, H)
    g.node("Squeeze", [yh, axis0], [outputs[1]])  # (B, H)
    g.node("Squeeze", [yc, axis0], [outputs[2]])


# ---- the Scan over the reference step ------------------------------------------------------------------

class _Step(nn.Module):
    """One step of one direction from the projected input, as the reference loop computes it in eval mode."""

    def __init__(self, rec: Record) -> None:
        super().__init__()
        self.rec = rec
        self.act = resolve_activation(rec.cfg.activation)
        self.rec_act = resolve_activation(rec.cfg.recurrent_activation)

    def forward(self, h: Tensor, c: Tensor, a_t: Tensor, m_t: Optional[Tensor] = None):
        cfg, z = self.rec.cfg, (float(self.rec.cfg.zoneout) if self.rec.cfg.zoneout else None)
        h_new, c_new, _ = cell_step(a_t, h, c, self.rec.weights, act=self.act, rec_act=self.rec_act, cifg=cfg.cifg,
                                    forget_bias=cfg.forget_bias, eps=cfg.layer_norm_eps, cell_clip=cfg.cell_clip,
                                    proj_clip=cfg.proj_clip, zone_h=z, zone_c=z)
        if m_t is None:
            return h_new, c_new, h_new
        return torch.where(m_t, h_new, h), torch.where(m_t, c_new, c), torch.where(m_t, h_new, 0.0)


def _step_graph(rec: Record, prefix: str, opset: int):
    """The step traced by torch.onnx.export into a graph usable as a Scan body, every name prefixed."""
    onnx = _onnx()
    cfg = rec.cfg
    G, H, P = cfg.num_gates, cfg.hidden_size, cfg.out_size
    args = [torch.zeros(2, P), torch.zeros(2, H), torch.zeros(2, G * H)]
    names = ["h", "c", "a"]
    if rec.masked:
        args.append(torch.ones(2, 1, dtype=torch.bool))
        names.append("m")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Step(rec), tuple(args), buf, dynamo=False, opset_version=opset, input_names=names,
                          output_names=["h_out", "c_out", "y"], dynamic_axes={n: {0: "B"} for n in names})
    body = onnx.load_from_string(buf.getvalue()).graph
    _prefix_graph(body, prefix)
    body.name = prefix + "step"
    return body


def _prefix_graph(graph, prefix: str) -> None:
    def fix(name: str) -> str:
        return prefix + name if name else name

    for coll in (graph.input, graph.output, graph.value_info):
        for v in coll:
            v.name = fix(v.name)
    for t in graph.initializer:
        t.name = fix(t.name)
    for n in graph.node:
        n.name = fix(n.name)
        n.input[:] = [fix(i) for i in n.input]
        n.output[:] = [fix(o) for o in n.output]


def _lower_scan(g: _Graph, rec: Record, inputs: list[str], outputs: list[str], opset: int) -> None:
    onnx = _onnx()
    a, h0, c0 = inputs[:3]
    body = _step_graph(rec, g.name("lk_scan") + "_", opset)
    scans = [a]
    if rec.masked:
        (m,) = g.node("Unsqueeze", [inputs[3], g.const("lk_axis2", np.array([2], np.int64))])  # (T, B, 1) bool
        scans.append(m)
    g.nodes.append(onnx.helper.make_node("Scan", [h0, c0, *scans], [outputs[1], outputs[2], outputs[0]],
                                         name=g.name("lk_Scan"), body=body, num_scan_inputs=len(scans)))


# ---- the export ------------------------------------------------------------------------------------------

def _lower(model_proto, records: list[Record], opset: int) -> None:
    graph = model_proto.graph
    taken = {v for n in graph.node for v in (*n.input, *n.output, n.name)} | {t.name for t in graph.initializer}
    g = _Graph(taken)
    nodes = []
    for node in graph.node:
        if node.domain != "lstmkit":
            nodes.append(node)
            continue
        rec = records[next(a.i for a in node.attribute if a.name == "key")]
        g.nodes = []
        if rec.operator:
            _lower_operator(g, rec, list(node.input), list(node.output))
        else:
            _lower_scan(g, rec, list(node.input), list(node.output), opset)
        nodes.extend(g.nodes)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(g.initializers)
    used = {i for n in _all_nodes(graph) for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    kept = [o for o in model_proto.opset_import if o.domain != "lstmkit"]
    del model_proto.opset_import[:]
    model_proto.opset_import.extend(kept)


def _all_nodes(graph):
    for n in graph.node:
        yield n
        for attr in n.attribute:
            if attr.g is not None and attr.g.node:
                yield from _all_nodes(attr.g)


class _Call(nn.Module):
    """``model(*args, **kwargs)`` with every input positional: the TorchScript exporter fills a forward's
    keyword-only parameters in as positional ones, which lstmkit.LSTM's forward (``lengths=``) refuses."""

    def __init__(self, model: nn.Module, n_args: int, kw_names: list[str]) -> None:
        super().__init__()
        self.model, self.n_args, self.kw_names = model, n_args, kw_names

    def forward(self, *inputs):
        kw = dict(zip(self.kw_names, inputs[self.n_args:]))
        return self.model(*inputs[:self.n_args], **kw)


def _flatten(obj) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _flatten(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _flatten(o)]
    if obj is None:
        return []
    raise TypeError(f"cannot export a model output of type {type(obj).__name__}")


def _declared_shapes(model: nn.Module) -> Optional[list[tuple]]:
    """The input shapes a Keras-style model declares (None for the batch and every free axis)."""
    from ..models import Model, Sequential

    if isinstance(model, Sequential):
        return [(None, *model.input_shape)] if model.input_shape is not None else None
    if isinstance(model, Model):
        return [tuple(t.shape) for t in model.inputs]
    return None


def _default_names(model: nn.Module, n_in: int, n_out: int, kwargs: Mapping[str, Any]) -> tuple[list, list]:
    from ..models import Model, Sequential
    from ..nn import LSTM, LSTMCell

    if isinstance(model, LSTM):
        ins = ["input", "h_0", "c_0"][:n_in - len(kwargs)] + list(kwargs)
        return ins, ["output", "h_n", "c_n"][:n_out]
    if isinstance(model, LSTMCell):
        return ["input", "h", "c"][:n_in], ["h_next", "c_next"][:n_out]
    if isinstance(model, Model) and not isinstance(model, Sequential) and len(model.input_names) == n_in:
        outs = list(model.output_names) if len(model.output_names) == n_out else None
        return [_safe(n) for n in model.input_names], outs or [f"output_{k}" for k in range(n_out)]
    ins = ["input"] if n_in - len(kwargs) == 1 else [f"input_{k}" for k in range(n_in - len(kwargs))]
    return ins + list(kwargs), ["output"] if n_out == 1 else [f"output_{k}" for k in range(n_out)]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name)) or "input"


def _dynamic_axes(model: nn.Module, names: Sequence[str], tensors: Sequence[Tensor],
                  declared: Optional[list[tuple]] = None) -> dict[str, dict[int, str]]:
    """An lstmkit.LSTM's batch and time axes (its states' layer axis stays fixed); a Keras-style model's batch
    and the axes its inputs leave free; for other models every axis but the feature axis (the last) of
    floating-point tensors."""
    from ..nn import LSTM

    if isinstance(model, LSTM):
        bt = {0: "batch", 1: "time"} if model.batch_first else {0: "time", 1: "batch"}
        known = {"input": bt, "output": bt, "lengths": {0: "batch"},
                 **{n: {1: "batch"} for n in ("h_0", "c_0", "h_n", "c_n")}}
        return {n: known[n] for n in names if n in known}
    axes = {}
    for j, (name, t) in enumerate(zip(names, tensors)):
        if declared is not None and j < len(declared) and len(declared[j]) == t.dim():
            axes[name] = {k: ("batch" if k == 0 else f"{name}_dim{k}") for k, d in enumerate(declared[j])
                          if d is None}
            continue
        keep = t.dim() - 1 if (t.is_floating_point() and t.dim() > 1) else t.dim()
        axes[name] = {k: ("batch" if k == 0 else f"{name}_dim{k}") for k in range(keep)}
    return axes


def onnx(model: nn.Module, path: Union[str, Path], example_input: Any, *, kwargs: Optional[Mapping[str, Any]] = None,
         input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None,
         dynamic_axes: Optional[Mapping[str, Any]] = None, opset: int = OPSET, verify: bool = True,
         atol: float = 1e-5) -> Path:
    """Export ``model`` (in eval mode) to an ONNX file at ``path``; returns the path.

    ``example_input`` is the model's positional input (a tensor or a tuple of them, e.g. ``(x, (h0, c0))``);
    ``kwargs`` its keyword tensors (``{"lengths": lengths}``: the graph then takes the lengths as an input).
    Every axis but the feature axis of floating-point inputs is dynamic unless ``dynamic_axes`` says
    otherwise. With ``verify`` (and onnxruntime installed) the graph is run on the example and must match
    PyTorch within ``atol`` (plus the same relative tolerance), or nothing is written.

    >>> import tempfile, os, lstmkit
    >>> lstm = lstmkit.LSTM(3, 8, peephole=True, layer_norm=True).eval()
    >>> p = onnx(lstm, os.path.join(tempfile.mkdtemp(), "lstm.onnx"), torch.randn(5, 2, 3))
    >>> import onnxruntime as ort
    >>> y, h, c = ort.InferenceSession(str(p)).run(None, {"input": np.ones((9, 4, 3), np.float32)})
    >>> y.shape, h.shape
    ((9, 4, 8), (1, 4, 8))
    """
    onnx_mod = _onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"export.onnx needs a torch.nn.Module, got {type(model).__name__}")
    training = [n or type(model).__name__ for n, m in model.named_modules() if m.training]
    if training:
        raise ValueError(f"the model is in training mode ({', '.join(training[:3])}{'...' if len(training) > 3 else ''}"
                         "); ONNX graphs hold inference only, without dropout's random masks: call model.eval() "
                         "first")
    for name, p in model.named_parameters():
        if p.dtype != torch.float32:
            raise TypeError(f"ONNX export supports float32 models; parameter {name!r} is {p.dtype}: call "
                            "model.float() first")
    if isinstance(example_input, PackedSequence) or (
            isinstance(example_input, tuple) and any(isinstance(a, PackedSequence) for a in example_input)):
        raise NotImplementedError("a PackedSequence cannot be exported to ONNX; export padded input with "
                                  "kwargs={'lengths': lengths} instead (the graph then takes a lengths input)")
    from ..nn.quantized import is_quantized

    if is_quantized(model):
        log.warning("exporting a quantized model: its LSTMs go into the graph in float32 with the int8-rounded "
                    "weights; for int8 in onnxruntime, quantize the exported graph with "
                    "onnxruntime.quantization.quantize_dynamic")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    kwargs = dict(kwargs or {})
    flat_in = _flatten(args) + _flatten(list(kwargs.values()))
    if any(t.device.type != "cpu" for t in flat_in) or any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("export on the CPU: call model.cpu() and pass CPU example inputs")
    with torch.no_grad():
        expected = _flatten(model(*args, **kwargs))
    ins, outs = _default_names(model, len(flat_in), len(expected), kwargs)
    ins, outs = list(input_names or ins), list(output_names or outs)
    if len(ins) != len(flat_in) or len(outs) != len(expected):
        raise ValueError(f"the model takes {len(flat_in)} input tensor(s) and returns {len(expected)}; got "
                         f"{len(ins)} input name(s) and {len(outs)} output name(s)")
    axes = dict(dynamic_axes) if dynamic_axes is not None else {
        **_dynamic_axes(model, ins, flat_in, _declared_shapes(model)), **_dynamic_axes(model, outs, expected)}
    buf = io.BytesIO()
    with recording() as records, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        # in eval mode like the model: the exporter restores the wrapper's mode afterwards, and the model's with it
        call = _Call(model, len(args), list(kwargs)).eval()
        torch.onnx.export(call, args + tuple(kwargs.values()), buf, dynamo=False, opset_version=opset, input_names=ins,
                          output_names=outs, dynamic_axes=axes, custom_opsets={"lstmkit": 1},
                          do_constant_folding=True)
    proto = onnx_mod.load_from_string(buf.getvalue())
    _lower(proto, records, opset)
    for out, want in zip(proto.graph.output, expected):  # the fixed axes' sizes, where the trace lost them
        for k, dim in enumerate(out.type.tensor_type.shape.dim):
            if k not in axes.get(out.name, {}) and k < want.dim():
                dim.dim_value = want.shape[k]
    proto = onnx_mod.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx_mod.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    if verify:
        _verify(data, ins, flat_in, outs, expected, atol)
    path = Path(path)
    atomic_write_bytes(path, data)
    log.info("exported %s to %s (%d LSTM direction(s): %d as the LSTM operator, %d as Scan)", type(model).__name__,
             path, len(records), sum(r.operator for r in records), sum(not r.operator for r in records))
    return path


def _verify(data: bytes, ins: list[str], flat_in: list[Tensor], outs: list[str], expected: list[Tensor],
            atol: float) -> None:
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is not installed: the exported graph was checked but not run")
        return
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {n: t.detach().numpy() for n, t in zip(ins, flat_in)}
    got = sess.run(None, feeds)
    for name, want, have in zip(outs, expected, got):
        want = want.detach().numpy()
        if want.shape != have.shape or not np.allclose(have, want, atol=atol, rtol=atol):
            err = np.abs(have - want).max() if want.shape == have.shape else f"shape {have.shape} vs {want.shape}"
            raise RuntimeError(f"the exported graph's output {name!r} differs from PyTorch's on the example "
                               f"(largest difference {err}); nothing was written. Please report this with the "
                               "model's configuration")


class OnnxStream:
    """Streaming with onnxruntime: an exported :class:`lstmkit.LSTM` graph with state inputs (``h_0``, ``c_0``;
    see :func:`onnx_stream`) run chunk by chunk, its ``h_n``, ``c_n`` fed back, as :class:`lstmkit.Stream`
    does in PyTorch. Chunks are batched, (T, B, I) (or (B, T, I) for a batch_first LSTM)."""

    def __init__(self, path: Union[str, Path], threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        if names[:3] != ["input", "h_0", "c_0"]:
            raise ValueError(f"{path}: a streaming graph takes input, h_0, c_0 (export it with export.onnx_stream); "
                             f"this one takes {', '.join(names)}")
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self._layers, self._p, self._h = shapes["h_0"][0], shapes["h_0"][2], shapes["c_0"][2]
        self.state: Optional[tuple[np.ndarray, np.ndarray]] = None

    def __call__(self, chunk: np.ndarray, batch_axis: int = 1) -> np.ndarray:
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        if self.state is None:
            B = chunk.shape[batch_axis]
            self.state = (np.zeros((self._layers, B, self._p), np.float32),
                          np.zeros((self._layers, B, self._h), np.float32))
        out, h, c = self.session.run(None, {"input": chunk, "h_0": self.state[0], "c_0": self.state[1]})
        self.state = (h, c)
        return out

    def reset(self) -> None:
        self.state = None


def onnx_stream(lstm: nn.Module, path: Union[str, Path], **kwargs: Any) -> Path:
    """Export an :class:`lstmkit.LSTM` for streaming: a graph taking ``input`` and the state ``h_0``, ``c_0``
    and returning ``output``, ``h_n``, ``c_n`` (run it with :class:`OnnxStream`)."""
    from ..nn import LSTM

    if not isinstance(lstm, LSTM):
        raise TypeError(f"onnx_stream exports an lstmkit.LSTM, got {type(lstm).__name__}")
    if lstm.bidirectional:
        raise ValueError("a bidirectional LSTM cannot stream (it reads each sequence from its end)")
    cfg, p = lstm.config, next(lstm.parameters())
    x = torch.zeros((2, 3, cfg.input_size) if cfg.batch_first else (3, 2, cfg.input_size), dtype=p.dtype)
    state = (torch.zeros(cfg.num_layers, 2, cfg.out_size, dtype=p.dtype),
             torch.zeros(cfg.num_layers, 2, cfg.hidden_size, dtype=p.dtype))
    return onnx(lstm, path, (x, state), **kwargs)
