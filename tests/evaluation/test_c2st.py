"""The classifier two-sample test: near-chance accuracy and a calibrated p-value under equal
laws, high accuracy and a tiny p-value for separated ones, clear errors."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from dgm_lib.evaluation import c2st


def test_c2st_under_equal_laws_is_near_chance_and_rejects_at_about_its_level():
    rejections, accuracies = 0, []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        result = c2st(jax.random.key(seed), rng.normal(size=(100, 2)), rng.normal(size=(100, 2)),
                      steps=100)
        assert result.num_test == 100
        accuracies.append(result.accuracy)
        rejections += result.p_value <= 0.1
    assert abs(np.mean(accuracies) - 0.5) < 4 * 0.05 / np.sqrt(20)
    assert rejections <= stats.binom.ppf(0.999, 20, 0.1)


def test_c2st_tells_separated_laws_apart():
    rng = np.random.default_rng(1)
    result = c2st(jax.random.key(1), rng.normal(size=(150, 2)), rng.normal(size=(100, 2)) + 2.0)
    assert result.num_test == 100 and result.accuracy > 0.8 and result.p_value < 0.01


def test_c2st_p_value_is_the_binomial_tail():
    rng = np.random.default_rng(2)
    r = c2st(jax.random.key(2), rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 0.5, steps=50)
    correct = round(r.accuracy * r.num_test)
    assert r.p_value == pytest.approx(stats.binom.sf(correct - 1, r.num_test, 0.5), rel=1e-12)


def test_c2st_arguments_are_checked():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="test_fraction"):
        c2st(jax.random.key(0), x, x, test_fraction=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        c2st(jax.random.key(0), x[:3], x)
    with pytest.raises(ValueError, match="'b'"):
        c2st(jax.random.key(0), x, np.zeros((10, 3)))
