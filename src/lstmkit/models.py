"""``lstmkit.Sequential``: the Keras workflow (``add``, ``compile``, ``fit``, ``evaluate``, ``predict``,
``save``) on PyTorch, and :func:`load_model`.

The first seed's program, line for line:

>>> import numpy as np
>>> from lstmkit import Sequential
>>> from lstmkit.layers import LSTM, Dense
>>> model = Sequential()
>>> model.add(LSTM(50, activation='relu', input_shape=(100, 1)))
>>> model.add(Dense(1))
>>> model.compile(optimizer='rmsprop', loss='mse')
>>> x, y = np.random.rand(20, 100, 1), np.random.rand(20, 1)
>>> history = model.fit(x, y, epochs=2, batch_size=10, verbose=0)
>>> sorted(history.history), model.predict(x).shape
(['loss'], (20, 1))

A Sequential is a ``torch.nn.Module``: its layers hold ordinary parameters, and ``model(x)`` is a forward pass.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .layers import Bidirectional, Layer, deserialize_layer, serialize_layer
from .layers.recurrent import RecurrentLayer
from .layers.base import Shape
from .layers.functional import Input, KerasTensor, layer_name, substitute, topological_nodes
from .nn.quantized import is_quantized, quantize_in_place
from .train import Callback, History, Trainer, TrainOptions
from .train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .train.inputs import as_checked_tensor
from .train.losses import get_loss
from .train.optim import deserialize_schedule, serialize_schedule
from .train.trainer import check_weights_fit, load_weights_into
from ._version import __version__

log = logging.getLogger(__name__)


class _ModelTrainer(Trainer):
    def prepare(self, data: Any) -> None:
        self.model.build_from_data(data)

    def save(self, path: str, include_optimizer: bool = True) -> None:  # whole model, for ModelCheckpoint
        self.model.save(path, include_optimizer=include_optimizer)


def _json_safe(spec: Any) -> bool:
    if isinstance(spec, (str, int, float, bool)) or spec is None:
        return True
    if isinstance(spec, (list, tuple)):
        return all(_json_safe(s) for s in spec)
    if isinstance(spec, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in spec.items())
    return False


class KerasOptimizer:
    """``model.optimizer`` as Keras programs use it: ``learning_rate`` (get and set, every parameter group),
    ``iterations`` and ``get_config()``; any other attribute is the torch optimizer's (``param_groups``,
    ``state_dict()``...). Built on first use if :meth:`Sequential.compile` could not build it yet."""

    def __init__(self, trainer: Trainer) -> None:
        object.__setattr__(self, "_trainer", trainer)

    @property
    def torch_optimizer(self) -> torch.optim.Optimizer:
        return self._trainer.ensure_optimizer()

    @property
    def learning_rate(self) -> float:
        return float(self.torch_optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        value = float(value)
        if not value >= 0:
            raise ValueError(f"learning_rate must be >= 0, got {value}")
        for group in self.torch_optimizer.param_groups:
            group["lr"] = value

    lr = learning_rate

    @property
    def iterations(self) -> int:
        return int(self._trainer.global_step)

    def get_config(self) -> dict[str, Any]:
        opt = self.torch_optimizer
        group = {k: v for k, v in opt.param_groups[0].items() if k != "params" and _json_safe(v)}
        return {"name": type(opt).__name__.lower(), "learning_rate": self.learning_rate, **group}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.torch_optimizer, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("learning_rate", "lr"):
            type(self).learning_rate.fset(self, value)
        else:
            setattr(self.torch_optimizer, name, value)

    def __repr__(self) -> str:
        return f"KerasOptimizer({self.torch_optimizer!r})"


class Model(nn.Module):
    """Keras' functional ``Model(inputs, outputs)``: the graph of layer calls between :func:`~lstmkit.layers.Input`
    tensors and output tensors, trained the Keras way (``compile``, ``fit``, ``evaluate``, ``predict``,
    ``save``); several inputs and several outputs as in Keras. :class:`Sequential` is the one-path case.

    >>> from lstmkit.layers import Input, LSTM, Dense, Concatenate
    >>> series, static = Input(shape=(24, 1), name="series"), Input(shape=(3,), name="static")
    >>> out = Dense(1)(Concatenate()([LSTM(16)(series), Dense(4, activation="relu")(static)]))
    >>> model = Model([series, static], out)
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x1, x2, y = np.random.rand(32, 24, 1), np.random.rand(32, 3), np.random.rand(32, 1)
    >>> model.fit([x1, x2], y, epochs=1, verbose=0).history["loss"][0] > 0
    True
    >>> model.predict([x1, x2]).shape
    (32, 1)

    Inputs and targets may be lists (in the order given) or dicts keyed by the inputs' and output layers'
    names. A Model is a ``torch.nn.Module``: ``model(x1, x2)`` is a forward pass.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None) -> None:
        super().__init__()
        self.name = name
        self.trainer: Optional[Trainer] = None
        self.compile_config: Optional[dict[str, Any]] = None
        if type(self) is Model or inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    # --- the graph --------------------------------------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs, outputs): give both, e.g. Model(inputs=x, outputs=Dense(1)(h))")
        self._single_input = isinstance(inputs, KerasTensor)
        self._single_output = isinstance(outputs, KerasTensor)
        ins = [inputs] if self._single_input else list(inputs.values() if isinstance(inputs, dict) else inputs)
        outs = [outputs] if self._single_output else list(outputs.values() if isinstance(outputs, dict) else outputs)
        for i, t in enumerate(ins):
            if not isinstance(t, KerasTensor) or t.node is not None:
                raise ValueError(f"Model: input {i} must be a tensor made by Input(...), got {t!r}")
        if not outs:
            raise ValueError("Model: no outputs")
        self._nodes = topological_nodes(ins, outs)
        used = {id(p) for node in self._nodes for p in node.parents()} | {id(t) for t in outs}
        unused = [t.name for t in ins if id(t) not in used]
        if unused:
            raise ValueError(f"Model: input(s) {unused} are not used to compute any output")
        self.inputs, self.outputs = ins, outs
        layers: list[Layer] = []
        for node in self._nodes:
            if not any(node.layer is seen for seen in layers):
                layers.append(node.layer)
        self.layers = nn.ModuleList(layers)
        self.input_names = [t.name for t in ins]
        self.output_names = _unique([layer_name(t.node.layer) if t.node else t.name for t in outs])

    @property
    def built(self) -> bool:
        return True

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if self._single_output else shapes

    def build_from_data(self, data: Any) -> None:
        return None

    def _named(self, value: Any, names: list[str], what: str) -> list:
        """A list, tuple, dict (by name) or single value -> the list in ``names``' order, checked. ``what``
        is "context: noun" for the messages ("fit: targets")."""
        noun = what.split(": ")[-1]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            extra = [k for k in value if k not in names]
            if missing or extra:
                raise ValueError(f"{what}: the model's {noun} are {names}; missing {missing}, unknown {extra}")
            return [value[n] for n in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(f"{what}: the model has {len(names)} {noun} ({', '.join(names)}), got {len(value)}")
            return list(value)
        if len(names) > 1:
            raise ValueError(f"{what}: the model has {len(names)} {noun} ({', '.join(names)}); give a list or a dict")
        return [value[0] if isinstance(value, (list, tuple)) and len(value) == 1 and
                not isinstance(value[0], (int, float)) else value]

    def forward(self, *xs: Any) -> Any:
        if len(xs) == 1 and len(self.inputs) > 1:
            xs = tuple(self._named(xs[0], self.input_names, "inputs"))
        elif len(xs) == 1 and isinstance(xs[0], dict):
            xs = tuple(self._named(xs[0], self.input_names, "inputs"))
        if len(xs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} input(s) ({', '.join(self.input_names)}), got "
                             f"{len(xs)}")
        values: dict[int, Any] = {}
        masks: dict[int, Any] = {}
        for t, x in zip(self.inputs, xs):
            if not isinstance(x, Tensor):
                x = torch.as_tensor(np.asarray(x))
                if x.is_floating_point() and t.dtype.startswith("float"):
                    p = next(self.parameters(), None)
                    x = x.to(p.dtype if p is not None else torch.get_default_dtype())
            if x.dim() != len(t.shape) or any(w is not None and w != g for w, g in zip(t.shape[1:], x.shape[1:])):
                raise ValueError(f"input {t.name!r} expects shape {t.shape}, got {tuple(x.shape)}")
            values[id(t)], masks[id(t)] = x, None
        for node in self._nodes:
            args = substitute(node.args, values)
            kwargs = substitute(node.kwargs, values)
            mask = substitute(node.args, masks)
            if isinstance(mask, list) and all(m is None for m in mask):
                mask = None
            layer = node.layer
            out_mask = layer.compute_mask(args, mask)
            out = layer(args, mask, **kwargs)
            outs = list(out) if len(node.outputs) > 1 else [out]
            for k, (sym, val) in enumerate(zip(node.outputs, outs)):
                values[id(sym)] = val
                masks[id(sym)] = out_mask if k == 0 else None
        result = [values[id(t)] for t in self.outputs]
        return result[0] if self._single_output else result

    def get_config(self) -> dict[str, Any]:
        """The graph as JSON: the inputs, every layer's config, each call (node) with references to the
        tensors it took, and the outputs."""
        layers = list(self.layers)
        index = {id(layer): i for i, layer in enumerate(layers)}
        refs: dict[int, list] = {id(t): ["input", i] for i, t in enumerate(self.inputs)}
        nodes = []
        for n, node in enumerate(self._nodes):
            nodes.append({"layer": index[id(node.layer)], "args": _to_refs(node.args, refs),
                          "kwargs": _to_refs(node.kwargs, refs)})
            for k, t in enumerate(node.outputs):
                refs[id(t)] = ["node", n, k]
        return {"class_name": "Model", "name": self.name,
                "inputs": [{"name": t.name, "shape": list(t.shape[1:]), "dtype": t.dtype} for t in self.inputs],
                "layers": [serialize_layer(layer) for layer in layers], "nodes": nodes,
                "outputs": [{"__tensor__": refs[id(t)]} for t in self.outputs],
                "single_input": self._single_input, "single_output": self._single_output}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Model":
        inputs = [Input(shape=tuple(i["shape"]), name=i["name"], dtype=i.get("dtype")) for i in cfg["inputs"]]
        layers = [deserialize_layer(spec) for spec in cfg["layers"]]
        produced: list[list[KerasTensor]] = []
        for node in cfg["nodes"]:
            args = _from_refs(node["args"], inputs, produced)
            kwargs = _from_refs(node["kwargs"], inputs, produced)
            out = layers[node["layer"]](args, **kwargs)
            produced.append(list(out) if isinstance(out, list) else [out])
        outputs = [_from_refs(r, inputs, produced) for r in cfg["outputs"]]
        return cls(inputs[0] if cfg.get("single_input") else inputs,
                   outputs[0] if cfg.get("single_output") else outputs, name=cfg.get("name"))

    def regularization_loss(self) -> Optional[Tensor]:
        """The layers' L2 penalties summed, or None when no layer has a regulariser (nothing to add)."""
        terms = [t for t in (layer.regularization_loss() for layer in self.layers) if t is not None]
        return torch.stack(terms).sum() if terms else None

    def reset_states(self) -> None:
        """Clear the state of stateful recurrent layers (LSTM, GRU)."""
        for m in self.modules():
            if isinstance(m, RecurrentLayer):
                m.reset_state()

    reset_state = reset_states

    # --- Keras' weight API ------------------------------------------------------------------------------

    @property
    def weights(self) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in layer.weights]

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in layer.non_trainable_weights]

    def count_params(self) -> int:
        """The number of weight values, as Keras counts them (the LSTM's layout-only ``bias_hh`` excluded)."""
        if not self.built:
            raise ValueError("the model is not built yet: give the first layer input_shape or call it once")
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Every layer's :meth:`~lstmkit.layers.Layer.get_weights`, in order (Keras' layout)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load arrays in :meth:`get_weights` order, e.g. from the same Keras model's ``get_weights()``."""
        weights = list(weights)
        counts = [len(layer.get_weights()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"set_weights: the model has {sum(counts)} weight arrays, got {len(weights)}")
        i = 0
        for layer, n in zip(self.layers, counts):
            layer.set_weights(weights[i:i + n])
            i += n

    @property
    def optimizer(self) -> Optional["KerasOptimizer"]:
        """The optimizer after :meth:`compile`, with Keras' ``learning_rate`` (read and set) and
        ``iterations``; everything else is the ``torch.optim.Optimizer``'s."""
        if self.trainer is None:
            return None
        return KerasOptimizer(self.trainer)

    @property
    def stop_training(self) -> bool:
        """Set it from a callback to end :meth:`fit` after the current epoch, as in Keras."""
        return bool(self.trainer.stop_training) if self.trainer is not None else False

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._need_trainer().stop_training = bool(value)

    @property
    def history(self) -> Optional[History]:
        """The History of the latest :meth:`fit` (None before one), as Keras' ``model.history``."""
        return self.trainer.history if self.trainer is not None and self.trainer.history.epoch else None

    # --- Keras workflow -------------------------------------------------------------------------------

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Optional[Sequence[Any]] = None,
                *, loss_weights: Any = None, clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                global_clipnorm: Optional[float] = None, precision: str = "float32") -> None:
        """Keras' ``compile``. Names follow Keras and its defaults (``"rmsprop"`` is lr 1e-3, rho 0.9,
        eps 1e-7); torch optimizers/losses work too. A dict optimizer may carry a schedule:
        ``{"name": "adam", "learning_rate": ExponentialDecay(1e-3, 1000, 0.9)}``."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse'")
        if isinstance(optimizer, dict) and any(k in optimizer for k in ("clipnorm", "clipvalue", "global_clipnorm")):
            optimizer = dict(optimizer)  # Keras' optimizer arguments (keras.optimizers.Adam(clipnorm=1.0))
            clipnorm = optimizer.pop("clipnorm", clipnorm)
            clipvalue = optimizer.pop("clipvalue", clipvalue)
            global_clipnorm = optimizer.pop("global_clipnorm", global_clipnorm)
        options = TrainOptions(clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                               precision=precision)
        schedule, saved_optimizer = None, optimizer
        if isinstance(optimizer, dict) and isinstance(optimizer.get("learning_rate"), dict):
            optimizer = {**optimizer, "learning_rate": deserialize_schedule(optimizer["learning_rate"])}
        if isinstance(optimizer, dict) and callable(optimizer.get("learning_rate")):
            optimizer = dict(optimizer)
            schedule = optimizer.pop("learning_rate")
            optimizer["learning_rate"] = float(schedule(0))
            described = serialize_schedule(schedule)
            saved_optimizer = {**optimizer, "learning_rate": described} if described else None
        several = self._several_outputs()
        losses = self._named(loss, self.output_names, "losses") if several and isinstance(loss, (list, tuple, dict)) \
            else None
        self.trainer = _ModelTrainer(self, optimizer, losses[0] if losses else loss, list(metrics or []),
                                     options=options, lr_schedule=schedule)
        self.trainer.n_inputs = len(self.inputs) if self._several_inputs() else 1
        if several:
            self.trainer.output_names = list(self.output_names)
            self.trainer.output_losses = [get_loss(x) for x in losses] if losses else None
            if loss_weights is not None:
                self.trainer.output_loss_weights = [float(w) for w in
                                                    self._named(loss_weights, self.output_names, "loss_weights")]
        elif loss_weights is not None:
            raise ValueError("loss_weights is for models with several outputs")
        config = {"optimizer": saved_optimizer, "loss": loss, "metrics": list(metrics or []), "clipnorm": clipnorm,
                  "clipvalue": clipvalue, "global_clipnorm": global_clipnorm, "precision": precision}
        if loss_weights is not None:
            config["loss_weights"] = loss_weights
        self.compile_config = config if (saved_optimizer is not None and _json_safe(config)) else None
        if self.built:
            self.trainer.ensure_optimizer()

    def _need_trainer(self) -> Trainer:
        if self.trainer is None:
            raise RuntimeError("call model.compile(optimizer=..., loss=...) before fit/evaluate")
        return self.trainer

    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: int = 1, callbacks: Iterable[Callback] = (), validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: Optional[dict] = None,
            sample_weight: Any = None, initial_epoch: int = 0, resume: Optional[str] = None,
            seed: Optional[int] = None) -> History:
        """Keras' ``fit`` (``batch_size`` defaults to 32; ``class_weight={label: weight}`` and
        ``sample_weight`` weigh each sample's loss as Keras does). Returns the History; see
        :meth:`Trainer.fit`."""
        trainer = self._need_trainer()
        x, y = self._pack(x, y, "fit")
        if isinstance(validation_data, (tuple, list)) and not isinstance(self, Sequential):
            packed = self._pack(validation_data[0], validation_data[1], "validation_data")
            packed = (packed[0], None) if self._several() else packed
            validation_data = (*packed, *validation_data[2:3])
        return trainer.fit(
            x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle, callbacks=callbacks, verbose=verbose,
            initial_epoch=initial_epoch, resume=resume, seed=seed, sample_weight=sample_weight,
            class_weight=class_weight)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, verbose: int = 0,
                 sample_weight: Any = None, return_dict: bool = False):
        """The loss (and metrics): a float, a list [loss, *metrics], or a dict with ``return_dict``; the loss
        weighted by ``sample_weight``."""
        trainer = self._need_trainer()
        x, y = self._pack(x, y, "evaluate")
        logs = trainer.evaluate(x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: int = 0) -> np.ndarray:
        """Outputs for ``x`` as a NumPy array, in batches of ``batch_size`` (default 32)."""
        trainer = self.trainer
        if trainer is None:
            trainer = _ModelTrainer(self, "sgd", "mse")
            trainer.n_inputs = len(self.inputs) if self._several_inputs() else 1
        x, _ = self._pack(x, None, "predict")
        return trainer.predict(x, batch_size=batch_size)

    # several inputs or outputs travel as one TensorDataset: the inputs first, then one target per output
    def _several_inputs(self) -> bool:
        return not isinstance(self, Sequential) and len(self.inputs) > 1

    def _several_outputs(self) -> bool:
        return not isinstance(self, Sequential) and len(self.outputs) > 1

    def _several(self) -> bool:
        return self._several_inputs() or self._several_outputs()

    def _pack(self, x: Any, y: Any, what: str) -> tuple[Any, Any]:
        if not self._several() or isinstance(x, (Dataset, DataLoader)):
            if not isinstance(self, Sequential):  # [x] or {"name": x} for the one input, as Keras takes them
                if isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape")):
                    x = self._named(x, self.input_names, f"{what}: inputs")[0]
                if isinstance(y, dict) or (isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape")):
                    y = self._named(y, self.output_names, f"{what}: targets")[0]
            return x, y
        xs = self._named(x, self.input_names, f"{what}: inputs") if self._several_inputs() else [x]
        tensors = [as_checked_tensor(f"input {n!r}", v) for n, v in zip(self.input_names, xs)]
        if y is not None:
            ys = self._named(y, self.output_names, f"{what}: targets") if self._several_outputs() else [y]
            tensors += [as_checked_tensor(f"target {n!r}", v) for n, v in zip(self.output_names, ys)]
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"{what}: the inputs and targets have different numbers of samples: "
                             f"{[len(t) for t in tensors]}")
        return TensorDataset(*tensors), None

    def summary(self, print_fn: Optional[Callable[[str], None]] = None) -> str:
        """A table of layers, output shapes, parameter counts and what each layer is connected to; printed
        (or given to ``print_fn``) and returned."""
        rows = [("Layer (type)", "Output Shape", "Param #", "Connected to")]
        for t in self.inputs:
            rows.append((f"{t.name} (InputLayer)", _shape_text(t.shape), "0", "-"))
        counted: set[int] = set()
        for node in self._nodes:
            layer = node.layer
            n = sum(p.numel() for p in layer.weights) if id(layer) not in counted else 0
            counted.add(id(layer))
            parents = [layer_name(p.node.layer) if p.node else p.name for p in node.parents()]
            shapes = ", ".join(_shape_text(t.shape) for t in node.outputs)
            rows.append((f"{layer_name(layer)} ({type(layer).__name__})", shapes, f"{n:,}", ", ".join(parents)))
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(4)]
        line = "-" * sum(widths)
        out = [f'Model: "{self.name or "functional"}"', line,
               "".join(cell.ljust(w) for cell, w in zip(rows[0], widths)), line.replace("-", "=")]
        out += ["".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows[1:]]
        total = sum(p.numel() for p in self.weights)
        trainable = sum(p.numel() for p in self.trainable_weights)
        out += [line.replace("-", "="), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {total - trainable:,}"]
        text = "\n".join(out)
        (print_fn or print)(text)
        return text

    # --- saving ---------------------------------------------------------------------------------------

    def save(self, path: str, include_optimizer: bool = True) -> None:
        """One safetensors file: weights, JSON config, compile settings and optimizer state. Atomic."""
        if not self.built:
            raise ValueError("the model is not built yet (give input_shape or call it once) and cannot be saved")
        if is_quantized(self):
            include_optimizer = False  # an int8 model does not train: no optimizer state to keep
        if self.trainer is not None:
            tensors, meta = self.trainer.state_tensors(include_optimizer)
        else:
            tensors, meta = {f"model.{k}": v for k, v in self.state_dict().items()}, {}
        meta["model_config"] = self.get_config()
        if is_quantized(self):
            meta["quantized"] = "int8"  # load_model quantizes the rebuilt model before loading these weights
        meta["compile_config"] = self.compile_config
        meta["lstmkit_version"] = _version()
        save_checkpoint(path, tensors, meta)

    def save_weights(self, path: str) -> None:
        self.save(path, include_optimizer=False)

    def load_weights(self, path: str) -> None:
        """Load weights saved by :meth:`save` or :meth:`save_weights`; raises if the architecture differs."""

        tensors, meta = load_checkpoint(path)
        cfg = meta.get("model_config")
        if not self.built and cfg and cfg.get("input_shape"):
            self.build(tuple(cfg["input_shape"]))
        load_weights_into(self, tensors, str(path))


class Sequential(Model):
    """A linear stack of :mod:`lstmkit.layers` layers, trained the Keras way (a :class:`Model` with one path)."""

    input_shape: Optional[Shape] = None  # set by build (a plain attribute here, not Model's property)

    def __init__(self, layers: Optional[Iterable[Layer]] = None, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.layers = nn.ModuleList()
        self.input_shape: Optional[Shape] = None
        for layer in layers or []:
            self.add(layer)

    # --- building -------------------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Append ``layer``; the first layer's ``input_shape`` (if given), or a ``keras.Input(shape=...)`` added
        first as Keras programs do, builds the model right away."""
        if isinstance(layer, KerasTensor):
            if len(self.layers) or self.built:
                raise ValueError("Sequential: an Input can only come first")
            self.build(layer.shape[1:])
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects an lstmkit.layers layer, got {type(layer).__name__}")
        if isinstance(layer, (RecurrentLayer, Bidirectional)) and layer.return_state:
            raise ValueError(f"{type(layer).__name__} with return_state=True returns several tensors and cannot "
                             "sit inside a Sequential")
        if isinstance(layer, Bidirectional) and layer.merge_mode is None:
            raise ValueError("Bidirectional(merge_mode=None) returns a list [forward, backward] and cannot sit "
                             "inside a Sequential; pick a merge mode")
        if self.trainer is not None and self.trainer.optimizer is not None:
            raise RuntimeError("cannot add layers after training started; compile a new model")
        self.layers.append(layer)
        if len(self.layers) == 1 and layer.input_shape_arg is not None:
            self.build(layer.input_shape_arg)
        elif self.built:
            layer.ensure_built(self._shapes()[-2])

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: Shape) -> None:
        """Create every layer's parameters for inputs of ``input_shape`` (without the batch dimension)."""
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = layer.output_shape_for(shape)

    def _shapes(self) -> list[Shape]:
        shapes = [self.input_shape]
        for layer in self.layers:
            shapes.append(layer.output_shape_for(shapes[-1]))
        return shapes

    @property
    def output_shape(self) -> Optional[Shape]:
        return self._shapes()[-1] if self.built else None

    def build_from_data(self, data: Any) -> None:
        if self.built or not len(self.layers):
            if not len(self.layers):
                raise ValueError("the model has no layers")
            return
        if isinstance(data, TensorDataset):
            x0 = data.tensors[0]
        elif isinstance(data, DataLoader):
            x0 = next(iter(data))[0]
        elif isinstance(data, Dataset):
            x0 = data[0][0].unsqueeze(0)
        else:
            x0 = torch.as_tensor(data)
        self.build(tuple(x0.shape[1:]))

    def _check_input(self, x: Tensor) -> None:
        want = self.input_shape
        got = tuple(x.shape[1:])
        if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
            shown = ", ".join("None" if d is None else str(d) for d in want)
            raise ValueError(f"the model expects inputs of shape (batch, {shown}), got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):  # NumPy as in Keras: cast the way the first layer casts its inputs
            x = self.layers[0]._as_input(x) if len(self.layers) else torch.as_tensor(np.asarray(x))
        if not self.built:
            self.build(tuple(x.shape[1:]))
        self._check_input(x)
        mask = None
        for layer in self.layers:
            next_mask = layer.compute_mask(x, mask)
            x = layer(x, mask)
            mask = next_mask
        return x

    # --- inspection -----------------------------------------------------------------------------------

    def summary(self, print_fn: Optional[Callable[[str], None]] = None) -> str:
        """A table of layers, output shapes and parameter counts; printed (or given to ``print_fn``) and
        returned."""
        rows = [("Layer (type)", "Output Shape", "Param #")]
        shapes = self._shapes()[1:] if self.built else [None] * len(self.layers)
        for i, (layer, shape) in enumerate(zip(self.layers, shapes)):
            n = sum(p.numel() for p in layer.weights)  # as Keras counts (no layout-only bias_hh)
            shown = "?" if shape is None else "(None, " + ", ".join("None" if d is None else str(d)
                                                                     for d in shape) + ")"
            rows.append((f"{layer.name or type(layer).__name__.lower() + f'_{i}'} ({type(layer).__name__})",
                         shown.replace(", )", ")"), f"{n:,}"))
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(3)]
        line = "-" * sum(widths)
        out = [f'Model: "{self.name or "sequential"}"', line]
        out += ["".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows[:1]]
        out += [line.replace("-", "=")]
        out += ["".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows[1:]]
        total = sum(p.numel() for p in self.weights)
        trainable = sum(p.numel() for p in self.trainable_weights)
        out += [line.replace("-", "="), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                f"Non-trainable params: {total - trainable:,}"]
        text = "\n".join(out)
        (print_fn or print)(text)
        return text

    def get_config(self) -> dict[str, Any]:
        return {"class_name": "Sequential", "name": self.name,
                "input_shape": list(self.input_shape) if self.built else None,
                "layers": [serialize_layer(layer) for layer in self.layers]}


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        k, name = 1, n
        while name in out:
            name, k = f"{n}_{k}", k + 1
        out.append(name)
    return out


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _to_refs(structure: Any, refs: dict[int, list]) -> Any:
    if isinstance(structure, KerasTensor):
        return {"__tensor__": refs[id(structure)]}
    if isinstance(structure, (list, tuple)):
        return [_to_refs(s, refs) for s in structure]
    if isinstance(structure, dict):
        return {k: _to_refs(v, refs) for k, v in structure.items()}
    if not _json_safe(structure):
        raise ValueError(f"a layer call's argument {structure!r} cannot be saved in the model config")
    return structure


