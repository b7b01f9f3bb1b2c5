"""Keras' functional API: ``Input`` gives a symbolic tensor, calling a layer on symbolic tensors records a
node, and :class:`lstmkit.Model` runs the recorded graph.

>>> from lstmkit.layers import Input, LSTM, Dense, Concatenate
>>> a, b = Input(shape=(10, 3), name="a"), Input(shape=(20, 1), name="b")
>>> merged = Concatenate()([LSTM(8)(a), LSTM(4)(b)])
>>> merged.shape
(None, 12)
>>> Dense(1)(merged).shape
(None, 1)

A symbolic tensor holds a shape (batch first, ``None`` where unknown), a dtype name, and where it came
from; it has no values. Layers build their weights when first called on one, so a wrong connection
fails at once, naming both layers.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Optional, Sequence, Union

Shape = tuple[Optional[int], ...]

_counters: dict[str, itertools.count] = {}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def unique_name(base: str) -> str:
    """Keras' automatic names: ``lstm``, ``lstm_1``, ``lstm_2``... per base name, for the whole process."""
    n = next(_counters.setdefault(base, itertools.count()))
    return base if n == 0 else f"{base}_{n}"


def layer_name(layer: Any) -> str:
    """The layer's name, given or automatic (assigned on first use and kept)."""
    if getattr(layer, "name", None):
        return layer.name
    auto = getattr(layer, "_auto_name", None)
    if auto is None:
        auto = unique_name(_snake(type(layer).__name__))
        object.__setattr__(layer, "_auto_name", auto)
    return auto


class Node:
    """One call of ``layer`` on symbolic inputs: ``args`` (a KerasTensor or a list of them), ``kwargs`` (which
    may hold KerasTensors, e.g. ``initial_state``) and the symbolic ``outputs`` it produced."""

    def __init__(self, layer: Any, args: Any, kwargs: dict[str, Any]) -> None:
        self.layer, self.args, self.kwargs = layer, args, kwargs
        self.outputs: list[KerasTensor] = []

    def parents(self) -> list["KerasTensor"]:
        return [t for t in flatten((self.args, list(self.kwargs.values()))) if isinstance(t, KerasTensor)]


class KerasTensor:
    """A symbolic tensor: ``shape`` (batch dimension first, ``None`` where unknown), ``dtype`` and the node
    that produced it (none for an :func:`Input`)."""

    def __init__(self, shape: Sequence[Optional[int]], dtype: str = "float32", node: Optional[Node] = None,
                 index: int = 0, name: Optional[str] = None) -> None:
        self.shape: Shape = tuple(shape)
        self.dtype, self.node, self.index = dtype, node, index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        src = f"from {layer_name(self.node.layer)}" if self.node else "input"
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} {src}{f' name={self.name}' if self.name else ''}>"

    def __len__(self) -> int:
        raise TypeError("a symbolic tensor has no length (it holds no values); use .shape")

    def __iter__(self):
        raise TypeError("a symbolic tensor cannot be iterated; a layer with several outputs returns a list")

    def __bool__(self) -> bool:
        raise TypeError("a symbolic tensor has no truth value; build the model, then call it on data")


def Input(shape: Sequence[Optional[int]] = (), batch_size: Optional[int] = None, name: Optional[str] = None,
          dtype: Optional[str] = None, sparse: bool = False, batch_shape: Optional[Sequence] = None) -> KerasTensor:
    """Keras' ``Input(shape=(timesteps, features), name=..., dtype=...)``: the start of a functional model.
    ``shape`` excludes the batch dimension (``None`` for a variable length); ``dtype="int32"`` for token ids."""
    if sparse:
        raise NotImplementedError("Input(sparse=True) is not supported; pass dense arrays")
    if batch_shape is not None:
        batch_shape = tuple(batch_shape)
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    for d in shape:
        if d is not None and (not isinstance(d, int) or isinstance(d, bool) or d < 1):
            raise ValueError(f"Input: shape must hold positive ints or None, got {shape}")
    return KerasTensor((batch_size, *shape), dtype or "float32", name=name or unique_name("input_layer"))


