"""Properties of dgm_lib.evaluation.manifold: nearest neighbours and k-NN radii against scipy's
``cdist`` (an oracle nobody here wrote), across block boundaries, far from the origin and at
tiny scales where a float32 Gram product alone would be wrong; precision, recall, density and
coverage against a brute-force float64 count from ``cdist``, exactly, also on integer data full
of ties on the balls' boundaries; the published sanity check of Naeem et al. (2020) at full
size; the lesson of the four (mode dropping lowers recall and coverage, blur lowers precision
and density); and a clear error for each bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.evaluation import (
    PRDC,
    density_coverage,
    knn_radii,
    manifold,
    nearest_neighbours,
    prdc,
    precision_recall,
)


def brute_prdc(real, fake, k, *, closed=True):
    """The four metrics from full float64 squared-distance matrices (closed balls, or open
    ones with ``closed=False``)."""
    inside = np.less_equal if closed else np.less
    within_real = cdist(real, real, "sqeuclidean")
    np.fill_diagonal(within_real, np.inf)
    within_fake = cdist(fake, fake, "sqeuclidean")
    np.fill_diagonal(within_fake, np.inf)
    real_r2 = np.sort(within_real, axis=1)[:, k - 1]
    fake_r2 = np.sort(within_fake, axis=1)[:, k - 1]
    across = cdist(fake, real, "sqeuclidean")  # (M, N)
    in_real_ball = inside(across, real_r2[None, :])
    in_fake_ball = inside(across, fake_r2[:, None])
    return PRDC(
        precision=float(np.mean(in_real_ball.any(axis=1))),
        recall=float(np.mean(in_fake_ball.any(axis=0))),
        density=float(in_real_ball.sum() / (k * len(fake))),
        coverage=float(np.mean(in_real_ball.any(axis=0))),
    )


# ------------------------------------------------------------------------------------------
# Nearest neighbours and radii
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, 900])
def test_nearest_neighbours_match_cdist_across_block_boundaries(k):
    rng = np.random.default_rng(k)
    queries, reference = rng.normal(size=(1300, 7)), rng.normal(size=(900, 7))
    assert len(queries) > 2 * manifold._CHUNK_ROWS  # three blocks, the last one partial
    distances, indices = nearest_neighbours(queries, reference, k)
    full = cdist(queries, reference)
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    assert distances.shape == indices.shape == (1300, k)
    assert distances.dtype == np.float64 and indices.dtype == np.int64
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_allclose(distances, np.take_along_axis(full, order, 1), rtol=1e-12)


@pytest.mark.parametrize(
    "offset, scale", [(1e4, 1.0), (0.0, 1e-6), (3.0, 1e5)], ids=["far", "tiny", "huge"]
)
def test_nearest_neighbours_are_exact_far_from_the_origin_and_at_any_scale(offset, scale):
    """A float32 Gram product alone loses the distances of points 10^4 from the origin (its
    error, ~1e-7 |x|^2, is then far above the squared gaps); the library's are exact."""
    rng = np.random.default_rng(1)
    reference = offset + scale * rng.normal(size=(600, 20))
    queries = offset + scale * rng.normal(size=(700, 20))
    distances, indices = nearest_neighbours(queries, reference, 3)
    full = cdist(queries, reference)
    order = np.argsort(full, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_allclose(distances, np.take_along_axis(full, order, 1), rtol=1e-9)


def test_nearest_neighbours_with_many_ties_break_them_by_row():
    """Points on the corners of a cube, a hundred or so on each: every distance ties with many
    others, more than the float32 screen can leave out, and the order among equals is by row."""
    rng = np.random.default_rng(9)
    queries = rng.integers(0, 2, size=(600, 3)).astype(float)
    reference = rng.integers(0, 2, size=(900, 3)).astype(float)
    distances, indices = nearest_neighbours(queries, reference, 3)
    full = cdist(queries, reference)
    order = np.argsort(full, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(distances, np.take_along_axis(full, order, 1))


def test_knn_radii_are_the_kth_distance_to_another_point():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(1100, 5))
    others = cdist(points, points)
    np.fill_diagonal(others, np.inf)
    for k in (1, 5, 1099):
        np.testing.assert_allclose(knn_radii(points, k), np.sort(others, 1)[:, k - 1], rtol=1e-12)
    # A point among the reference is its own nearest neighbour; knn_radii leaves it out.
    distances, indices = nearest_neighbours(points, points, 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(1100))
    assert np.all(distances == 0.0)


def test_a_duplicate_counts_as_another_point_at_distance_zero():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(50, 3))
    points = np.concatenate([points, points[:10], points[:10]])  # three copies of ten points
    radii_2 = knn_radii(points, 2)
    assert np.all(radii_2[:10] == 0.0) and np.all(radii_2[50:] == 0.0)
    assert np.all(radii_2[10:50] > 0.0)
    assert np.all(knn_radii(points, 3)[:10] > 0.0)


