"""scikit-learn estimators: :class:`LSTMClassifier` and :class:`LSTMRegressor`.

They follow scikit-learn's estimator rules (hyper-parameters only in ``__init__``, ``get_params``/``set_params``/
``clone``, fitted attributes with a trailing underscore, ``random_state`` reproducibility) and pass its own
estimator checks (``tests/test_sklearn.py`` lists the few expected failures and why), so ``GridSearchCV``,
``cross_val_score`` and pipelines work. Inputs:

* a 3-D array (n, T, features): n sequences of T steps;
* a 2-D array (n, T): n univariate sequences (what scikit-learn's own data look like);
* a list of (T_i, features) or (T_i,) arrays of different lengths: padded and run with per-sequence lengths.

Every lstmkit variant is a hyper-parameter: ``cell=dict(peephole=True, layer_norm=True)``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 8, 2)).astype(np.float32)
>>> y = (X[:, :, 0].sum(1) > 0).astype(int)
>>> clf = LSTMClassifier(hidden_size=8, max_iter=30, random_state=0).fit(X, y)
>>> clf.score(X, y) > 0.8
True
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ._deps import require

require("sklearn.utils.validation", "sklearn")  # before the imports below: the error names the extra
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402

from .kernels.config import LSTMConfig  # noqa: E402
from .nn import LSTM  # noqa: E402

log = logging.getLogger(__name__)



class _Net(nn.Module):
    """An LSTM stack and a linear head on the last valid step's hidden state (both directions)."""

    def __init__(self, n_in: int, n_out: int, hidden_size: int, num_layers: int, bidirectional: bool,
                 dropout: float, cell: dict) -> None:
        super().__init__()
        self.lstm = LSTM(n_in, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                         dropout=dropout if num_layers > 1 else 0.0, **cell)
        width = self.lstm.config.out_size * (2 if bidirectional else 1)
        self.head = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        _, (h, _) = self.lstm(x, lengths=lengths)  # h: (L*D, B, P)
        D = 2 if self.lstm.bidirectional else 1
        last = torch.cat(list(h[-D:]), dim=-1)  # (B, D*P): the top layer, each direction's final state
        return self.head(last)  # (B, n_out)


