"""Tests of dgm_lib.toy2d: densities normalise, samplers follow them, energies have the
shapes Rezende and Mohamed drew, and bad arguments give errors that say what was wrong."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats
from sklearn import datasets

from dgm_lib import toy2d

# A midpoint grid on [-6.5, 6.5]^2 with step 0.02: its cell edges fall on the checkerboard's
# edges, and the step is a quarter of the narrowest standard deviation (rings, 0.08).
STEP = 0.02
TICKS = np.arange(-6.5 + STEP / 2, 6.5, STEP)
GRID = np.stack(np.meshgrid(TICKS, TICKS, indexing="ij"), axis=-1)
N = 20_000  # one sample size throughout, so each sampler compiles once


@pytest.fixture(scope="module")
def samples():
    """N points of each data set drawn with key 0, drawn once per module."""
    return {name: toy2d.sample(jax.random.key(0), name, N) for name in toy2d.DATASETS}


def _grid_density(name: str) -> np.ndarray:
    return np.exp(np.asarray(toy2d.log_prob(name, GRID.astype(np.float32)), dtype=np.float64))


@pytest.mark.parametrize("name", toy2d.DENSITIES)
def test_log_prob_integrates_to_one(name):
    assert np.sum(_grid_density(name)) * STEP**2 == pytest.approx(1.0, abs=1e-4)


def _ring_density_by_quadrature(x, radii, std):
    """Average over the angle of N(x; R(cos θ, sin θ), std² I), by scipy's adaptive quadrature."""

    def on_ring(radius):
        def integrand(theta):
            centre = radius * np.array([np.cos(theta), np.sin(theta)])
            return np.prod(stats.norm.pdf(x, centre, std))

        return integrate.quad(
            integrand, 0, 2 * np.pi, points=[np.arctan2(x[1], x[0]) % (2 * np.pi)]
        )[0]

    return np.mean([on_ring(r) for r in radii]) / (2 * np.pi)


def _scipy_log_prob(name, x):
    if name == "eight_gaussians":
        angles = np.arange(8) * np.pi / 4
        centres = toy2d.EIGHT_GAUSSIANS_RADIUS * np.stack([np.cos(angles), np.sin(angles)], -1)
        cov = toy2d.EIGHT_GAUSSIANS_STD**2 * np.eye(2)
        logs = [stats.multivariate_normal(c, cov).logpdf(x) for c in centres]
        return special.logsumexp(logs, axis=0) - np.log(8)
    radii, std = {"rings": ((0.75, 1.5, 2.25, 3.0), 0.08), "circles": ((1.5, 3.0), 0.24)}[name]
    return np.log([_ring_density_by_quadrature(p, radii, std) for p in x])


@pytest.mark.parametrize("name", ["eight_gaussians", "rings", "circles"])
def test_log_prob_matches_scipy(name, samples):
    x = samples[name]
    expected = _scipy_log_prob(name, np.asarray(x[:20], np.float64))
    np.testing.assert_allclose(toy2d.log_prob(name, x)[:20], expected, atol=2e-4)


@pytest.mark.parametrize("name", toy2d.DENSITIES)
def test_samples_follow_log_prob(name, samples):
    """Chi-square test of a 2-D histogram of samples against the density's bin masses."""
    n, per_bin = N, 25  # 0.5 x 0.5 bins, aligned with the checkerboard cells
    mass = _grid_density(name).reshape(26, per_bin, 26, per_bin).sum(axis=(1, 3)) * STEP**2
    x = np.asarray(samples[name])
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=26, range=[[-6.5, 6.5]] * 2)
    big = mass * n >= 5
    expected = np.append(mass[big] * n, n * (1 - mass[big].sum()))
    observed = np.append(counts[big], n - counts[big].sum())
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, df=len(expected) - 1) > 1e-3


@pytest.mark.parametrize("name", toy2d.DENSITIES)
def test_mean_log_prob_of_samples_is_minus_entropy(name):
    estimate, stderr = toy2d.entropy_monte_carlo(jax.random.key(1), name, N)
    assert abs(estimate - toy2d.entropy(name)) <= 4 * stderr + 1e-5


@pytest.mark.parametrize("name", toy2d.DENSITIES)
def test_entropy_matches_an_independent_grid_sum(name):
    p = _grid_density(name)
    grid_entropy = -np.sum(special.xlogy(p, p)) * STEP**2
    assert toy2d.entropy(name) == pytest.approx(grid_entropy, abs=1e-4)


def test_published_entropies():
    # papers.md: checkerboard log 32 exactly; eight Gaussians 2.831 ± 0.001 by Monte Carlo.
    assert toy2d.entropy("checkerboard") == pytest.approx(math.log(32), abs=1e-12)
    assert toy2d.entropy("eight_gaussians") == pytest.approx(2.831, abs=2e-3)


