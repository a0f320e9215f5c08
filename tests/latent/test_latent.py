"""Properties of dgm_lib.latent: the bounds, the exact small models, the estimators, the VAE."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special
import scipy.stats as st
from flax import nnx

from dgm_lib import estimators as E
from dgm_lib import latent as L
from dgm_lib import probability as prob
from dgm_lib import train
from dgm_lib.enumeration import all_binary_vectors

KEY = jax.random.key(0)

# A linear-Gaussian model: D = 3, L = 2, away from any symmetric special case.
W = jnp.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]])
B = jnp.array([0.5, -1.0, 0.2])
LOG_VAR = jnp.array(math.log(0.3))
X = jnp.array([[0.4, -0.2, 1.1], [-1.3, 0.7, 0.0]])


def _gaussian_q(key, mean_q, log_var_q, k):
    """k draws from a diagonal Gaussian q and their log-densities: (k, batch, L), (k, batch)."""
    z = prob.sample_diag_normal(key, jnp.broadcast_to(mean_q, (k, *mean_q.shape)), log_var_q)
    return z, prob.log_diag_normal(z, mean_q, log_var_q)


def _linear_gaussian_log_w(key, k, shift=0.5):
    """Log-weights (k, batch) of a deliberately imperfect q: the posterior mean shifted, the
    posterior's diagonal variances doubled."""
    mean_post, cov_post = L.linear_gaussian_posterior(X, W, B, LOG_VAR)
    log_var_q = jnp.log(2.0 * jnp.diag(cov_post))
    z, log_q = _gaussian_q(key, mean_post + shift, log_var_q, k)
    return L.linear_gaussian_log_joint(X, z, W, B, LOG_VAR) - log_q


# --------------------------------------------------------------------------- exact models


def test_linear_gaussian_marginal_agrees_with_scipy():
    cov = np.asarray(W @ W.T) + 0.3 * np.eye(3)
    expected = st.multivariate_normal(np.asarray(B), cov).logpdf(np.asarray(X))
    got = L.linear_gaussian_log_marginal(X, W, B, LOG_VAR)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_linear_gaussian_posterior_is_gaussian_conditioning_of_the_joint():
    # Joint of (z, x): cov [[I, W^T], [W, WW^T + s I]]; condition by the Schur complement.
    w = np.asarray(W, np.float64)
    sxx = w @ w.T + 0.3 * np.eye(3)
    gain = w.T @ np.linalg.inv(sxx)
    mean, cov = L.linear_gaussian_posterior(X, W, B, LOG_VAR)
    np.testing.assert_allclose(mean, (np.asarray(X) - np.asarray(B)) @ gain.T, atol=1e-5)
    np.testing.assert_allclose(cov, np.eye(2) - gain @ w, atol=1e-5)


def test_linear_gaussian_log_joint_minus_posterior_is_the_marginal():
    mean, cov = L.linear_gaussian_posterior(X, W, B, LOG_VAR)
    z = jnp.array([[0.3, -0.4], [1.0, 0.5]])
    log_post = np.array(
        [st.multivariate_normal(np.asarray(m), np.asarray(cov)).logpdf(zi)
         for m, zi in zip(mean, z, strict=True)]
    )
    got = L.linear_gaussian_log_joint(X, z, W, B, LOG_VAR) - log_post
    np.testing.assert_allclose(got, L.linear_gaussian_log_marginal(X, W, B, LOG_VAR), atol=1e-4)


def test_bernoulli_mixture_probabilities_sum_to_one_and_posterior_is_bayes():
    logits_z = jnp.array([0.3, -1.0, 0.8])
    logits_x = jax.random.normal(KEY, (3, 6)) * 2.0
    xs = all_binary_vectors(6)
    log_p = L.bernoulli_mixture_log_marginal(xs, logits_z, logits_x)
    assert abs(float(scipy.special.logsumexp(np.asarray(log_p, np.float64)))) < 1e-5
    joint = np.exp(np.asarray(L.bernoulli_mixture_log_joint(xs, logits_z, logits_x), np.float64))
    post = np.exp(L.bernoulli_mixture_log_posterior(xs, logits_z, logits_x))
    np.testing.assert_allclose(post, joint / joint.sum(axis=1, keepdims=True), atol=1e-5)


# --------------------------------------------------------------------------- identities