def test_nearest_neighbours_accept_jax_arrays():
    rng = np.random.default_rng(4)
    q, r = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(40, 4)).astype(np.float32)
    got = nearest_neighbours(jnp.asarray(q), jnp.asarray(r), 2)
    want = nearest_neighbours(q, r, 2)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


# ------------------------------------------------------------------------------------------
# Precision, recall, density, coverage
# ------------------------------------------------------------------------------------------


def test_prdc_equals_the_brute_force_count():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(1200, 10))
    fake = 1.2 * rng.normal(size=(700, 10)) + 0.2  # unequal sizes: M and N are not swapped
    expected = brute_prdc(real, fake, 5)
    assert prdc(real, fake, 5) == expected
    assert precision_recall(real, fake, 5) == (expected.precision, expected.recall)
    assert density_coverage(real, fake, 5) == (expected.density, expected.coverage)
    # None of the four is at a trivial value, so each equality tests its formula.
    assert 0.1 < expected.precision < 0.9 and 0.1 < expected.coverage < 0.95
    assert expected.recall > expected.precision and 0.1 < expected.density < 0.9


@pytest.mark.parametrize("k", [1, 3, 6])
def test_prdc_counts_points_on_a_ball_boundary_as_inside(k):
    """Integer points in a small box: many distances tie with a radius exactly, and the
    closed balls must hold them (the float32 screen cannot decide those; float64 does)."""
    rng = np.random.default_rng(k)
    real = rng.integers(0, 4, size=(800, 3)).astype(float)
    fake = rng.integers(0, 5, size=(600, 3)).astype(float)
    expected = brute_prdc(real, fake, k)
    assert prdc(real, fake, k) == expected
    open_balls = brute_prdc(real, fake, k, closed=False)
    assert open_balls.density < expected.density - 0.1  # so the ties matter here


def test_prdc_decides_samples_a_hair_from_a_ball_boundary_exactly():
    """Generated points 1e-9 off the lattice: their squared distances to the real points are a
    radius plus or minus ~1e-9, a gap float32 cannot see (its spacing near 1 is 1.2e-7); the
    screen must send them to float64, and in or out then follows the sign of the nudge."""
    rng = np.random.default_rng(11)
    real = rng.integers(0, 4, size=(800, 3)).astype(float)
    lattice = rng.integers(0, 4, size=(600, 3)).astype(float)
    fake = lattice + 1e-9 * rng.normal(size=lattice.shape)
    expected = brute_prdc(real, fake, 4)
    assert prdc(real, fake, 4) == expected
    assert expected != brute_prdc(real, lattice, 4)  # the nudges change the counts


