"""Properties of dgm_lib.energy.nce: the objective against the formula written out in NumPy
(log-sigmoid by hand, nu != 1, so a missing log nu would show), nce_loss scoring the noise
that its sampler drew, and NCE learning a 1-D Gaussian's mean, variance and, with no sample
from the model, its log normaliser log sqrt(2 pi s^2)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.energy import NCEModel, nce_loss, nce_objective
from dgm_lib.train import fit


def numpy_log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log(1 / (1 + e^{-z})), stably: -log(1 + e^{-z}) = -logaddexp(0, -z)."""
    return -np.logaddexp(0.0, -z)


def numpy_nce(lm_data, lq_data, lm_noise, lq_noise) -> float:
    lm_data, lq_data, lm_noise, lq_noise = (
        np.asarray(a, np.float64) for a in (lm_data, lq_data, lm_noise, lq_noise)
    )
    n, m = len(lm_data), len(lm_noise)
    nu = m / n
    g_data = lm_data - lq_data - np.log(nu)
    g_noise = lm_noise - lq_noise - np.log(nu)
    return -(np.mean(numpy_log_sigmoid(g_data)) + nu * np.mean(numpy_log_sigmoid(-g_noise)))


def test_nce_objective_matches_the_formula_written_out():
    g = np.random.default_rng(0)
    n, m = 7, 21  # nu = 3
    args = [g.normal(0, 3, n), g.normal(0, 3, n), g.normal(0, 3, m), g.normal(0, 3, m)]
    ours = nce_objective(*(jnp.asarray(a, jnp.float32) for a in args))
    np.testing.assert_allclose(float(ours), numpy_nce(*args), rtol=1e-5)
    # With nu = 3 the log nu terms matter: dropping them changes the value well beyond rtol.
    a = [np.asarray(x, np.float64) for x in args]
    no_log_nu = -(np.mean(numpy_log_sigmoid(a[0] - a[1])) + 3 * np.mean(numpy_log_sigmoid(a[3] - a[2])))
    assert abs(no_log_nu - float(ours)) > 0.1


def test_nce_objective_at_large_logits_is_finite_and_exact():
    # A confident classifier: log sigmoid(+-60) in float32 must not become log(0).
    ours = nce_objective(jnp.array([60.0]), jnp.array([0.0]), jnp.array([-60.0]), jnp.array([0.0]))
    np.testing.assert_allclose(float(ours), numpy_nce([60.0], [0.0], [-60.0], [0.0]), rtol=1e-5)
    bad = nce_objective(jnp.array([-60.0]), jnp.array([0.0]), jnp.array([60.0]), jnp.array([0.0]))
    np.testing.assert_allclose(float(bad), 120.0, rtol=1e-5)


class GaussianEnergy(nnx.Module):
    """E(x) = (x - m)^2 / (2 s^2) on x of shape (n, 1), s^2 = exp(log_var)."""

    def __init__(self) -> None:
        self.m = nnx.Param(jnp.float32(0.0))
        self.log_var = nnx.Param(jnp.float32(0.0))

    def energy(self, x: jax.Array) -> jax.Array:
        return 0.5 * (x[:, 0] - self.m[...]) ** 2 / jnp.exp(self.log_var[...])


NOISE_STD = 2.0


def noise_sample(key, n):
    return NOISE_STD * jax.random.normal(key, (n, 1))


def noise_log_prob(x):
    return -0.5 * (x[:, 0] / NOISE_STD) ** 2 - math.log(NOISE_STD) - 0.5 * math.log(2 * math.pi)


def test_nce_loss_scores_the_data_and_the_noise_it_drew():
    model = NCEModel(GaussianEnergy(), log_z_init=0.3)
    model.model.m[...] = jnp.float32(0.4)
    batch = jnp.asarray(np.random.default_rng(1).normal(size=(5, 1)), jnp.float32)
    key = jax.random.key(2)
    ours = nce_loss(model, batch, key, noise_sample=noise_sample, noise_log_prob=noise_log_prob, nu=3)
    noise = noise_sample(key, 15)  # nu * batch_size points from the given key
    log_model = lambda x: -np.asarray(model.model.energy(x), np.float64) - 0.3  # noqa: E731
    expected = numpy_nce(
        log_model(batch), np.asarray(noise_log_prob(batch)), log_model(noise), np.asarray(noise_log_prob(noise))
    )
    np.testing.assert_allclose(float(ours), expected, rtol=1e-5)
    np.testing.assert_allclose(model.log_density(batch), log_model(batch), rtol=1e-6)


def test_nce_learns_the_mean_the_variance_and_the_log_normaliser_of_a_gaussian():
    x = (1.0 + 0.7 * np.random.default_rng(0).normal(size=(4000, 1))).astype(np.float32)
    model = NCEModel(GaussianEnergy())  # c starts at 0, log Z = 0.5 log(2 pi 0.49) = 0.56
    loss = functools.partial(nce_loss, noise_sample=noise_sample, noise_log_prob=noise_log_prob, nu=2)
    steps = 600
    fit(
        model, loss, x, key=jax.random.key(0), steps=steps, batch_size=1000,
        optimizer=optax.adam(optax.cosine_decay_schedule(0.05, steps)), progress=False,
        steps_per_dispatch=steps,
    )
    m, s2, c = (float(model.model.m[...]), float(jnp.exp(model.model.log_var[...])), float(model.log_z[...]))
    assert abs(m - x.mean()) < 0.03
    assert abs(s2 - x.var()) < 0.03
    # The learned normaliser is log Z of the learned energy (a tolerance far below the start's
    # error of 0.56 and the log 2 = 0.69 that a mishandled nu would cost).
    assert abs(c - 0.5 * math.log(2 * math.pi * s2)) < 0.03, (c, s2)


_A, _B = jnp.zeros(4), jnp.zeros(6)
_M = NCEModel(GaussianEnergy())
_X = jnp.zeros((4, 1))
_K = jax.random.key(0)


@bad_calls(
    [
        ("objective_data_length_mismatch", lambda: nce_objective(_A, jnp.zeros(5), _B, _B), ValueError, "nce_objective: argument 'log_noise_data' must have shape (4,); got shape (5,)"),
        ("objective_noise_length_mismatch", lambda: nce_objective(_A, _A, _B, jnp.zeros(4)), ValueError, "nce_objective: argument 'log_noise_noise' must have shape (6,)"),
        ("objective_2d", lambda: nce_objective(jnp.zeros((4, 1)), _A, _B, _B), ValueError, "nce_objective: argument 'log_model_data' must have shape (n,)"),
        ("objective_int", lambda: nce_objective(jnp.zeros(4, jnp.int32), _A, _B, _B), TypeError, "nce_objective: argument 'log_model_data'"),
        ("loss_sampler_not_callable", lambda: nce_loss(_M, _X, _K, noise_sample=None, noise_log_prob=noise_log_prob), TypeError, "nce_loss: argument 'noise_sample' must be a callable"),
        ("loss_log_prob_not_callable", lambda: nce_loss(_M, _X, _K, noise_sample=noise_sample, noise_log_prob=1.0), TypeError, "nce_loss: argument 'noise_log_prob'"),
        ("loss_nu_zero", lambda: nce_loss(_M, _X, _K, noise_sample=noise_sample, noise_log_prob=noise_log_prob, nu=0), ValueError, "nce_loss: argument 'nu' must be a positive int"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
