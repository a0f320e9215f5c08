"""The energy-distance two-sample test: its statistic against a direct double sum over pairs
(scipy's distances), its level under equal laws and its power under a shift."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from dgm_lib.evaluation import (
    energy_distance,
    energy_distance_test,
    gaussian_kernel,
    median_bandwidth,
    mmd2_unbiased,
    mmd_test,
)


def test_energy_distance_equals_the_double_sum_over_pairs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(25, 3)) + 0.3
    direct = 2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean()
    assert energy_distance(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)) == pytest.approx(
        direct, abs=1e-4)


def test_energy_distance_is_symmetric_and_grows_with_the_shift():
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(300, 2)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(300, 2)), jnp.float32)
    assert energy_distance(a, b) == pytest.approx(energy_distance(b, a), abs=1e-5)
    shifts = [energy_distance(a, b + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in itertools.pairwise(shifts))


def test_the_permutation_test_holds_its_level_under_equal_laws():
    """p-values of equal laws are uniform: about 10% fall below 0.1 (binomial error over 100)."""
    p_values = []
    for seed in range(100):
        ka, kb, kt = jax.random.split(jax.random.key(seed), 3)
        a, b = jax.random.normal(ka, (60, 2)), jax.random.normal(kb, (60, 2))
        p_values.append(energy_distance_test(kt, a, b, num_permutations=99).p_value)
    rejected = np.mean(np.asarray(p_values) < 0.1)
    assert abs(rejected - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 100)
    assert min(p_values) >= 1 / 100, "a p-value is never below 1 / (1 + num_permutations)"


def test_the_permutation_test_detects_a_shift():
    ka, kb, kt = jax.random.split(jax.random.key(7), 3)
    a, b = jax.random.normal(ka, (300, 2)), 0.4 + jax.random.normal(kb, (300, 2))
    assert energy_distance_test(kt, a, b, num_permutations=199).p_value < 0.01


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.zeros((5,)), np.zeros((5, 2)), "shape"),
        (np.zeros((5, 2)), np.zeros((5, 3)), "shape"),
        (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2 points"),
    ],
)
def test_bad_samples_get_clear_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        energy_distance(a, b)
    with pytest.raises(ValueError, match=match):
        energy_distance_test(jax.random.key(0), a, b)


def test_gaussian_mmd2_unbiased_equals_the_double_sum_over_distinct_pairs():
    rng = np.random.default_rng(5)
    a, b, h = rng.normal(size=(9, 2)), rng.normal(size=(7, 2)) + 0.4, 0.9

    def k(x, y):
        return math.exp(-np.sum((x - y) ** 2) / (2 * h**2))

    aa = sum(k(a[i], a[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    bb = sum(k(b[i], b[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    ab = sum(k(x, y) for x in a for y in b) / (9 * 7)
    direct = aa + bb - 2 * ab
    assert mmd2_unbiased(a, b, kernel="gaussian", bandwidth=h) == pytest.approx(direct, abs=1e-12)
    assert gaussian_kernel(a, b, bandwidth=h)[2, 3] == pytest.approx(k(a[2], b[3]), abs=1e-14)


def test_median_bandwidth_is_the_median_distance_of_distinct_pooled_pairs():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(5, 3))
    pooled = np.concatenate([a, b])
    dists = [np.linalg.norm(pooled[i] - pooled[j]) for i in range(15) for j in range(i + 1, 15)]
    assert median_bandwidth(a, b) == pytest.approx(float(np.median(dists)), rel=1e-12)


def test_gaussian_mmd2_unbiased_has_mean_zero_under_equal_laws_and_is_positive_under_a_shift():
    rng = np.random.default_rng(7)
    null = [mmd2_unbiased(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), kernel="gaussian",
                          bandwidth=1.0) for _ in range(300)]
    assert abs(np.mean(null)) < 3 * np.std(null) / math.sqrt(len(null))
    shifted = [mmd2_unbiased(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 1.0,
                             kernel="gaussian", bandwidth=1.0) for _ in range(30)]
    assert np.mean(shifted) > 10 * np.std(null) / math.sqrt(len(null))


def test_mmd_test_statistic_is_the_unbiased_estimate_and_its_level_and_power_hold():
    ka, kb = jax.random.split(jax.random.key(8))
    a, b = jax.random.normal(ka, (50, 2)), jax.random.normal(kb, (40, 2)) + 0.2
    result = mmd_test(jax.random.key(9), a, b, num_permutations=49)
    assert result.statistic == pytest.approx(mmd2_unbiased(a, b, kernel="gaussian"), abs=1e-6)
    assert result.p_value * 50 == pytest.approx(round(result.p_value * 50))  # (1 + count) / 50
    rejections, power = 0, 0
    for seed in range(100):
        k1, k2, k3 = jax.random.split(jax.random.key(100 + seed), 3)
        x, y = jax.random.normal(k1, (40, 2)), jax.random.normal(k2, (40, 2))
        rejections += mmd_test(k3, x, y, num_permutations=49).p_value <= 0.1
        if seed < 20:
            power += mmd_test(k3, x, y + jnp.array([1.0, 0.0]), num_permutations=49).p_value <= 0.1
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 100, 0.1)
    assert lo <= rejections <= hi
    assert power >= 19


def test_gaussian_kernel_arguments_are_checked():
    a = np.zeros((4, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2_unbiased(a, a + 1, kernel="polynomial", bandwidth=1.0)
    with pytest.raises(ValueError, match="kernel"):
        mmd2_unbiased(a, a + 1, kernel="laplace")
    with pytest.raises(ValueError, match="median"):
        median_bandwidth(a, a)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_test(jax.random.key(0), a, a + 1, bandwidth=-1.0)
