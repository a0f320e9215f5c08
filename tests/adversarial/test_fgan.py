"""Properties of dgm_lib.adversarial.fgan: for every divergence of the table, the variational
bound at T* = f'(p/q) equals D_f by quadrature and any perturbed critic gives strictly less;
D_f agrees with closed forms for Gaussians (KL both ways, squared Hellinger via the
Bhattacharyya coefficient, JS from its definition); g_f maps any real into dom f*; the critic
loss equals minus the bound and stays finite at huge outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dgm_lib.adversarial import (
    F_DIVERGENCES,
    f_divergence,
    fgan_critic_loss,
    fgan_generator_loss,
    variational_bound,
)

M1, S1, M2, S2 = 0.0, 1.0, 0.5, 1.2
NAMES = sorted(F_DIVERGENCES)


def grid():
    x, dx = np.linspace(-10, 10, 8001, retstep=True)
    return x, dx, stats.norm.pdf(x, M1, S1), stats.norm.pdf(x, M2, S2)


def weighted_bound(row, t, p, q, dx):
    """The bound E_p[T] - E_q[f*(T)] with expectations by quadrature."""
    return float(np.sum(p * np.asarray(t)) * dx - np.sum(q * np.asarray(row.conjugate(t))) * dx)


def test_the_table_has_the_five_divergences():
    assert set(NAMES) == {"kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon"}
    for name, row in F_DIVERGENCES.items():
        assert row.name == name
        np.testing.assert_allclose(row.f(np.float32(1.0)), 0.0, atol=1e-7)  # f(1) = 0


@pytest.mark.parametrize("name", NAMES)
def test_bound_is_tight_at_the_optimal_critic_and_strictly_below_elsewhere(name):
    row = F_DIVERGENCES[name]
    x, dx, p, q = grid()
    t_star = row.optimal_critic(p / q)
    div = float(f_divergence(name, p, q, dx))
    assert div > 0.01
    np.testing.assert_allclose(weighted_bound(row, t_star, p, q, dx), div, rtol=2e-4)
    for delta in (0.05, -0.05):
        t = t_star + delta * np.cos(x)  # stays inside dom f* on this grid
        assert np.all(np.isfinite(np.asarray(row.conjugate(t))))
        assert weighted_bound(row, t, p, q, dx) < div - 1e-4


def kl_gauss(m1, s1, m2, s2):
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def test_divergences_agree_with_closed_forms():
    _, dx, p, q = grid()
    bc = math.sqrt(2 * S1 * S2 / (S1**2 + S2**2)) * math.exp(
        -((M1 - M2) ** 2) / (4 * (S1**2 + S2**2))
    )
    m = (p + q) / 2
    jsd = 0.5 * np.sum(p * np.log(p / m)) * dx + 0.5 * np.sum(q * np.log(q / m)) * dx
    expected = {
        "kl": kl_gauss(M1, S1, M2, S2),
        "reverse_kl": kl_gauss(M2, S2, M1, S1),
        "squared_hellinger": 2 * (1 - bc),
        "jensen_shannon": 2 * jsd,
        "pearson": np.sum((p - q) ** 2 / q) * dx,
    }
    for name, value in expected.items():
        np.testing.assert_allclose(f_divergence(name, p, q, dx), value, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_any_real_into_the_conjugates_domain(name):
    row = F_DIVERGENCES[name]
    v = np.linspace(-8, 8, 1601, dtype=np.float32)
    t = np.asarray(row.activation(v))
    assert np.all(np.isfinite(np.asarray(row.conjugate(t))))
    upper = {"reverse_kl": 0.0, "squared_hellinger": 1.0, "jensen_shannon": math.log(2)}
    if name in upper:
        assert np.all(t < upper[name])


@pytest.mark.parametrize("name", NAMES)
def test_critic_loss_is_minus_the_bound_and_finite_at_huge_outputs(name):
    row = F_DIVERGENCES[name]
    g = np.random.default_rng(0)
    v_real, v_fake = g.normal(size=32).astype(np.float32), g.normal(size=32).astype(np.float32)
    bound = variational_bound(name, row.activation(v_real), row.activation(v_fake))
    np.testing.assert_allclose(fgan_critic_loss(name, v_real, v_fake), -bound, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        fgan_generator_loss(name, v_fake), -np.mean(row.activation(v_fake)), rtol=1e-5
    )
    big = np.array([-60.0, 60.0], np.float32)
    assert np.isfinite(fgan_critic_loss(name, big, big))  # f*(g_f(v)) in closed form


def test_jensen_shannon_generator_loss_is_the_non_saturating_loss_minus_log_two():
    v = np.linspace(-5, 5, 11, dtype=np.float32)
    nonsat = np.mean(np.logaddexp(0.0, -v))  # -E log sigmoid(v)
    np.testing.assert_allclose(
        fgan_generator_loss("jensen_shannon", v), nonsat - math.log(2), rtol=1e-5
    )
