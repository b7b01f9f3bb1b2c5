"""Bad configuration and bad input: a ValueError or TypeError that names the problem and the expected value."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit


@pytest.mark.parametrize("kwargs,error,match", [
    ({"activation": "swishy"}, ValueError, "unknown activation 'swishy'.*expected one of"),
    ({"recurrent_activation": 3}, TypeError, "recurrent_activation must be a name or a callable"),
    ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, ValueError, r"dropout must be in \[0, 1\)"),
    ({"recurrent_dropout": 1.5}, ValueError, r"recurrent_dropout must be in \[0, 1\)"),
    ({"zoneout": 1.0}, ValueError, r"zoneout must be in \[0, 1\)"),
    ({"zoneout": "0.1"}, TypeError, "zoneout must be a float"),
    ({"proj_size": 8}, ValueError, r"proj_size has to be smaller than hidden_size \(8\), got 8"),
    ({"proj_size": -1}, ValueError, "proj_size should be a positive integer or zero"),
    ({"residual": True}, ValueError, "residual=True.*input_size=4 but output width 8"),
    ({"cifg": True, "recurrent_activation": "tanh"}, ValueError, "cifg couples the gates.*'tanh'"),
    ({"cifg": True, "recurrent_activation": "relu"}, ValueError, "cifg couples"),
    ({"backend": "cudnn-magic"}, ValueError, "unknown backend 'cudnn-magic'"),
    ({"init": "xavier"}, ValueError, "init must be one of"),
    ({"forget_bias": float("nan")}, ValueError, "forget_bias must be finite"),
    ({"num_layers": 0}, ValueError, "num_layers must be greater than zero"),
    ({"peephole": "yes"}, TypeError, "peephole must be a bool"),
])
def test_bad_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        lstm = lstmkit.LSTM(4, 8, **kwargs)
        lstm(torch.randn(3, 2, 4))  # an unknown backend is found when it is first selected


def test_bad_sizes():
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        lstmkit.LSTM(4, 0)
    with pytest.raises(TypeError, match="input_size must be an int"):
        lstmkit.LSTM(4.0, 8)


def test_residual_with_equal_widths_is_fine():
    lstm = lstmkit.LSTM(8, 8, residual=True)
    out, _ = lstm(torch.zeros(3, 2, 8))
    assert out.shape == (3, 2, 8)
    lstmkit.LSTM(3, 8, num_layers=2, residual=True)  # layer 1 has equal widths


def test_named_backend_that_cannot_run_raises_with_reason():
    lstm = lstmkit.LSTM(4, 8, peephole=True, backend="native")
    with pytest.raises(ValueError, match="backend 'native' cannot run this configuration: peephole"):
        lstm(torch.randn(3, 2, 4))


@pytest.fixture
def lstm():
    return lstmkit.LSTM(4, 8, num_layers=2, proj_size=3)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"Expected input to be 2D or 3D, got 4D.*3-D batched input \(T, B, I\).*got 4-D"):
        lstm(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="got 1-D"):
        lstm(torch.randn(4))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="input.size\\(-1\\) must be equal to input_size. Expected 4, got 5: input has 5 features"):
        lstm(torch.randn(3, 2, 5))


def test_wrong_hx_shape(lstm):
    good_h, good_c = torch.zeros(2, 2, 3), torch.zeros(2, 2, 8)
    with pytest.raises(ValueError, match=r"Expected hidden\[0\] size \(2, 2, 3\), got \[2, 2, 8\]: h_0.*proj_size"):
        lstm(torch.randn(3, 2, 4), (torch.zeros(2, 2, 8), good_c))
    with pytest.raises(ValueError, match=r"Expected hidden\[1\] size \(2, 2, 8\), got \[1, 2, 8\]"):
        lstm(torch.randn(3, 2, 4), (good_h, torch.zeros(1, 2, 8)))
    with pytest.raises(TypeError, match="hx must be a tuple"):
        lstm(torch.randn(3, 2, 4), good_h)
    with pytest.raises(TypeError, match="h_0 has dtype torch.float64"):
        lstm(torch.randn(3, 2, 4), (good_h.double(), good_c))


def test_wrong_dtype(lstm):
    with pytest.raises(TypeError, match="RNN input dtype .*input has dtype torch.float64 but the LSTM's parameters are torch.float32"):
        lstm(torch.randn(3, 2, 4, dtype=torch.float64))


def test_bad_lengths(lstm):
    x = torch.randn(5, 3, 4)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 6 is longer than the sequence \(5 time steps\)"):
        lstm(x, lengths=[5, 6, 2])
    with pytest.raises(ValueError, match=r"lengths must be positive; lengths\[2\] = 0"):
        lstm(x, lengths=[5, 4, 0])
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\)"):
        lstm(x, lengths=[5, 4])
    with pytest.raises(TypeError, match="lengths must hold integers"):
        lstm(x, lengths=torch.tensor([5.0, 4.0, 1.0]))
    packed = pack_padded_sequence(x, [5, 4, 1])
    with pytest.raises(ValueError, match="lengths cannot be combined with a PackedSequence"):
        lstm(packed, lengths=[5, 4, 1])


def test_empty_sequence(lstm):
    with pytest.raises(ValueError, match="no time steps"):
        lstm(torch.randn(0, 2, 4))


def test_not_a_tensor(lstm):
    with pytest.raises(TypeError, match="input must be a Tensor or PackedSequence, got list"):
        lstm([[1.0, 2.0, 3.0, 4.0]])


def test_to_torch_refuses_variants():
    with pytest.raises(ValueError, match="to_torch needs torch.nn.LSTM's math"):
        lstmkit.LSTM(4, 8, peephole=True).to_torch()
    with pytest.raises(ValueError, match="cifg"):
        lstmkit.LSTM.from_torch(torch.nn.LSTM(4, 8), cifg=True)
    with pytest.raises(TypeError, match="expects a torch.nn.LSTM"):
        lstmkit.LSTM.from_torch(torch.nn.GRU(4, 8))