def test_eight_gaussians_entropy_is_below_the_no_overlap_value():
    s = toy2d.EIGHT_GAUSSIANS_STD
    component = 1 + math.log(2 * math.pi * s**2)
    assert component < toy2d.entropy("eight_gaussians") < math.log(8) + component


def test_checkerboard_samples_lie_on_the_support_and_fill_all_cells(samples):
    x = samples["checkerboard"]
    assert np.all(np.isfinite(toy2d.log_prob("checkerboard", x)))
    cells, counts = np.unique(np.floor(np.asarray(x) / 2), axis=0, return_counts=True)
    assert len(cells) == 8 and np.all(np.sum(cells, axis=1) % 2 == 0)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_checkerboard_log_prob_is_minus_inf_off_the_support():
    off = jnp.array([[1.0, -1.0], [-3.0, -1.0], [4.5, 0.5], [0.5, -4.5]])
    assert np.all(np.isneginf(toy2d.log_prob("checkerboard", off)))


@pytest.mark.parametrize("name", toy2d.DATASETS)
def test_sampler_is_deterministic_for_a_fixed_key(name, samples):
    a = samples[name]
    assert a.shape == (N, 2) and a.dtype == jnp.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, toy2d.sample(jax.random.key(0), name, N))
    assert not np.allclose(a, toy2d.sample(jax.random.key(1), name, N))


def _sklearn_samples(name, n):
    rng = np.random.RandomState(0)
    if name == "two_moons":
        return datasets.make_moons(n, noise=0.1, random_state=rng)[0] * 2 + [-1.0, -0.2]
    if name == "circles":
        return datasets.make_circles(n, factor=0.5, noise=0.08, random_state=rng)[0] * 3
    return datasets.make_swiss_roll(n, noise=1.0, random_state=rng)[0][:, [0, 2]] / 5


def _reference_pinwheel(n):
    """FFJORD's pinwheel from its maths: features f rotated by the angle a, as a row vector."""
    rng = np.random.RandomState(0)
    f = rng.randn(n, 2) * [0.3, 0.1] + [1.0, 0.0]
    a = rng.randint(5, size=n) * 2 * np.pi / 5 + 0.25 * np.exp(f[:, 0])
    rot = np.stack([np.cos(a), -np.sin(a), np.sin(a), np.cos(a)], -1).reshape(n, 2, 2)
    return 2 * np.einsum("ni,nij->nj", f, rot)


def _reference_two_spirals(n):
    rng = np.random.RandomState(0)
    s = np.sqrt(rng.rand(n)) * np.deg2rad(540)
    arm = np.stack([-np.cos(s) * s, np.sin(s) * s], -1) + rng.rand(n, 2) * 0.5
    return np.where(rng.rand(n, 1) < 0.5, arm, -arm) / 3 + rng.randn(n, 2) * 0.1


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("two_moons", _sklearn_samples),
        ("circles", _sklearn_samples),
        ("swiss_roll", _sklearn_samples),
        ("pinwheel", lambda name, n: _reference_pinwheel(n)),
        ("two_spirals", lambda name, n: _reference_two_spirals(n)),
    ],
)
def test_sampler_matches_the_reference_generator(name, reference, samples):
    """Two-sample KS tests on 8 projections against sklearn's generator (moons, circles,
    swiss roll) or a NumPy transcription of FFJORD's recipe (pinwheel, two spirals)."""
    n = 4_000
    ours = np.asarray(samples[name][:n])
    theirs = reference(name, n)
    angles = np.arange(8) * np.pi / 8
    directions = np.stack([np.cos(angles), np.sin(angles)])
    pvalues = [stats.ks_2samp(ours @ d, theirs @ d).pvalue for d in directions.T]
    assert min(pvalues) > 1e-3 / 8


def _reference_energy(name, z):
    """The formulas of Rezende and Mohamed (2015), Table 1, in float64 NumPy."""
    z1, z2 = z[:, 0], z[:, 1]
    w1 = np.sin(2 * np.pi * z1 / 4)
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 * special.expit((z1 - 1) / 0.3)
    if name == "U1":
        ring = 0.5 * ((np.linalg.norm(z, axis=1) - 2) / 0.4) ** 2
        return ring - np.log(
            np.exp(-0.5 * ((z1 - 2) / 0.6) ** 2) + np.exp(-0.5 * ((z1 + 2) / 0.6) ** 2)
        )
    if name == "U2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2
    if name == "U3":
        return -np.log(
            np.exp(-0.5 * ((z2 - w1) / 0.35) ** 2) + np.exp(-0.5 * ((z2 - w1 + w2) / 0.35) ** 2)
        )
    return -np.log(
        np.exp(-0.5 * ((z2 - w1) / 0.4) ** 2) + np.exp(-0.5 * ((z2 - w1 + w3) / 0.35) ** 2)
    )


