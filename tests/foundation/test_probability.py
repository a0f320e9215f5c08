"""Properties of dgm_lib.probability, checked against oracles nobody here wrote.

Log-densities are compared with scipy.stats, normalisation with enumeration or quadrature,
samplers with scipy's moments, the estimators with exact expectations over many independent
runs (so their standard errors are checked as well as their means). All seeds are fixed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats
from support.bad_calls import assert_raises_naming

from dgm_lib import estimators as E
from dgm_lib import probability as P

RNG_SEED = 236
SIGMAS = 5.0  # tolerance of every statistical test, in standard errors


def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def assert_close(ours, oracle, rtol=1e-5, atol=1e-5) -> None:
    np.testing.assert_allclose(np.asarray(ours, np.float64), oracle, rtol=rtol, atol=atol)


def assert_within_sigmas(estimate: float, exact: float, stderr: float, what: str) -> None:
    assert abs(estimate - exact) <= SIGMAS * stderr, (
        f"{what}: {estimate} differs from {exact} by more than {SIGMAS} x {stderr}"
    )


def assert_moments(
    samples: np.ndarray, mean: np.ndarray, var: np.ndarray, excess_kurtosis: np.ndarray
) -> None:
    """Sample mean and variance (along axis 0) within SIGMAS standard errors of the exact ones.

    The standard errors come from the exact moments: Var(mean) = var / n and
    Var(s^2) = (mu_4 - var^2 (n - 3) / (n - 1)) / n with mu_4 = (excess_kurtosis + 3) var^2.
    """
    samples = np.asarray(samples, np.float64)
    n = samples.shape[0]
    mu4 = (np.asarray(excess_kurtosis) + 3.0) * np.square(var)
    se_mean = np.sqrt(var / n)
    se_var = np.sqrt((mu4 - np.square(var) * (n - 3) / (n - 1)) / n)
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - mean), SIGMAS * se_mean)
    np.testing.assert_array_less(np.abs(samples.var(axis=0, ddof=1) - var), SIGMAS * se_var)


# ------------------------------------------------------------------------------------------
# Log-densities agree with scipy.stats
# ------------------------------------------------------------------------------------------


def test_log_bernoulli_matches_scipy():
    g = rng()
    x = g.integers(0, 2, size=(50,))
    logits = f32(g.normal(0, 4, size=(50,)))
    oracle = stats.bernoulli.logpmf(x, special.expit(logits.astype(np.float64)))
    assert_close(P.log_bernoulli(x, logits), oracle)
    assert_close(P.log_bernoulli(x.astype(bool), logits), oracle)
    assert_close(P.log_bernoulli(x.astype(np.float32), logits), oracle)


@pytest.mark.parametrize("logit", [-1e4, -30.0, 30.0, 1e4])
@pytest.mark.parametrize("x", [0, 1])
def test_log_bernoulli_is_exact_for_extreme_logits(x, logit):
    # log p(x) = log sigmoid(+-logit); scipy's log_expit is exact where 1 - sigmoid(30) is not.
    oracle = special.log_expit(logit if x == 1 else -logit)
    ours = P.log_bernoulli(x, logit)
    assert np.isfinite(ours)
    assert_close(ours, oracle, rtol=1e-6, atol=1e-12)


def test_log_categorical_matches_scipy_and_broadcasts():
    g = rng()
    k = 5
    logits = f32(g.normal(0, 3, size=(4, k)))
    x = g.integers(0, k, size=(6, 1))  # broadcasts with the batch shape (4,) to (6, 4)
    ours = P.log_categorical(x, logits)
    assert ours.shape == (6, 4)
    probs = special.softmax(logits.astype(np.float64), axis=-1)
    oracle = np.array(
        [
            [stats.multinomial.logpmf(np.eye(k)[x[i, 0]], 1, probs[j]) for j in range(4)]
            for i in range(6)
        ]
    )
    assert_close(ours, oracle)


def test_log_categorical_is_minus_infinity_outside_the_classes():
    ours = P.log_categorical(jnp.array([-1, 3, 7]), jnp.zeros(3))
    assert np.all(np.isneginf(ours))


def test_log_categorical_handles_logits_of_30():
    logits = f32([30.0, -30.0, 0.0])
    oracle = special.log_softmax(logits.astype(np.float64))
    assert_close(P.log_categorical(jnp.arange(3), logits), oracle, rtol=1e-6, atol=1e-12)


def test_log_normal_matches_scipy():
    g = rng()
    x, mean = f32(g.normal(0, 3, size=(2, 40)))
    log_var = f32(g.normal(0, 2, size=(40,)))
    oracle = stats.norm.logpdf(x, mean, np.exp(0.5 * log_var.astype(np.float64)))
    assert_close(P.log_normal(x, mean, log_var), oracle)


def test_log_diag_normal_matches_scipy_multivariate_normal():
    g = rng()
    d = 3
    x = f32(g.normal(0, 2, size=(5, 4, d)))
    mean = f32(g.normal(0, 1, size=(4, d)))  # leading axes broadcast: (5, 4) with (4,)
    log_var = f32(g.normal(0, 1, size=(d,)))
    ours = P.log_diag_normal(x, mean, log_var)
    assert ours.shape == (5, 4)
    cov = np.diag(np.exp(log_var.astype(np.float64)))
    oracle = np.array(
        [
            [stats.multivariate_normal(mean[j], cov).logpdf(x[i, j]) for j in range(4)]
            for i in range(5)
        ]
    )
    assert_close(ours, oracle)


def mixture_params(g: np.random.Generator, k: int, d: int):
    logits = f32(g.normal(0, 1, size=(k,)))
    means = f32(g.normal(0, 3, size=(k, d)))
    log_vars = f32(g.normal(-0.5, 0.5, size=(k, d)))
    return logits, means, log_vars


def scipy_mixture_pdf(x, logits, means, log_vars) -> np.ndarray:
    """Brute force: sum_k w_k N(x; mu_k, diag sigma_k^2), with scipy's multivariate normal."""
    weights = special.softmax(np.asarray(logits, np.float64))
    return sum(
        w * stats.multivariate_normal(m, np.diag(np.exp(lv.astype(np.float64)))).pdf(x)
        for w, m, lv in zip(weights, means, log_vars, strict=True)
    )