def test_elbo_plus_kl_to_posterior_equals_log_marginal_for_several_q():
    mean_post, cov_post = L.linear_gaussian_posterior(X, W, B, LOG_VAR)
    log_px = L.linear_gaussian_log_marginal(X, W, B, LOG_VAR)
    for shift, scale in [(0.0, 1.0), (0.7, 1.0), (-0.3, 2.5), (1.5, 0.4)]:
        cov_q = scale * jnp.diag(jnp.diag(cov_post))
        mean_q = mean_post + shift
        bound = L.linear_gaussian_elbo(X, mean_q, cov_q, W, B, LOG_VAR)
        gap = prob.kl_full_normal(mean_q, cov_q, mean_post, cov_post)
        np.testing.assert_allclose(bound + gap, log_px, atol=1e-4)
        assert np.all(bound <= log_px + 1e-5)
    exact = L.linear_gaussian_elbo(X, mean_post, cov_post, W, B, LOG_VAR)
    np.testing.assert_allclose(exact, log_px, atol=1e-4)


def test_exact_linear_gaussian_elbo_matches_monte_carlo_elbo():
    mean_q, log_var_q = jnp.array([[0.2, -0.1], [0.0, 0.5]]), jnp.array([-1.0, -0.5])
    z, log_q = _gaussian_q(KEY, mean_q, log_var_q, 20_000)
    log_w = L.linear_gaussian_log_joint(X, z, W, B, LOG_VAR) - log_q
    est = E.estimate_from_samples(log_w)
    exact = L.linear_gaussian_elbo(X, mean_q, jnp.diag(jnp.exp(log_var_q)), W, B, LOG_VAR)
    assert np.all(np.abs(est.mean - exact) < 4 * est.stderr)


def test_analytic_diagonal_kl_equals_monte_carlo_kl():
    mean_q, log_var_q = jnp.array([0.5, -1.0, 2.0]), jnp.array([0.3, -0.7, 0.1])
    mean_p, log_var_p = jnp.array([0.0, 0.4, 1.0]), jnp.array([-0.2, 0.5, 0.0])
    z = prob.sample_diag_normal(KEY, jnp.broadcast_to(mean_q, (50_000, 3)), log_var_q)
    log_ratio = prob.log_diag_normal(z, mean_q, log_var_q) - prob.log_diag_normal(
        z, mean_p, log_var_p
    )
    est = E.estimate_from_samples(log_ratio)
    exact = prob.kl_diag_normal(mean_q, log_var_q, mean_p, log_var_p)
    assert abs(float(est.mean - exact)) < 4 * float(est.stderr)
    full = prob.kl_full_normal(mean_q, jnp.diag(jnp.exp(log_var_q)), mean_p, jnp.diag(jnp.exp(log_var_p)))
    np.testing.assert_allclose(full, exact, rtol=1e-5)


