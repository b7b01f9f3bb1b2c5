"""One activation table: every backend, the config and the Keras converter read it, and they agree."""

import pytest
import torch

import lstmkit
from lstmkit.kernels import activations, fused


def test_the_kernel_enum_agrees_with_the_table():
    module = fused.load_extension()
    if module is None:
        pytest.skip(f"fused kernel unavailable: {fused.extension_error()}")
    assert dict(module.activation_ids()) == activations.kernel_ids()


def test_a_mismatched_kernel_table_is_refused():
    class Wrong:
        @staticmethod
        def activation_ids():
            return {**activations.kernel_ids(), "relu": 5, "gelu": 2}

    with pytest.raises(RuntimeError, match="disagree.*relu"):
        fused._check_activation_ids(Wrong)


def test_activation_added_at_run_time_runs_on_reference_with_the_reason():
    name = "test_cube_act"
    if activations.get_spec(name) is None:
        activations.register_activation(name, lambda x: x * x * x / 3)
    lstm = lstmkit.LSTM(4, 8, activation=name)  # auto: must not pick a backend that cannot run it
    info = lstm.backend_info()
    assert info.startswith("reference"), info
    assert f"fused skipped: fused has no kernel for the activation '{name}'" in info
    x = torch.randn(5, 2, 4)
    ref = lstmkit.LSTM(4, 8, activation=lambda x: x * x * x / 3, backend="reference")
    ref.load_state_dict(lstm.state_dict())
    torch.testing.assert_close(lstm(x)[0], ref(x)[0])
    with pytest.raises(ValueError, match="backend 'fused' cannot run this configuration"):
        lstmkit.LSTM(4, 8, activation=name, backend="fused")(x)
    with pytest.raises(ValueError, match="already registered"):
        activations.register_activation(name, torch.tanh)


def test_the_table_is_read_only_and_complete():
    with pytest.raises(TypeError):
        activations.ACTIVATIONS["x"] = torch.tanh  # register_activation is the way in
    for name, fn in activations.ACTIVATIONS.items():
        assert activations.resolve_activation(name) is fn
    assert activations.from_keras("linear") == "identity" and activations.from_keras("swish") == "swish"
    with pytest.raises(ValueError, match="no lstmkit equivalent"):
        activations.from_keras("no_such_activation")
    with pytest.raises(ValueError, match="cifg .*\\(one of \\['hard_sigmoid', 'hard_sigmoid_legacy', 'sigmoid'\\]"):
        lstmkit.LSTM(2, 3, cifg=True, recurrent_activation="relu")


@pytest.mark.parametrize("name", ["silu", "swish", "elu", "selu", "softplus"])
def test_keras_activations_without_a_kernel_run_on_reference(name):
    lstm = lstmkit.LSTM(3, 4, activation=name)
    assert lstm.backend_info().startswith("reference")
    assert lstm(torch.randn(2, 1, 3))[0].shape == (2, 1, 4)
