"""ONNX export: every variant, run by onnxruntime at other batch sizes and sequence lengths than the example's,
equals PyTorch; the graph passes onnx.checker with full shape inference; bad requests are clear errors."""

import numpy as np
import pytest
import torch
from torch import nn

import lstmkit
from lstmkit.kernels.variants import VARIANTS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
export = pytest.importorskip("lstmkit.export")

ATOL = 1e-5  # float32: the graph and PyTorch agree to about 1e-6 here


def _randomised(m: nn.Module) -> nn.Module:
    # peephole and layer-norm weights start neutral (0 and 1): random ones make every term count
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.5, 0.5)
    return m.eval()


def _run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in feeds.items()})


def _ops(path):
    def walk(g):
        for n in g.node:
            yield n.op_type
            for a in n.attribute:
                if a.g.node:
                    yield from walk(a.g)

    return set(walk(onnx.load(str(path)).graph))


def _close(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.detach().numpy(), atol=ATOL, rtol=ATOL)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_matches_pytorch_at_other_shapes(name, tmp_path):
    torch.manual_seed(0)
    m = _randomised(lstmkit.LSTM(3, 6, **VARIANTS[name]))
    path = export.onnx(m, tmp_path / f"{name}.onnx", torch.randn(5, 2, 3))
    assert not m.training  # the model is left as it was
    x = torch.randn(11, 4, 3)  # (T, B, I): longer and wider than the example
    with torch.no_grad():
        y, (h, c) = m(x)
    _close(_run(path, {"input": x}), [y, h, c])
    model = onnx.load(str(path))
    assert all(o.domain in ("", "ai.onnx") for o in model.opset_import)
    onnx.checker.check_model(model, full_check=True)


def test_the_lstm_operator_where_it_is_exact_else_a_scan(tmp_path):
    x = torch.randn(4, 2, 3)
    for opts, op in [({}, "LSTM"), ({"peephole": True, "cifg": True, "forget_bias": 1.0}, "LSTM"),
                     ({"activation": "relu", "recurrent_activation": "hard_sigmoid"}, "LSTM"),
                     ({"layer_norm": True}, "Scan"), ({"proj_size": 2}, "Scan"), ({"zoneout": 0.1}, "Scan"),
                     ({"cell_clip": 0.5}, "Scan"), ({"activation": "gelu"}, "Scan")]:
        path = export.onnx(_randomised(lstmkit.LSTM(3, 6, **opts)), tmp_path / "m.onnx", x)
        ops = _ops(path)
        assert op in ops and ({"LSTM", "Scan"} - {op}).isdisjoint(ops), (opts, ops)


@pytest.mark.parametrize("opts", [{"bidirectional": True, "num_layers": 2},
                                  {"bidirectional": True, "layer_norm": True, "proj_size": 2, "residual": True,
                                   "num_layers": 2},
                                  {"peephole": True, "cifg": True, "bidirectional": True, "batch_first": True}])
def test_lengths_and_initial_state_are_graph_inputs(opts, tmp_path):
    torch.manual_seed(1)
    m = _randomised(lstmkit.LSTM(3, 6, **opts))
    LD, P, bf = m.num_layers * 2, m.config.out_size, m.batch_first
    x = torch.randn(2, 5, 3) if bf else torch.randn(5, 2, 3)
    state = (torch.randn(LD, 2, P), torch.randn(LD, 2, 6))
    path = export.onnx(m, tmp_path / "m.onnx", (x, state), kwargs={"lengths": torch.tensor([5, 3])})
    inputs = {i.name: i.shape for i in ort.InferenceSession(str(path)).get_inputs()}
    assert inputs["h_0"] == [LD, "batch", P] and inputs["lengths"] == ["batch"]
    B, T = 5, 9
    x2 = torch.randn(B, T, 3) if bf else torch.randn(T, B, 3)
    h2, c2, lens = torch.randn(LD, B, P), torch.randn(LD, B, 6), torch.tensor([9, 1, 4, 9, 2])
    with torch.no_grad():
        y, (h, c) = m(x2, (h2, c2), lengths=lens)
    _close(_run(path, {"input": x2, "h_0": h2, "c_0": c2, "lengths": lens}), [y, h, c])


