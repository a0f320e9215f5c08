"""Properties of dgm_lib.latent.mixture: the density agrees with scipy and integrates to one, samples
follow it, responsibilities are Bayes' rule, maximum likelihood by fit recovers a known
mixture, and bad arguments give errors that name the function and the argument."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import special, stats
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib import train
from dgm_lib.latent import mixture as mx

SIGMAS = 5.0  # tolerance of every statistical test, in standard errors


def random_params(seed: int, k: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    logits = g.normal(0.0, 1.0, (k,)).astype(np.float32)
    means = g.normal(0.0, 2.0, (k, d)).astype(np.float32)
    log_vars = g.normal(-0.5, 0.5, (k, d)).astype(np.float32)
    return logits, means, log_vars


def scipy_component_logpdf(x, means, log_vars) -> np.ndarray:
    """log N(x; mu_k, diag sigma_k^2) for every point and component, shape (N, K), float64."""
    return np.stack(
        [
            stats.multivariate_normal(m, np.diag(np.exp(v.astype(np.float64)))).logpdf(x)
            for m, v in zip(means, log_vars, strict=True)
        ],
        axis=-1,
    ).reshape(len(x), len(means))


def log_weights(logits) -> np.ndarray:
    return special.log_softmax(np.asarray(logits, np.float64))


# ------------------------------------------------------------------------------------------
# The density
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "d"), [(1, 1), (3, 2), (5, 4)])
def test_log_prob_matches_scipy(k, d):
    params = random_params(k + d, k, d)
    x = np.random.default_rng(1).normal(0.0, 3.0, (40, d)).astype(np.float32)
    oracle = special.logsumexp(log_weights(params[0]) + scipy_component_logpdf(x, *params[1:]), -1)
    ours = mx.GaussianMixture(*params).log_prob(x)
    assert ours.shape == (40,)
    np.testing.assert_allclose(np.asarray(ours, np.float64), oracle, rtol=1e-5, atol=1e-4)


def test_sizes_are_named_d_and_num_components():
    gmm = mx.GaussianMixture(*random_params(0, 3, 2))
    assert (gmm.d, gmm.num_components) == (2, 3)
    cond = mx.ConditionalGaussianMixture(*(np.stack([p, p]) for p in random_params(0, 3, 2)))
    assert (cond.d, cond.num_components, cond.num_classes) == (2, 3, 2)


def test_log_prob_integrates_to_one_on_a_grid():
    model = mx.GaussianMixture(*random_params(7, 3, 2))
    step = 0.02  # a fifth of the smallest standard deviation drawn here (about 0.3)
    ticks = np.arange(-12 + step / 2, 12, step, dtype=np.float32)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    mass = np.exp(np.asarray(model.log_prob(grid), np.float64)).sum() * step**2
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_samples_have_the_mixture_moments():
    logits, means, log_vars = random_params(3, 4, 3)
    n = 200_000
    x = np.asarray(mx.GaussianMixture(logits, means, log_vars).sample(jax.random.key(0), n))
    assert x.shape == (n, 3) and x.dtype == np.float32
    w = np.exp(log_weights(logits))[:, None]
    mean = (w * means).sum(0)
    var = (w * (np.exp(log_vars) + means**2)).sum(0) - mean**2
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), SIGMAS * np.sqrt(var / n))
    # Var(s^2) needs the fourth central moment; with 200k draws it is estimated well enough.
    se_var = np.sqrt(((x - x.mean(0)) ** 4).mean(0) - x.var(0) ** 2) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(x.var(0) - var), SIGMAS * se_var)


def test_mean_log_prob_of_samples_is_minus_the_entropy_by_quadrature():
    model = mx.GaussianMixture(*random_params(11, 3, 2))
    step = 0.02
    ticks = np.arange(-12 + step / 2, 12, step, dtype=np.float32)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    lp = np.asarray(model.log_prob(grid), np.float64)
    entropy = -np.sum(np.exp(lp) * lp) * step**2
    samples_lp = np.asarray(model.log_prob(model.sample(jax.random.key(1), 100_000)), np.float64)
    se = samples_lp.std(ddof=1) / np.sqrt(len(samples_lp))
    assert abs(-samples_lp.mean() - entropy) < SIGMAS * se


def test_responsibilities_sum_to_one_and_equal_bayes_rule():
    params = random_params(5, 4, 2)
    x = np.random.default_rng(2).normal(0.0, 2.0, (30, 2)).astype(np.float32)
    joint = log_weights(params[0]) + scipy_component_logpdf(x, *params[1:])
    bayes = np.exp(joint - special.logsumexp(joint, axis=-1, keepdims=True))
    r = np.asarray(mx.GaussianMixture(*params).responsibilities(x), np.float64)
    assert r.shape == (30, 4)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(r, bayes, atol=1e-5)


def test_initial_parameters_put_means_at_distinct_data_points():
    x = np.random.default_rng(3).normal(size=(50, 2)).astype(np.float32)
    logits, means, log_vars = mx.initial_parameters(jax.random.key(0), x, 10)
    hits = np.all(np.asarray(means)[:, None, :] == x[None, :, :], axis=-1)
    assert np.all(hits.sum(1) == 1) and len(set(np.argmax(hits, 1))) == 10
    np.testing.assert_array_equal(logits, np.zeros(10))
    np.testing.assert_allclose(np.exp(log_vars), np.broadcast_to(x.var(0) / 10, (10, 2)), rtol=1e-4)


# ------------------------------------------------------------------------------------------
# Maximum likelihood with fit
# ------------------------------------------------------------------------------------------


def test_fit_recovers_a_two_component_mixture_up_to_label_switching():
    truth = (
        np.array([0.4, -0.4], np.float32),  # weights 0.69 and 0.31
        np.array([[-2.0, 1.0], [2.0, -0.5]], np.float32),
        np.log(np.array([[0.5, 1.0], [1.5, 0.3]], np.float32)),
    )
    n = 8000
    x = mx.GaussianMixture(*truth).sample(jax.random.key(0), n)
    model = mx.GaussianMixture.from_data(x, 2, rngs=nnx.Rngs(1))
    steps = 1500  # a decaying step size, so the end point is the optimum, not Adam's jitter
    result = train.fit(
        model, train.nll_loss, x, key=jax.random.key(2), steps=steps, batch_size=500,
        optimizer=optax.adam(optax.cosine_decay_schedule(5e-2, steps)), progress=False,
    )
    assert result.traces <= 1
    order = np.argsort(np.asarray(model.means[...])[:, 0])  # truth is sorted by mean x_1
    weights = np.exp(log_weights(np.asarray(model.logits[...])[order]))
    true_w, true_var = np.exp(log_weights(truth[0])), np.exp(truth[2])
    # Tolerances: SIGMAS standard errors of the maximum-likelihood estimates, each component
    # seen through about n * weight points (the components barely overlap).
    n_k = (n * true_w)[:, None]
    assert np.all(np.abs(weights - true_w) < SIGMAS * np.sqrt(true_w * (1 - true_w) / n))
    means = np.asarray(model.means[...])[order]
    np.testing.assert_array_less(np.abs(means - truth[1]), SIGMAS * np.sqrt(true_var / n_k))
    variances = np.exp(np.asarray(model.log_vars[...])[order])
    np.testing.assert_array_less(
        np.abs(variances - true_var), SIGMAS * true_var * np.sqrt(2 / n_k)
    )


def test_nll_loss_is_minus_the_mean_log_prob():
    params = random_params(4, 2, 2)
    x = np.random.default_rng(4).normal(size=(16, 2)).astype(np.float32)
    model = mx.GaussianMixture(*params)
    assert float(train.nll_loss(model, x)) == pytest.approx(-float(model.log_prob(x).mean()))
    labels = np.array([0, 1] * 8, np.int32)
    cond = mx.ConditionalGaussianMixture(*(np.stack([p, p]) for p in params))
    assert float(train.nll_loss(cond, (x, labels))) == pytest.approx(float(train.nll_loss(model, x)))


# ------------------------------------------------------------------------------------------
# The class-conditional mixture
# ------------------------------------------------------------------------------------------


def conditional_params() -> tuple[np.ndarray, ...]:
    per_class = [random_params(20 + c, 3, 2) for c in range(3)]
    per_class[1][1][:] += 10.0  # move class 1 far away, so a mix-up of classes shows
    return tuple(np.stack(p) for p in zip(*per_class, strict=True))


def test_conditional_log_prob_is_the_mixture_of_the_given_class():
    params = conditional_params()
    model = mx.ConditionalGaussianMixture(*params)
    x = np.random.default_rng(5).normal(0.0, 3.0, (12, 2)).astype(np.float32)
    labels = np.array([0, 1, 2] * 4, np.int32)
    ours = np.asarray(model.log_prob(x, labels), np.float64)
    for c in range(3):
        joint = log_weights(params[0][c]) + scipy_component_logpdf(x, params[1][c], params[2][c])
        np.testing.assert_allclose(
            ours[labels == c], special.logsumexp(joint, -1)[labels == c], rtol=1e-5, atol=1e-4
        )


@pytest.mark.parametrize("label", [0, 1, 2])
def test_conditional_samples_have_their_class_mean(label):
    params = conditional_params()
    n = 50_000
    x = np.asarray(mx.ConditionalGaussianMixture(*params).sample(jax.random.key(label), n, label))
    assert x.shape == (n, 2)
    w = np.exp(log_weights(params[0][label]))[:, None]
    mean = (w * params[1][label]).sum(0)
    var = (w * (np.exp(params[2][label]) + params[1][label] ** 2)).sum(0) - mean**2
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), SIGMAS * np.sqrt(var / n))


def test_conditional_from_data_starts_each_class_at_its_own_points():
    g = np.random.default_rng(6)
    x = np.concatenate([g.normal(-5, 1, (40, 2)), g.normal(5, 1, (40, 2))]).astype(np.float32)
    labels = np.repeat(np.arange(2, dtype=np.int32), 40)
    model = mx.ConditionalGaussianMixture.from_data(x, labels, 2, 4, rngs=nnx.Rngs(0))
    means = np.asarray(model.means[...])
    assert means.shape == (2, 4, 2)
    assert np.all(means[0] < 0) and np.all(means[1] > 0)


# ------------------------------------------------------------------------------------------
# Errors that say what was wrong
# ------------------------------------------------------------------------------------------

P = random_params(0, 3, 2)
GMM = mx.GaussianMixture(*P)
CGMM = mx.ConditionalGaussianMixture(*(np.stack([p, p]) for p in P))
X = np.zeros((5, 2), np.float32)
Y = np.zeros((5,), np.int32)
KEY = jax.random.key(0)
RNGS = nnx.Rngs(0)


BAD_CALLS = [
    ("GaussianMixture 1", lambda: mx.GaussianMixture(P[0][:, None], P[1], P[2]), ValueError, "GaussianMixture: argument 'logits' must have shape (K,)"),
    ("GaussianMixture 2", lambda: mx.GaussianMixture(P[0], P[1][:2], P[2]), ValueError, "GaussianMixture: argument 'means' must have shape (3, D)"),
    ("GaussianMixture 3", lambda: mx.GaussianMixture(P[0], P[1], P[2][:, :1]), ValueError, "GaussianMixture: argument 'log_vars' must have shape (3, 2)"),
    ("GaussianMixture.log_prob 1", lambda: GMM.log_prob(np.zeros((5, 3), np.float32)), ValueError, "GaussianMixture.log_prob: argument 'x' must have shape (batch, 2)"),
    ("GaussianMixture.log_prob 2", lambda: GMM.log_prob(np.zeros((2,), np.float32)), ValueError, "GaussianMixture.log_prob: argument 'x' must have shape (batch, 2)"),
    ("GaussianMixture.responsibilities 1", lambda: GMM.responsibilities(np.zeros((5, 1), np.float32)), ValueError, "GaussianMixture.responsibilities: argument 'x' must have shape (batch, 2)"),
    ("GaussianMixture.sample 1", lambda: GMM.sample(KEY, 0), ValueError, "GaussianMixture.sample: argument 'n' must be a positive int"),
    ("GaussianMixture.sample 2", lambda: GMM.sample(0, 5), TypeError, "GaussianMixture.sample: argument 'key'"),
    ("log_responsibilities 1", lambda: mx.log_responsibilities(X, P[0], P[1][:, :1], P[2]), ValueError, "log_responsibilities: argument 'means' must have shape (3, 2)"),
    ("log_responsibilities 2", lambda: mx.log_responsibilities(X[0], *P), ValueError, "log_responsibilities: argument 'x' must have shape (batch, D)"),
    ("log_responsibilities 3", lambda: mx.log_responsibilities(X, P[0], P[1], P[2].astype(np.int32)), TypeError, "log_responsibilities: argument 'log_vars' must be a floating-point array"),
    ("initial_parameters 1", lambda: mx.initial_parameters(KEY, X, 6), ValueError, "initial_parameters: argument 'num_components' (6) must be at most the number of data points (5)"),
    ("initial_parameters 2", lambda: mx.initial_parameters(KEY, X, 0), ValueError, "initial_parameters: argument 'num_components' must be a positive int"),
    ("initial_parameters 3", lambda: mx.initial_parameters(KEY, X[0], 1), ValueError, "initial_parameters: argument 'x' must have shape (N, D)"),
    ("initial_parameters 4", lambda: mx.initial_parameters(1, X, 1), TypeError, "initial_parameters: argument 'key'"),
    ("ConditionalGaussianMixture 1", lambda: mx.ConditionalGaussianMixture(P[0], P[1], P[2]), ValueError, "ConditionalGaussianMixture: argument 'logits' must have shape (C, K)"),
    ("ConditionalGaussianMixture 2", lambda: mx.ConditionalGaussianMixture(P[0][None], P[1], P[2]), ValueError, "ConditionalGaussianMixture: argument 'means' must have shape (1, 3, D)"),
    ("ConditionalGaussianMixture.log_prob 1", lambda: CGMM.log_prob(X, Y[:4]), ValueError, "ConditionalGaussianMixture.log_prob: argument 'labels' must have shape (5,)"),
    ("ConditionalGaussianMixture.log_prob 2", lambda: CGMM.log_prob(X, Y.astype(np.float32)), TypeError, "ConditionalGaussianMixture.log_prob: argument 'labels' must be an integer array"),
    ("ConditionalGaussianMixture.log_prob 3", lambda: CGMM.log_prob(X[:, :1], Y), ValueError, "ConditionalGaussianMixture.log_prob: argument 'x' must have shape (batch, 2)"),
    ("ConditionalGaussianMixture.sample 1", lambda: CGMM.sample(KEY, 5, 2), ValueError, "ConditionalGaussianMixture.sample: argument 'label' must lie in [0, 2)"),
    ("ConditionalGaussianMixture.sample 2", lambda: CGMM.sample(KEY, 5, 0.5), TypeError, "ConditionalGaussianMixture.sample: argument 'label' must be an int"),
    ("ConditionalGaussianMixture.from_data 1", lambda: mx.ConditionalGaussianMixture.from_data(X, Y + 2, 2, 1, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: argument 'labels' must lie in [0, 2)"),
    ("ConditionalGaussianMixture.from_data 2", lambda: mx.ConditionalGaussianMixture.from_data(X, Y[:3], 2, 1, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: argument 'labels' must have shape (5,)"),
    ("ConditionalGaussianMixture.from_data 3", lambda: mx.ConditionalGaussianMixture.from_data(X, Y, 0, 1, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: argument 'num_classes' must be a positive int"),
    ("ConditionalGaussianMixture.from_data 4", lambda: mx.ConditionalGaussianMixture.from_data(X, Y, 2, 1, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: class 1 has 0 points, fewer than num_components (1)"),
    ("ConditionalGaussianMixture.from_data 5", lambda: mx.ConditionalGaussianMixture.from_data(X, Y, 1, 0, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: argument 'num_components' must be a positive int"),
    ("GaussianMixture.from_data 1", lambda: mx.GaussianMixture.from_data(X, 9, rngs=RNGS), ValueError, "GaussianMixture.from_data: argument 'num_components' (9) must be at most the number of data points (5)"),
    ("GaussianMixture.from_data 2", lambda: mx.GaussianMixture.from_data(X, 0, rngs=RNGS), ValueError, "GaussianMixture.from_data: argument 'num_components' must be a positive int"),
    ("GaussianMixture.from_data 3", lambda: mx.GaussianMixture.from_data(X[0], 1, rngs=RNGS), ValueError, "GaussianMixture.from_data: argument 'x' must have shape (N, D)"),
    ("GaussianMixture.from_data 4", lambda: mx.GaussianMixture.from_data(X, 2, rngs=KEY), TypeError, "GaussianMixture.from_data: argument 'rngs' must be an nnx.Rngs"),
    ("ConditionalGaussianMixture.from_data 6", lambda: mx.ConditionalGaussianMixture.from_data(X, Y, 1, 1, rngs=0), TypeError, "ConditionalGaussianMixture.from_data: argument 'rngs' must be an nnx.Rngs"),
    ("ConditionalGaussianMixture.from_data 7", lambda: mx.ConditionalGaussianMixture.from_data(X[:, 0], Y, 1, 1, rngs=RNGS), ValueError, "ConditionalGaussianMixture.from_data: argument 'x' must have shape (N, D)"),
    ("ConditionalGaussianMixture 3", lambda: mx.ConditionalGaussianMixture(P[0][None], P[1][None], P[2][None, :, :1]), ValueError, "ConditionalGaussianMixture: argument 'log_vars' must have shape (1, 3, 2)"),
    ("GaussianMixture 4", lambda: mx.GaussianMixture(P[0].astype(np.int32), P[1], P[2]), TypeError, "GaussianMixture: argument 'logits' must be a floating-point array"),
    ("ConditionalGaussianMixture.sample 3", lambda: CGMM.sample(0, 5, 0), TypeError, "ConditionalGaussianMixture.sample: argument 'key'"),
    ("ConditionalGaussianMixture.sample 4", lambda: CGMM.sample(KEY, 0, 0), ValueError, "ConditionalGaussianMixture.sample: argument 'n' must be a positive int"),
]


@bad_calls(BAD_CALLS)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


def test_log_prob_works_inside_jit():
    lp = jax.jit(lambda m, x: m.log_prob(x))(GMM, jnp.asarray(X))
    np.testing.assert_allclose(lp, GMM.log_prob(X), rtol=1e-6)