class _LSTMEstimator(BaseEstimator):
    """What the classifier and the regressor share: input handling, the network, training, pickling."""

    def __init__(self, hidden_size: int = 32, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, cell: Optional[dict] = None, max_iter: int = 200, batch_size: int = 32,
                 lr: float = 1e-2, weight_decay: float = 0.0, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10, tol: float = 1e-4,
                 random_state: Optional[int] = None, warm_start: bool = False) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.cell = cell
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.warm_start = warm_start

    # --- inputs -----------------------------------------------------------------------------------------

    def _sequences(self, X: Any, y: Any = None, reset: bool = True):
        """X -> (float32 tensor (n, T, F), lengths (n,) or None[, y]); scikit-learn's validation for arrays."""
        ragged_fit = not reset and getattr(self, "_ragged", False)
        if ragged_fit and isinstance(X, np.ndarray) and X.ndim in (2, 3):
            X = list(X)  # fitted on a list of sequences: an array of equal-length ones reads the same way
        listed = isinstance(X, (list, tuple)) and len(X) > 0 and all(hasattr(a, "shape") for a in X)
        if listed and (ragged_fit or (reset and len({np.shape(a)[0] for a in X}) > 1)):
            if reset:
                self._ragged = True
            seqs = [np.asarray(a, dtype=np.float32) for a in X]
            seqs = [a[:, None] if a.ndim == 1 else a for a in seqs]
            widths = {a.shape[1] for a in seqs}
            if len(widths) != 1 or any(a.ndim != 2 or len(a) == 0 for a in seqs):
                raise ValueError("a list of sequences needs (T_i, features) or (T_i,) arrays with the same number of "
                                 f"features and at least one step each; got widths {sorted(widths)}")
            if any(not np.isfinite(a).all() for a in seqs):
                raise ValueError("Input X contains NaN or infinity")
            F = widths.pop()
            if reset:
                self.n_features_in_ = F
            elif F != self.n_features_in_:
                raise ValueError(f"X has {F} features per step, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input")
            lengths = torch.tensor([len(a) for a in seqs])
            x = np.zeros((len(seqs), int(lengths.max()), F), np.float32)
            for i, a in enumerate(seqs):
                x[i, :len(a)] = a
            out = (torch.from_numpy(x), lengths)
            if y is None:
                return out
            from sklearn.utils.validation import check_consistent_length, column_or_1d

            y = column_or_1d(np.asarray(y), warn=True)
            check_consistent_length(seqs, y)
            return (*out, y)
        if reset:
            self._ragged = False
        kwargs = dict(reset=reset, allow_nd=True, dtype=[np.float32, np.float64])
        if y is None:
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, y_numeric=isinstance(self, RegressorMixin), **kwargs)
        if X.ndim > 3:
            raise ValueError(f"expected 2-D (n, T) or 3-D (n, T, features) input, got {X.ndim}-D")
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        x = x.unsqueeze(-1) if x.dim() == 2 else x  # (n, T, F)
        if not reset and x.shape[-1] != self.n_step_features_:
            raise ValueError(f"X has {x.shape[-1]} features per step, but {type(self).__name__} is expecting "
                             f"{self.n_step_features_}")
        return (x, None) if y is None else (x, None, y)

    def _cell(self) -> dict:
        cell = dict(self.cell or {})
        unknown = sorted(set(cell) - set(LSTMConfig.option_names("variant")))
        if unknown:
            raise ValueError(f"cell: unknown option {unknown[0]!r}; the variant options are "
                             f"{', '.join(LSTMConfig.option_names('variant'))}")
        return cell

    # --- training ---------------------------------------------------------------------------------------

    def _check_params(self, n: int) -> None:
        if n == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required")
        for name in ("hidden_size", "num_layers", "max_iter", "batch_size", "n_iter_no_change"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")

    def _build(self, n_in: int, n_out: int, fresh: bool) -> None:
        """The network (a new one unless warm-starting one of the same shape) and its optimizer."""
        if fresh or getattr(self, "_net_shape", None) != (n_in, n_out):
            self.net_ = _Net(n_in, n_out, int(self.hidden_size), int(self.num_layers), bool(self.bidirectional),
                             float(self.dropout), self._cell())
            self._net_shape = (n_in, n_out)
            self._optimizer = None
        if getattr(self, "_optimizer", None) is None:
            self._optimizer = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.n_step_features_ = n_in

    def _epoch(self, x, lengths, target, rows: np.ndarray, gen: np.random.Generator) -> float:
        """One pass over ``rows`` in shuffled minibatches; the mean training loss."""
        self.net_.train()
        rows = rows.copy()
        gen.shuffle(rows)
        total, bs = 0.0, int(self.batch_size)
        for s in range(0, len(rows), bs):
            idx = torch.as_tensor(rows[s:s + bs])
            self._optimizer.zero_grad()
            loss = self._loss(self.net_(x[idx], None if lengths is None else lengths[idx]), target[idx])
            loss.backward()
            self._optimizer.step()
            total += float(loss.detach()) * len(idx)
        self.net_.eval()
        return total / max(len(rows), 1)

    def _seed(self) -> int:
        return int(self.random_state) if self.random_state is not None else int(np.random.randint(2 ** 31))

    def _fit(self, x: torch.Tensor, lengths: Optional[torch.Tensor], target: torch.Tensor, n_out: int):
        self._check_params(len(x))
        with torch.random.fork_rng(devices=[]):
            seed = self._seed()
            torch.manual_seed(seed)
            gen = np.random.default_rng(seed)
            self._build(x.shape[-1], n_out, fresh=not (self.warm_start and hasattr(self, "net_")))
            n = len(x)
            order = gen.permutation(n)
            n_val = max(1, int(round(n * self.validation_fraction))) if self.early_stopping and n >= 10 else 0
            val, tr = order[:n_val], order[n_val:]
            best, best_state, waited = np.inf, None, 0
            self.loss_curve_, self.validation_scores_ = [], []
            for _ in range(int(self.max_iter)):
                self.loss_curve_.append(self._epoch(x, lengths, target, tr, gen))
                monitor = self.loss_curve_[-1]
                if n_val:
                    with torch.no_grad():
                        vi = torch.as_tensor(val)
                        monitor = float(self._loss(self.net_(x[vi], None if lengths is None else lengths[vi]),
                                                   target[vi]))
                    self.validation_scores_.append(monitor)
                if monitor < best - self.tol:
                    best, waited = monitor, 0
                    if n_val:
                        best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.n_iter_no_change:  # MLPClassifier's rule: no improvement by tol
                        break
            if best_state is not None:  # early stopping: the best validation epoch's weights
                self.net_.load_state_dict(best_state)
            self.n_iter_ = len(self.loss_curve_)  # epochs run (scikit-learn's name)
        return self

    def _partial(self, x, lengths, target, n_out: int):
        """One epoch over the batch given, continuing the network and optimizer of earlier calls."""
        self._check_params(len(x))
        first = not hasattr(self, "net_")
        if first or not hasattr(self, "_partial_seed"):  # (after fit, partial_fit goes on from its network)
            self._partial_seed = self._seed()
        if first:
            self.n_iter_, self.loss_curve_ = 0, []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._partial_seed + self.n_iter_)
            gen = np.random.default_rng(self._partial_seed + self.n_iter_)
            self._build(x.shape[-1], n_out, fresh=first)
            self.loss_curve_.append(self._epoch(x, lengths, target, np.arange(len(x)), gen))
        self.n_iter_ += 1
        return self

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        x, lengths = self._sequences(X, reset=False)
        with torch.no_grad():
            return self.net_(x, lengths).numpy().astype(np.float64)  # (n, n_out)

    # --- pickling (joblib's n_jobs, caching): the network as safetensors bytes, not a pickled module -------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_optimizer", None)  # a later partial_fit starts a fresh Adam state
        net = state.pop("net_", None)
        if net is not None:
            from safetensors.torch import save

            state["_net_bytes"] = save({k: v.contiguous() for k, v in net.state_dict().items()})
        return state

    def __setstate__(self, state: dict) -> None:
        raw = state.pop("_net_bytes", None)
        self.__dict__.update(state)
        if raw is not None:
            from safetensors.torch import load

            n_in, n_out = self._net_shape
            self.net_ = _Net(n_in, n_out, int(self.hidden_size), int(self.num_layers), bool(self.bidirectional),
                             float(self.dropout), self._cell())
            self.net_.load_state_dict(load(raw))
            self.net_.eval()


