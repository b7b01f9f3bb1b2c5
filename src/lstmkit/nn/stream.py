"""Streaming inference: feed an LSTM chunks of any length as they arrive, carrying (h, c) between calls."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .layer import LSTM, Lengths


class Stream:
    """Stateful inference over one stream (unbatched chunks (T, I)) or a batch of B streams, for real-time use
    (speech frames, sensor readings). The outputs equal one call over the whole sequence, whatever the chunk
    sizes: the state after each chunk is the next one's initial state.

    >>> lstm = LSTM(4, 8, num_layers=2, layer_norm=True).eval()
    >>> x = torch.randn(10, 4)  # one stream, (T, I)
    >>> s = Stream(lstm)
    >>> chunks = torch.cat([s(x[:3]), s(x[3:4]), s(x[4:])])  # (10, 8)
    >>> torch.allclose(chunks, lstm(x)[0], atol=1e-6)
    True
    >>> s.reset()  # a new utterance

    ``grad=False`` (the default) runs without autograd, as deployment does. Bidirectional LSTMs read the future
    and cannot stream. Chunks of a batch of streams may carry ``lengths``: past a stream's length its state
    stays, so streams may advance unevenly. ``reset(streams)`` restarts some streams of a batch.
    """

    def __init__(self, lstm: LSTM, grad: bool = False) -> None:
        if not isinstance(lstm, LSTM):
            raise TypeError(f"Stream needs an lstmkit.LSTM, got {type(lstm).__name__}")
        if lstm.bidirectional:
            raise ValueError("a bidirectional LSTM reads each sequence backwards from its end, so it cannot run on "
                             "a stream; use a unidirectional one")
        self.lstm, self.grad = lstm, grad
        self.state: Optional[tuple[Tensor, Tensor]] = None  # (h, c): (L, B, P|H) batched, (L, P|H) unbatched

    def __call__(self, chunk: Tensor, lengths: Lengths = None) -> Tensor:
        """The outputs for ``chunk`` ((T, I) for one stream; (T, B, I), or (B, T, I) with batch_first)."""
        if self.state is not None and self.state[0].dim() != chunk.dim():  # (L, B, P) for (T, B, I); (L, P) for (T, I)
            raise ValueError(f"this stream carries {'batched' if self.state[0].dim() == 3 else 'unbatched'} state, "
                             f"got a {chunk.dim()}-D chunk; reset() before switching")
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()):
            out, state = self.lstm(chunk, self.state, lengths=lengths)
        self.state = state
        return out

    def reset(self, streams: Union[None, int, Sequence[int]] = None) -> None:
        """Forget the state: of every stream (None), or of the given streams of a batch (their next chunk
        starts from zeros)."""
        if streams is None or self.state is None:
            self.state = None
            return
        h, c = self.state
        if h.dim() != 3:
            raise ValueError("reset(streams) picks streams of a batch; this stream is unbatched: call reset()")
        idx = torch.as_tensor([streams] if isinstance(streams, int) else list(streams), dtype=torch.long)
        if idx.numel() and (int(idx.min()) < -h.shape[1] or int(idx.max()) >= h.shape[1]):
            raise IndexError(f"streams {idx.tolist()}: the batch has {h.shape[1]} streams")
        h, c = h.clone(), c.clone()
        h[:, idx] = 0
        c[:, idx] = 0
        self.state = (h, c)
