r"""Mixtures of Gaussians for measuring mode collapse (Srivastava et al. 2017, VEEGAN; also
Metz et al. 2017, unrolled GANs).

The data are equal mixtures of isotropic Gaussians in the plane,
:math:`p = \frac1K \sum_k \mathcal N(\mu_k, \sigma^2 I)`: the usual benchmarks are 8 modes on
a ring of radius 2 with :math:`\sigma = 0.02` and a 5 x 5 grid with spacing 2 and
:math:`\sigma = 0.05`. A generated sample is *high quality* if it lies within
``num_std`` (default 3) standard deviations of its nearest centre, and a mode is *covered* if
it holds at least ``min_share`` (default 0.1) of the high-quality samples it would get if
samples were spread evenly over the modes, :math:`0.1\,n/K`. A collapsed generator covers few
modes with high-quality samples.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from ..checks import (
    check_array,
    check_host_array,
    check_key,
    check_positive_float,
    check_positive_int,
)

__all__ = ["ModeCoverage", "grid_centres", "mixture_sample", "mode_coverage", "ring_centres"]


def ring_centres(num_modes: int = 8, radius: float = 2.0) -> Array:
    r"""``num_modes`` centres evenly on a circle, :math:`r(\cos 2\pi k/K, \sin 2\pi k/K)`,
    float32 ``(num_modes, 2)``."""
    where = "ring_centres"
    num_modes = check_positive_int(where, "num_modes", num_modes)
    radius = check_positive_float(where, "radius", radius)
    angles = 2.0 * math.pi * jnp.arange(num_modes, dtype=jnp.float32) / num_modes
    return radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> Array:
    """A ``side`` x ``side`` grid of centres ``spacing`` apart, centred at the origin (for
    side 5 and spacing 2, the coordinates -4, -2, 0, 2, 4), float32 ``(side**2, 2)``."""
    where = "grid_centres"
    side = check_positive_int(where, "side", side)
    spacing = check_positive_float(where, "spacing", spacing)
    axis = (jnp.arange(side, dtype=jnp.float32) - (side - 1) / 2.0) * spacing
    xs, ys = jnp.meshgrid(axis, axis, indexing="ij")
    return jnp.stack([xs.ravel(), ys.ravel()], axis=1)


def mixture_sample(key: Array, centres: Array, std: float, n: int) -> Array:
    r"""``n`` samples ``(n, 2)`` of :math:`\frac1K \sum_k \mathcal N(\mu_k, \sigma^2 I)`: a
    uniform mode, plus isotropic Gaussian noise of standard deviation ``std``.

    Args:
        key: a ``jax.random.key``.
        centres: the mode centres ``(K, 2)``.
        std: the standard deviation of every mode, > 0.
        n: the number of samples.
    """
    where = "mixture_sample"
    key = check_key(where, key)
    centres = check_array(where, "centres", centres, shape=("K", 2))
    std = check_positive_float(where, "std", std)
    n = check_positive_int(where, "n", n)
    k_mode, k_noise = jax.random.split(key)
    modes = jax.random.randint(k_mode, (n,), 0, centres.shape[0])
    return centres[modes] + std * jax.random.normal(k_noise, (n, 2), centres.dtype)


class ModeCoverage(NamedTuple):
    """What :func:`mode_coverage` measures.

    Attributes:
        modes_covered: the number of modes holding at least ``min_share * n / K``
            high-quality samples.
        high_quality: the share of samples within ``num_std * std`` of their nearest centre.
        counts: the high-quality samples per mode, int ``(K,)``.
    """

    modes_covered: int
    high_quality: float
    counts: np.ndarray


def mode_coverage(
    samples: Any,
    centres: Any,
    std: float,
    *,
    num_std: float = 3.0,
    min_share: float = 0.1,
) -> ModeCoverage:
    """Modes covered and share of high-quality samples (module docstring), on the host.

    Args:
        samples: generated points ``(n, 2)``.
        centres: the mode centres ``(K, 2)``.
        std: the modes' standard deviation, > 0.
        num_std: the radius of a high-quality sample in units of ``std`` (3: in 2-D a sample
            of the mode itself falls inside with probability ``1 - exp(-9/2)``, about 0.989).
        min_share: the share of an even split, ``n / K``, a mode needs to count as covered.
    """
    where = "mode_coverage"
    samples = check_host_array(where, "samples", samples, ("n", 2))
    centres = check_host_array(where, "centres", centres, ("K", 2))
    std = check_positive_float(where, "std", std)
    num_std = check_positive_float(where, "num_std", num_std)
    min_share = check_positive_float(where, "min_share", min_share)
    n, num_modes = samples.shape[0], centres.shape[0]
    dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
    nearest = np.argmin(dist, axis=1)
    good = dist[np.arange(n), nearest] <= num_std * std
    counts = np.bincount(nearest[good], minlength=num_modes)
    covered = int(np.sum(counts >= min_share * n / num_modes))
    return ModeCoverage(covered, float(np.mean(good)), counts)