def test_elbo_terms_split_into_reconstruction_minus_kl():
    log_px, log_pz, log_qz = jax.random.normal(KEY, (3, 5, 4))
    terms = L.elbo_terms(log_px, log_pz, log_qz)
    np.testing.assert_allclose(terms.elbo, L.elbo(log_px, log_pz, log_qz), rtol=1e-6)
    np.testing.assert_allclose(terms.reconstruction, log_px.mean(0), rtol=1e-6)
    np.testing.assert_allclose(terms.kl, (log_qz - log_pz).mean(0), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- bounds


def test_iwae_bound_with_one_sample_equals_the_elbo():
    log_w = jax.random.normal(KEY, (1, 7)) * 3.0
    np.testing.assert_allclose(L.iwae_bound(log_w), log_w[0], rtol=1e-6)
    model = L.VAE(12, 3, (16,), rngs=nnx.Rngs(0))
    x = (jax.random.uniform(KEY, (5, 12)) < 0.5).astype(jnp.float32)
    key = jax.random.key(3)
    np.testing.assert_allclose(model.iwae_bound(key, x, 1), model.elbo(key, x), rtol=1e-6)


def test_iwae_bound_rises_with_k_and_stays_below_the_exact_log_marginal():
    log_px = np.asarray(L.linear_gaussian_log_marginal(X, W, B, LOG_VAR))
    reps, means = 2000, []
    all_log_w = _linear_gaussian_log_w(KEY, reps * 64)  # one draw, sliced: one compilation
    for k in (1, 4, 16, 64):
        log_w = all_log_w[: reps * k]
        bounds = L.iwae_bound(log_w.reshape(k, reps, -1))
        est = E.estimate_from_samples(bounds)
        assert np.all(est.mean - 4 * est.stderr < log_px)
        means.append(est)
    for lo, hi in itertools.pairwise(means):
        se = np.sqrt(lo.stderr**2 + hi.stderr**2)
        assert np.all(hi.mean - lo.mean > -2 * se)
    assert np.all(means[-1].mean - means[0].mean > 4 * np.sqrt(means[0].stderr**2))


def test_iwae_bound_stays_below_exact_log_marginal_of_bernoulli_mixture():
    logits_z = jnp.array([0.0, 1.0, -0.5, 0.2])
    logits_x = jax.random.normal(KEY, (4, 8)) * 2.0
    x = all_binary_vectors(8)[::17]
    exact = np.asarray(L.bernoulli_mixture_log_marginal(x, logits_z, logits_x))
    joint = L.bernoulli_mixture_log_joint(x, logits_z, logits_x)
    log_q = jax.nn.log_softmax(jnp.zeros(4))  # uniform proposal over the components
    prev = -np.inf
    z = jax.random.categorical(KEY, log_q, shape=(30, 1000, x.shape[0]))
    all_log_w = joint[jnp.arange(x.shape[0]), z] - log_q[z]  # (30, 1000, batch)
    for k in (1, 3, 10, 30):
        bounds = L.iwae_bound(all_log_w[:k])
        est = E.estimate_from_samples(bounds)
        assert np.all(est.mean - 4 * est.stderr <= exact)
        assert np.mean(est.mean) > prev - 0.01
        prev = np.mean(est.mean)


def test_importance_estimate_converges_to_exact_log_marginal():
    log_px = np.asarray(L.linear_gaussian_log_marginal(X, W, B, LOG_VAR))
    errors, all_log_w = [], _linear_gaussian_log_w(KEY, 200 * 1000)
    for k in (10, 100, 1000):
        log_w = all_log_w[: 200 * k].reshape(k, 200, -1)
        est = E.log_importance_estimate(log_w)
        errors.append(float(np.sqrt(np.mean((est.mean - log_px) ** 2))))
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] > 5 * errors[2]  # about 1/sqrt(k): a factor 10 from k = 10 to 1000


def test_posterior_proposal_gives_zero_variance_weights():
    mean_post, cov_post = L.linear_gaussian_posterior(X, W, B, LOG_VAR)
    chol = jnp.linalg.cholesky(cov_post)
    z = mean_post + jax.random.normal(KEY, (100, 2, 2)) @ chol.T
    log_post = jax.vmap(
        lambda zi: jax.scipy.stats.multivariate_normal.logpdf(zi, mean_post, cov_post)
    )(z)
    log_w = L.linear_gaussian_log_joint(X, z, W, B, LOG_VAR) - log_post
    assert float(jnp.max(jnp.std(log_w, axis=0))) < 1e-4


def test_iwae_bound_is_finite_and_exact_for_huge_log_weights():
    for centre in (1e4, -1e4):
        log_w = centre + jnp.array([[0.0], [math.log(3.0)]])
        np.testing.assert_allclose(L.iwae_bound(log_w), [centre + math.log(2.0)], rtol=1e-7)
        np.testing.assert_allclose(L.iwae_surrogate(log_w), [centre + math.log(2.0)], rtol=1e-7)


def test_vae_bounds_are_finite_and_exact_with_huge_log_weights():
    model = L.VAE(10, 2, (8,), rngs=nnx.Rngs(1))
    last = model.decoder.layers[-1]
    last.kernel[...] = last.kernel[...] * 1e3  # logits of size ~1e3: log p(x|z) ~ -1e3 to -1e4
    x = (jax.random.uniform(KEY, (4, 10)) < 0.5).astype(jnp.float32)
    key = jax.random.key(5)
    log_w = np.asarray(model.log_weights(key, x, 20), np.float64)
    assert log_w.min() < -1e3
    expected = scipy.special.logsumexp(log_w, axis=0) - math.log(20)
    got = model.iwae_bound(key, x, 20)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_iwae_surrogate_gradient_equals_autodiff_of_the_bound():
    eps = jax.random.normal(KEY, (6, 3))

    def log_w(theta):
        return -0.5 * (theta[0] + theta[1] * eps) ** 2 + theta[2] * eps

    theta = jnp.array([0.3, 1.2, -0.4])
    g_bound = jax.grad(lambda t: L.iwae_bound(log_w(t)).sum())(theta)
    g_surr = jax.grad(lambda t: L.iwae_surrogate(log_w(t)).sum())(theta)
    np.testing.assert_allclose(g_surr, g_bound, rtol=1e-5)
    np.testing.assert_allclose(L.iwae_surrogate(log_w(theta)), L.iwae_bound(log_w(theta)), rtol=1e-6)


