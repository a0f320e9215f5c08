"""sample_quality on scikit-learn's 8x8 digits: the numbers are the library's metrics of the same
features (nothing lost in the wiring), real images score near the floor, images missing half the
classes lose recall and coverage but keep precision, noise loses everything, and the sizes are
checked."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dgm_lib import evaluation, results
from dgm_lib.data import as_float, load

N = 300


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    train, test = load("digits", "train"), load("digits", "test")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        extractor = evaluation.feature_extractor(train, test)
    return extractor, as_float(train), as_float(test), train.labels


def test_metrics_are_those_of_the_features(setup) -> None:
    extractor, train, test, _ = setup
    q = evaluation.sample_quality(extractor, train, test, num_samples=N, seed=3)
    fake, real = extractor.features(train[:N]), extractor.features(test[:N])
    assert q.fd == pytest.approx(evaluation.frechet_distance(fake, real), rel=1e-12)
    kid = evaluation.kernel_distance(jax.random.key(3), fake, real, num_subsets=100,
                                     subset_size=N // 2)
    assert (q.kid, q.kid_stderr) == pytest.approx((kid.value, kid.stderr), rel=1e-12)
    assert (q.precision, q.recall, q.density, q.coverage) == pytest.approx(
        tuple(evaluation.prdc(real, fake, k=5)), rel=1e-12)
    assert f"{N:,} samples against {N:,} held-out images" in q.space
    row = results.Row("m", data="d", **q.row_fields())  # what a chapter records is a valid row
    assert set(row.sample_metrics) == {"fd", "kid", "precision", "recall", "density", "coverage"}


def test_dropped_classes_and_noise_are_seen(setup) -> None:
    extractor, train, test, labels = setup
    real = evaluation.sample_quality(extractor, train, test, num_samples=N)
    half = train[labels < 5]  # digits 0-4 only: faithful images, half the modes
    dropped = evaluation.sample_quality(extractor, half, test, num_samples=N)
    noise = np.random.default_rng(0).uniform(size=(N, 8, 8))
    noisy = evaluation.sample_quality(extractor, noise, test, num_samples=N)
    assert dropped.fd > 3 * real.fd and noisy.fd > 3 * dropped.fd
    assert dropped.recall < real.recall - 0.15 and dropped.coverage < real.coverage - 0.15
    assert dropped.precision > real.precision - 0.1  # what it draws is still real digits
    # Measured (digits, seed 0): precision / recall / density / coverage 0.96 / 0.83 / 0.72 / 0.70
    # for real images, 0.92 / 0.42 / 0.62 / 0.42 with half the classes, 0.29 / 0.17 / 0.09 /
    # 0.08 for noise; KID 0.6, 10.2 and 89.
    assert noisy.precision < 0.5 and noisy.density < 0.2 and noisy.coverage < 0.2
    assert 5 * real.kid < dropped.kid < noisy.kid / 3


def test_too_few_images_and_the_budget_size(setup, monkeypatch) -> None:
    extractor, train, test, _ = setup
    with pytest.raises(ValueError, match="'samples' has 10 images, fewer than num_samples = 300"):
        evaluation.sample_quality(extractor, train[:10], test, num_samples=N)
    with pytest.raises(ValueError, match="'real' has 300 images, fewer than num_samples = 301"):
        evaluation.sample_quality(extractor, train, test[:300], num_samples=301)
    for budget, size in evaluation.SAMPLE_SIZES.items():
        monkeypatch.setenv("DGM_BUDGET", budget)
        assert evaluation.sample_size() == size
