"""The catalogue of named example configurations: every LSTMConfig option, alone and combined.

``lstmkit bench --variant``, ``benchmarks/speed.py`` and the test grids (fused against reference, float64
gradcheck) read it, so a new option is benchmarked and tested once it has an entry here; a test fails while
any variant option of :class:`~lstmkit.kernels.config.LSTMConfig` appears in no entry. Entries are keyword
arguments of :class:`lstmkit.LSTM` on top of any shape with ``hidden_size >= 4`` (``proj_size`` is 2).

>>> VARIANTS["peephole"]
{'peephole': True}
"""

from __future__ import annotations

from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "vanilla": {},
    "relu": {"activation": "relu"},
    "gelu_hard_sigmoid": {"activation": "gelu", "recurrent_activation": "hard_sigmoid"},
    "softsign_hard_sigmoid_legacy": {"activation": "softsign", "recurrent_activation": "hard_sigmoid_legacy"},
    "identity": {"activation": "identity"},
    "peephole": {"peephole": True},
    "layer_norm": {"layer_norm": True},
    "layer_norm_eps": {"layer_norm": True, "layer_norm_eps": 1e-3},
    "cifg": {"cifg": True},
    "forget_bias": {"forget_bias": 1.0},
    "recurrent_dropout": {"recurrent_dropout": 0.25},
    "zoneout": {"zoneout": 0.1},
    "projection": {"proj_size": 2, "peephole": True},
    "residual": {"residual": True, "num_layers": 2},
    "cell_clip": {"cell_clip": 0.3, "peephole": True},
    "proj_clip": {"proj_size": 2, "proj_clip": 0.15, "cell_clip": 0.5, "zoneout": 0.1},
    "peephole_cifg_layer_norm": {"cifg": True, "peephole": True, "layer_norm": True},
    "cifg_relu_zoneout_bidirectional": {"cifg": True, "activation": "relu", "zoneout": 0.25,
                                        "bidirectional": True},
    "stack_relu": {"num_layers": 2, "dropout": 0.3, "bidirectional": True, "layer_norm": True, "zoneout": 0.1,
                   "recurrent_dropout": 0.1, "forget_bias": 1.0, "activation": "relu"},
    "everything": {"peephole": True, "layer_norm": True, "forget_bias": 1.0, "proj_size": 2, "zoneout": 0.2,
                   "recurrent_dropout": 0.2, "num_layers": 2, "bidirectional": True, "residual": True},
}

# the short list `lstmkit bench` and the speed table time (one option each)
BENCH_VARIANTS = ("vanilla", "peephole", "layer_norm", "cifg", "relu", "recurrent_dropout", "zoneout")
