"""Properties of dgm_lib.adversarial.modes: the ring and grid centres; samples of the mixture
itself cover every mode with a high-quality share equal to the 2-D Gaussian mass inside 3 std,
1 - exp(-9/2); a collapsed sampler (one mode) covers one."""

from __future__ import annotations

import math

import jax
import numpy as np

from dgm_lib.adversarial import grid_centres, mixture_sample, mode_coverage, ring_centres


def test_centres():
    ring = np.asarray(ring_centres(8, 2.0))
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(ring[2], [0.0, 2.0], atol=1e-6)
    grid = np.asarray(grid_centres(5, 2.0))
    assert grid.shape == (25, 2)
    np.testing.assert_allclose(np.unique(grid[:, 0]), [-4, -2, 0, 2, 4])
    np.testing.assert_allclose(grid.mean(axis=0), 0.0, atol=1e-6)


def test_samples_of_the_mixture_cover_every_mode():
    n = 40_000
    for centres, std in ((ring_centres(), 0.02), (grid_centres(), 0.05)):
        x = mixture_sample(jax.random.key(0), centres, std, n)
        cov = mode_coverage(x, centres, std)
        k = centres.shape[0]
        assert cov.modes_covered == k
        inside = 1 - math.exp(-9 / 2)  # P(chi^2_2 <= 9)
        assert abs(cov.high_quality - inside) < 4 * math.sqrt(inside * (1 - inside) / n)
        # every mode gets about n/k samples
        assert np.all(np.abs(cov.counts - inside * n / k) < 6 * math.sqrt(n / k))


def test_a_collapsed_sampler_covers_one_mode():
    centres = ring_centres()
    x = mixture_sample(jax.random.key(1), centres[3:4], 0.02, 5000)
    cov = mode_coverage(x, centres, 0.02)
    assert cov.modes_covered == 1
    assert cov.counts[3] == cov.counts.sum()
    # too wide: no sample is high quality, no mode covered
    wide = mixture_sample(jax.random.key(2), centres, 0.5, 5000)
    assert mode_coverage(wide, centres, 0.02).high_quality < 0.05