def test_log_mixture_of_gaussians_matches_brute_force_sum():
    g = rng()
    logits, means, log_vars = mixture_params(g, k=4, d=2)
    x = f32(g.normal(0, 3, size=(3, 7, 2)))
    ours = P.log_mixture_of_gaussians(x, logits, means, log_vars)
    assert ours.shape == (3, 7)
    assert_close(ours, np.log(scipy_mixture_pdf(x, logits, means, log_vars)))


def test_log_mixture_of_gaussians_is_finite_far_from_every_component():
    # Each component density underflows to 0 here; the log-sum-exp must not.
    logits, means, log_vars = jnp.zeros(2), jnp.array([[0.0], [1.0]]), jnp.zeros((2, 1))
    x = jnp.array([[100.0]])
    oracle = special.logsumexp(
        [stats.norm.logpdf(100.0, 0.0, 1.0), stats.norm.logpdf(100.0, 1.0, 1.0)]
    ) + math.log(0.5)
    assert_close(P.log_mixture_of_gaussians(x, logits, means, log_vars), [oracle], rtol=1e-6)


def test_log_binomial_matches_scipy():
    g = rng()
    n = g.integers(0, 30, size=(60,))
    k = np.minimum(g.integers(0, 30, size=(60,)), n)
    logits = f32(g.normal(0, 2, size=(60,)))
    oracle = stats.binom.logpmf(k, n, special.expit(logits.astype(np.float64)))
    assert_close(P.log_binomial(k, n, logits), oracle)


@pytest.mark.parametrize("logit", [-30.0, 30.0])
def test_log_binomial_at_extreme_logits_and_ends_of_support(logit):
    n = 7
    k = np.array([0, n])
    # log p(k) = k log sigmoid(l) + (n - k) log sigmoid(-l), since C(n, 0) = C(n, n) = 1.
    oracle = k * special.log_expit(logit) + (n - k) * special.log_expit(-logit)
    assert_close(P.log_binomial(k, n, logit), oracle, rtol=1e-6, atol=2e-6)


def test_log_binomial_is_minus_infinity_outside_the_support():
    ours = P.log_binomial(jnp.array([-1.0, 6.0, 2.5]), 5, 0.3)
    assert np.all(np.isneginf(ours))


def test_log_geometric_counts_failures_like_scipy_geom_with_loc_minus_one():
    g = rng()
    k = g.integers(0, 40, size=(50,))
    logits = f32(g.normal(0, 2, size=(50,)))
    oracle = stats.geom.logpmf(k, special.expit(logits.astype(np.float64)), loc=-1)
    assert_close(P.log_geometric(k, logits), oracle)
    assert np.all(np.isneginf(P.log_geometric(jnp.array([-1.0, 0.5]), 0.0)))


def test_log_poisson_matches_scipy():
    g = rng()
    k = g.integers(0, 40, size=(50,))
    log_rate = f32(g.normal(1, 1.5, size=(50,)))
    oracle = stats.poisson.logpmf(k, np.exp(log_rate.astype(np.float64)))
    assert_close(P.log_poisson(k, log_rate), oracle)
    assert np.all(np.isneginf(P.log_poisson(jnp.array([-1.0, 0.5]), 0.0)))


def test_log_poisson_of_zero_counts_at_zero_rate_is_zero():
    assert_close(P.log_poisson(0, -jnp.inf), 0.0, atol=1e-6)
    assert np.isneginf(P.log_poisson(1, -jnp.inf))


def test_log_uniform_matches_scipy_inside_and_outside():
    g = rng()
    low = f32(g.normal(0, 1, size=(40,)))
    high = low + f32(g.uniform(0.1, 3, size=(40,)))
    x = f32(g.uniform(-3, 5, size=(40,)))
    oracle = stats.uniform.logpdf(x, loc=low, scale=high.astype(np.float64) - low)
    ours = P.log_uniform(x, low, high)
    assert np.array_equal(np.isneginf(ours), np.isneginf(oracle))
    assert np.isneginf(oracle).any() and np.isfinite(oracle).any()
    inside = np.isfinite(oracle)
    assert_close(np.asarray(ours)[inside], oracle[inside])