def _from_refs(structure: Any, inputs: list, produced: list) -> Any:
    if isinstance(structure, dict) and "__tensor__" in structure:
        kind, *where = structure["__tensor__"]
        return inputs[where[0]] if kind == "input" else produced[where[0]][where[1]]
    if isinstance(structure, list):
        return [_from_refs(s, inputs, produced) for s in structure]
    if isinstance(structure, dict):
        return {k: _from_refs(v, inputs, produced) for k, v in structure.items()}
    return structure


def _version() -> str:

    return __version__


def _rebuild(cfg: dict, path: str) -> Model:
    """The Sequential or functional Model a checkpoint's JSON config describes, built; any malformed config
    is a CheckpointError."""
    try:
        layers = cfg["layers"]
        if not isinstance(layers, list):
            raise TypeError(f"'layers' is a {type(layers).__name__}, not a list")
        if cfg.get("class_name") == "Model":
            return Model.from_config(cfg)
        model = Sequential([deserialize_layer(spec) for spec in layers], name=cfg.get("name"))
        if cfg.get("input_shape") is not None and not model.built:
            model.build(tuple(cfg["input_shape"]))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RuntimeError, OverflowError,
            RecursionError) as err:
        raise CheckpointError(f"{path}: the model config cannot be rebuilt ({type(err).__name__}: "
                              f"{str(err)[:300]})") from None
    return model