def flatten(structure: Any) -> list[Any]:
    """Leaves of nested lists, tuples and dicts (values), in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def is_symbolic(*structures: Any) -> bool:
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(list(structures)))


def substitute(structure: Any, values: dict[int, Any]) -> Any:
    """``structure`` with every KerasTensor replaced by ``values[id(tensor)]``."""
    if isinstance(structure, KerasTensor):
        return values[id(structure)]
    if isinstance(structure, list):
        return [substitute(s, values) for s in structure]
    if isinstance(structure, tuple):
        return tuple(substitute(s, values) for s in structure)
    if isinstance(structure, dict):
        return {k: substitute(v, values) for k, v in structure.items()}
    return structure


def describe(t: Union[KerasTensor, list]) -> str:
    """Where a symbolic input came from, for error messages: ``'lstm' (LSTM) output (None, 8)``."""
    if isinstance(t, (list, tuple)):
        return ", ".join(describe(x) for x in t)
    if t.node is None:
        return f"Input {t.name!r} {t.shape}"
    return f"{layer_name(t.node.layer)!r} ({type(t.node.layer).__name__}) output {t.shape}"


def symbolic_call(layer: Any, x: Any, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(x, **kwargs)`` on symbolic inputs: build the layer for their shapes, infer the output
    shapes, and return the symbolic output (a list for layers with several)."""
    if "mask" in kwargs and kwargs["mask"] is None:
        kwargs.pop("mask")
    kwargs.pop("training", None)
    if isinstance(x, (list, tuple)):
        if not all(isinstance(t, KerasTensor) for t in x):
            raise TypeError(f"{layer_name(layer)}: mix of symbolic and concrete inputs")
        in_shapes: Any = [t.shape for t in x]
        inner: Any = [s[1:] for s in in_shapes]
    elif isinstance(x, KerasTensor):
        in_shapes, inner = x.shape, x.shape[1:]
    else:
        raise TypeError(f"{layer_name(layer)}: a concrete input with symbolic keyword arguments")
    try:
        layer.ensure_built(inner)
        if getattr(layer, "built_input_shape", None) is not None and not isinstance(inner, list):
            layer.check_input_shape(inner)
        shape_kwargs = {k: kwargs[k] for k in getattr(layer, "shape_kwargs", ()) if k in kwargs}
        out_shapes = layer.compute_output_shape(in_shapes, **shape_kwargs)
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(f"layer {layer_name(layer)!r} ({type(layer).__name__}) cannot take the output of "
                         f"{describe(x)}: {err}") from None
    node = Node(layer, x, dict(kwargs))
    multi = isinstance(out_shapes, list)
    for i, shape in enumerate(out_shapes if multi else [out_shapes]):
        node.outputs.append(KerasTensor(shape, "float32", node, i))
    return list(node.outputs) if multi else node.outputs[0]


def topological_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
    """The nodes between ``inputs`` and ``outputs`` in an order where every node follows its parents; an
    output that needs a tensor which is not among ``inputs`` (nor computed from them) is an error."""
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    seen: set[int] = set()
    visiting: set[int] = set()

    def visit(t: KerasTensor, path: str) -> None:
        if id(t) in input_ids:
            return
        if t.node is None:
            raise ValueError(f"Model: {path} needs {describe(t)}, which is not one of the model's inputs; "
                             "pass it in Model(inputs=[...])")
        node = t.node
        if id(node) in seen:
            return
        if id(node) in visiting:
            raise ValueError("Model: the graph has a cycle")
        visiting.add(id(node))
        for parent in node.parents():
            visit(parent, f"layer {layer_name(node.layer)!r}")
        visiting.discard(id(node))
        seen.add(id(node))
        order.append(node)

    for i, t in enumerate(outputs):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model: output {i} is a {type(t).__name__}, not a symbolic tensor from the inputs")
        visit(t, f"output {i}")
    return order
