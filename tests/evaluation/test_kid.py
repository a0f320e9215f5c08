"""Properties of dgm_lib.evaluation.kid: the polynomial kernel and the unbiased MMD²
against plain double loops over pairs; the estimator unbiased (its average over many replicate
samples matches the population MMD², in closed form for the linear kernel, zero for equal laws
with the cubic one, while the estimate that keeps the diagonals is caught as biased by the same
checks); KID deterministic for a key, equal to the whole-set U-statistic when a subset is the
whole set, its mean within its standard error of that U-statistic, and the standard error
shrinking as one over the square root of the number of subsets; and a clear error for each bad
input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.evaluation import KernelDistance, kernel_distance, mmd2_unbiased, polynomial_kernel


def loop_kernel(x, y, degree, coef0):
    """(x . y / d + c)^p for two plain Python sequences."""
    return (sum(u * v for u, v in zip(x, y, strict=True)) / len(x) + coef0) ** degree


def loop_mmd2(a, b, degree, coef0, *, diagonals=False):
    """The U-statistic by loops over index pairs (with ``diagonals``: the biased V-statistic)."""
    a, b = a.tolist(), b.tolist()
    m, n = len(a), len(b)
    within_a = sum(
        loop_kernel(a[i], a[j], degree, coef0)
        for i in range(m)
        for j in range(m)
        if diagonals or i != j
    )
    within_b = sum(
        loop_kernel(b[i], b[j], degree, coef0)
        for i in range(n)
        for j in range(n)
        if diagonals or i != j
    )
    across = sum(loop_kernel(x, y, degree, coef0) for x in a for y in b)
    pairs_a, pairs_b = (m * m, n * n) if diagonals else (m * (m - 1), n * (n - 1))
    return within_a / pairs_a + within_b / pairs_b - 2.0 * across / (m * n)


def v_statistic(a, b, degree, coef0):
    """The plug-in estimate that keeps k(a_i, a_i) and k(b_i, b_i): biased upwards."""

    def mean_k(x, y):
        return polynomial_kernel(x, y, degree=degree, coef0=coef0).mean()

    return mean_k(a, a) + mean_k(b, b) - 2.0 * mean_k(a, b)


def u_part(x, degree, coef0):
    """The mean of k over distinct pairs of one set."""
    gram = polynomial_kernel(x, x, degree=degree, coef0=coef0)
    return (gram.sum() - np.trace(gram)) / (len(x) * (len(x) - 1))


# ------------------------------------------------------------------------------------------
# Against the definition
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("degree, coef0", [(3, 1.0), (1, 0.0), (2, 0.5), (4, 2.0)])
def test_mmd2_unbiased_equals_the_double_loop_over_distinct_pairs(degree, coef0):
    rng = np.random.default_rng(degree)
    a = rng.normal(size=(7, 3))
    b = 0.8 * rng.normal(size=(5, 3)) + 0.4
    expected = loop_mmd2(a, b, degree, coef0)
    got = mmd2_unbiased(a, b, degree=degree, coef0=coef0)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, abs=1e-10)
    # The loops with the diagonals differ by far more than the tolerance: the check can fail.
    assert abs(loop_mmd2(a, b, degree, coef0, diagonals=True) - expected) > 1e-3


def test_polynomial_kernel_is_the_gram_matrix_of_the_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(3, 6))
    gram = polynomial_kernel(a, b, degree=3, coef0=1.0)
    assert gram.shape == (4, 3) and gram.dtype == np.float64
    for i in range(4):
        for j in range(3):
            assert gram[i, j] == pytest.approx(loop_kernel(a[i].tolist(), b[j].tolist(), 3, 1.0))


def test_mmd2_unbiased_sums_large_sets_block_by_block():
    """Sets larger than one Gram block (1,024 rows) give the same value as the dense formula."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2100, 4)), rng.normal(size=(1500, 4)) + 0.1
    dense = u_part(a, 3, 1.0) + u_part(b, 3, 1.0) - 2.0 * polynomial_kernel(a, b).mean()
    assert mmd2_unbiased(a, b) == pytest.approx(dense, rel=1e-10, abs=1e-12)


