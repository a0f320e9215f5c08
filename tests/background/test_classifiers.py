"""Naive Bayes and logistic regression against oracles nobody here wrote.

Oracles: counts taken one example at a time in plain Python (the smoothed fit), Bayes' rule
evaluated on the explicit joint table p(x, y) of every binary x (the posterior), and
scikit-learn's ``LogisticRegression`` at the same regularisation (the discriminative fit).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.background import (
    LogisticRegression,
    LogisticRegressionFit,
    NaiveBayes,
    accuracy,
    fit_logistic_regression,
    fit_naive_bayes,
)


def toy_problem(n: int = 200, d: int = 5, c: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, d)) < 0.5).astype(np.float32)
    w = 2.0 * rng.normal(size=(d, c))
    logits = x @ w
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(c, p=row) for row in p], dtype=np.int32)
    return x, y


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.5])
def test_naive_bayes_fit_equals_the_smoothed_counts(alpha) -> None:
    x, y = toy_problem(n=60, d=4, c=3, seed=1)
    model = fit_naive_bayes(x, y, 3, alpha=alpha)
    for c in range(3):
        rows = [i for i in range(len(y)) if y[i] == c]
        prior = (len(rows) + alpha) / (len(y) + 3 * alpha)
        assert abs(float(jnp.exp(model.log_prior[c])) - prior) < 1e-6
        for j in range(4):
            ones = sum(x[i, j] for i in rows)
            want = (ones + alpha) / (len(rows) + 2 * alpha)
            assert abs(float(jax.nn.sigmoid(model.logits[c, j])) - want) < 1e-6


def test_naive_bayes_posterior_equals_bayes_rule_on_the_joint_table() -> None:
    x, y = toy_problem(n=40, d=3, c=2, seed=2)
    model = fit_naive_bayes(x, y, 2, alpha=1.0)
    prior = np.exp(np.asarray(model.log_prior, np.float64))
    p_one = 1.0 / (1.0 + np.exp(-np.asarray(model.logits, np.float64)))  # (C, D)
    outcomes = np.array(list(itertools.product([0, 1], repeat=3)), dtype=np.float64)
    joint = np.array(
        [[prior[c] * np.prod(np.where(v == 1, p_one[c], 1 - p_one[c])) for c in range(2)] for v in outcomes]
    )
    assert abs(joint.sum() - 1.0) < 1e-6  # a distribution over (x, y), float32 parameters
    posterior = joint / joint.sum(axis=1, keepdims=True)
    got = np.exp(np.asarray(model.log_posterior(outcomes.astype(np.float32)), np.float64))
    np.testing.assert_allclose(got, posterior, atol=1e-6)


def test_naive_bayes_posterior_is_stable_with_many_features() -> None:
    """784 features make p(x | y) underflow in float32; the log-space posterior does not."""
    rng = np.random.default_rng(3)
    x = (rng.random((50, 784)) < 0.3).astype(np.float32)
    y = (np.arange(50) % 2).astype(np.int32)
    log_post = fit_naive_bayes(x, y, 2).log_posterior(x)
    assert np.all(np.isfinite(np.asarray(log_post)))
    np.testing.assert_allclose(jax.nn.logsumexp(log_post, axis=1), 0.0, atol=1e-5)


def test_logistic_regression_matches_scikit_learn_at_the_same_regularisation() -> None:
    x, y = toy_problem()
    c = 1.0
    sk = SkLogisticRegression(C=c, max_iter=10_000, tol=1e-10).fit(x, y)
    result = fit_logistic_regression(
        jax.random.key(0), x, y, 3, l2=1.0 / (len(y) * c), steps=2_000, learning_rate=0.1
    )
    assert isinstance(result, LogisticRegressionFit) and isinstance(result.model, LogisticRegression)
    assert result.traces <= 1 and result.losses.shape == (2_000,)
    assert np.all(np.isfinite(result.losses))
    ours = np.exp(np.asarray(result.model.log_posterior(x)))
    np.testing.assert_allclose(ours, sk.predict_proba(x), atol=1e-3)


def test_logistic_regression_separates_a_separable_problem() -> None:
    x, _ = toy_problem(n=100, d=4, c=2, seed=4)
    y = (x[:, 0] > 0.5).astype(np.int32)  # the label is the first feature
    model = fit_logistic_regression(jax.random.key(1), x, y, 2, steps=500, learning_rate=0.2).model
    log_post = model.log_posterior(x)
    assert float(accuracy(log_post, y)) == 1.0
    assert float(jnp.min(jnp.take_along_axis(log_post, y[:, None], 1))) > np.log(0.95)


def test_accuracy_counts_argmax_hits() -> None:
    log_post = jnp.log(jnp.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]))
    assert float(accuracy(log_post, jnp.array([0, 1, 1, 0]))) == 0.5


def _bad_calls():
    x, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int32)
    nb = fit_naive_bayes(x, y, 2)
    lr = LogisticRegression(3, 2)
    key = jax.random.key(0)
    return [
        ("nb x int", lambda: fit_naive_bayes(x.astype(np.int32), y, 2), TypeError, "fit_naive_bayes: argument 'x' must be a floating-point array"),
        ("nb y shape", lambda: fit_naive_bayes(x, y[:3], 2), ValueError, "fit_naive_bayes: argument 'y' must have shape (4,)"),
        ("nb y float", lambda: fit_naive_bayes(x, y.astype(np.float32), 2), TypeError, "fit_naive_bayes: argument 'y' must be an integer array"),
        ("nb y range", lambda: fit_naive_bayes(x, y + 2, 2), ValueError, "fit_naive_bayes: argument 'y' must hold class indices in [0, 2)"),
        ("nb alpha", lambda: fit_naive_bayes(x, y, 2, alpha=-1.0), ValueError, "fit_naive_bayes: argument 'alpha'"),
        ("nb classes", lambda: fit_naive_bayes(x, y, 0), ValueError, "fit_naive_bayes: argument 'num_classes'"),
        ("nb posterior x", lambda: nb.log_posterior(np.zeros((2, 4), np.float32)), ValueError, "NaiveBayes.log_posterior: argument 'x' must have shape (batch, 3)"),
        ("nb constructor", lambda: NaiveBayes(np.zeros(2, np.float32), np.zeros((3, 4), np.float32)), ValueError, "NaiveBayes: arguments 'log_prior' and 'logits' must have shapes (C,) and (C, D)"),
        ("lr posterior x", lambda: lr.log_posterior(np.zeros((2, 4), np.float32)), ValueError, "LogisticRegression.log_posterior: argument 'x' must have shape (batch, 3)"),
        ("lr constructor", lambda: LogisticRegression(0, 2), ValueError, "LogisticRegression: argument 'd'"),
        ("lr constructor classes", lambda: LogisticRegression(3, 2.0), ValueError, "LogisticRegression: argument 'num_classes' must be a positive int"),
        ("fit lr key", lambda: fit_logistic_regression(0, x, y, 2), TypeError, "fit_logistic_regression: argument 'key'"),
        ("fit lr x", lambda: fit_logistic_regression(key, x[0], y, 2), ValueError, "fit_logistic_regression: argument 'x' must have shape (N, D)"),
        ("fit lr y", lambda: fit_logistic_regression(key, x, y[:2], 2), ValueError, "fit_logistic_regression: argument 'y' must have shape (4,)"),
        ("fit lr l2", lambda: fit_logistic_regression(key, x, y, 2, l2=-0.1), ValueError, "fit_logistic_regression: argument 'l2'"),
        ("fit lr steps", lambda: fit_logistic_regression(key, x, y, 2, steps=0), ValueError, "fit_logistic_regression: argument 'steps'"),
        ("fit lr learning rate", lambda: fit_logistic_regression(key, x, y, 2, learning_rate=0.0), ValueError, "fit_logistic_regression: argument 'learning_rate' must be a number > 0"),
        ("fit lr batch size", lambda: fit_logistic_regression(key, x, y, 2, batch_size=5), ValueError, "fit_logistic_regression: argument 'batch_size' (5) must be at most the number of examples (4)"),
        ("accuracy shapes", lambda: accuracy(np.zeros((4, 2), np.float32), y[:3]), ValueError, "accuracy: argument 'y' must have shape (4,)"),
        ("accuracy 1-D", lambda: accuracy(np.zeros(4, np.float32), y), ValueError, "accuracy: argument 'log_posterior' must have shape (N, C)"),
    ]


@bad_calls(_bad_calls())
def test_wrong_shapes_and_dtypes_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)


def test_naive_bayes_is_a_pytree() -> None:
    x, y = toy_problem(n=30, d=3, c=2)
    model = fit_naive_bayes(x, y, 2)
    leaves = jax.tree.leaves(model)
    assert len(leaves) == 2
    doubled = jax.tree.map(lambda a: 2 * a, model)
    assert isinstance(doubled, NaiveBayes)
