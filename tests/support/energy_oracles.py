"""Shared helpers of the energy-based tests: RBMs far from their initialisation, and a
chi-square test of sampled states against exact probabilities."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx
from scipy import stats

from dgm_lib.energy import RBM


def random_rbm(d: int, num_hidden: int, seed: int = 0, scale: float = 1.0) -> RBM:
    """An RBM with every parameter drawn from N(0, scale^2) (NumPy generator ``seed``)."""
    rbm = RBM(d, num_hidden, rngs=nnx.Rngs(seed))
    g = np.random.default_rng(seed)
    rbm.W[...] = jnp.asarray(scale * g.normal(size=(d, num_hidden)), jnp.float32)
    rbm.b[...] = jnp.asarray(scale * g.normal(size=d), jnp.float32)
    rbm.c[...] = jnp.asarray(scale * g.normal(size=num_hidden), jnp.float32)
    return rbm


def pooled_chisquare(counts: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson's chi-square p-value, bins with expected count below ``min_expected`` pooled."""
    expected = probs / probs.sum() * counts.sum()
    small = expected < min_expected
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    return float(stats.chisquare(counts, expected).pvalue)