def test_log_exponential_matches_scipy():
    g = rng()
    x = f32(g.normal(1, 2, size=(40,)))
    log_rate = f32(g.normal(0, 1, size=(40,)))
    oracle = stats.expon.logpdf(x, scale=np.exp(-log_rate.astype(np.float64)))
    ours = P.log_exponential(x, log_rate)
    assert np.array_equal(np.isneginf(ours), np.isneginf(oracle))
    inside = np.isfinite(oracle)
    assert_close(np.asarray(ours)[inside], oracle[inside])


def test_log_beta_matches_scipy_including_the_ends():
    g = rng()
    x = f32(np.concatenate([g.uniform(0, 1, size=40), [0.0, 1.0, -0.5, 1.5]]))
    a = f32(np.concatenate([g.uniform(0.5, 4, size=40), [1.0, 2.0, 2.0, 2.0]]))
    b = f32(np.concatenate([g.uniform(0.5, 4, size=40), [3.0, 1.0, 2.0, 2.0]]))
    oracle = stats.beta.logpdf(x, a, b)
    ours = P.log_beta(x, a, b)
    assert np.array_equal(np.isneginf(ours), np.isneginf(oracle))
    inside = np.isfinite(oracle)
    assert_close(np.asarray(ours)[inside], oracle[inside])


def test_log_densities_have_finite_gradients_outside_their_support():
    # `where` differentiates both branches: the unused one must not produce a NaN.
    grads = [
        jax.grad(lambda a: P.log_beta(-0.5, a, 2.0))(2.0),
        jax.grad(lambda lo: P.log_binomial(9.0, 5.0, lo))(0.3),
        jax.grad(lambda lr: P.log_poisson(-2.0, lr))(0.3),
    ]
    assert all(np.isfinite(g) for g in grads)


# ------------------------------------------------------------------------------------------
# Normalisation: pmfs sum to one, densities integrate to one
# ------------------------------------------------------------------------------------------


def test_binomial_pmf_sums_to_one_over_its_support():
    for n, logit in [(1, 0.3), (12, -1.2), (40, 2.0)]:
        total = np.exp(np.asarray(P.log_binomial(np.arange(n + 1), n, logit), np.float64)).sum()
        assert abs(total - 1.0) < 1e-5, (n, logit, total)


@pytest.mark.parametrize(
    ("log_mass", "scipy_dist"),
    [
        (lambda k: P.log_poisson(k, math.log(3.0)), stats.poisson(3.0)),
        (lambda k: P.log_geometric(k, -2.0), stats.geom(special.expit(-2.0), loc=-1)),
    ],
    ids=["poisson", "geometric"],
)
def test_infinite_support_pmfs_sum_to_one(log_mass, scipy_dist):
    k = np.arange(400)
    assert scipy_dist.sf(k[-1]) < 1e-12  # the truncated tail is negligible
    total = np.exp(np.asarray(log_mass(k), np.float64)).sum()
    # The tolerance is float32 rounding of log Gamma(k + 1) and k log(1 - p), about 1e-7 each.
    assert abs(total - 1.0) < 2e-6


@pytest.mark.parametrize(
    ("log_density", "lo", "hi", "breaks"),
    [
        (lambda x: P.log_normal(x, 0.7, math.log(2.5)), -np.inf, np.inf, None),
        (lambda x: P.log_uniform(x, -1.0, 2.5), -3.0, 4.0, [-1.0, 2.5]),
        (lambda x: P.log_exponential(x, math.log(1.7)), -1.0, np.inf, [0.0]),
        (lambda x: P.log_beta(x, 2.5, 1.5), -0.5, 1.5, [0.0, 1.0]),
        (lambda x: P.log_beta(x, 1.0, 3.0), -0.5, 1.5, [0.0, 1.0]),
    ],
    ids=["normal", "uniform", "exponential", "beta(2.5,1.5)", "beta(1,3)"],
)
def test_continuous_densities_integrate_to_one(log_density, lo, hi, breaks):
    def pdf(x: float) -> float:
        return float(np.exp(log_density(np.float32(x))))

    if breaks is None:
        total, _ = integrate.quad(pdf, lo, hi)
    else:
        edges = [lo, *breaks, hi]
        total = sum(integrate.quad(pdf, a, b)[0] for a, b in itertools.pairwise(edges))
    assert abs(total - 1.0) < 1e-5


def grid_integral_2d(log_density: Callable, half_width: float, m: int = 801) -> float:
    t = np.linspace(-half_width, half_width, m)
    xx, yy = np.meshgrid(t, t, indexing="ij")
    values = np.exp(np.asarray(log_density(f32(np.stack([xx, yy], axis=-1))), np.float64))
    return integrate.trapezoid(integrate.trapezoid(values, t, axis=1), t)


def test_diag_normal_and_mixture_densities_integrate_to_one_in_2d():
    logits, means, log_vars = mixture_params(rng(), k=3, d=2)
    total_mixture = grid_integral_2d(
        lambda x: P.log_mixture_of_gaussians(x, logits, means, log_vars), 14.0
    )
    total_normal = grid_integral_2d(
        lambda x: P.log_diag_normal(x, jnp.array([0.5, -1.0]), jnp.array([0.3, -0.4])), 10.0
    )
    assert abs(total_mixture - 1.0) < 1e-4
    assert abs(total_normal - 1.0) < 1e-4


# ------------------------------------------------------------------------------------------
# KL divergence and log-mean-exp
# ------------------------------------------------------------------------------------------


