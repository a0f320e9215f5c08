"""Properties of dgm_lib.score.model and networks: the score is -eps_hat / sigma(t); the
sigma^2-weighted DSM loss of a network that outputs the exact E[eps | x_t] has the closed
form 0.5 sum_j E_t[alpha^2 s_j^2 / (alpha^2 s_j^2 + sigma^2)] (Gaussian data) and a scaled
network pays exactly 0.5 (c - 1)^2 E||E[eps | x_t]||^2 more (E[eps | x_t] is the minimiser);
the zero network pays d / 2; training a ScoreMLP with fit brings its noise prediction close
to the exact one; the time embedding is a shift-invariant code that fit does not train."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import integrate
from support.bad_calls import assert_raises_naming, bad_calls
from support.score_oracles import gaussian_marginal, normal

from dgm_lib.score import (
    VESDE,
    VPSDE,
    ScoreMLP,
    ScoreModel,
    TimeEmbedding,
    dsm_loss,
    perturb,
)
from dgm_lib.train import fit

SIGMAS = 5.0
MEAN, VARS = np.array([0.8, -1.5]), np.array([0.3**2, 1.2**2])  # data N(MEAN, diag VARS)
T_MIN = 1e-3


class ExactEps(nnx.Module):
    """A 'network' that outputs c E[eps | x_t] = -c sigma(t) grad log p_t(x_t), exactly."""

    def __init__(self, sde, scale: float = 1.0):
        self.sde, self.scale = sde, scale
        self.exact_score = gaussian_marginal(MEAN, np.diag(VARS), sde)[0]

    def __call__(self, x, t):
        return -self.scale * self.sde.marginal(t)[1][:, None] * self.exact_score(x, t)


class Zero(nnx.Module):
    def __call__(self, x, t):
        return jnp.zeros_like(x)


def data(n: int, seed: int = 0) -> jax.Array:
    g = np.random.default_rng(seed)
    return jnp.asarray(MEAN + np.sqrt(VARS) * g.normal(size=(n, 2)), jnp.float32)


def per_example_losses(model, x, key):
    """dsm_loss of every example alone (its own time and noise), (n,)."""
    keys = jax.random.split(key, x.shape[0])
    return jax.vmap(lambda xi, k: dsm_loss(model, xi[None], k, t_min=T_MIN))(x, keys)


@partial(jax.jit, static_argnums=0)
def exact_model_losses(sde, scale, x, key):
    """per_example_losses of ScoreModel(ExactEps(sde, scale)): one compile per SDE."""
    return per_example_losses(ScoreModel(ExactEps(sde, scale), sde), x, key)


def expected_loss(sde, scale: float) -> float:
    """0.5 sum_j E_{t ~ U[t_min, 1]}[(alpha^2 s_j^2 + (c - 1)^2 sigma^2) / (alpha^2 s_j^2 +
    sigma^2)]: Var(eps_j | x_t) plus the scaling's squared bias, by scipy's Gauss-Legendre
    quadrature (the integrand is smooth in t)."""

    def integrand(t):
        alpha, sigma = (np.asarray(v, np.float64)[:, None] for v in sde.marginal(jnp.asarray(t)))
        signal = alpha**2 * VARS
        return 0.5 * np.sum((signal + (scale - 1) ** 2 * sigma**2) / (signal + sigma**2), axis=1)

    return integrate.fixed_quad(integrand, T_MIN, 1.0, n=400)[0] / (1.0 - T_MIN)


@pytest.mark.parametrize("sde", [VPSDE(), VESDE()], ids=["VP", "VE"])
def test_dsm_loss_of_the_exact_noise_predictor_has_its_closed_form_and_is_the_minimum(sde):
    """The exact E[eps | x_t] gives the closed-form irreducible loss; c = 0.7 and 1.3 give the
    closed-form excess 0.5 (c - 1)^2 E||E[eps | x_t]||^2, paired on the same (t, eps) draws."""
    n = 20_000
    x, key = data(n), jax.random.key(1)
    losses = {}
    for c in (1.0, 0.7, 1.3):
        terms = np.asarray(exact_model_losses(sde, c, x, key), np.float64)
        losses[c] = terms
        expected = expected_loss(sde, c)
        assert abs(terms.mean() - expected) < SIGMAS * terms.std(ddof=1) / np.sqrt(n), (c, terms.mean(), expected)
    for c in (0.7, 1.3):
        excess = losses[c] - losses[1.0]
        assert excess.mean() > SIGMAS * excess.std(ddof=1) / np.sqrt(n)  # the exact one is lower
        np.testing.assert_allclose(excess.mean(), expected_loss(sde, c) - expected_loss(sde, 1.0),
                                   rtol=SIGMAS * excess.std() / np.sqrt(n) / excess.mean())
    # dsm_loss on a batch is the mean of the examples' terms (the same estimator).
    batch = float(jax.jit(lambda x: dsm_loss(ScoreModel(ExactEps(sde), sde), x, jax.random.key(2), t_min=T_MIN))(x))
    assert abs(batch - losses[1.0].mean()) < SIGMAS * np.sqrt(2) * losses[1.0].std() / np.sqrt(n)


def test_dsm_loss_of_the_zero_network_is_half_the_dimension():
    """eps_hat = 0 pays E[0.5 ||eps||^2] = d / 2 at every time, for any SDE and data."""
    n = 20_000
    for sde in (VPSDE(), VESDE()):
        model = ScoreModel(Zero(), sde)
        terms = np.asarray(jax.jit(per_example_losses, static_argnums=0)(model, data(n, 3), jax.random.key(4)))
        assert abs(terms.mean() - 1.0) < SIGMAS * np.sqrt(0.5 / n)  # Var(0.5 chi^2_2) = 1/2


def test_score_model_score_is_minus_the_predicted_noise_over_sigma():
    sde = VPSDE()
    model = ScoreModel(ScoreMLP(2, (16,), embed_dim=8, rngs=nnx.Rngs(0)), sde)
    x, t = normal(5, (6, 2)), jnp.linspace(0.05, 1.0, 6)

    @jax.jit
    def outputs(x, t):
        at = jnp.full(6, 0.3)
        return (model.score(x, t), model.net(x, t), model.score(x, 0.3), model.score(x, at),
                model.eps(x, 0.3), model.net(x, at), model.score(x, 0.6))

    score, net, scalar, full, eps, net_at, later = outputs(x, t)
    sigma = np.asarray(sde.marginal(t)[1])[:, None]
    np.testing.assert_allclose(score, -np.asarray(net) / sigma, rtol=1e-5)
    # A scalar time is every example's time.
    np.testing.assert_allclose(scalar, full, rtol=1e-6)
    np.testing.assert_allclose(eps, net_at, rtol=1e-6)
    assert np.abs(np.asarray(scalar - later)).max() > 1e-3  # t matters


@pytest.mark.parametrize("sde", [VPSDE(), VESDE()], ids=["VP", "VE"])
def test_preconditioned_model_with_a_zero_network_is_the_exact_score_of_its_gaussian(sde):
    """With data_std = s and F = 0, eps_hat = sigma / v x_t, v = alpha^2 s^2 + sigma^2, is
    E[eps | x_t] for data N(0, s^2 I): the score is that Gaussian's marginal score exactly
    (the skip term is the best linear denoiser), and the network's output enters scaled by
    alpha s / sqrt(v) at the standardised input x / sqrt(v)."""
    s = 1.7
    model = ScoreModel(Zero(), sde, data_std=s)
    x = normal(11, (32, 2), 3.0)
    t = jnp.linspace(0.01, 1.0, 32)
    exact = gaussian_marginal([0.0, 0.0], s**2 * np.eye(2), sde)[0]
    np.testing.assert_allclose(model.score(x, t), exact(x, t), rtol=1e-4, atol=1e-5)
    # A data_std that is not the data's gives a different score.
    assert float(jnp.abs(ScoreModel(Zero(), sde, data_std=0.5).score(x, t) - exact(x, t)).max()) > 0.1

    class Ones(nnx.Module):
        def __call__(self, x, t):
            self.seen = x
            return jnp.ones_like(x)

    net = Ones()
    with_net = ScoreModel(net, sde, data_std=s).eps(x, t)
    alpha, sigma = (np.asarray(a)[:, None] for a in sde.marginal(t))
    v = alpha**2 * s**2 + sigma**2
    np.testing.assert_allclose(with_net, sigma / v * np.asarray(x) + alpha * s / np.sqrt(v), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.seen, np.asarray(x) / np.sqrt(v), rtol=1e-5)


def test_fit_with_dsm_loss_learns_the_exact_noise_prediction():
    """A few hundred steps of fit on 2-D Gaussian data bring the mean squared error of the
    predicted noise to the exact E[eps | x_t] (on fresh (x_t, t) draws) down by over 20x."""
    sde = VPSDE()
    exact = ExactEps(sde)
    model = ScoreModel(ScoreMLP(2, (64, 64), embed_dim=16, scale=4.0, rngs=nnx.Rngs(0)), sde)
    x0, key = data(4096, 6), jax.random.key(7)

    @jax.jit
    def eps_error(graphdef, state):
        net = nnx.merge(graphdef, state)
        t = jax.random.uniform(jax.random.fold_in(key, 0), (4096,), minval=T_MIN, maxval=1.0)
        xt, _ = perturb(jax.random.fold_in(key, 1), sde, x0, t)
        return jnp.mean(jnp.sum(jnp.square(net(xt, t) - exact(xt, t)), -1))

    before = float(eps_error(*nnx.split(model.net)))
    result = fit(model, dsm_loss, data(4096, 8), key=jax.random.key(9), steps=300, batch_size=256,
                 optimizer=optax.adam(3e-3), progress=False)
    after = float(eps_error(*nnx.split(model.net)))
    assert before > 0.5 and after < before / 20, (before, after)
    # The loss falls to about its floor (the exact predictor's loss).
    assert np.mean(result.losses[-100:]) < 1.2 * expected_loss(sde, 1.0)
    assert result.traces <= 1


def test_time_embedding_is_shift_invariant_and_not_trained():
    """gamma(t) . gamma(s) = sum_k cos(2 pi w_k (t - s)) depends on t - s only, and the
    frequencies are Frozen, not Param: fit leaves them alone."""
    emb = TimeEmbedding(32, scale=8.0, rngs=nnx.Rngs(1))
    t = jnp.array([0.1, 0.35, 0.6])
    g = emb(t)
    assert g.shape == (3, 32)
    np.testing.assert_allclose(jnp.sum(g**2, -1), 16.0, rtol=1e-5)
    shifted = emb(t + 0.2)
    np.testing.assert_allclose(jnp.sum(g * emb(t + 0.05), -1), jnp.sum(shifted * emb(t + 0.25), -1), rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(jnp.sum(g[0] * g[1]) - jnp.sum(g[0] * g[2]))) > 0.5  # it does vary with t - s
    assert not jax.tree.leaves(nnx.state(emb, nnx.Param))


_SDE = VPSDE()
_MODEL = ScoreModel(Zero(), _SDE)


@bad_calls(
    [
        ("net_not_callable", lambda: ScoreModel("net", _SDE), TypeError, "ScoreModel: argument 'net' must be a module net(x, t)"),
        ("dsm_zero_t_min", lambda: dsm_loss(_MODEL, jnp.zeros((4, 2)), jax.random.key(0), t_min=0.0), ValueError, "dsm_loss: argument 't_min' must be a finite number > 0"),
        ("dsm_int_key", lambda: dsm_loss(_MODEL, jnp.zeros((4, 2)), 3), TypeError, "dsm_loss: argument 'key'"),
        ("dsm_int_batch", lambda: dsm_loss(_MODEL, jnp.zeros((4, 2), jnp.int32), jax.random.key(0)), TypeError, "dsm_loss: argument 'batch'"),
        ("mlp_wrong_d", lambda: ScoreMLP(2, (4,), embed_dim=4, rngs=nnx.Rngs(0))(jnp.zeros((3, 5)), jnp.zeros(3)), ValueError, "ScoreMLP: argument 'x' must have shape (n, 2)"),
        ("mlp_wrong_times", lambda: ScoreMLP(2, (4,), embed_dim=4, rngs=nnx.Rngs(0))(jnp.zeros((3, 2)), jnp.zeros(4)), ValueError, "ScoreMLP: argument 't' must have shape (3,)"),
        ("embedding_odd", lambda: TimeEmbedding(5, rngs=nnx.Rngs(0)), ValueError, "TimeEmbedding: argument 'embed_dim' must be even"),
        ("zero_data_std", lambda: ScoreModel(Zero(), _SDE, data_std=0.0), ValueError, "ScoreModel: argument 'data_std' must be a finite number > 0"),
        ("dsm_t_min_one", lambda: dsm_loss(_MODEL, jnp.zeros((4, 2)), jax.random.key(0), t_min=1.0), ValueError, "dsm_loss: argument 't_min' must be in (0, 1)"),
        ("embedding_zero_scale", lambda: TimeEmbedding(4, scale=0.0, rngs=nnx.Rngs(0)), ValueError, "TimeEmbedding: argument 'scale'"),
        ("mlp_no_rngs", lambda: ScoreMLP(2, (4,), rngs=0), TypeError, "ScoreMLP: argument 'rngs' must be an nnx.Rngs"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