def test_vae_log_prob_is_chunking_does_not_change_the_estimator():
    model = L.VAE(12, 3, (16,), rngs=nnx.Rngs(0))
    x = (jax.random.uniform(KEY, (5, 12)) < 0.5).astype(jnp.float32)
    key = jax.random.key(9)
    whole = model.log_prob_is(key, x, 8, chunk=8)
    np.testing.assert_allclose(whole, model.iwae_bound(jax.random.fold_in(key, 0), x, 8), rtol=1e-6)
    parts = [model.log_weights(jax.random.fold_in(key, i), x, 3)
             for i in range(3)]
    expected = L.iwae_bound(jnp.concatenate(parts)[:7])
    np.testing.assert_allclose(model.log_prob_is(key, x, 7, chunk=3), expected, rtol=1e-6)


# --------------------------------------------------------------------------- gradient estimators


def _square(z):
    return jnp.sum(z**2)


def test_gradient_estimators_are_unbiased_and_reparameterisation_has_lower_variance():
    mean, log_var = jnp.array([0.5, -1.0]), jnp.array([0.2, -0.6])
    exact = (2 * mean, jnp.exp(log_var))  # d/dmu and d/dlogvar of sum(mu^2 + sigma^2)
    sf = L.score_function_gradients(KEY, _square, mean, log_var, 40_000)
    rp = L.reparameterisation_gradients(KEY, _square, mean, log_var, 40_000)
    for est_pair in (sf, rp):
        for g, true in zip(est_pair, exact, strict=True):
            est = E.estimate_from_samples(g)
            assert np.all(np.abs(est.mean - true) < 4 * est.stderr + 1e-6)
    assert np.all(jnp.var(rp[0], axis=0) < jnp.var(sf[0], axis=0))


# --------------------------------------------------------------------------- VAE training


def test_vae_elbo_and_iwae_losses_compile_once_under_fit():
    data = (jax.random.uniform(KEY, (64, 12)) < 0.4).astype(jnp.float32)
    for loss in (L.vae_loss, L.iwae_loss(4)):
        model = L.VAE(12, 2, (16,), rngs=nnx.Rngs(0))
        before = -float(jnp.mean(model.elbo_terms(KEY, data, 8).elbo))
        result = train.fit(model, loss, data, key=KEY, steps=40, batch_size=16,
                           steps_per_dispatch=20, progress=False,
                           optimizer=optax.adam(1e-2))
        assert result.traces <= 1
        assert np.all(np.isfinite(result.losses))
        assert -float(jnp.mean(model.elbo_terms(KEY, data, 8).elbo)) < before


def test_iwae_learning_rate_schedule_spans_3280_epochs():
    sched = L.iwae_learning_rate(2)
    assert float(sched(0)) == pytest.approx(1e-3)
    assert float(sched(2 * 1 - 1)) == pytest.approx(1e-3)
    assert float(sched(2 * 1)) == pytest.approx(1e-3 * 10 ** (-1 / 7), rel=1e-5)
    assert float(sched(2 * 3280 - 1)) == pytest.approx(1e-4, rel=1e-4)
    assert sum(3**i for i in range(8)) == L.IWAE_SETUP["epochs"]


def test_vae_takes_the_iwae_setup_as_keyword_arguments():
    setup = {name: L.IWAE_SETUP[name] for name in ("hidden_sizes", "latent_dim", "activation")}
    model = L.VAE(d=12, **setup, rngs=nnx.Rngs(0))
    assert (model.d, model.latent_dim, model.hidden_sizes) == (12, 50, (200, 200))
    assert [layer.kernel.shape for layer in model.encoder.layers] == [(12, 200), (200, 200), (200, 100)]
    assert [layer.kernel.shape for layer in model.decoder.layers] == [(50, 200), (200, 200), (200, 12)]
    toy = L.LinearGaussianVAE(d=3, latent_dim=2, rngs=nnx.Rngs(0))
    assert (toy.d, toy.latent_dim) == (3, 2) and toy.w.shape == (3, 2)