def test_kl_diag_normal_equals_a_monte_carlo_estimate():
    g = rng()
    d, n = 3, 200_000
    mean_q, mean_p = f32(g.normal(0, 1, size=(2, d)))
    log_var_q, log_var_p = f32(g.normal(0, 0.5, size=(2, d)))
    sd_q = np.exp(0.5 * log_var_q.astype(np.float64))
    sd_p = np.exp(0.5 * log_var_p.astype(np.float64))
    x = mean_q + sd_q * g.standard_normal((n, d))
    log_ratio = (stats.norm.logpdf(x, mean_q, sd_q) - stats.norm.logpdf(x, mean_p, sd_p)).sum(-1)
    ours = float(P.kl_diag_normal(mean_q, log_var_q, mean_p, log_var_p))
    assert_within_sigmas(ours, log_ratio.mean(), log_ratio.std(ddof=1) / math.sqrt(n), "KL")


def test_kl_diag_normal_is_zero_iff_q_equals_p_and_broadcasts():
    g = rng()
    mean, log_var = f32(g.normal(0, 1, size=(2, 4, 3)))
    assert_close(P.kl_diag_normal(mean, log_var, mean, log_var), np.zeros(4), atol=1e-6)
    kl = P.kl_diag_normal(mean, log_var, jnp.zeros(3), jnp.zeros(3))  # against N(0, I)
    assert kl.shape == (4,)
    assert np.all(np.asarray(kl) > 0)


@pytest.mark.parametrize("centre", [-1e4, 1e4])
def test_log_mean_exp_is_finite_and_exact_near_plus_minus_1e4(centre):
    offsets = f32([0.0, -0.5, -1.0, -3.0, math.log(3.0)])
    a = f32(centre + offsets)
    a64 = a.astype(np.float64)
    exact = a64.max() + np.log(np.mean(np.exp(a64 - a64.max())))
    ours = P.log_mean_exp(a)
    assert np.isfinite(ours)
    # One float32 step at 1e4 is 1e-3: the result is the exact value, rounded.
    assert abs(float(ours) - exact) <= 2 * abs(np.spacing(np.float32(centre)))


def test_log_mean_exp_equals_the_naive_formula_on_moderate_inputs():
    a = f32(rng().normal(0, 3, size=(4, 50)))
    for axis in (0, 1, -1):
        naive = np.log(np.mean(np.exp(a.astype(np.float64)), axis=axis))
        assert_close(P.log_mean_exp(a, axis=axis), naive)


def test_log_mean_exp_of_all_minus_infinity_is_minus_infinity():
    assert np.isneginf(P.log_mean_exp(jnp.full((3,), -jnp.inf)))


def test_log_mean_exp_gradient_is_the_softmax():
    a = f32(rng().normal(1e4, 2, size=(6,)))
    grad = jax.grad(lambda v: P.log_mean_exp(v))(a)
    assert_close(grad, special.softmax(a.astype(np.float64)), atol=1e-6)


# ------------------------------------------------------------------------------------------
# Samplers: moments agree with scipy within error bars
# ------------------------------------------------------------------------------------------

N_SAMPLES = 100_000


@pytest.mark.parametrize("logit", [-2.0, 0.0, 0.7, 3.0])
def test_sample_bernoulli_moments_match_scipy(logit):
    x = P.sample_bernoulli(jax.random.key(1), jnp.full((N_SAMPLES,), logit))
    assert x.dtype == jnp.float32 and set(np.unique(x)) <= {0.0, 1.0}
    dist = stats.bernoulli(special.expit(logit))
    assert_moments(np.asarray(x), *dist.stats(moments="mvk"))


@pytest.mark.parametrize(("logit", "value"), [(-30.0, 0.0), (30.0, 1.0)])
def test_sample_bernoulli_is_deterministic_at_extreme_logits(logit, value):
    x = P.sample_bernoulli(jax.random.key(2), jnp.full((10_000,), logit))
    assert np.all(np.asarray(x) == value)


def test_sample_categorical_frequencies_and_moments_match_scipy():
    logits = jnp.array([0.5, -1.0, 2.0, 0.0, -30.0])
    x = np.asarray(P.sample_categorical(jax.random.key(3), logits, shape=(N_SAMPLES,)))
    assert x.shape == (N_SAMPLES,) and x.dtype == np.int32
    probs = special.softmax(np.asarray(logits, np.float64))
    freq = np.bincount(x, minlength=5) / N_SAMPLES
    np.testing.assert_array_less(
        np.abs(freq - probs), SIGMAS * np.sqrt(probs * (1 - probs) / N_SAMPLES) + 1e-12
    )
    dist = stats.rv_discrete(values=(np.arange(5), probs))
    assert_moments(x, *dist.stats(moments="mvk"))


def test_sample_categorical_prepends_the_sample_shape_to_the_batch_shape():
    x = P.sample_categorical(jax.random.key(4), jnp.zeros((3, 4, 6)), shape=(2, 5))
    assert x.shape == (2, 5, 3, 4)
    assert int(x.min()) >= 0 and int(x.max()) < 6


def test_sample_diag_normal_moments_match_scipy():
    mean = f32([0.5, -2.0, 3.0])
    log_var = f32([0.0, -1.5, 1.2])
    x = P.sample_diag_normal(jax.random.key(5), jnp.broadcast_to(mean, (N_SAMPLES, 3)), log_var)
    assert x.shape == (N_SAMPLES, 3) and x.dtype == jnp.float32
    dist = stats.norm(mean, np.exp(0.5 * log_var.astype(np.float64)))
    assert_moments(np.asarray(x), *dist.stats(moments="mvk"))