def _require_y(est, y) -> None:
    if y is None:  # scikit-learn's wording, which its checks look for
        raise ValueError(f"{type(est).__name__} requires y to be passed, but the target y is None")


class LSTMClassifier(ClassifierMixin, _LSTMEstimator):
    """Sequence classification with an lstmkit LSTM: the last step's state into a linear softmax head, Adam.
    Training stops as scikit-learn's MLPClassifier does: when the training loss has not improved by ``tol`` for
    ``n_iter_no_change`` epochs, or with ``early_stopping=True`` the loss on an internal validation split
    (``validation_fraction``; the best epoch's weights are kept). See the module docstring for inputs."""

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, target)

    def fit(self, X: Any, y: Any) -> "LSTMClassifier":
        _require_y(self, y)
        x, lengths, y = self._sequences(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the classifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})")
        return self._fit(x, lengths, torch.as_tensor(encoded, dtype=torch.long), len(self.classes_))

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "LSTMClassifier":
        """One epoch on (X, y), continuing from earlier calls (incremental learning, and what Optuna's
        ``OptunaSearchCV(enable_pruning=True)`` drives). The first call needs ``classes``: every label."""
        _require_y(self, y)
        first = not hasattr(self, "net_")
        x, lengths, y = self._sequences(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError("the classifier needs at least 2 classes")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call ({self.classes_!r})")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes: {unknown[:5].tolist()}")
        encoded = np.searchsorted(self.classes_, y)
        return self._partial(x, lengths, torch.as_tensor(encoded, dtype=torch.long), len(self.classes_))

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "net_")
        logits = self._outputs(X)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        return self.classes_[self._outputs(X).argmax(1)]


class LSTMRegressor(RegressorMixin, _LSTMEstimator):
    """Sequence regression (one or several targets) with an lstmkit LSTM; targets are standardised inside.
    See the module docstring for inputs."""

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(out, target)

    def fit(self, X: Any, y: Any) -> "LSTMRegressor":
        _require_y(self, y)
        x, lengths, y = self._sequences(X, y, reset=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)  # (n, targets)
        self.y_mean_, self.y_std_ = y2.mean(0), y2.std(0)
        self.y_std_[self.y_std_ == 0] = 1.0
        target = torch.as_tensor((y2 - self.y_mean_) / self.y_std_, dtype=torch.float32)
        return self._fit(x, lengths, target, y2.shape[1])

    def partial_fit(self, X: Any, y: Any) -> "LSTMRegressor":
        """One epoch on (X, y), continuing from earlier calls; the targets' scaling is fixed by the first."""
        _require_y(self, y)
        first = not hasattr(self, "net_")
        x, lengths, y = self._sequences(X, y, reset=first)
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        if first:
            self._y_1d = y.ndim == 1
            self.y_mean_, self.y_std_ = y2.mean(0), y2.std(0)
            self.y_std_[self.y_std_ == 0] = 1.0
        elif y2.shape[1] != len(self.y_mean_):
            raise ValueError(f"y has {y2.shape[1]} target(s), the first partial_fit had {len(self.y_mean_)}")
        target = torch.as_tensor((y2 - self.y_mean_) / self.y_std_, dtype=torch.float32)
        return self._partial(x, lengths, target, y2.shape[1])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        out = self._outputs(X) * self.y_std_ + self.y_mean_  # (n, targets)
        return out[:, 0] if self._y_1d else out


__all__ = ["LSTMClassifier", "LSTMRegressor"]