def test_vae_sample_and_reconstruct_shapes_and_ranges():
    model = L.VAE(12, 3, (16,), rngs=nnx.Rngs(0))
    s = model.sample(KEY, 7)
    assert s.shape == (7, 12) and set(np.unique(s)) <= {0.0, 1.0}
    r = model.reconstruct(jnp.ones((2, 12)))
    assert r.shape == (2, 12) and np.all((r >= 0) & (r <= 1))


# --------------------------------------------------------------------------- input checks

_M = L.VAE(12, 3, (16,), rngs=nnx.Rngs(0))
_LG = L.LinearGaussianVAE(1, 1, rngs=nnx.Rngs(0))
_BAD = [
    ("log_weights", lambda: L.log_weights(jnp.zeros(()), jnp.zeros(()), jnp.zeros(())), "log_px_given_z"),
    ("elbo", lambda: L.elbo(jnp.zeros((2, 3)), jnp.zeros((2, 4)), jnp.zeros((2, 3))), "broadcast"),
    ("elbo_terms", lambda: L.elbo_terms(jnp.zeros(()), jnp.zeros(2), jnp.zeros(2)), "log_px_given_z"),
    ("elbo_terms_analytic", lambda: L.elbo_terms_analytic(jnp.zeros((1, 2)), jnp.zeros((2, 3)), jnp.zeros((2, 4))), "log_var"),
    ("iwae_bound", lambda: L.iwae_bound(jnp.zeros(())), "log_w"),
    ("iwae_surrogate", lambda: L.iwae_surrogate(jnp.zeros(())), "log_w"),
    ("score_function_gradients", lambda: L.score_function_gradients(KEY, _square, jnp.zeros(2), jnp.zeros(3), 4), "log_var"),
    ("reparameterisation_gradients", lambda: L.reparameterisation_gradients(KEY, _square, jnp.zeros((2, 2)), jnp.zeros(2), 4), "mean"),
    ("bernoulli_mixture_log_joint", lambda: L.bernoulli_mixture_log_joint(jnp.zeros((2, 3)), jnp.zeros(2), jnp.zeros((2, 4))), "logits_x"),
    ("bernoulli_mixture_log_marginal", lambda: L.bernoulli_mixture_log_marginal(jnp.zeros(3), jnp.zeros(2), jnp.zeros((2, 3))), "x"),
    ("bernoulli_mixture_log_posterior", lambda: L.bernoulli_mixture_log_posterior(jnp.zeros((2, 3)), jnp.zeros((2, 1)), jnp.zeros((2, 3))), "logits_z"),
    ("linear_gaussian_log_joint", lambda: L.linear_gaussian_log_joint(X, jnp.zeros((2, 3)), W, B, LOG_VAR), "z"),
    ("linear_gaussian_log_marginal", lambda: L.linear_gaussian_log_marginal(X, W, jnp.zeros(2), LOG_VAR), "b"),
    ("linear_gaussian_posterior", lambda: L.linear_gaussian_posterior(X, W, B, jnp.zeros(3)), "log_var"),
    ("linear_gaussian_elbo", lambda: L.linear_gaussian_elbo(X, jnp.zeros((2, 2)), jnp.eye(3), W, B, LOG_VAR), "cov_q"),
    ("VAE.elbo", lambda: _M.elbo(KEY, jnp.zeros((2, 11))), "x"),
    ("VAE.iwae_bound", lambda: _M.iwae_bound(KEY, jnp.zeros((2, 12)), 0), "k"),
    ("VAE.log_prob_is", lambda: _M.log_prob_is(KEY, jnp.zeros(12), 5), "x"),
    ("VAE.elbo_terms", lambda: _M.elbo_terms(KEY, jnp.zeros((2, 12, 1)), 2), "x"),
    ("VAE.decode", lambda: _M.decode(jnp.zeros((2, 4))), "z"),
    ("VAE.encode", lambda: _M.encode(jnp.zeros((2, 4))), "x"),
    ("VAE.sample", lambda: _M.sample(KEY, 0), "n"),
    ("VAE.reconstruct", lambda: _M.reconstruct(jnp.zeros((12,))), "x"),
    ("VAE", lambda: L.VAE(12, 3, activation="sigmoid", rngs=nnx.Rngs(0)), "activation"),
    ("VAE", lambda: L.VAE(0, 3, rngs=nnx.Rngs(0)), "'d'"),
    ("VAE", lambda: L.VAE(12, 2.5, rngs=nnx.Rngs(0)), "'latent_dim'"),
    ("VAE", lambda: L.VAE(12, 3, 16, rngs=nnx.Rngs(0)), "'hidden_sizes'"),
    ("VAE", lambda: L.VAE(12, 3, (16, 0), rngs=nnx.Rngs(0)), "'hidden_sizes'"),
    ("VAE", lambda: L.VAE(12, 3, (16,), rngs=0), "'rngs'"),
    ("vae_loss", lambda: L.vae_loss(_M, jnp.zeros((2, 11)), KEY), "'x'"),
    ("vae_loss", lambda: L.vae_loss(_LG, jnp.zeros((2, 1)), KEY), "'model'"),
    ("vae_loss", lambda: L.vae_loss(_M, jnp.zeros((2, 12)), 0), "'key'"),
    ("iwae_loss", lambda: L.iwae_loss(2)(_M, jnp.zeros((2, 11)), KEY), "'x'"),
    ("iwae_loss", lambda: L.iwae_loss(0), "k"),
    ("LinearGaussianVAE.elbo", lambda: _LG.elbo(KEY, jnp.zeros((2, 1)), "neither"), "train"),
    ("LinearGaussianVAE.exact_elbo", lambda: _LG.exact_elbo(jnp.zeros((2, 3))), "x"),
    ("LinearGaussianVAE.log_prob", lambda: _LG.log_prob(jnp.zeros(2)), "x"),
    ("LinearGaussianVAE.encode", lambda: _LG.encode(jnp.zeros((2, 2))), "x"),
    ("LinearGaussianVAE", lambda: L.LinearGaussianVAE(0, 1, rngs=nnx.Rngs(0)), "'d'"),
    ("LinearGaussianVAE", lambda: L.LinearGaussianVAE(1, 0, rngs=nnx.Rngs(0)), "'latent_dim'"),
    ("LinearGaussianVAE", lambda: L.LinearGaussianVAE(1, 1, rngs=jax.random.key(0)), "'rngs'"),
    ("VAE.log_weights", lambda: _M.log_weights(KEY, jnp.zeros((2, 12)), 0), "'k'"),
    ("iwae_learning_rate", lambda: L.iwae_learning_rate(0), "steps_per_epoch"),
]


