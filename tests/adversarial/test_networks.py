"""Properties of dgm_lib.adversarial.networks: output shapes and ranges; a conditional
generator and critic depend on the label; fit with two players (critic twice, then the
generator) on a tiny 2-D GAN compiles once, trains only each player's own parameters and moves
the generator's samples onto the data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dgm_lib.adversarial import (
    GAN,
    Critic,
    Generator,
    discriminator_loss,
    non_saturating_generator_loss,
)
from dgm_lib.nn import ACTIVATIONS
from dgm_lib.train import Player, fit


def test_shapes_and_sigmoid_output():
    gen = Generator(3, (8,), (4, 4, 1), output="sigmoid", rngs=nnx.Rngs(0))
    x = gen.sample(jax.random.key(0), 5)
    assert x.shape == (5, 4, 4, 1)
    assert float(x.min()) > 0 and float(x.max()) < 1
    critic = Critic((4, 4, 1), (8,), rngs=nnx.Rngs(1))
    assert critic(x).shape == (5,)
    assert "leaky_relu" in ACTIVATIONS and critic.net.activation == "leaky_relu"
    assert not hasattr(gen, "log_prob")


def test_conditional_networks_depend_on_the_label():
    gen = Generator(2, (16,), (3,), num_classes=4, rngs=nnx.Rngs(0))
    key = jax.random.key(0)
    a = gen.sample(key, 6, labels=jnp.zeros(6, jnp.int32))
    b = gen.sample(key, 6, labels=jnp.full(6, 3, jnp.int32))
    assert a.shape == (6, 3) and float(jnp.max(jnp.abs(a - b))) > 1e-3
    critic = Critic((3,), (16,), num_classes=4, rngs=nnx.Rngs(1))
    s0, s3 = critic(a, jnp.zeros(6, jnp.int32)), critic(a, jnp.full(6, 3, jnp.int32))
    assert s0.shape == (6,) and float(jnp.max(jnp.abs(s0 - s3))) > 1e-3


def test_fit_with_two_players_moves_the_generator_onto_the_data():
    data_mean = np.array([2.0, -1.0], np.float32)
    data = data_mean + 0.3 * np.random.default_rng(0).normal(size=(4096, 2)).astype(np.float32)
    gan = GAN(Generator(4, (32,), (2,), rngs=nnx.Rngs(0)), Critic((2,), (32,), rngs=nnx.Rngs(1)))
    key = jax.random.key(5)
    before = np.asarray(gan.sample(key, 2000))
    critic_before = jax.tree.map(jnp.copy, nnx.state(gan.critic, nnx.Param))

    def critic_loss(model, batch, k):
        fake = jax.lax.stop_gradient(model.generator.sample(k, batch.shape[0]))
        return discriminator_loss(model.critic(batch), model.critic(fake))

    def generator_loss(model, batch, k):
        return non_saturating_generator_loss(
            model.critic(model.generator.sample(k, batch.shape[0]))
        )

    adam = optax.adam(2e-3, b1=0.5)
    players = [
        Player(critic_loss, "critic", adam, repeats=2),
        Player(generator_loss, "generator", adam),
    ]
    result = fit(
        gan,
        players,
        data,
        key=jax.random.key(2),
        steps=600,
        batch_size=128,
        steps_per_dispatch=200,
        progress=False,
    )
    assert result.traces <= 1
    assert result.losses.shape == (600, 2) and np.all(np.isfinite(result.losses))
    after = np.asarray(gan.sample(key, 2000))
    gap_before = np.linalg.norm(before.mean(0) - data_mean)
    gap_after = np.linalg.norm(after.mean(0) - data_mean)
    assert gap_before > 1.5
    assert gap_after < 0.3 * gap_before, (gap_before, gap_after)
    changed = jax.tree.map(
        lambda a, b: float(jnp.max(jnp.abs(a - b))), critic_before, nnx.state(gan.critic, nnx.Param)
    )
    assert max(jax.tree.leaves(changed)) > 1e-3
