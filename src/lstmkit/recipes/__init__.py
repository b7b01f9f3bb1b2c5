"""Task recipes on real data (``lstmkit train NAME``) and the embedded demo. Recipes sit on top of
``lstmkit.data``, ``lstmkit.layers`` and ``lstmkit.train``; nothing below imports them."""

from __future__ import annotations

from .base import ModelConfig, Recipe, RecipeConfig, Run, TrainConfig, apply_overrides, run_recipe
from .classify import Activity, JapaneseVowels, MnistRows
from .forecast import Forecast
from .text import Sentiment, Shakespeare

RECIPES: dict[str, Recipe] = {r.name: r for r in (MnistRows(), Forecast(), Sentiment(), Shakespeare(), JapaneseVowels(),
                                                   Activity())}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name lists the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


__all__ = ["RECIPES", "ModelConfig", "Recipe", "RecipeConfig", "Run", "TrainConfig", "apply_overrides",
           "get_recipe", "run_recipe"]