@pytest.mark.parametrize("name", toy2d.ENERGIES)
def test_energy_matches_the_published_formula(name):
    z = np.random.default_rng(0).uniform(-4, 4, size=(500, 2))
    np.testing.assert_allclose(
        toy2d.energy(name, z), _reference_energy(name, z), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("name", toy2d.ENERGIES)
def test_energy_has_finite_gradients(name):
    z = jax.random.uniform(jax.random.key(0), (64, 2), minval=-4, maxval=4)
    grad = jax.grad(lambda z: toy2d.energy(name, z).sum())(z)
    assert grad.shape == (64, 2) and np.all(np.isfinite(grad))


def test_u1_is_mirror_symmetric_with_modes_at_the_ring_ends():
    z = np.random.default_rng(1).uniform(-4, 4, size=(200, 2)).astype(np.float32)
    u = toy2d.energy("U1", z)
    np.testing.assert_allclose(u, toy2d.energy("U1", z * [-1, 1]), rtol=1e-6)
    np.testing.assert_allclose(u, toy2d.energy("U1", z * [1, -1]), rtol=1e-6)
    ends, top = (
        toy2d.energy("U1", jnp.array([[2.0, 0.0], [-2.0, 0.0]])),
        toy2d.energy("U1", jnp.array([[0.0, 2.0]])),
    )
    assert np.all(ends <= np.min(toy2d.energy("U1", GRID[::5, ::5])) + 1e-6)
    assert top[0] == pytest.approx(0.5 * (2 / 0.6) ** 2 - math.log(2), rel=1e-6)


def test_u2_vanishes_on_the_sine_curve_and_nowhere_else():
    t = np.linspace(-4, 4, 101)
    on = np.stack([t, np.sin(np.pi * t / 2)], axis=-1)
    np.testing.assert_allclose(toy2d.energy("U2", on), 0.0, atol=1e-6)
    assert np.all(toy2d.energy("U2", on + np.array([0.0, 0.5])) > 0.7)


def test_u3_splits_into_two_branches_near_z1_equal_1():
    # At z1 = 1, w2 = 3: minima at z2 = w1 = 1 and z2 = w1 - w2 = -2; far away only one branch.
    u = toy2d.energy("U3", jnp.array([[1.0, 1.0], [1.0, -2.0], [1.0, -0.5], [-3.0, 1.0]]))
    np.testing.assert_allclose(u[:2], 0.0, atol=1e-6)
    assert u[2] > 4.0
    assert u[3] == pytest.approx(-math.log(2), abs=1e-6)


def test_u4_gains_a_second_branch_for_large_z1():
    # z1 = -3: w3 ≈ 0, the two terms coincide; z1 = 4: w3 ≈ 3 opens a branch at z2 = w1 - 3.
    u = toy2d.energy("U4", jnp.array([[-3.0, 1.0], [4.0, 0.0], [4.0, -3.0], [-3.0, -2.0]]))
    assert u[0] == pytest.approx(-math.log(2), abs=1e-5)
    np.testing.assert_allclose(u[1:3], 0.0, atol=1e-3)
    assert u[3] > 20.0


KEY = jax.random.key(0)
BAD_ARGUMENTS = [
    (lambda: toy2d.sample(KEY, "moons", 3), ValueError, "toy2d.sample.*two_moons"),
    (lambda: toy2d.sample(KEY, "rings", 0), ValueError, "toy2d.sample.*'n'"),
    (lambda: toy2d.sample(KEY, "rings", 2.0), ValueError, "toy2d.sample.*'n'"),
    (lambda: toy2d.sample(jax.random.split(KEY), "rings", 3), TypeError, "toy2d.sample.*'key'"),
    (lambda: toy2d.sample(0, "rings", 3), TypeError, "toy2d.sample.*'key'"),
    (
        lambda: toy2d.log_prob("rings", jnp.zeros((4, 3))),
        ValueError,
        r"log_prob.*'x'.*\(\.\.\., 2\)",
    ),
    (lambda: toy2d.log_prob("rings", jnp.zeros((4, 2), jnp.int32)), TypeError, "log_prob.*'x'"),
    (lambda: toy2d.log_prob("two_moons", jnp.zeros((4, 2))), ValueError, "log_prob.*checkerboard"),
    (lambda: toy2d.energy("U5", jnp.zeros((4, 2))), ValueError, "energy.*U1, U2, U3, U4"),
    (lambda: toy2d.energy("U1", jnp.zeros(4)), ValueError, r"energy.*'z'.*\(\.\.\., 2\)"),
    (lambda: toy2d.entropy("pinwheel"), ValueError, "entropy.*eight_gaussians"),
    (lambda: toy2d.entropy_monte_carlo(KEY, "rings", 1), ValueError, "entropy_monte_carlo.*'n'"),
    (lambda: toy2d.entropy_monte_carlo(KEY, "spiral", 10), ValueError, "entropy_monte_carlo"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_log_prob_and_energy_keep_leading_axes():
    x = jnp.zeros((3, 5, 2))
    assert toy2d.log_prob("eight_gaussians", x).shape == (3, 5)
    assert toy2d.energy("U3", x).shape == (3, 5)
