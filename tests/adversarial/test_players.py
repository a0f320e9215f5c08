"""gan_players: a critic trained against a frozen generator reaches the Bayes-optimal
cross-entropy log 4 - 2 JSD(p, q) (computed by quadrature); each objective trains a generator
onto 1-D data in one compiled step; a conditional GAN's generator follows the batch's labels;
bad arguments get clear errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import stats

from dgm_lib.adversarial import F_DIVERGENCES, GAN, OBJECTIVES, Critic, Generator, gan_players
from dgm_lib.train import fit

DATA_MEAN = 2.0


def data_1d(n: int = 4096) -> np.ndarray:
    return np.random.default_rng(0).normal(DATA_MEAN, 1.0, size=(n, 1)).astype(np.float32)


def gan_1d(num_classes: int = 0) -> GAN:
    return GAN(Generator(1, (16,), (1,), num_classes=num_classes, rngs=nnx.Rngs(0)),
               Critic((1,), (32, 32), num_classes=num_classes, rngs=nnx.Rngs(1)))


def test_critic_against_a_frozen_generator_reaches_the_bayes_cross_entropy():
    model = gan_1d()
    x = data_1d()
    players = gan_players("non_saturating", critic_optimizer=optax.adam(3e-3),
                          generator_optimizer=optax.sgd(0.0))
    result = fit(model, players, x, key=jax.random.key(0), steps=1500, batch_size=512,
                 progress=False)
    fake = np.asarray(model.generator.sample(jax.random.key(1), 100_000))[:, 0]
    q = stats.gaussian_kde(fake)  # the frozen generator's density
    grid = np.linspace(-8.0, 10.0, 4001)
    p_grid, q_grid = stats.norm.pdf(grid, DATA_MEAN, 1.0), q(grid)
    m = (p_grid + q_grid) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.nansum(np.where(a > 0, a * np.log(a / m), 0.0)) * (grid[1] - grid[0])  # noqa: E731
    jsd = 0.5 * kl(p_grid) + 0.5 * kl(q_grid)
    bayes = math.log(4.0) - 2 * jsd
    late = float(np.mean(result.losses[-300:, 0]))
    assert result.traces <= 1
    assert late == pytest.approx(bayes, abs=0.03), (late, bayes)
    assert float(np.mean(result.losses[:20, 0])) > bayes + 0.1  # it had something to learn


@pytest.mark.parametrize(
    "objective, n_critic, lr, b2",
    [("non_saturating", 1, 2e-3, 0.999), ("wasserstein_gp", 5, 1e-3, 0.9),
     ("jensen_shannon", 1, 2e-3, 0.999)],
)
def test_each_objective_moves_the_generator_onto_the_data(objective, n_critic, lr, b2):
    model = gan_1d()
    players = gan_players(objective, critic_optimizer=optax.adam(lr, b1=0.5, b2=b2),
                          generator_optimizer=optax.adam(lr, b1=0.5, b2=b2), n_critic=n_critic,
                          penalty=1.0)
    result = fit(model, players, data_1d(), key=jax.random.key(2), steps=1500, batch_size=256,
                 steps_per_dispatch=250, progress=False)
    fake = np.asarray(model.generator.sample(jax.random.key(3), 20_000))[:, 0]
    assert result.traces <= 1 and result.losses.shape == (1500, 2)
    assert abs(fake.mean() - DATA_MEAN) < 0.25 and abs(fake.std() - 1.0) < 0.3, (
        fake.mean(), fake.std())


def test_conditional_generator_draws_for_the_batch_labels():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=4096).astype(np.int32)
    x = (np.where(labels == 1, 3.0, -3.0) + 0.5 * rng.normal(size=4096)).astype(np.float32)[:, None]
    model = gan_1d(num_classes=2)
    players = gan_players("non_saturating", critic_optimizer=optax.adam(2e-3, b1=0.5),
                          generator_optimizer=optax.adam(2e-3, b1=0.5), conditional=True)
    fit(model, players, (x, labels), key=jax.random.key(4), steps=2000, batch_size=256,
        progress=False)
    for label, centre in ((0, -3.0), (1, 3.0)):
        fake = model.generator.sample(jax.random.key(5), 5000, jnp.full(5000, label, jnp.int32))
        assert abs(float(jnp.mean(fake)) - centre) < 0.4, (label, float(jnp.mean(fake)))


def test_every_objective_gives_finite_losses_with_gradients_for_its_own_player():
    assert OBJECTIVES == ("minimax", "non_saturating", "wasserstein", "wasserstein_gp",
                          *F_DIVERGENCES)
    x = jnp.asarray(data_1d(256))
    for objective in OBJECTIVES:
        critic, generator = gan_players(objective, critic_optimizer=optax.adam(1e-3),
                                        generator_optimizer=optax.adam(1e-3))
        assert (critic.wrt, generator.wrt) == ("critic", "generator")
        model = gan_1d()
        for player in (critic, generator):
            loss, grads = nnx.value_and_grad(player.loss_fn)(model, x, jax.random.key(6))
            norms = {name: float(optax.tree.norm(nnx.state(grads, nnx.PathContains(name))))
                     for name in ("critic", "generator")}
            assert np.isfinite(float(loss)) and norms[player.wrt] > 0, (objective, norms)
        # the critic's loss sees the samples through stop_gradient: no generator gradient
        _, grads = nnx.value_and_grad(critic.loss_fn)(model, x, jax.random.key(6))
        assert float(optax.tree.norm(nnx.state(grads, nnx.PathContains("generator")))) == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(objective="hinge"), "gan_players: argument 'objective' must be one of"),
        (dict(objective="wasserstein", n_critic=0), "gan_players: argument 'n_critic' must be a positive int"),
        (dict(objective="wasserstein_gp", penalty=-1.0), "gan_players: argument 'penalty'"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan_players(critic_optimizer=optax.adam(1e-3), generator_optimizer=optax.adam(1e-3),
                    **kwargs)