class Tagger(nn.Module):
    """A model around lstmkit layers: embedding, a layer-norm LSTM, a linear head."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 5)
        self.lstm = lstmkit.LSTM(5, 8, layer_norm=True, zoneout=0.1, batch_first=True, bidirectional=True)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):
        out, _ = self.lstm(self.emb(tokens))  # (B, T, 16)
        return self.head(out).log_softmax(-1)  # (B, T, 3)


def test_a_model_around_lstm_layers(tmp_path):
    torch.manual_seed(2)
    m = Tagger().eval()
    path = export.onnx(m, tmp_path / "tagger.onnx", torch.randint(0, 20, (2, 6)))
    tokens = torch.randint(0, 20, (3, 13))
    with torch.no_grad():
        want = m(tokens)
    _close(_run(path, {"input": tokens}), [want])


def test_bad_requests_are_clear_errors(tmp_path):
    x = torch.randn(4, 2, 3)
    m = lstmkit.LSTM(3, 6, recurrent_dropout=0.2)
    with pytest.raises(ValueError, match=r"training mode .*call model.eval\(\)"):
        export.onnx(m, tmp_path / "a.onnx", x)
    with pytest.raises(TypeError, match="float32 models.*float64"):
        export.onnx(lstmkit.LSTM(3, 6, dtype=torch.float64).eval(), tmp_path / "a.onnx", x.double())
    packed = nn.utils.rnn.pack_padded_sequence(x, [4, 2])
    with pytest.raises(NotImplementedError, match="PackedSequence cannot be exported.*lengths"):
        export.onnx(lstmkit.LSTM(3, 6).eval(), tmp_path / "a.onnx", packed)
    with pytest.raises(ValueError, match="1 input tensor"):
        export.onnx(lstmkit.LSTM(3, 6).eval(), tmp_path / "a.onnx", x, input_names=["x", "y"])
    assert not (tmp_path / "a.onnx").exists()


def test_outside_an_export_the_placeholders_never_run():
    m = lstmkit.LSTM(3, 6, peephole=True)
    assert "onnx" not in m.backend_info()
    with pytest.raises(ValueError, match="onnx"):
        lstmkit.LSTM(3, 6, backend="onnx")(torch.randn(2, 1, 3))


def test_keras_style_models_with_masks(tmp_path):
    """Embedding(mask_zero) into Bidirectional(LSTM): the graph takes any padding (left, right, gaps, none),
    as the PyTorch model does; the declared axes stay fixed, the free ones dynamic."""
    from lstmkit.keras import Input, layers, models

    torch.manual_seed(3)
    m = models.Sequential([Input((None,), dtype="int64"), layers.Embedding(50, 8, mask_zero=True),
                           layers.Bidirectional(layers.LSTM(6, peephole=True, return_sequences=True)),
                           layers.LSTM(5, layer_norm=True), layers.Dense(3, activation="softmax")])
    m.eval()
    path = export.onnx(m, tmp_path / "m.onnx", torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]]))
    x = torch.tensor([[0, 0, 3, 4, 5, 6, 7], [1, 2, 3, 0, 0, 0, 0], [5, 0, 5, 0, 5, 5, 5], [0] * 7])
    with torch.no_grad():
        want = m(x)
    _close(_run(path, {"input": x}), [want])

    seed = models.Sequential([Input((100, 1)), layers.LSTM(50, activation="relu"), layers.Dense(1)]).eval()
    path = export.onnx(seed, tmp_path / "seed.onnx", torch.randn(2, 100, 1))
    assert ort.InferenceSession(str(path)).get_inputs()[0].shape == ["batch", 100, 1]


def test_functional_model_and_cell(tmp_path):
    from lstmkit.keras import Input, layers, models

    torch.manual_seed(4)
    series, static = Input((None, 3), name="series"), Input((2,), name="static")
    out = layers.Dense(1)(layers.Concatenate()([layers.LSTM(5, cifg=True)(series),
                                                 layers.Dense(3, activation="relu")(static)]))
    fm = models.Model([series, static], out).eval()
    path = export.onnx(fm, tmp_path / "fm.onnx", (torch.randn(2, 4, 3), torch.randn(2, 2)))
    assert [i.name for i in ort.InferenceSession(str(path)).get_inputs()] == ["series", "static"]
    a, b = torch.randn(3, 9, 3), torch.randn(3, 2)
    with torch.no_grad():
        want = fm(a, b)
    _close(_run(path, {"series": a, "static": b}), [want])

    cell = _randomised(lstmkit.LSTMCell(3, 6, peephole=True, layer_norm=True, proj_size=2))
    path = export.onnx(cell, tmp_path / "cell.onnx", (torch.randn(2, 3), (torch.randn(2, 2), torch.randn(2, 6))))
    x, h, c = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 6)
    with torch.no_grad():
        want = cell(x, (h, c))
    _close(_run(path, {"input": x, "h": h, "c": c}), want)


def test_a_quantized_model_exports_its_rounded_weights_in_float(tmp_path, caplog):
    q = lstmkit.quantize(_randomised(lstmkit.LSTM(3, 6, peephole=True)))
    x = torch.randn(4, 2, 3)
    with caplog.at_level("WARNING"):
        path = export.onnx(q, tmp_path / "q.onnx", x)
    assert "quantize_dynamic" in caplog.text
    with torch.no_grad():
        y, (h, c) = q(x)
    _close(_run(path, {"input": x}), [y, h, c])
