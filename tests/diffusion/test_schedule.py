"""Properties of dgm_lib.diffusion.schedule, against formulas written here in NumPy float64:
the linear schedule's betas are np.linspace(1e-4, 0.02, 1000) and its alpha_bars their
cumulative product of (1 - beta); the cosine schedule is Nichol and Dhariwal's f(t)/f(0)
wherever its clipping is inactive (and clips the last step); Schedule.from_log_snr is
sigmoid(lambda(t/T)) for both continuous schedules, which hit their end points; a Schedule is
equal and hashes by value (a static argument of compiled code), is read-only and owns its
values; bad arguments raise clear errors."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.diffusion import (
    CosineLogSNR,
    GaussianData,
    LinearLogSNR,
    Schedule,
    cosine_schedule,
    linear_schedule,
    timesteps,
)


def nichol_dhariwal_f(T: int, s: float = 0.008) -> np.ndarray:
    """f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) at t = 0, ..., T."""
    t = np.arange(T + 1, dtype=np.float64)
    return np.cos((t / T + s) / (1.0 + s) * np.pi / 2.0) ** 2


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_linear_schedule_is_ddpms_linspace_of_betas_and_their_cumulative_product():
    s = linear_schedule()
    betas = np.linspace(1e-4, 0.02, 1000)
    assert s.num_steps == 1000 and s.name == "linear"
    assert s.alpha_bars.dtype == np.float64 and s.alpha_bars.shape == (1000,)
    np.testing.assert_allclose(s.betas, betas, rtol=1e-9, atol=0)
    np.testing.assert_allclose(s.alpha_bars, np.cumprod(1.0 - betas), rtol=1e-12, atol=0)
    # Ho et al.'s end point: almost no signal is left at T.
    assert 3e-5 < s.alpha_bars[-1] < 5e-5
    np.testing.assert_allclose(s.log_snrs, np.log(s.alpha_bars / (1.0 - s.alpha_bars)),
                               rtol=1e-12)
    # Other sizes and end points follow the same rule.
    short = linear_schedule(7, 0.01, 0.3)
    np.testing.assert_allclose(short.alpha_bars, np.cumprod(1.0 - np.linspace(0.01, 0.3, 7)),
                               rtol=1e-13)
    # A constant beta is allowed (beta_start == beta_end): alpha_bar_t = (1 - beta)^t.
    np.testing.assert_allclose(linear_schedule(4, 0.1, 0.1).alpha_bars, 0.9 ** np.arange(1, 5),
                               rtol=1e-13)


def test_from_betas_and_betas_are_inverse():
    betas = np.array([0.02, 0.1, 0.5, 0.9, 0.3])
    s = Schedule.from_betas(betas, "mine")
    np.testing.assert_allclose(s.betas, betas, rtol=1e-13)
    np.testing.assert_allclose(s.alpha_bars, [0.98, 0.98 * 0.9, 0.98 * 0.9 * 0.5,
                                              0.98 * 0.9 * 0.5 * 0.1, 0.98 * 0.9 * 0.5 * 0.1 * 0.7],
                               rtol=1e-13)
    assert s.name == "mine"


@pytest.mark.parametrize("T", [1000, 50])
def test_cosine_schedule_is_nichol_dhariwal_where_no_clip_is_active(T):
    """alpha_bar_t = f(t)/f(0) for t < T; the last beta, 1 - f(T)/f(T-1) = 1, is clipped to
    max_beta, so alpha_bar_T = 0.001 alpha_bar_{T-1}."""
    s = cosine_schedule(T)
    f = nichol_dhariwal_f(T)
    raw_betas = 1.0 - f[1:] / f[:-1]
    active = (raw_betas < 1e-8) | (raw_betas > 0.999)
    assert active.tolist() == [False] * (T - 1) + [True]  # only the last step is clipped
    np.testing.assert_allclose(s.alpha_bars[:-1], f[1:-1] / f[0], rtol=1e-11)
    np.testing.assert_allclose(s.betas[-1], 0.999, rtol=1e-10)
    np.testing.assert_allclose(s.alpha_bars[-1], 0.001 * f[-2] / f[0], rtol=1e-10)
    assert s.name == "cosine"
    # The offset s matters (a cosine with s = 0.02 is another schedule).
    other = cosine_schedule(T, offset=0.02)
    np.testing.assert_allclose(other.alpha_bars[:-1], nichol_dhariwal_f(T, 0.02)[1:-1]
                               / nichol_dhariwal_f(T, 0.02)[0], rtol=1e-11)
    assert np.abs(other.alpha_bars - s.alpha_bars).max() > 1e-3


def test_cosine_schedule_clips_small_max_beta():
    """With max_beta = 0.1 the last steps are capped: every beta <= 0.1, and before the first
    capped step the values are still f(t)/f(0)."""
    T = 100
    s = cosine_schedule(T, max_beta=0.1)
    f = nichol_dhariwal_f(T)
    raw = 1.0 - f[1:] / f[:-1]
    first = int(np.flatnonzero(raw > 0.1)[0])
    assert 0 < first < T - 1
    assert s.betas.max() <= 0.1 + 1e-12
    np.testing.assert_allclose(s.betas[first:], 0.1, rtol=1e-10)
    np.testing.assert_allclose(s.alpha_bars[:first], f[1:first + 1] / f[0], rtol=1e-11)


def cosine_lambda(u: np.ndarray, start: float, end: float) -> np.ndarray:
    a, b = math.atan(math.exp(-start / 2)), math.atan(math.exp(-end / 2))
    return -2.0 * np.log(np.tan(a + u * (b - a)))


@pytest.mark.parametrize(
    ("log_snr", "oracle"),
    [
        (LinearLogSNR(6.0, -6.0), lambda u: 6.0 - 12.0 * u),
        (LinearLogSNR(10.0, -4.0), lambda u: 10.0 - 14.0 * u),
        (CosineLogSNR(6.0, -6.0), lambda u: cosine_lambda(u, 6.0, -6.0)),
        (CosineLogSNR(8.0, -3.0), lambda u: cosine_lambda(u, 8.0, -3.0)),
    ],
    ids=["linear_6", "linear_10_-4", "cosine_6", "cosine_8_-3"],
)
def test_from_log_snr_is_the_sigmoid_of_the_log_snr_at_t_over_T(log_snr, oracle):
    T = 50
    s = Schedule.from_log_snr(log_snr, T)
    u = np.arange(1, T + 1) / T
    assert s.num_steps == T and s.name == type(log_snr).__name__
    # float32 lambda: relative errors of a few 1e-6 in alpha_bar; a shift of u by 1/T is 10%.
    np.testing.assert_allclose(s.alpha_bars, sigmoid(oracle(u)), rtol=5e-5)
    np.testing.assert_allclose(s.log_snrs, oracle(u), rtol=0, atol=1e-4)
    # The function itself, on a grid including the end points.
    grid = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(log_snr.log_snr(jnp.asarray(grid, jnp.float32)), oracle(grid),
                               rtol=0, atol=2e-5 * 10)


@pytest.mark.parametrize("cls", [LinearLogSNR, CosineLogSNR])
@pytest.mark.parametrize(("start", "end"), [(6.0, -6.0), (10.0, -10.0), (3.0, 1.0)])
def test_continuous_schedules_hit_their_end_points(cls, start, end):
    ends = np.asarray(cls(start, end).log_snr(jnp.array([0.0, 1.0])), np.float64)
    np.testing.assert_allclose(ends, [start, end], rtol=0, atol=1e-4)
    mid = float(cls(start, end).log_snr(jnp.float32(0.5)))
    assert end < mid < start


def test_cosine_log_snr_is_cos_squared_between_its_angles():
    """alpha_bar(u) = sigmoid(lambda(u)) = cos^2(a + u (b - a)) (the class docstring)."""
    start, end = 6.0, -6.0
    a, b = math.atan(math.exp(-start / 2)), math.atan(math.exp(-end / 2))
    u = np.linspace(0.0, 1.0, 21)
    lam = np.asarray(CosineLogSNR(start, end).log_snr(jnp.asarray(u, jnp.float32)), np.float64)
    np.testing.assert_allclose(sigmoid(lam), np.cos(a + u * (b - a)) ** 2, rtol=2e-5, atol=1e-7)


def test_schedule_lookups_at_integer_times():
    s = linear_schedule(20, 0.01, 0.2)
    t = jnp.arange(21)
    np.testing.assert_allclose(s.alpha_bar(t), np.concatenate([[1.0], s.alpha_bars]), rtol=1e-7)
    assert float(s.alpha_bar(0)) == 1.0
    np.testing.assert_allclose(s.beta(jnp.arange(1, 21)), np.linspace(0.01, 0.2, 20), rtol=1e-6)
    assert s.alpha_bar(t).dtype == jnp.float32
    # 1 - alpha_bar to float32's relative precision, even where alpha_bar is close to 1.
    ddpm = linear_schedule()
    np.testing.assert_allclose(ddpm.noise_variance(jnp.arange(1, 1001)), 1.0 - ddpm.alpha_bars,
                               rtol=1e-7)
    assert float(ddpm.noise_variance(0)) == 0.0
    # Any shape of times.
    assert s.alpha_bar(jnp.ones((3, 4), jnp.int32)).shape == (3, 4)


def test_schedule_is_equal_and_hashes_by_value():
    a, b = linear_schedule(), linear_schedule()
    assert a is not b
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1 and {a: 1}[b] == 1
    for other in (linear_schedule(999), linear_schedule(1000, 2e-4), cosine_schedule(),
                  Schedule(a.alpha_bars, "custom")):
        assert a != other
        assert hash(a) != hash(other)
    assert a != a.alpha_bars and a != "linear"
    # Equal values built two ways are equal.
    assert Schedule.from_betas(np.linspace(1e-4, 0.02, 1000), "linear") == a
    assert Schedule.from_log_snr(CosineLogSNR(6, -6), 40) == Schedule.from_log_snr(
        CosineLogSNR(6.0, -6.0), 40)
    assert Schedule.from_log_snr(CosineLogSNR(6, -6), 40) != Schedule.from_log_snr(
        LinearLogSNR(6, -6), 40)
    assert "T=1000" in repr(a)


def test_schedule_owns_read_only_values():
    """The hash is of the values, so they cannot change: the input is copied and the stored
    array is read-only."""
    values = np.array([0.9, 0.5, 0.1])
    s = Schedule(values)
    before = hash(s)
    values[0] = 0.95
    assert s.alpha_bars[0] == 0.9 and hash(s) == before
    with pytest.raises(ValueError, match="read-only"):
        s.alpha_bars[0] = 0.8
    with pytest.raises(AttributeError):
        s.name = "other"


def test_schedule_accepts_lists_and_float32():
    s = Schedule([0.9, 0.5, 0.1])
    assert s.num_steps == 3 and s.alpha_bars.dtype == np.float64
    np.testing.assert_allclose(s.betas, [0.1, 1 - 0.5 / 0.9, 0.8], rtol=1e-13)
    assert Schedule(np.array([0.9, 0.5], np.float32)).alpha_bars.dtype == np.float64


_LINEAR10 = linear_schedule(10)


@bad_calls(
    [
        ("rising", lambda: Schedule(np.array([0.9, 0.95, 0.5])), ValueError, ["Schedule: alpha_bars must decrease strictly", "alpha_bar_2"]),
        ("flat", lambda: Schedule(np.array([0.9, 0.5, 0.5])), ValueError, ["alpha_bars must decrease strictly", "alpha_bar_3"]),
        ("one", lambda: Schedule(np.array([1.0, 0.5])), ValueError, "Schedule: every alpha_bar must be in (0, 1)"),
        ("zero", lambda: Schedule(np.array([0.5, 0.0])), ValueError, "every alpha_bar must be in (0, 1)"),
        ("negative", lambda: Schedule(np.array([0.5, -0.1])), ValueError, "every alpha_bar must be in (0, 1)"),
        ("nan", lambda: Schedule(np.array([0.5, np.nan])), ValueError, "every alpha_bar must be in (0, 1)"),
        ("two_d", lambda: Schedule(np.full((2, 2), 0.5)), ValueError, ["Schedule: argument 'alpha_bars' must be a 1-D array", "(2, 2)"]),
        ("empty", lambda: Schedule(np.array([])), ValueError, "must be a 1-D array of T >= 1 values"),
        ("betas_one", lambda: Schedule.from_betas(np.array([0.1, 1.0])), ValueError, "Schedule.from_betas: argument 'betas' must be a 1-D array of values in (0, 1)"),
        ("betas_zero", lambda: Schedule.from_betas(np.array([0.0, 0.1])), ValueError, "Schedule.from_betas: argument 'betas'"),
        ("betas_2d", lambda: Schedule.from_betas(np.full((2, 2), 0.1)), ValueError, "Schedule.from_betas: argument 'betas'"),
        ("log_snr_steps", lambda: Schedule.from_log_snr(LinearLogSNR(), 0), ValueError, "Schedule.from_log_snr: argument 'num_steps' must be a positive int"),
        ("linear_log_snr_rising", lambda: LinearLogSNR(-6.0, 6.0), ValueError, ["LinearLogSNR: the log-SNR must decrease", "start > end"]),
        ("linear_log_snr_equal", lambda: LinearLogSNR(1.0, 1.0), ValueError, "LinearLogSNR: the log-SNR must decrease"),
        ("linear_log_snr_inf", lambda: LinearLogSNR(float("inf"), 0.0), ValueError, "both finite"),
        ("cosine_log_snr_rising", lambda: CosineLogSNR(-1.0, 2.0), ValueError, "CosineLogSNR: the log-SNR must decrease"),
        ("linear_start_above_end", lambda: linear_schedule(10, 0.02, 1e-4), ValueError, "linear_schedule: need 0 < beta_start <= beta_end < 1"),
        ("linear_end_one", lambda: linear_schedule(10, 0.1, 1.0), ValueError, "linear_schedule: need 0 < beta_start <= beta_end < 1"),
        ("linear_zero_start", lambda: linear_schedule(10, 0.0, 0.02), ValueError, "linear_schedule: argument 'beta_start' must be a finite number > 0"),
        ("linear_zero_steps", lambda: linear_schedule(0), ValueError, "linear_schedule: argument 'num_steps' must be a positive int"),
        ("linear_float_steps", lambda: linear_schedule(10.0), ValueError, "linear_schedule: argument 'num_steps' must be a positive int"),
        ("cosine_max_beta_one", lambda: cosine_schedule(10, max_beta=1.0), ValueError, "cosine_schedule: argument 'max_beta' must be in (0, 1)"),
        ("cosine_zero_offset", lambda: cosine_schedule(10, offset=0.0), ValueError, "cosine_schedule: argument 'offset' must be a finite number > 0"),
        ("timesteps_too_many", lambda: timesteps(_LINEAR10, 11), ValueError, "timesteps: argument 'num_steps' must be at most T = 10; got 11"),
        ("timesteps_zero", lambda: timesteps(_LINEAR10, 0), ValueError, "timesteps: argument 'num_steps' must be a positive int"),
        ("gaussian_zero_std", lambda: GaussianData(0.0, 0.0), ValueError, "GaussianData: argument 'std' must be a finite number > 0"),
    ]
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    assert_raises_naming(call, error, message)
