"""Where training runs: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (CUDA when torch sees a device)."""

from __future__ import annotations

import torch


def resolve_device(spec: str) -> torch.device:
    """The torch device for a device setting; a CUDA setting without a visible CUDA device is an error that says
    so (rather than a failure deep inside the first batch).

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise ValueError(f"device {spec!r} is not a torch device ('auto', 'cpu', 'cuda' or 'cuda:N'): {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r}: torch sees no CUDA device (torch {torch.__version__}; the CPU wheel "
                             "has no CUDA); use 'cpu' or 'auto'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type != "cpu":
        raise ValueError(f"device {spec!r}: lstmkit trains on 'cpu' or 'cuda' devices")
    return device