def test_sample_diag_normal_is_differentiable_in_its_parameters():
    # d/dmu E[x] = 1 and d/dlog_var E[x^2] = sigma^2 (reparameterisation), estimated by autodiff.
    key = jax.random.key(6)

    def second_moment(log_var):
        return jnp.mean(jnp.square(P.sample_diag_normal(key, jnp.zeros(N_SAMPLES), log_var)))

    grad = float(jax.grad(second_moment)(jnp.float32(0.4)))
    assert abs(grad - math.exp(0.4)) < 0.03


def test_sample_mixture_of_gaussians_matches_the_marginals_from_scipy():
    logits, means, log_vars = mixture_params(rng(), k=3, d=2)
    x = np.asarray(
        P.sample_mixture_of_gaussians(jax.random.key(7), logits, means, log_vars, N_SAMPLES)
    )
    assert x.shape == (N_SAMPLES, 2)
    weights = special.softmax(logits.astype(np.float64))
    sds = np.exp(0.5 * log_vars.astype(np.float64))
    exact = []  # mean, variance, excess kurtosis of each marginal, by quadrature
    for d in range(2):
        components = [stats.norm(means[k, d], sds[k, d]) for k in range(3)]

        def pdf(t, components=components):
            return sum(w * c.pdf(t) for w, c in zip(weights, components, strict=True))

        def cdf(t, components=components):
            return sum(w * c.cdf(t) for w, c in zip(weights, components, strict=True))

        def central(power, centre, pdf=pdf):
            return integrate.quad(lambda t: (t - centre) ** power * pdf(t), -np.inf, np.inf)[0]

        m = central(1, 0.0)
        v = central(2, m)
        exact.append((m, v, central(4, m) / v**2 - 3.0))
        assert stats.kstest(x[:, d], cdf).pvalue > 1e-3
    assert_moments(x, *np.array(exact).T)


# ------------------------------------------------------------------------------------------
# Estimators
# ------------------------------------------------------------------------------------------


def test_estimate_from_samples_is_the_mean_and_its_standard_error():
    values = f32(rng().normal(2, 3, size=(500, 3)))
    est = E.estimate_from_samples(values)
    assert est.n == 500
    assert_close(est.mean, values.mean(axis=0), rtol=1e-6)
    assert_close(est.stderr, values.std(axis=0, ddof=1) / math.sqrt(500), rtol=1e-5)
    along_last = E.estimate_from_samples(values.T, axis=-1)
    assert_close(along_last.mean, est.mean, rtol=1e-6)
    low, high = est.interval(z=2.0)
    assert_close(np.asarray(high) - np.asarray(low), 4.0 * np.asarray(est.stderr), rtol=1e-6)
    assert_close((np.asarray(high) + np.asarray(low)) / 2, est.mean, rtol=1e-6)


def standard_normal(key, n):
    return jax.random.normal(key, (n,))


def square(x):
    return x * x


RUNS = 200
KEYS = jax.random.split(jax.random.key(11), RUNS)


def check_runs(estimates: E.Estimate, exact: float, what: str) -> None:
    """Over independent runs: unbiased, and the reported stderr matches the actual spread."""
    means = np.asarray(estimates.mean, np.float64)
    spread = means.std(ddof=1)
    assert_within_sigmas(means.mean(), exact, spread / math.sqrt(means.size), what)
    reported = math.sqrt(np.mean(np.square(np.asarray(estimates.stderr, np.float64))))
    assert 0.8 < reported / spread < 1.2, (what, reported, spread)


def test_monte_carlo_is_unbiased_and_its_stderr_matches_the_spread_of_runs():
    runs = jax.vmap(lambda k: E.monte_carlo(k, standard_normal, square, 100))(KEYS)
    check_runs(runs, stats.norm.moment(2), "E[X^2], X ~ N(0, 1)")


def test_monte_carlo_stderr_shrinks_like_one_over_root_n():
    def mean_stderr(n):
        runs = jax.vmap(lambda k: E.monte_carlo(k, standard_normal, square, n))(KEYS[:50])
        return float(np.mean(runs.stderr))

    assert 1.85 < mean_stderr(1000) / mean_stderr(4000) < 2.15


def test_monte_carlo_estimates_a_vector_valued_g_element_wise_and_jits():
    def moments(x):
        return jnp.stack([x, x * x, x**4])

    key = jax.random.key(12)
    est = E.monte_carlo(key, standard_normal, moments, 50_000)
    assert est.mean.shape == (3,) and est.n == 50_000
    exact = [stats.norm.moment(1), stats.norm.moment(2), stats.norm.moment(4)]
    for i in range(3):
        assert_within_sigmas(float(est.mean[i]), exact[i], float(est.stderr[i]), f"moment {i}")
    jitted = jax.jit(lambda k: E.monte_carlo(k, standard_normal, moments, 50_000))(key)
    assert_close(jitted.mean, est.mean, rtol=1e-6)


def positive(x):
    return x > 0


