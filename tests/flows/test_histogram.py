"""Independent pixels (``flows.pixel_histogram``): normalised, equal to counting by hand, the
maximum-likelihood fit at pseudocount 0 (its training log-likelihood is minus the sum of the
pixels' empirical entropies, and any other factorised model scores less), and bad input
refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from dgm_lib import flows as F

LEVELS = 5


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    # pixels with different marginals: pixel (i, j) favours value (i + j) mod LEVELS
    base = (np.add.outer(np.arange(3), np.arange(4)) % LEVELS)[None]
    noise = rng.integers(0, LEVELS, size=(200, 3, 4))
    return np.where(rng.random((200, 3, 4)) < 0.6, base, noise).astype(np.int32)


@pytest.mark.parametrize("pseudocount", [0.0, 1.0, 0.5])
def test_each_pixel_is_a_normalised_categorical_equal_to_counting_by_hand(images, pseudocount):
    log_probs = np.asarray(F.pixel_histogram(jnp.asarray(images), LEVELS, pseudocount))
    assert log_probs.shape == (3, 4, LEVELS)
    np.testing.assert_allclose(np.asarray(logsumexp(log_probs, axis=-1)), 0.0, atol=1e-5)
    n = len(images)
    for i, j, v in [(0, 0, 0), (1, 2, 3), (2, 3, 1), (2, 1, 4)]:
        count = np.sum(images[:, i, j] == v)
        expected = np.log((count + pseudocount) / (n + pseudocount * LEVELS))
        assert log_probs[i, j, v] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    x = images[:7]
    by_hand = [sum(log_probs[i, j, x[k, i, j]] for i in range(3) for j in range(4))
               for k in range(len(x))]
    got = np.asarray(F.histogram_log_prob(jnp.asarray(log_probs), jnp.asarray(x)))
    np.testing.assert_allclose(got, by_hand, rtol=1e-5)


def test_the_unsmoothed_fit_is_maximum_likelihood(images) -> None:
    x = jnp.asarray(images)
    log_probs = F.pixel_histogram(x, LEVELS, 0.0)
    mean_ll = float(jnp.mean(F.histogram_log_prob(log_probs, x)))
    freq = np.stack([np.bincount(images[:, i, j], minlength=LEVELS) / len(images)
                     for i in range(3) for j in range(4)])
    entropies = -np.sum(np.where(freq > 0, freq * np.log(np.where(freq > 0, freq, 1)), 0), axis=1)
    assert mean_ll == pytest.approx(-entropies.sum(), rel=1e-5)
    # any other factorised model (here: each pixel's fit mixed with another distribution) is worse
    other = jax.nn.log_softmax(jax.random.normal(jax.random.key(0), log_probs.shape), axis=-1)
    for w in (0.05, 0.3):
        mixed = jnp.logaddexp(jnp.log1p(-w) + log_probs, jnp.log(w) + other)
        assert float(jnp.mean(F.histogram_log_prob(mixed, x))) < mean_ll


def test_a_value_never_seen_at_a_pixel_is_impossible_only_without_a_pseudocount() -> None:
    x = jnp.zeros((10, 2, 2), jnp.int32)
    unseen = x.at[0, 1, 1].set(3)[:1]
    assert np.isneginf(float(F.histogram_log_prob(F.pixel_histogram(x, 4, 0.0), unseen)[0]))
    smoothed = F.histogram_log_prob(F.pixel_histogram(x, 4, 1.0), unseen)[0]
    assert float(smoothed) == pytest.approx(3 * np.log(11 / 14) + np.log(1 / 14), rel=1e-5)


def test_bad_input_is_refused_with_what_was_wrong(images) -> None:
    x = jnp.asarray(images)
    with pytest.raises(ValueError, match=r"0 \.\. 3 \(levels = 4\); got values from 0 to 4"):
        F.pixel_histogram(x, 4)
    with pytest.raises(TypeError, match="'x' must be"):
        F.pixel_histogram(x.astype(jnp.float32), LEVELS)
    with pytest.raises(ValueError, match="batch of images"):
        F.pixel_histogram(x[0, 0], LEVELS)
    with pytest.raises(ValueError, match="'pseudocount' must be >= 0"):
        F.pixel_histogram(x, LEVELS, -1.0)
    log_probs = F.pixel_histogram(x, LEVELS)
    with pytest.raises(ValueError, match=r"images of 'x' have shape \(4, 3\) but 'log_probs' was "
                                         r"fitted to images of shape \(3, 4\)"):
        F.histogram_log_prob(log_probs, jnp.swapaxes(x, 1, 2))