@pytest.mark.parametrize(("where", "call", "name"), _BAD, ids=[f"{b[0]} {i}" for i, b in enumerate(_BAD)])
def test_wrong_arguments_raise_errors_naming_function_and_argument(where, call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert message.startswith(where + ":"), message
    assert name in message, message


def test_vae_elbo_refuses_a_batch_of_keys():
    with pytest.raises(TypeError, match=r"VAE\.elbo: argument 'key'"):
        _M.elbo(jax.random.split(KEY, 2), jnp.zeros((2, 12)))


def test_linear_gaussian_vae_gap_closes_at_the_posterior_and_freezing_stops_gradients():
    model = L.LinearGaussianVAE(1, 1, rngs=nnx.Rngs(0))
    x = jnp.array([[0.3], [1.7], [-0.8]])
    w, b, log_var = model.decoder_params()
    assert np.all(model.exact_elbo(x) <= model.log_prob(x) + 1e-6)
    mean_post, cov_post = L.linear_gaussian_posterior(x, w, b, log_var)
    # the posterior mean is linear in x: m = (x - b) w s / sigma^2
    model.a[...] = (w.T * cov_post[0, 0] * jnp.exp(-log_var))
    model.c[...] = -(b @ w) * cov_post[0, 0] * jnp.exp(-log_var)
    model.log_var_q[...] = jnp.log(jnp.diag(cov_post))
    np.testing.assert_allclose(model.encode(x)[0], mean_post, atol=1e-6)
    np.testing.assert_allclose(model.exact_elbo(x), model.log_prob(x), atol=1e-5)
    for train_half, frozen in (("encoder", ("w", "b", "log_var")), ("decoder", ("a", "c"))):
        grads = nnx.grad(lambda m, t=train_half: -jnp.mean(m.elbo(KEY, x, t)))(model)
        assert all(float(jnp.abs(grads[name][...]).max()) == 0.0 for name in frozen)
    draws = model.elbo(KEY, jnp.tile(x, (1000, 1))).reshape(1000, x.shape[0])
    mc = E.estimate_from_samples(draws)
    assert np.all(np.abs(mc.mean - model.exact_elbo(x)) < 4 * mc.stderr + 1e-5)
