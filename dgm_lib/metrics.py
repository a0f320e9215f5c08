"""Units of likelihood: nats per example and bits per dimension.

Papers on images report the negative log-likelihood either in nats per image (binarized MNIST)
or in bits per dimension (CIFAR-10, ImageNet). One nat is 1/ln 2 bits, and bits per dimension
divide by the number of dimensions D: bits/dim = nats / (D ln 2). For example 79.20 nats on
784-pixel MNIST is 0.146 bits/dim.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .checks import check_array, check_positive_int


def nats_to_bits_per_dim(nats: jax.Array, num_dims: int) -> jax.Array:
    """Convert a per-example quantity from nats to bits per dimension: nats / (D ln 2).

    Args:
      nats: any shape, e.g. a negative log-likelihood per example, in nats.
      num_dims: D, the number of dimensions of one example (784 for MNIST).

    Returns:
      float32 array of the shape of ``nats``, bits per dimension.
    """
    where = "metrics.nats_to_bits_per_dim"
    nats = check_array(where, "nats", nats)
    return nats / (check_positive_int(where, "num_dims", num_dims) * math.log(2.0))


def bits_per_dim_to_nats(bits_per_dim: jax.Array, num_dims: int) -> jax.Array:
    """Convert bits per dimension to nats per example: bits/dim · D ln 2.

    Args:
      bits_per_dim: any shape, bits per dimension.
      num_dims: D, the number of dimensions of one example.

    Returns:
      float32 array of the shape of ``bits_per_dim``, nats per example.
    """
    where = "metrics.bits_per_dim_to_nats"
    bits_per_dim = check_array(where, "bits_per_dim", bits_per_dim)
    return bits_per_dim * (check_positive_int(where, "num_dims", num_dims) * math.log(2.0))


def dequantized_bits_per_dim(
    log_prob: jax.Array, num_dims: int, num_levels: int = 256
) -> jax.Array:
    """Bits per dimension of discrete data x ∈ {0, ..., K-1}^D under a continuous density.

    The convention of Real NVP, Glow and PixelCNN++: the data are dequantized and scaled to the
    unit cube, y = (x + u)/K with u ~ U[0, 1)^D, and a density p is fit to y. The probability
    mass p gives the cell of x is P(x) = ∫_cell p(y) dy ≥ exp(E_u log p(y)) / K^D (Jensen; equal
    when p is constant on the cell), so

        bits/dim = -(log p(y) - D log K) / (D ln 2) = log₂ K - log p(y) / (D ln 2)

    is an upper bound on the discrete model's bits/dim once averaged over u. A uniform density
    on [0, 1]^D (log p = 0) scores log₂ 256 = 8 bits/dim. If the density was fit to the
    unscaled y = x + u on [0, K)^D, its log p(y) already is the discrete bound: use
    :func:`nats_to_bits_per_dim` on -log p(y) instead.

    Args:
      log_prob: log p(y) in nats of the density on [0, 1]^D, any shape (e.g. ``(batch,)``).
      num_dims: D.
      num_levels: K, the number of discrete levels per dimension (256 for 8-bit images).

    Returns:
      float32 array of the shape of ``log_prob``, bits per dimension.
    """
    where = "metrics.dequantized_bits_per_dim"
    log_prob = check_array(where, "log_prob", log_prob)
    num_dims = check_positive_int(where, "num_dims", num_dims)
    num_levels = check_positive_int(where, "num_levels", num_levels)
    return jnp.float32(math.log2(num_levels)) - log_prob / (num_dims * math.log(2.0))