def test_neighbours_closer_than_float32_can_tell_apart_are_ordered_exactly():
    """Reference points at distances 1 + i * 1e-10 from the queries (i a random permutation):
    all equal in float32, ordered exactly in float64."""
    rng = np.random.default_rng(12)
    directions = rng.normal(size=(700, 6))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    rank = rng.permutation(700)
    queries = rng.normal(size=(3, 6))
    reference = queries[0] + directions * (1.0 + 1e-10 * rank)[:, None]
    distances, indices = nearest_neighbours(queries[:1], reference, 5)
    np.testing.assert_array_equal(indices[0], np.argsort(rank)[:5])
    np.testing.assert_allclose(distances[0], 1.0 + 1e-10 * np.arange(5), rtol=0, atol=1e-14)


def test_the_published_sanity_check_for_equal_gaussians_in_1000_dimensions():
    """Naeem et al. (2020; the clovaai/generative-evaluation-prdc README): real and fake both
    N(0, I) in 1,000 dimensions, 10,000 each, k = 5, give precision 0.477, recall 0.471,
    density 1.056, coverage 0.974 for their one draw.

    Tolerances. Were the 10,000 indicators of precision independent, its standard deviation
    would be sqrt(p (1 - p) / 10^4) = 0.005 (coverage: 0.0018); they are not (every sample is
    tested against the same real balls), and across seeds 0-5 of this test's generator we
    measured precision 0.456-0.497 (sd 0.014), recall 0.474-0.493 (sd 0.008), density
    0.912-1.070 (sd 0.055: in 1,000 dimensions a few real points sit in very many balls) and
    coverage 0.956-0.974 (sd 0.006). Our draw and theirs are two such draws, so their
    difference has sd sqrt(2) times those; we allow 3 of those: 0.06, 0.035, 0.23, 0.025. Two
    facts that hold for any draw are checked beside them: density is 1 on average and coverage
    1 - prod_l (N-1-l)/(N+M-1-l) = 0.969 (module docstring). Taking the k-th neighbour with
    the point itself (k - 1 others) would give precision 0.415 and coverage 0.916 here, which
    both coverage checks reject.
    Measured with seed 0: 0.4563, 0.4858, 0.91246, 0.9563 (the same as an all-float64 count).
    """
    rng = np.random.default_rng(0)
    real = rng.standard_normal((10_000, 1_000))
    fake = rng.standard_normal((10_000, 1_000))
    got = prdc(real, fake, k=5)
    assert got.precision == pytest.approx(0.477, abs=0.06)
    assert got.recall == pytest.approx(0.471, abs=0.035)
    assert got.density == pytest.approx(1.056, abs=0.23)
    assert got.coverage == pytest.approx(0.974, abs=0.025)
    expected_coverage = 1 - np.prod([(9_999 - l) / (19_999 - l) for l in range(5)])
    assert got.coverage == pytest.approx(expected_coverage, abs=3 * 0.006)
    assert got.density == pytest.approx(1.0, abs=3 * 0.055)


def two_clusters(rng, n, d=8, *, only=None):
    """Half the points around 4 e_1, half around -4 e_1 (or all around one, ``only`` = 0, 1)."""
    centres = np.zeros((2, d))
    centres[:, 0] = (4.0, -4.0)
    labels = rng.integers(0, 2, n) if only is None else np.full(n, only)
    return centres[labels] + rng.normal(size=(n, d))


def test_mode_dropping_lowers_recall_and_coverage_and_blur_lowers_precision_and_density():
    rng = np.random.default_rng(6)
    real = two_clusters(rng, 1000)
    good = prdc(real, two_clusters(rng, 1000))
    one_mode = prdc(real, two_clusters(rng, 1000, only=0))
    blurred = prdc(real, two_clusters(rng, 1000) + rng.normal(size=(1000, 8)))
    spread = prdc(real, 1.5 * two_clusters(rng, 1000))
    # Samples from the same law score well on all four.
    assert min(good.precision, good.recall, good.coverage) > 0.85
    assert 0.8 < good.density < 1.25
    # Dropping a mode: every sample is still on the data, but half the data has no samples.
    assert one_mode.precision > good.precision - 0.05 and one_mode.density > 0.8
    assert one_mode.recall < 0.6 * good.recall and one_mode.coverage < 0.6 * good.coverage
    # Off the data: precision and density fall; recall does not notice (the generated balls
    # grow with the blur and still hold the real points), coverage does a little.
    for off in (blurred, spread):
        assert off.precision < 0.7 * good.precision and off.density < 0.5 * good.density
        assert off.recall > good.recall - 0.02
        assert off.coverage < good.coverage - 0.1


