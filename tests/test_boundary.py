"""The named boundary between the fused backend's Python side and its kernel (kernels/boundary.py and
csrc/kernel_io.h): both sides name the same fields, the kernel reads them by name and says which one is wrong."""

import pytest
import torch

import lstmkit
from lstmkit.kernels import boundary, fused
from lstmkit.kernels.boundary import DIFFERENTIABLE, CellOptions, KernelInputs, KernelSaved


@pytest.fixture(scope="module")
def kernel():
    module = fused.load_extension()
    if module is None:
        pytest.skip(f"fused kernel unavailable: {fused.extension_error()}")
    return module


def _inputs(T=3, B=2, H=4, dtype=torch.float32, **extra):
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return KernelInputs(a=r(T, B, 4 * H), h0=r(B, H), c0=r(B, H), w_hh=r(4 * H, H), **extra)


def test_both_sides_name_the_same_fields(kernel):
    fields = dict(kernel.fields())
    assert fields["inputs"] == list(KernelInputs._fields)
    assert fields["saved"] == list(KernelSaved._fields)
    assert fields["grads"] == list(DIFFERENTIABLE)
    assert fields["options"] == list(CellOptions._fields)
    boundary.check_fields(kernel)


def test_a_kernel_with_other_fields_is_refused(kernel):
    class Wrong:
        @staticmethod
        def fields():
            d = dict(kernel.fields())
            d["inputs"] = [n for n in d["inputs"] if n != "w_ph"] + ["w_extra"]
            return d

    with pytest.raises(RuntimeError, match=r"'inputs': \(\['w_ph'\], \['w_extra'\]\)"):
        boundary.check_fields(Wrong)


def test_the_kernel_reads_inputs_by_name_and_returns_named_results(kernel):
    opts = kernel.CellOptions(**CellOptions(act=0, rec_act=1)._asdict())
    inputs = _inputs()
    fwd = kernel.forward(inputs, opts, save=True, store_gh=False, split_columns=False)
    assert set(fwd) == {"out", *KernelSaved._fields}
    saved = boundary.saved_from(fwd)
    T, B, H = 3, 2, 4
    assert fwd["out"].shape == (T, B, H) and saved.h_all.shape == (T + 1, B, H) and saved.gates.shape == (T, B, 4 * H)
    grads = kernel.backward(torch.ones(T, B, H), torch.zeros(B, H), torch.zeros(B, H), inputs, saved, opts,
                            split_columns=False)
    assert set(grads) == set(DIFFERENTIABLE)
    ordered = boundary.grads_in_input_order(grads)
    assert len(ordered) == len(KernelInputs._fields)
    assert ordered[KernelInputs._fields.index("w_ph")] is None  # absent input: no gradient
    assert ordered[KernelInputs._fields.index("w_hh")].shape == (4 * H, H)
    # the same numbers as the module path (the reference backend), by the gradient of a sum
    a = inputs.a.clone().requires_grad_()
    w = lstmkit.kernels.functional.DirectionWeights(None, inputs.w_hh, None, None, None, None, None, None, None,
                                                    None, None, None)
    res = lstmkit.kernels.reference.recurrence(a, inputs.h0, inputs.c0, w, lstmkit.LSTMConfig(1, H), None,
                                               lstmkit.kernels.stack.Noise(None, None, None), False, forget_bias=0.0)
    torch.testing.assert_close(res.out, fwd["out"], atol=1e-6, rtol=1e-5)
    res.out.sum().backward()
    torch.testing.assert_close(a.grad, grads["a"], atol=1e-5, rtol=1e-4)


def test_a_missing_field_is_named(kernel):
    opts = kernel.CellOptions(act=0, rec_act=1)
    partial = {n: getattr(_inputs(), n) for n in KernelInputs._fields if n != "valid"}

    class NoValid:
        pass

    obj = NoValid()
    obj.__dict__.update(partial)
    with pytest.raises(AttributeError, match="valid"):
        kernel.forward(obj, opts, save=False, store_gh=False, split_columns=False)


def test_wrong_inputs_are_named_in_the_error(kernel):
    opts = kernel.CellOptions(act=0, rec_act=1)
    mixed = _inputs(w_ph=torch.zeros(12, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="input w_ph is Double, a is Float"):
        kernel.forward(mixed, opts, save=False, store_gh=False, split_columns=False)
    strided = _inputs()._replace(w_hh=torch.randn(4, 16).t())
    with pytest.raises(RuntimeError, match="input w_hh must be contiguous"):
        kernel.forward(strided, opts, save=False, store_gh=False, split_columns=False)


def test_cell_options_take_known_names_only(kernel):
    o = kernel.CellOptions(act=2, rec_act=1, cifg=True, cell_clip=3.0)
    assert (o.act, o.rec_act, o.cifg, o.cell_clip, o.proj_clip, o.eps) == (2, 1, True, 3.0, 0.0, 1e-5)
    with pytest.raises(TypeError, match="unknown option.*cel_clip"):
        kernel.CellOptions(act=0, rec_act=1, cel_clip=3.0)


def test_cell_options_of_a_config():
    cfg = lstmkit.LSTMConfig(3, 5, activation="relu", cifg=True, cell_clip=2.5, layer_norm_eps=1e-3)
    o = CellOptions.of(cfg, zone_p=0.25)
    assert o == CellOptions(act=lstmkit.kernels.activations.kernel_id("relu"), rec_act=1, cifg=True, eps=1e-3,
                            zone_p=0.25, cell_clip=2.5, proj_clip=0.0)