def test_monte_carlo_of_an_indicator_is_a_probability():
    est = E.monte_carlo(jax.random.key(17), standard_normal, positive, 10_000)
    assert_within_sigmas(float(est.mean), stats.norm.sf(0.0), float(est.stderr), "P(X > 0)")
    bits = np.asarray(positive(standard_normal(jax.random.key(17), 10_000)))
    assert_close(est.stderr, bits.std(ddof=1) / 100.0, rtol=1e-5)


def proposal_sampler(key, n):  # q = N(1, 1.5^2)
    return 1.0 + 1.5 * jax.random.normal(key, (n,))


def log_q(x):
    return P.log_normal(x, 1.0, 2 * math.log(1.5))


def log_p(x):  # p = N(0, 1)
    return P.log_normal(x, 0.0, 0.0)


def tail(x):
    return (x > 1.5).astype(jnp.float32)


def test_importance_sampling_is_unbiased_and_its_stderr_matches_the_spread_of_runs():
    runs = jax.vmap(lambda k: E.importance_sampling(k, proposal_sampler, log_q, log_p, tail, 200))(
        KEYS
    )
    check_runs(runs, stats.norm.sf(1.5), "P(X > 1.5), X ~ N(0, 1)")


def test_importance_sampling_stderr_shrinks_like_one_over_root_n():
    def mean_stderr(n):
        runs = jax.vmap(
            lambda k: E.importance_sampling(k, proposal_sampler, log_q, log_p, tail, n)
        )(KEYS[:50])
        return float(np.mean(runs.stderr))

    assert 1.85 < mean_stderr(1000) / mean_stderr(4000) < 2.15


def test_importance_sampling_with_q_equal_to_p_is_plain_monte_carlo():
    key = jax.random.key(13)
    is_est = E.importance_sampling(key, standard_normal, log_p, log_p, square, 1000)
    mc_est = E.monte_carlo(key, standard_normal, square, 1000)
    assert_close(is_est.mean, mc_est.mean, rtol=1e-6)
    assert_close(is_est.stderr, mc_est.stderr, rtol=1e-6)


def shifted_normal(key, n):  # q = N(1, 1), proportional to exp(x) N(x; 0, 1)
    return 1.0 + jax.random.normal(key, (n,))


def log_shifted(x):
    return P.log_normal(x, 1.0, 0.0)


def test_importance_sampling_with_the_optimal_proposal_has_zero_variance():
    # g(x) = e^x > 0 and p = N(0, 1): q* = g p / E_p[g] = N(1, 1), so every term w g = e^{1/2}.
    key = jax.random.key(14)
    exact = stats.lognorm(1.0).mean()  # E[e^X] = e^{1/2}
    optimal = E.importance_sampling(key, shifted_normal, log_shifted, log_p, jnp.exp, 1000)
    plain = E.monte_carlo(key, standard_normal, jnp.exp, 1000)
    assert_close(optimal.mean, exact, rtol=1e-6)
    assert float(optimal.stderr) < 1e-6 * exact
    assert float(plain.stderr) > 1e-2 * exact  # the same n without the optimal proposal


def log_p_tilde(x):  # 7 N(x; 0, 1): unnormalised
    return log_p(x) + math.log(7.0)


def test_self_normalised_importance_sampling_ignores_the_normalising_constant():
    key = jax.random.key(15)
    a = E.self_normalised_importance_sampling(key, proposal_sampler, log_q, log_p, square, 2000)
    b = E.self_normalised_importance_sampling(
        key, proposal_sampler, log_q, log_p_tilde, square, 2000
    )
    assert_close(a.mean, b.mean, rtol=1e-5)
    assert_close(a.stderr, b.stderr, rtol=1e-4)


def test_self_normalised_importance_sampling_is_consistent_with_a_delta_method_stderr():
    runs = jax.vmap(
        lambda k: E.self_normalised_importance_sampling(
            k, proposal_sampler, log_q, log_p_tilde, tail, 1000
        )
    )(KEYS)
    check_runs(runs, stats.norm.sf(1.5), "self-normalised P(X > 1.5)")


def test_self_normalised_importance_sampling_with_q_equal_to_p_is_the_sample_mean():
    key = jax.random.key(16)
    n = 1000
    snis = E.self_normalised_importance_sampling(key, standard_normal, log_p, log_p, square, n)
    values = np.square(np.asarray(standard_normal(key, n), np.float64))
    assert_close(snis.mean, values.mean(), rtol=1e-5)
    # Equal weights 1/n: se^2 = sum (g_i - mean)^2 / n^2.
    assert_close(snis.stderr, values.std(ddof=0) / math.sqrt(n), rtol=1e-4)


def test_log_importance_estimate_is_the_log_mean_weight_with_a_delta_method_stderr():
    log_w = f32(rng().normal(0.3, 1.2, size=(400,)))
    w = np.exp(log_w.astype(np.float64))
    est = E.log_importance_estimate(log_w)
    assert est.n == 400
    assert_close(est.mean, np.log(w.mean()), rtol=1e-6)
    assert_close(est.stderr, w.std(ddof=1) / (math.sqrt(400) * w.mean()), rtol=1e-5)
    shifted = E.log_importance_estimate(log_w + np.float32(1e4))
    assert abs(float(shifted.mean) - 1e4 - np.log(w.mean())) < 2e-3  # one float32 step at 1e4
    assert_close(shifted.stderr, est.stderr, rtol=1e-2)


