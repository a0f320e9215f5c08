"""Oracles shared by the score-based tests: closed-form scores and densities of Gaussian data
under a forward SDE (full covariance, which a diagonal GaussianMixture cannot express), the
moments of a mixture, the exact noisy classifier of a mixture, and two-sample checks whose
tolerances come from the samples' own standard errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from dgm_lib.score import GaussianMixture


# Host draws: NumPy generators fix the test inputs without compiling a device program for each
# new shape (the library's own randomness stays on the device).
def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
    """float32 N(0, scale^2) draws from NumPy's generator ``seed``."""
    return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), jnp.float32)


def sample_mixture(mixture: GaussianMixture, n: int, seed: int) -> np.ndarray:
    """n draws of a diagonal Gaussian mixture on the host, float64 ``(n, d)``."""
    g = np.random.default_rng(seed)
    w = np.asarray(mixture.weights, np.float64)
    k = g.choice(len(w), size=n, p=w / w.sum())
    std = np.exp(0.5 * np.asarray(mixture.log_vars, np.float64))
    return np.asarray(mixture.means, np.float64)[k] + std[k] * g.normal(size=(n, mixture.d))


def gaussian_marginal(mean, cov, sde):
    """Data N(mean, cov) under ``sde``: p_t = N(alpha m, alpha^2 cov + sigma^2 I), written here
    from the Gaussian algebra, not from the library's mixture code. With cov = U diag(lam) U^T,
    the covariance of p_t is U diag(alpha^2 lam + sigma^2) U^T.

    Returns ``(score, log_prob)``, both of ``(x (n, d), t (n,) or scalar)``."""
    lam, u = np.linalg.eigh(np.asarray(cov, np.float64))
    mean, lam, u = (jnp.asarray(a, jnp.float32) for a in (mean, lam, u))
    def whitened(x, t):  # U^T (x - alpha m) and the eigenvalues of p_t's covariance, (n, d)
        alpha, sigma = sde.marginal(jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1]))
        r = (x - alpha[:, None] * mean) @ u
        return r, jnp.square(alpha)[:, None] * lam + jnp.square(sigma)[:, None]

    def score(x, t):
        r, var = whitened(x, t)
        return -(r / var) @ u.T

    def log_prob(x, t):
        r, var = whitened(x, t)
        return -0.5 * jnp.sum(jnp.square(r) / var + jnp.log(2 * jnp.pi * var), axis=-1)

    return score, log_prob


def mixture_moments(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a diagonal Gaussian mixture, in float64."""
    w = np.asarray(mixture.weights, np.float64)
    mu = np.asarray(mixture.means, np.float64)
    var = np.exp(np.asarray(mixture.log_vars, np.float64))
    mean = w @ mu
    second = np.einsum("k,ki,kj->ij", w, mu, mu) + np.diag(w @ var)
    return mean, second - np.outer(mean, mean)


def moment_z_scores(samples, mean, cov) -> np.ndarray:
    """|z| of the sample mean and of every covariance entry against the exact ones, each with
    the standard error of its own estimator (fourth moments from the samples): shape
    ``(d + d (d + 1) / 2,)``."""
    x = np.asarray(samples, np.float64)
    n, d = x.shape
    c = x - mean  # centred at the true mean: the products are then unbiased for cov
    z = list((x.mean(0) - mean) / (x.std(0, ddof=1) / np.sqrt(n)))
    for i in range(d):
        for j in range(i, d):
            prod = c[:, i] * c[:, j]
            z.append((prod.mean() - cov[i, j]) / (prod.std(ddof=1) / np.sqrt(n)))
    return np.abs(np.array(z))


PROJECTIONS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]) / np.array(
    [[1.0], [1.0], [np.sqrt(2)], [np.sqrt(2)]]
)


def ks_p_value(a, b, directions: np.ndarray = PROJECTIONS) -> float:
    """Bonferroni-corrected p-value of scipy's two-sample Kolmogorov-Smirnov test on several
    1-D projections of 2-D samples ``a`` and ``b`` (the coordinates and the diagonals)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    p = min(stats.ks_2samp(a @ u, b @ u).pvalue for u in directions)
    return min(1.0, len(directions) * p)


class ExactNoisyClassifier:
    """The Bayes classifier of a mixture's noised components, p_t(y = k | x) = the
    responsibilities of the mixture p_t: exposes ``log_probs(x, t)`` as NoisyClassifier does."""

    def __init__(self, mixture: GaussianMixture, sde):
        self.mixture, self.sde = mixture, sde

    def log_probs(self, x, t):
        alpha, sigma = self.sde.marginal(jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1]))
        a, s = alpha[:, None, None], sigma[:, None, None]
        mean = a * self.mixture.means  # (n, K, d)
        var = jnp.square(a) * jnp.exp(self.mixture.log_vars) + jnp.square(s)
        log_comp = -0.5 * jnp.sum(
            jnp.square(x[:, None, :] - mean) / var + jnp.log(2 * jnp.pi * var), axis=-1
        )
        return jax.nn.log_softmax(jax.nn.log_softmax(self.mixture.logits) + log_comp, axis=-1)


def component_marginal_score(mixture: GaussianMixture, k: int, sde):
    """The score of component k of the mixture alone under ``sde``, ``(x, t) -> (n, d)``."""

    def score(x, t):
        alpha, sigma = sde.marginal(jnp.broadcast_to(jnp.asarray(t, jnp.float32), x.shape[:1]))
        a, s = alpha[:, None], sigma[:, None]
        var = jnp.square(a) * jnp.exp(mixture.log_vars[k]) + jnp.square(s)
        return -(x - a * mixture.means[k]) / var

    return score
