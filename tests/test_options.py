"""One list of options: LSTMConfig declares them; the modules, the Keras-style layer, the recipes' --set keys,
the CLI and the test grids derive theirs from it."""

import dataclasses
import inspect

import pytest

import lstmkit
from lstmkit.kernels import LSTMConfig
from lstmkit.kernels.variants import VARIANTS
from lstmkit.layers import LSTM as KerasLSTM
from lstmkit.recipes.base import ModelConfig


def test_every_option_is_documented_with_a_kind():
    for f in dataclasses.fields(LSTMConfig):
        assert f.metadata.get("kind") in ("shape", "torch", "variant", "setup"), f.name
        assert len(f.metadata.get("doc", "")) > 10, f.name


def test_every_variant_option_is_in_the_catalogue():
    used = {k for opts in VARIANTS.values() for k in opts}
    missing = set(LSTMConfig.option_names("variant")) - used
    assert not missing, f"add an entry to lstmkit/kernels/variants.py for {sorted(missing)}"
    for opts in VARIANTS.values():  # every entry builds
        lstmkit.LSTM(4, 6, **opts)


def test_modules_layers_and_recipes_take_every_option():
    variant_and_setup = set(LSTMConfig.option_names("variant", "setup"))
    assert set(lstmkit.LSTM.OPTIONS) == variant_and_setup
    assert set(lstmkit.LSTMCell.OPTIONS) == (variant_and_setup - {"residual", "backend"}) | {"proj_size"}
    # the Keras-style layer: Keras' own names for activations and recurrent dropout, Keras initialisation
    keras_args = set(inspect.signature(KerasLSTM).parameters)
    assert variant_and_setup - {"init"} <= keras_args | set(KerasLSTM.OPTIONS)
    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    assert (variant_and_setup - {"init"}) | {"proj_size", "bidirectional"} <= model_keys
    # help() and editors see the options
    assert {"peephole", "zoneout", "layer_norm_eps"} <= set(inspect.signature(lstmkit.LSTM).parameters)
    assert "zoneout: probability" in lstmkit.LSTM.__doc__ and "cifg: coupled" in lstmkit.LSTMCell.__doc__


def test_unknown_option_is_a_type_error_naming_the_known_ones():
    with pytest.raises(TypeError, match="unexpected keyword argument 'peephol'.*peephole"):
        lstmkit.LSTM(3, 4, peephol=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'residual'"):
        lstmkit.LSTMCell(3, 4, residual=True)


def test_a_recipe_option_set_from_the_command_line_reaches_the_layer():
    from lstmkit.recipes.base import RecipeConfig, apply_overrides, lstm_stack

    data = dataclasses.make_dataclass("D", [("window", int, 3)])()
    cfg = apply_overrides(RecipeConfig(data=data), ["model.forget_bias=1.0", "model.layer_norm_eps=0.001",
                                                    "model.recurrent_activation=hard_sigmoid", "model.hidden_size=8"])
    (layer,) = lstm_stack(cfg.model, input_shape=(5, 2))
    assert layer.lstm.config.forget_bias == 1.0 and layer.lstm.config.layer_norm_eps == 0.001
    assert layer.lstm.config.recurrent_activation == "hard_sigmoid"
    with pytest.raises(ValueError, match="model: cifg couples"):
        apply_overrides(RecipeConfig(data=data), ["model.cifg=true", "model.recurrent_activation=relu"])