def test_log_importance_estimate_recovers_log_z_within_its_error_bars():
    z = 7.0

    def one_run(key):
        x = proposal_sampler(key, 500)
        return E.log_importance_estimate(log_p_tilde(x) - log_q(x))

    runs = jax.vmap(one_run)(KEYS)
    # Z_hat = exp(log Z_hat) is unbiased for Z; log Z_hat is, to first order, with the
    # delta-method stderr matching the spread of the runs.
    z_hats = np.exp(np.asarray(runs.mean, np.float64))
    assert_within_sigmas(z_hats.mean(), z, z_hats.std(ddof=1) / math.sqrt(RUNS), "Z")
    check_runs(runs, math.log(z), "log Z")
    assert np.mean(np.asarray(runs.mean)) < math.log(z) + 1e-3  # Jensen: a lower bound on average


def test_log_importance_estimate_works_along_any_axis():
    log_w = f32(rng().normal(0, 1, size=(3, 100)))
    per_row = E.log_importance_estimate(log_w, axis=1)
    assert per_row.mean.shape == (3,) and per_row.n == 100
    assert_close(per_row.mean, E.log_importance_estimate(log_w.T).mean, rtol=1e-6)


def test_effective_sample_size_is_kish_formula_and_ranges_from_one_to_n():
    log_w = f32(rng().normal(0, 1.5, size=(300,)))
    w = np.exp(log_w.astype(np.float64))
    assert_close(E.effective_sample_size(log_w), w.sum() ** 2 / np.square(w).sum(), rtol=1e-5)
    assert_close(
        E.effective_sample_size(log_w + np.float32(1e4)),
        w.sum() ** 2 / np.square(w).sum(),
        rtol=1e-2,
    )
    assert_close(E.effective_sample_size(jnp.zeros(50)), 50.0, rtol=1e-6)
    assert_close(E.effective_sample_size(jnp.array([0.0, -1e4, -1e4])), 1.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Every public function names the argument and the expected shape when given a wrong one
# ------------------------------------------------------------------------------------------

K0 = jax.random.key(0)
Z3 = jnp.zeros(3)
MIX = (jnp.zeros(3), jnp.zeros((3, 2)), jnp.zeros((3, 2)))

BAD_CALLS = {
    "log_bernoulli float logits required": (
        lambda: P.log_bernoulli(Z3, jnp.arange(3)),
        ["log_bernoulli", "'logits'", "floating"],
    ),
    "log_bernoulli shapes": (
        lambda: P.log_bernoulli(Z3, jnp.zeros(4)),
        ["log_bernoulli", "'x' (3,)", "'logits' (4,)"],
    ),
    "log_categorical float x": (
        lambda: P.log_categorical(Z3, jnp.zeros((3, 5))),
        ["log_categorical", "'x'", "integer"],
    ),
    "log_categorical scalar logits": (
        lambda: P.log_categorical(jnp.array(1), jnp.array(0.0)),
        ["log_categorical", "'logits'", "(..., K)"],
    ),
    "log_categorical batch shapes": (
        lambda: P.log_categorical(jnp.zeros(4, jnp.int32), jnp.zeros((3, 5))),
        ["log_categorical", "'x' (4,)", "'logits[..., 0]' (3,)"],
    ),
    "log_normal shapes": (
        lambda: P.log_normal(Z3, jnp.zeros(2), 0.0),
        ["log_normal", "'x' (3,)", "'mean' (2,)"],
    ),
    "log_diag_normal last axes": (
        lambda: P.log_diag_normal(jnp.zeros((5, 2)), Z3, jnp.zeros(2)),
        ["log_diag_normal", "'mean'", "(..., 2)"],
    ),
    "log_diag_normal scalar x": (
        lambda: P.log_diag_normal(jnp.array(0.0), Z3, Z3),
        ["log_diag_normal", "'x'", "(..., D)"],
    ),
    "log_mixture_of_gaussians means (K, D+1)": (
        lambda: P.log_mixture_of_gaussians(jnp.zeros((5, 2)), MIX[0], jnp.zeros((3, 3)), MIX[2]),
        ["log_mixture_of_gaussians", "'means'", "(3, 2)"],
    ),
    "log_mixture_of_gaussians log_vars (K+1, D)": (
        lambda: P.log_mixture_of_gaussians(jnp.zeros((5, 2)), MIX[0], MIX[1], jnp.zeros((4, 2))),
        ["log_mixture_of_gaussians", "'log_vars'", "(3, 2)"],
    ),
    "log_mixture_of_gaussians logits (K, 1)": (
        lambda: P.log_mixture_of_gaussians(jnp.zeros((5, 2)), jnp.zeros((3, 1)), *MIX[1:]),
        ["log_mixture_of_gaussians", "'logits'", "(K,)"],
    ),
    "log_binomial shapes": (
        lambda: P.log_binomial(Z3, jnp.zeros(2), 0.0),
        ["log_binomial", "'k' (3,)", "'n' (2,)"],
    ),
    "log_binomial string k": (
        lambda: P.log_binomial(np.array(["a"]), 3, 0.0),
        ["log_binomial", "'k'", "numeric"],
    ),
    "log_geometric int logits": (
        lambda: P.log_geometric(Z3, jnp.arange(3)),
        ["log_geometric", "'logits'", "floating"],
    ),
    "log_poisson shapes": (
        lambda: P.log_poisson(Z3, jnp.zeros(2)),
        ["log_poisson", "'k' (3,)", "'log_rate' (2,)"],
    ),
    "log_uniform shapes": (
        lambda: P.log_uniform(Z3, 0.0, jnp.ones(2)),
        ["log_uniform", "'x' (3,)", "'high' (2,)"],
    ),
    "log_exponential int log_rate": (
        lambda: P.log_exponential(Z3, jnp.arange(3)),
        ["log_exponential", "'log_rate'", "floating"],
    ),
    "log_beta shapes": (
        lambda: P.log_beta(Z3, jnp.ones(2), 1.0),
        ["log_beta", "'x' (3,)", "'a' (2,)"],
    ),
    "kl_diag_normal last axes": (
        lambda: P.kl_diag_normal(Z3, Z3, Z3, jnp.zeros(4)),
        ["kl_diag_normal", "'log_var_p'", "(..., 3)"],
    ),
    "log_mean_exp scalar": (
        lambda: P.log_mean_exp(jnp.array(1.0)),
        ["log_mean_exp", "'a'", "(..., n)"],
    ),
    "log_mean_exp axis": (
        lambda: P.log_mean_exp(Z3, axis=1),
        ["log_mean_exp", "'axis'", "(3,)"],
    ),
    "sample_bernoulli key": (
        lambda: P.sample_bernoulli(0, Z3),
        ["sample_bernoulli", "'key'", "shape ()"],
    ),
    "sample_bernoulli int logits": (
        lambda: P.sample_bernoulli(K0, jnp.arange(3)),
        ["sample_bernoulli", "'logits'", "floating"],
    ),
    "sample_categorical scalar logits": (
        lambda: P.sample_categorical(K0, jnp.array(0.0)),
        ["sample_categorical", "'logits'", "(..., K)"],
    ),
    "sample_categorical shape": (
        lambda: P.sample_categorical(K0, Z3, shape=5),
        ["sample_categorical", "'shape'", "tuple"],
    ),
    "sample_diag_normal shapes": (
        lambda: P.sample_diag_normal(K0, Z3, jnp.zeros(2)),
        ["sample_diag_normal", "'mean' (3,)", "'log_var' (2,)"],
    ),
    "sample_mixture_of_gaussians means": (
        lambda: P.sample_mixture_of_gaussians(K0, MIX[0], jnp.zeros((2, 2)), MIX[2], 5),
        ["sample_mixture_of_gaussians", "'means'", "(3, D)"],
    ),
    "sample_mixture_of_gaussians n": (
        lambda: P.sample_mixture_of_gaussians(K0, *MIX, 0),
        ["sample_mixture_of_gaussians", "'n'", "positive int"],
    ),
    "estimate_from_samples one sample": (
        lambda: E.estimate_from_samples(jnp.zeros((1, 3))),
        ["estimate_from_samples", "'values'", "at least 2"],
    ),
    "estimate_from_samples scalar": (
        lambda: E.estimate_from_samples(jnp.array(1.0)),
        ["estimate_from_samples", "'values'", "(..., n)"],
    ),
    "monte_carlo n": (
        lambda: E.monte_carlo(K0, standard_normal, square, 0),
        ["monte_carlo", "'n'", "positive int"],
    ),
    "monte_carlo sampler": (
        lambda: E.monte_carlo(K0, lambda k, n: jnp.zeros((n + 1,)), square, 10),
        ["monte_carlo", "sampler", "(n, ...)"],
    ),
    "importance_sampling key": (
        lambda: E.importance_sampling(jnp.zeros(2), standard_normal, log_p, log_p, square, 10),
        ["importance_sampling", "'key'", "shape ()"],
    ),
    "importance_sampling sampler": (
        lambda: E.importance_sampling(K0, lambda k, n: jnp.zeros((3,)), log_p, log_p, square, 10),
        ["importance_sampling", "sampler", "(n, ...)"],
    ),
    "self_normalised_importance_sampling n": (
        lambda: E.self_normalised_importance_sampling(
            K0, standard_normal, log_p, log_p, square, -1
        ),
        ["self_normalised_importance_sampling", "'n'", "positive int"],
    ),
    "log_importance_estimate scalar": (
        lambda: E.log_importance_estimate(jnp.array(0.0)),
        ["log_importance_estimate", "'log_weights'", "(..., n)"],
    ),
    "log_importance_estimate int": (
        lambda: E.log_importance_estimate(jnp.arange(4)),
        ["log_importance_estimate", "'log_weights'", "floating"],
    ),
    "effective_sample_size scalar": (
        lambda: E.effective_sample_size(jnp.array(0.0)),
        ["effective_sample_size", "'log_weights'", "(..., n)"],
    ),
    "kl_full_normal cov_q": (
        lambda: P.kl_full_normal(jnp.zeros(2), jnp.eye(3), jnp.zeros(2), jnp.eye(2)),
        ["kl_full_normal", "'cov_q'", "(2, 2)"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_wrong_argument_raises_an_error_naming_it_and_the_expected_shape(case):
    call, fragments = BAD_CALLS[case]
    assert_raises_naming(call, (TypeError, ValueError), fragments)


def test_every_public_function_has_a_wrong_argument_case():
    covered = {name.split()[0] for name in BAD_CALLS}
    public_functions = (set(P.__all__) | set(E.__all__)) - {"Estimate", "LOG_2PI"}
    assert public_functions <= covered, public_functions - covered