# ------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------

_X = np.random.default_rng(0).normal(size=(10, 3))
_NAN = _X.copy()
_NAN[4, 2] = np.nan


@bad_calls(
    [
        (
            "not_2d",
            lambda: nearest_neighbours(_X[:, 0], _X),
            ValueError,
            "nearest_neighbours: argument 'queries' must have shape (n, d); got shape (10,)",
        ),
        (
            "empty",
            lambda: prdc(_X[:0], _X),
            ValueError,
            "prdc: argument 'real' must have shape (n, d) with n, d >= 1",
        ),
        (
            "different_d",
            lambda: nearest_neighbours(_X, _X[:, :2]),
            ValueError,
            "arguments 'queries' and 'reference' must have the same dimension d (columns); got shapes (10, 3) and (10, 2)",
        ),
        (
            "different_d_prdc",
            lambda: precision_recall(_X, _X[:, :2]),
            ValueError,
            "precision_recall: arguments 'real' and 'fake' must have the same dimension d",
        ),
        (
            "nan",
            lambda: density_coverage(_X, _NAN),
            ValueError,
            "density_coverage: argument 'fake' holds NaN or infinite values",
        ),
        (
            "strings",
            lambda: knn_radii(np.array([["a", "b"]] * 3)),
            TypeError,
            "knn_radii: argument 'points' must be a real (float or int) array; got dtype <U1",
        ),
        (
            "k_zero",
            lambda: prdc(_X, _X, k=0),
            ValueError,
            "prdc: argument 'k' must be a positive int; got 0",
        ),
        (
            "k_float",
            lambda: knn_radii(_X, k=2.0),
            ValueError,
            "argument 'k' must be a positive int; got 2.0",
        ),
        (
            "k_too_many_neighbours",
            lambda: nearest_neighbours(_X, _X[:4], k=5),
            ValueError,
            [
                "argument 'k'=5 needs at least 5 points in 'reference'",
                "'reference' has 4. Pass k <= 4",
            ],
        ),
        (
            "k_as_many_as_points",
            lambda: knn_radii(_X, k=10),
            ValueError,
            [
                "knn_radii: argument 'k'=10 needs at least 11 points in 'points' (a k-th nearest other point for each); 'points' has 10",
                "Pass k <= 9",
            ],
        ),
        (
            "one_point",
            lambda: knn_radii(_X[:1], k=1),
            ValueError,
            "argument 'k'=1 needs at least 2 points in 'points' (a k-th nearest other point for each); 'points' has 1. Give more points.",
        ),
        (
            "k_too_large_for_real",
            lambda: prdc(_X[:5], _X, k=5),
            ValueError,
            "argument 'k'=5 needs at least 6 points in 'real'",
        ),
        (
            "k_too_large_for_fake",
            lambda: precision_recall(_X, _X[:3], k=3),
            ValueError,
            "precision_recall: argument 'k'=3 needs at least 4 points in 'fake'",
        ),
    ]
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)


def test_density_and_coverage_need_no_fake_radii():
    """One generated sample is enough for density and coverage (no k-th neighbour among the
    samples), though not for recall."""
    real = np.random.default_rng(7).normal(size=(20, 2))
    density, coverage = density_coverage(real, real[:1], k=3)
    assert density == pytest.approx(np.sum(cdist(real[:1], real) <= knn_radii(real, 3)) / 3)
    assert coverage > 0.0