def test_mmd2_unbiased_accepts_jax_arrays_and_is_symmetric():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(30, 5)).astype(np.float32), rng.normal(size=(20, 5)).astype(np.float32)
    assert mmd2_unbiased(jnp.asarray(a), jnp.asarray(b)) == pytest.approx(
        mmd2_unbiased(a, b), rel=1e-12
    )
    assert mmd2_unbiased(a, b) == pytest.approx(mmd2_unbiased(b, a), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Unbiasedness, over independent replicate samples
# ------------------------------------------------------------------------------------------


def replicates(rng, mean_b, *, m, n, degree, coef0, reps):
    """U- and V-statistics of ``reps`` independent pairs of samples, a ~ N(0, C), b ~ N(mean_b,
    C), with a non-identity covariance C."""
    d = len(mean_b)
    factor = np.eye(d) + 0.3 * np.tril(np.ones((d, d)), -1)
    u, v = np.empty(reps), np.empty(reps)
    for r in range(reps):
        a = rng.normal(size=(m, d)) @ factor.T
        b = rng.normal(size=(n, d)) @ factor.T + mean_b
        u[r] = mmd2_unbiased(a, b, degree=degree, coef0=coef0)
        v[r] = v_statistic(a, b, degree, coef0)
    return u, v


def mean_and_stderr(x):
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(len(x)))


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_mmd2_unbiased_is_unbiased_for_the_linear_kernel(shift):
    """With k(x, y) = x . y / d the population MMD² is |mu_a - mu_b|² / d exactly."""
    rng = np.random.default_rng(10 + int(10 * shift))
    d = 4
    mean_b = shift * np.arange(1.0, d + 1)
    exact = float(mean_b @ mean_b) / d
    u, v = replicates(rng, mean_b, m=10, n=15, degree=1, coef0=0.0, reps=3000)
    mean, se = mean_and_stderr(u)
    assert abs(mean - exact) < 4 * se
    # The same check rejects the estimate that keeps the diagonals: its bias,
    # (tr C / m + tr C / n) / d, is many standard errors wide.
    v_mean, v_se = mean_and_stderr(v)
    assert v_mean - exact > 10 * v_se


def test_mmd2_unbiased_with_the_cubic_kernel_is_zero_on_average_for_equal_laws():
    rng = np.random.default_rng(20)
    d = 5
    u, v = replicates(rng, np.zeros(d), m=20, n=20, degree=3, coef0=1.0, reps=1500)
    mean, se = mean_and_stderr(u)
    assert abs(mean) < 3 * se
    assert np.mean(u < 0) > 0.25, "an unbiased estimate of zero is often negative"
    v_mean, v_se = mean_and_stderr(v)
    assert v_mean > 10 * v_se  # the diagonals' bias is caught by the same check
    shifted, _ = replicates(rng, np.full(d, 0.5), m=20, n=20, degree=3, coef0=1.0, reps=300)
    s_mean, s_se = mean_and_stderr(shifted)
    assert s_mean > 10 * s_se and s_mean > 20 * se


# ------------------------------------------------------------------------------------------
# The kernel inception distance
# ------------------------------------------------------------------------------------------


def feature_sets(seed=0, n_a=400, n_b=300, d=16, shift=0.2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_a, d)), rng.normal(size=(n_b, d)) + shift


def test_kernel_distance_is_deterministic_for_a_key():
    a, b = feature_sets()
    first = kernel_distance(jax.random.key(0), a, b, num_subsets=20, subset_size=100)
    assert isinstance(first, KernelDistance)
    assert first == kernel_distance(jax.random.key(0), a, b, num_subsets=20, subset_size=100)
    other = kernel_distance(jax.random.key(1), a, b, num_subsets=20, subset_size=100)
    assert other.value != first.value
    assert (first.num_subsets, first.subset_size) == (20, 100)
    assert all(isinstance(x, float) for x in (first.value, first.stderr))


def test_a_subset_of_the_whole_set_is_the_whole_set_u_statistic():
    """Drawn without replacement, a subset as large as the set is a permutation of it, so every
    subset gives the whole-set estimate (with replacement, repeated rows would change it)."""
    a, b = feature_sets(n_a=150, n_b=150)
    result = kernel_distance(jax.random.key(3), a, b, num_subsets=5, subset_size=150)
    whole = mmd2_unbiased(a, b)
    assert result.value == pytest.approx(whole, rel=1e-12)
    assert result.stderr < 1e-12 * abs(whole)


def test_the_subset_mean_is_within_its_standard_error_of_the_whole_set_estimate():
    """Averaged over the subsets, the estimate is the whole-set U-statistic; the standard error
    says how far the mean of S subsets falls from it."""
    a, b = feature_sets(seed=4)
    whole = mmd2_unbiased(a, b)
    z = []
    for seed in range(5):
        r = kernel_distance(jax.random.key(seed), a, b, num_subsets=200, subset_size=50)
        z.append((r.value - whole) / r.stderr)
    assert max(abs(x) for x in z) < 4
    assert np.std(z, ddof=1) < 2.5  # the stderr is not far too small


def test_the_standard_error_shrinks_as_one_over_root_num_subsets():
    a, b = feature_sets(seed=5)
    few = [
        kernel_distance(jax.random.key(s), a, b, num_subsets=25, subset_size=50) for s in range(4)
    ]
    many = [
        kernel_distance(jax.random.key(s), a, b, num_subsets=400, subset_size=50) for s in range(4)
    ]
    ratio = np.mean([r.stderr for r in few]) / np.mean([r.stderr for r in many])
    # sqrt(400 / 25) = 4; each stderr of 25 subsets is itself uncertain by about 15-20%.
    assert 3.0 < ratio < 5.3


