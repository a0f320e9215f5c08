"""Properties of dgm_lib.diffusion.continuous with Gaussian data N(mu, s^2 I) and its optimal
denoiser: the Monte Carlo mean of continuous_loss is d/2 log((1 + SNR_max s^2) / (1 + SNR_min
s^2)) (written here) under a linear and a cosine log-SNR with the same end points, so the loss
does not depend on the schedule's shape between them (within 4 standard errors); other end
points give another value, beyond the error; a scaled (not optimal) denoiser pays more; bad
arguments raise clear errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.diffusion import CosineLogSNR, GaussianData, LinearLogSNR, continuous_loss

SIGMAS = 4.0
D = 2
N = 200_000
DATA = GaussianData(0.5, 0.7)


def closed_form(log_snr_max: float, log_snr_min: float, std: float, d: int) -> float:
    """(1/2) int_{SNR_min}^{SNR_max} d s^2 / (1 + SNR s^2) dSNR."""
    s2 = std**2
    return 0.5 * d * (math.log(1.0 + math.exp(log_snr_max) * s2)
                      - math.log(1.0 + math.exp(log_snr_min) * s2))


@jax.jit
def _losses(key, x0, scale_linear, scale_cosine, images):
    """continuous_loss under the four schedules of the tests, and of image-shaped data under
    the first: one compilation."""
    out = {"images": continuous_loss(jax.random.fold_in(key, 99),
                                     DATA.continuous_eps_fn(SCHEDULES["linear_6"]),
                                     SCHEDULES["linear_6"], images)}
    for name, sched in SCHEDULES.items():
        opt = DATA.continuous_eps_fn(sched)
        scale = scale_cosine if isinstance(sched, CosineLogSNR) else scale_linear
        out[name] = continuous_loss(jax.random.fold_in(key, len(out)),
                                    lambda z, u, opt=opt, scale=scale: scale * opt(z, u), sched, x0)
    return out


SCHEDULES = {
    "linear_6": LinearLogSNR(6.0, -6.0),
    "cosine_6": CosineLogSNR(6.0, -6.0),
    "linear_4": LinearLogSNR(4.0, -4.0),
    "cosine_4_-8": CosineLogSNR(4.0, -8.0),
}
ENDS = {"linear_6": (6.0, -6.0), "cosine_6": (6.0, -6.0), "linear_4": (4.0, -4.0),
        "cosine_4_-8": (4.0, -8.0)}


def mean_and_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


N_IMAGES = 50_000
IMAGES = DATA.sample(jax.random.key(7), (N_IMAGES, 2, 3, 1))


@pytest.fixture(scope="module")
def optimal_losses():
    x0 = DATA.sample(jax.random.key(0), (N, D))
    out = _losses(jax.random.key(1), x0, 1.0, 1.0, IMAGES)
    assert out["images"].shape == (N_IMAGES,)
    return {k: mean_and_se(v) for k, v in out.items()}


def test_gaussian_data_continuous_loss_is_the_closed_form():
    for (hi, lo) in ENDS.values():
        for std in (0.3, 0.7, 2.0):
            assert math.isclose(GaussianData(0.1, std).continuous_loss(hi, lo, D),
                                closed_form(hi, lo, std, D), rel_tol=1e-12)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_continuous_loss_of_the_optimal_denoiser_is_the_closed_form(optimal_losses, name):
    mean, se = optimal_losses[name]
    expected = closed_form(*ENDS[name], DATA.std, D)
    assert abs(mean - expected) < SIGMAS * se, (name, mean, expected, se)
    assert se < 0.01 * expected  # the test is sharp: 1% of the value


def test_the_loss_depends_on_the_end_points_not_on_the_shape(optimal_losses):
    """Linear and cosine with end points (6, -6) agree with each other (a two-sample z test);
    (4, -4) and (4, -8) differ from (6, -6) by far more than the error."""
    (m1, s1), (m2, s2) = optimal_losses["linear_6"], optimal_losses["cosine_6"]
    assert abs(m1 - m2) < SIGMAS * math.hypot(s1, s2)
    for other in ("linear_4", "cosine_4_-8"):
        m3, s3 = optimal_losses[other]
        assert abs(m3 - m1) > 5 * SIGMAS * math.hypot(s1, s3), other
    # The shape does change the estimator's variance (its spread per draw).
    assert s1 != pytest.approx(s2, rel=0.05)


def test_a_scaled_denoiser_pays_more():
    """1.3 times the optimal noise: E||eps - c eps_opt||^2 = E||eps - eps_opt||^2 + (c - 1)^2
    E||eps_opt||^2 > the minimum, at every u; the loss is larger beyond the error."""
    x0 = DATA.sample(jax.random.key(2), (N, D))
    scaled = _losses(jax.random.key(3), x0, 1.3, 1.3, IMAGES)
    for name in ("linear_6", "cosine_6"):
        mean, se = mean_and_se(scaled[name])
        assert mean - closed_form(*ENDS[name], DATA.std, D) > 5 * SIGMAS * se, name


def test_continuous_loss_with_image_shaped_data_sums_over_every_axis(optimal_losses):
    """Shape (n, 2, 3, 1): six dimensions per example; the same closed form with d = 6."""
    mean, se = optimal_losses["images"]
    assert abs(mean - closed_form(6.0, -6.0, DATA.std, 6)) < SIGMAS * se
    assert abs(mean - closed_form(6.0, -6.0, DATA.std, D)) > 5 * SIGMAS * se


_SCHED = LinearLogSNR()
_EPS = DATA.continuous_eps_fn(_SCHED)


@bad_calls(
    [
        ("eps_not_callable", lambda: continuous_loss(jax.random.key(0), None, _SCHED, jnp.zeros((4, 2))), TypeError, "continuous_loss: argument 'eps_fn' must be a callable (z, u)"),
        ("x0_1d", lambda: continuous_loss(jax.random.key(0), _EPS, _SCHED, jnp.zeros(4)), ValueError, "continuous_loss: argument 'x0' must have shape (n, ...)"),
        ("int_key", lambda: continuous_loss(0, _EPS, _SCHED, jnp.zeros((4, 2))), TypeError, "continuous_loss: argument 'key'"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
