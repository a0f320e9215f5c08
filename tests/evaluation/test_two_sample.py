"""The energy-distance two-sample test: its statistic against a direct double sum over pairs
(scipy's distances), its level under equal laws and its power under a shift."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from dgm_lib.evaluation import energy_distance, energy_distance_test


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