def test_kernel_distance_separates_a_shift_from_equal_laws():
    a, b = feature_sets(seed=6, shift=0.0)
    _, shifted = feature_sets(seed=7, shift=0.3)
    same = kernel_distance(jax.random.key(0), a, b, num_subsets=50, subset_size=200)
    moved = kernel_distance(jax.random.key(0), a, shifted, num_subsets=50, subset_size=200)
    # (The stderr is the subsets' noise only: for equal laws the value is off zero by the
    # noise of the two sets themselves, which it does not include.)
    assert moved.value > 10 * abs(same.value)
    assert moved.value > same.value + 10 * (moved.stderr + same.stderr)


# ------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------

_A = np.random.default_rng(0).normal(size=(20, 3))
_NAN = _A.copy()
_NAN[2, 1] = np.nan
_KEY = jax.random.key(0)


@bad_calls(
    [
        (
            "not_2d",
            lambda: mmd2_unbiased(_A[:, 0], _A),
            ValueError,
            "mmd2_unbiased: argument 'a' must have shape (n, d); got shape (20,)",
        ),
        (
            "3d",
            lambda: kernel_distance(_KEY, _A, _A[None]),
            ValueError,
            "kernel_distance: argument 'b' must have shape (n, d)",
        ),
        (
            "different_d",
            lambda: mmd2_unbiased(_A, _A[:, :2]),
            ValueError,
            "arguments 'a' and 'b' must have the same number of features d (columns); got shapes (20, 3) and (20, 2)",
        ),
        (
            "one_row",
            lambda: mmd2_unbiased(_A[:1], _A),
            ValueError,
            "argument 'a' needs at least 2 samples (rows); got shape (1, 3)",
        ),
        (
            "one_row_kid",
            lambda: kernel_distance(_KEY, _A, _A[:1]),
            ValueError,
            "kernel_distance: argument 'b' needs at least 2 samples (rows)",
        ),
        (
            "nan",
            lambda: mmd2_unbiased(_A, _NAN),
            ValueError,
            "argument 'b' holds NaN or infinite values",
        ),
        (
            "inf_kernel",
            lambda: polynomial_kernel(np.full((2, 3), np.inf), _A),
            ValueError,
            "polynomial_kernel: argument 'a' holds NaN or infinite values",
        ),
        (
            "strings",
            lambda: mmd2_unbiased(np.array([["a", "b"]] * 3), _A),
            TypeError,
            "must be a real (float or int) array; got dtype <U1",
        ),
        (
            "degree_zero",
            lambda: mmd2_unbiased(_A, _A, degree=0),
            ValueError,
            "mmd2_unbiased: argument 'degree' must be a positive int; got 0",
        ),
        (
            "degree_float",
            lambda: polynomial_kernel(_A, _A, degree=2.5),
            ValueError,
            "argument 'degree' must be a positive int; got 2.5",
        ),
        (
            "coef0_negative",
            lambda: mmd2_unbiased(_A, _A, coef0=-1.0),
            ValueError,
            "argument 'coef0' must be a finite number >= 0",
        ),
        (
            "coef0_string",
            lambda: mmd2_unbiased(_A, _A, coef0="1"),
            TypeError,
            "argument 'coef0' must be a number >= 0",
        ),
        (
            "no_subsets",
            lambda: kernel_distance(_KEY, _A, _A, num_subsets=0, subset_size=10),
            ValueError,
            "kernel_distance: argument 'num_subsets' must be a positive int; got 0",
        ),
        (
            "negative_subsets",
            lambda: kernel_distance(_KEY, _A, _A, num_subsets=-3, subset_size=10),
            ValueError,
            "argument 'num_subsets' must be a positive int; got -3",
        ),
        (
            "one_subset",
            lambda: kernel_distance(_KEY, _A, _A, num_subsets=1, subset_size=10),
            ValueError,
            "argument 'num_subsets' must be at least 2; got 1",
        ),
        (
            "subset_of_one",
            lambda: kernel_distance(_KEY, _A, _A, subset_size=1),
            ValueError,
            "argument 'subset_size' must be at least 2; got 1",
        ),
        (
            "subset_too_large",
            lambda: kernel_distance(_KEY, _A, _A[:12]),
            ValueError,
            [
                "argument 'subset_size'=1000 is larger than a set: 'a' has 20 rows and 'b' 12",
                "Pass subset_size=12 (the smaller set) or less.",
            ],
        ),
        (
            "seed_for_key",
            lambda: kernel_distance(0, _A, _A, subset_size=10),
            TypeError,
            "kernel_distance: argument 'key' must be a single random key",
        ),
    ]
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
