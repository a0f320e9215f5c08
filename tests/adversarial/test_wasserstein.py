"""Properties of dgm_lib.adversarial.wasserstein: the exact 1-D W1 against scipy on samples of
different sizes; interpolates on the segments with one weight per example; the gradient
penalty of a linear critic in closed form; weight clipping keeps Adam's parameters in [-c, c]
where plain Adam leaves them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from dgm_lib.adversarial import (
    clip_weights,
    critic_loss,
    generator_loss,
    gradient_penalty,
    interpolates,
    wasserstein_1d,
)


@pytest.mark.parametrize(("n", "m", "seed"), [(1, 1, 0), (7, 13, 1), (200, 57, 2), (1000, 1001, 3)])
def test_wasserstein_1d_matches_scipy(n, m, seed):
    g = np.random.default_rng(seed)
    a, b = g.normal(0, 1, n), g.standard_t(3, m) + 0.7
    np.testing.assert_allclose(wasserstein_1d(a, b), stats.wasserstein_distance(a, b), rtol=1e-10)


def test_wasserstein_1d_of_a_shift_is_the_shift_and_of_itself_zero():
    a = np.random.default_rng(0).normal(size=50)
    np.testing.assert_allclose(wasserstein_1d(a, a + 0.3), 0.3, rtol=1e-10)
    assert wasserstein_1d(a, a[::-1]) == 0.0


def test_critic_and_generator_losses():
    real, fake = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.0, -1.0, 4.0])
    np.testing.assert_allclose(critic_loss(real, fake), 1.0 - 2.0)
    np.testing.assert_allclose(generator_loss(fake), -1.0)


def test_interpolates_lie_on_segments_with_one_weight_per_example():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    real, fake = jax.random.normal(k1, (64, 3, 2)), jax.random.normal(k2, (64, 3, 2)) + 5.0
    x_hat = interpolates(k3, real, fake)
    eps = (x_hat - fake) / (real - fake)
    flat = np.asarray(eps).reshape(64, -1)
    np.testing.assert_allclose(flat, flat[:, :1] * np.ones_like(flat), atol=1e-4)
    assert np.all((flat >= -1e-5) & (flat <= 1 + 1e-5))
    assert np.std(flat[:, 0]) > 0.2  # uniform on [0, 1]: std 0.29, not one shared weight


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic(scale):
    k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
    w = scale * jnp.array([[0.6, -0.8], [0.0, 0.0]])  # |w| = scale over the (2, 2) event
    real, fake = jax.random.normal(k1, (16, 2, 2)), jax.random.normal(k2, (16, 2, 2))

    def critic(x):
        return jnp.sum(x * w, axis=(1, 2))

    penalty, norms = gradient_penalty(k3, critic, real, fake)
    assert norms.shape == (16,)
    np.testing.assert_allclose(norms, scale, rtol=1e-6)
    np.testing.assert_allclose(penalty, (scale - 1.0) ** 2, rtol=1e-5, atol=1e-12)


def test_gradient_penalty_of_a_nonlinear_critic_matches_per_example_gradients():
    k1, k2, k3 = jax.random.split(jax.random.key(2), 3)
    real, fake = jax.random.normal(k1, (8, 3)), jax.random.normal(k2, (8, 3))

    def score(x):  # one example
        return jnp.sin(x[0]) * x[1] + x[2] ** 2

    penalty, norms = gradient_penalty(k3, jax.vmap(score), real, fake)
    x_hat = interpolates(k3, real, fake)
    expected = jnp.linalg.norm(jax.vmap(jax.grad(score))(x_hat), axis=1)
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    np.testing.assert_allclose(penalty, jnp.mean((expected - 1) ** 2), rtol=1e-5)


def test_clip_weights_keeps_parameters_in_range_after_adam_steps():
    c = 0.01
    params = {"w": jnp.array([0.005, -0.002, 0.0]), "b": jnp.zeros((2, 2))}
    grads = {"w": jnp.array([-1.0, 1.0, -1.0]), "b": -jnp.ones((2, 2))}  # pushes past c
    for tx, clipped in (
        (optax.adam(0.01), False),
        (optax.chain(optax.adam(0.01), clip_weights(c)), True),
    ):
        state, p = tx.init(params), params
        for _ in range(5):
            updates, state = tx.update(grads, state, p)
            p = optax.apply_updates(p, updates)
        inside = all(bool(jnp.all(jnp.abs(leaf) <= c + 1e-7)) for leaf in jax.tree.leaves(p))
        assert inside == clipped
    np.testing.assert_allclose(p["w"], [c, -c, c])


def test_clip_weights_needs_params():
    tx = clip_weights(0.1)
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))
