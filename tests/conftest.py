import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # for the numpy_lstm helper module

# Keras runs on its torch backend in these tests (no JAX or TensorFlow needed).
os.environ.setdefault("KERAS_BACKEND", "torch")
# The CLI tunes glibc malloc for its own process; tests that call it in-process must not retune pytest's
# (tests/test_runtime.py checks the tuning in a subprocess).
os.environ["LSTMKIT_MALLOC_TUNING"] = "0"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def randomize_(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    """Fill every parameter with U(-scale, scale) (layer-norm gains around 1) so no variant term is zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            values = (torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * scale
            if name.startswith("ln_") and "weight" in name:
                values = values + 1.0
            p.copy_(values.to(p.dtype))
    return module
