"""lstmkit.sklearn: scikit-learn's own estimator checks (all pass: no expected failures), variable-length
sequences, every variant as a hyper-parameter, search with GridSearchCV (processes too), pickling."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from lstmkit.sklearn import LSTMClassifier, LSTMRegressor


@parametrize_with_checks([LSTMClassifier(), LSTMRegressor(),
                          LSTMClassifier(cell={"peephole": True, "layer_norm": True}, max_iter=40)])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _ragged(n=80, seed=0):
    """Sequences of 3-12 steps; the class is whether the last step's first feature is positive (so padding
    must not be read as steps)."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(int(rng.integers(3, 13)), 2)).astype(np.float32) for _ in range(n)]
    return xs, np.array([int(x[-1, 0] > 0) for x in xs])


def test_variable_length_sequences_are_padded_and_masked():
    xs, y = _ragged()
    clf = LSTMClassifier(hidden_size=16, random_state=0).fit(xs, y)
    assert clf.score(xs, y) > 0.9 and clf.n_features_in_ == 2
    alone = clf.predict_proba([xs[0], xs[0][:3]])[0]  # the same sequence, batched with a shorter one
    with_long = clf.predict_proba([xs[0], np.concatenate([xs[0], xs[0]])])[0]
    np.testing.assert_allclose(alone, with_long, atol=1e-6)  # padding never reaches a sequence's result
    same = clf.predict_proba([xs[0], xs[0]])  # equal lengths, and an array of them: read as sequences too
    np.testing.assert_allclose(same, clf.predict_proba(np.stack([xs[0], xs[0]])), atol=1e-6)
    np.testing.assert_allclose(same[0], alone, atol=1e-6)
    with pytest.raises(ValueError, match="features per step"):
        clf.predict([np.zeros((4, 3), np.float32), np.zeros((5, 3), np.float32)])


def test_3d_arrays_variants_and_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 10, 3)).astype(np.float32)
    y = X[:, 3, 0] - 0.5 * X[:, 7, 2]  # two steps matter
    reg = LSTMRegressor(hidden_size=24, cell={"cifg": True, "peephole": True}, random_state=0).fit(X[:400], y[:400])
    assert reg.score(X[400:], y[400:]) > 0.6  # held-out R^2 (0.84 when written)
    assert reg.net_.lstm.config.cifg and reg.net_.lstm.config.peephole
    with pytest.raises(ValueError, match="unknown option 'peepholes'.*peephole"):
        LSTMRegressor(cell={"peepholes": True}).fit(X, y)


def test_random_state_reproduces_and_pickles():
    xs, y = _ragged(40)
    a = LSTMClassifier(hidden_size=8, max_iter=20, random_state=3).fit(xs, y)
    b = clone(a).fit(xs, y)
    np.testing.assert_array_equal(a.predict_proba(xs), b.predict_proba(xs))
    again = pickle.loads(pickle.dumps(a))  # the network travels as safetensors bytes
    np.testing.assert_array_equal(again.predict_proba(xs), a.predict_proba(xs))


def test_grid_search_over_sizes_and_variants_in_processes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 6, 1)).astype(np.float32)
    y = (X[:, :, 0].mean(1) > 0).astype(int)
    grid = GridSearchCV(LSTMClassifier(max_iter=30, random_state=0),
                        {"hidden_size": [4, 16], "cell": [None, {"layer_norm": True}]}, cv=3, n_jobs=2)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"hidden_size", "cell"} and grid.best_score_ > 0.6
    assert len(grid.cv_results_["mean_test_score"]) == 4
    scores = cross_val_score(LSTMRegressor(max_iter=20, random_state=0), X, X[:, -1, 0], cv=3)
    assert np.isfinite(scores).all()


def test_partial_fit_and_optuna_search_with_pruning():
    optuna = pytest.importorskip("optuna")
    integration = pytest.importorskip("optuna_integration")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 6, 1)).astype(np.float32)
    y = (X[:, :, 0].mean(1) > 0).astype(int)
    clf = LSTMClassifier(hidden_size=8, random_state=0)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1])  # one epoch each, Adam's state kept
    assert clf.n_iter_ == 5 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    with pytest.raises(ValueError, match="classes must be passed"):
        LSTMClassifier().partial_fit(X, y)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = optuna.distributions
    search = integration.OptunaSearchCV(
        LSTMClassifier(random_state=0), {"hidden_size": dist.IntDistribution(4, 32, log=True),
                                         "lr": dist.FloatDistribution(1e-3, 5e-2, log=True),
                                         "cell": dist.CategoricalDistribution([None, {"peephole": True}])},
        cv=3, n_trials=6, enable_pruning=True, max_iter=8, random_state=0)
    search.fit(X, y)
    states = {t.state.name for t in search.study_.trials}
    assert len(search.study_.trials) == 6 and states <= {"COMPLETE", "PRUNED"}
    assert set(search.best_params_) == {"hidden_size", "lr", "cell"} and search.score(X, y) > 0.6
