r"""Units of likelihood: nats per example and bits per dimension.

Papers on images report the negative log-likelihood either in nats per image (binarized MNIST)
or in bits per dimension (CIFAR-10, ImageNet). One nat is :math:`1/\ln 2` bits, and bits per
dimension divide by the number of dimensions :math:`D`: bits/dim = nats / :math:`(D \ln 2)`.
For example 79.20 nats on 784-pixel MNIST is 0.146 bits/dim.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .checks import check_array, check_positive_int

__all__ = [
    "bits_per_dim_to_nats",
    "dequantized_bits_per_dim",
    "nats_to_bits_per_dim",
]


def nats_to_bits_per_dim(nats: jax.Array, num_dims: int) -> jax.Array:
    r"""Convert a per-example quantity from nats to bits per dimension, nats / :math:`(D \ln 2)`.

    Args:
      nats: any shape, e.g. a negative log-likelihood per example, in nats.
      num_dims: :math:`D`, the number of dimensions of one example (784 for MNIST).

    Returns:
      float32 array of the shape of ``nats``, bits per dimension.
    """
    where = "metrics.nats_to_bits_per_dim"
    nats = check_array(where, "nats", nats)
    return nats / (check_positive_int(where, "num_dims", num_dims) * math.log(2.0))


def bits_per_dim_to_nats(bits_per_dim: jax.Array, num_dims: int) -> jax.Array:
    r"""Convert bits per dimension to nats per example, bits/dim :math:`\cdot\, D \ln 2`.

    Args:
      bits_per_dim: any shape, bits per dimension.
      num_dims: :math:`D`, the number of dimensions of one example.

    Returns:
      float32 array of the shape of ``bits_per_dim``, nats per example.
    """
    where = "metrics.bits_per_dim_to_nats"
    bits_per_dim = check_array(where, "bits_per_dim", bits_per_dim)
    return bits_per_dim * (check_positive_int(where, "num_dims", num_dims) * math.log(2.0))


def dequantized_bits_per_dim(
    log_prob: jax.Array, num_dims: int, num_levels: int = 256
) -> jax.Array:
    r"""Bits per dimension of discrete data :math:`x \in \{0, \dots, K-1\}^D` under a continuous
    density.

    The convention of Real NVP, Glow and PixelCNN++: the data are dequantized and scaled to the
    unit cube, :math:`y = (x + u)/K` with :math:`u \sim U[0, 1)^D`, and a density :math:`p` is
    fit to :math:`y`. The probability mass :math:`p` gives the cell of :math:`x` is
    :math:`P(x) = \int_{\text{cell}} p(y)\,dy \ge \exp(\mathbb{E}_u \log p(y)) / K^D` (Jensen;
    equal when :math:`p` is constant on the cell), so

    .. math::

        \text{bits/dim} = -\frac{\log p(y) - D \log K}{D \ln 2}
                        = \log_2 K - \frac{\log p(y)}{D \ln 2}

    is an upper bound on the discrete model's bits/dim once averaged over :math:`u`. A uniform
    density on :math:`[0, 1]^D` (:math:`\log p = 0`) scores :math:`\log_2 256 = 8` bits/dim. If
    the density was fit to the unscaled :math:`y = x + u` on :math:`[0, K)^D`, its
    :math:`\log p(y)` already is the discrete bound: use :func:`nats_to_bits_per_dim` on
    :math:`-\log p(y)` instead.

    Args:
      log_prob: :math:`\log p(y)` in nats of the density on :math:`[0, 1]^D`, any shape (e.g.
        ``(batch,)``).
      num_dims: :math:`D`.
      num_levels: :math:`K`, the number of discrete levels per dimension (256 for 8-bit images).

    Returns:
      float32 array of the shape of ``log_prob``, bits per dimension.
    """
    where = "metrics.dequantized_bits_per_dim"
    log_prob = check_array(where, "log_prob", log_prob)
    num_dims = check_positive_int(where, "num_dims", num_dims)
    num_levels = check_positive_int(where, "num_levels", num_levels)
    return jnp.float32(math.log2(num_levels)) - log_prob / (num_dims * math.log(2.0))