def load_model(path: str, compile: bool = True) -> Model:
    """Rebuild a model saved by :meth:`Model.save` (Sequential or functional): architecture from its JSON
    config (only lstmkit's registered layer classes are ever instantiated: no pickle, no code from the file),
    weights, and, when it was compiled with JSON-describable settings, the compile settings and optimizer
    state."""

    tensors, meta = load_checkpoint(path)
    cfg = meta.get("model_config")
    if not isinstance(cfg, dict) or cfg.get("class_name") not in ("Sequential", "Model"):
        raise CheckpointError(f"{path} holds no Sequential or Model config (saved with Trainer.save or "
                              "save_checkpoint?); build the model and use load_weights")
    # First on the meta device, which allocates nothing: a header whose architecture does not match its own
    # tensors (an Embedding claiming 300M rows, say) is an error before a byte of parameters is allocated.
    quantized = meta.get("quantized")
    if quantized not in (None, "int8"):
        raise CheckpointError(f"{path}: unknown quantization {quantized!r} (this lstmkit reads int8)")
    with torch.device("meta"):
        skeleton = _rebuild(cfg, path)
        if quantized:
            quantize_in_place(skeleton)
    check_weights_fit({k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, tensors, str(path))
    model = _rebuild(cfg, path)
    if quantized:
        quantize_in_place(model)
    cc = meta.get("compile_config")
    if compile and cc:
        model.compile(**cc)
        model.trainer.load_state(tensors, meta, str(path), load_optimizer=True)  # weights and optimizer
    else:

        load_weights_into(model, tensors, str(path))
    return model

