"""Properties of dgm_lib.adversarial.dirac: on the Dirac-GAN, whose unique equilibrium is
(0, 0), simultaneous gradient steps spiral out (the radius grows at every step), alternating
steps circle at a bounded, non-vanishing radius, and the R1 penalty makes both converge."""

from __future__ import annotations

import numpy as np
import pytest

from dgm_lib.adversarial import dirac_gan


def radius(path):
    return np.linalg.norm(np.asarray(path, np.float64), axis=1)


def test_shape_and_start():
    path = dirac_gan(1.0, 0.5, learning_rate=0.1, steps=7, mode="alternating")
    assert path.shape == (8, 2)
    np.testing.assert_allclose(path[0], [1.0, 0.5])


def test_simultaneous_steps_spiral_outwards():
    r = radius(dirac_gan(1.0, 1.0, learning_rate=0.1, steps=1000, mode="simultaneous"))
    assert np.all(np.diff(r) > 0)  # r_{s+1}^2 = r_s^2 (1 + h^2 f'(psi theta)^2)
    assert r[-1] > 1.5 * r[0]


def test_alternating_steps_circle_without_converging():
    path = dirac_gan(1.0, 1.0, learning_rate=0.1, steps=3000, mode="alternating")
    r = radius(path)
    assert r.min() > 0.8 * r[0] and r.max() < 1.25 * r[0]
    # it keeps moving around the equilibrium: theta changes sign many times
    assert np.sum(np.diff(np.sign(np.asarray(path[:, 0]))) != 0) >= 4


@pytest.mark.parametrize("mode", ["simultaneous", "alternating"])
def test_r1_penalty_converges_to_the_equilibrium(mode):
    r = radius(dirac_gan(1.0, 1.0, learning_rate=0.1, steps=3000, mode=mode, gamma=0.5))
    assert r[-1] < 1e-3 * r[0]
