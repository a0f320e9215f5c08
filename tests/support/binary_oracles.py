"""Oracles and compiled helpers shared by the tests of the binary autoregressive models."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st
from flax import nnx


def perturbed(model: nnx.Module, seed: int = 0, scale: float = 0.5) -> nnx.Module:
    """Add N(0, scale^2) noise to every parameter: no zero bias, no symmetry left."""
    state = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    # Drawn flat: XLA on CPU compiles the generator for rank-3 and rank-4 shapes slowly.
    new = [
        leaf + scale * jax.random.normal(k, (leaf.size,)).reshape(leaf.shape)
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def index_of(x: np.ndarray) -> np.ndarray:
    """Row index in ``all_binary_vectors(d)`` of each binary vector (most significant bit first)."""
    d = x.shape[1]
    return (x.astype(np.int64) * (2 ** np.arange(d - 1, -1, -1))).sum(axis=1)


def chi_square_p_value(samples: np.ndarray, log_prob: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of sample frequencies against ``exp(log_prob)``
    over all ``2**d`` binary vectors (the model's float32 normalisation is corrected)."""
    counts = np.bincount(index_of(samples), minlength=len(log_prob))
    expected = np.exp(np.asarray(log_prob, np.float64))
    expected *= counts.sum() / expected.sum()
    return float(st.chisquare(counts, expected).pvalue)


@partial(jax.jit, static_argnums=0)
def _log_prob(graphdef, state, x):
    return nnx.merge(graphdef, state, copy=True).log_prob(x)


@partial(jax.jit, static_argnums=0)
def _jacobian(graphdef, state, x):
    model = nnx.merge(graphdef, state, copy=True)
    return jax.jacfwd(lambda v: model.conditionals(v[None])[0])(x)


# Compiled once per model structure (nnx.split's graph) and shape, shared by the tests.
def log_prob(model, x):
    """``model.log_prob(x)`` under one jit per model structure and shape."""
    return _log_prob(*nnx.split(model), jnp.asarray(x))


def jacobian(model, x) -> np.ndarray:
    """Jacobian of ``model.conditionals`` at one input vector ``x`` (D,), shape ``(D, D)``."""
    return np.asarray(_jacobian(*nnx.split(model), x))
