"""Bad arguments of dgm_lib.adversarial get errors that name the argument and what was
expected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.adversarial import (
    Critic,
    Generator,
    clip_weights,
    critic_loss,
    cycle_consistency_loss,
    dirac_gan,
    discriminator_loss,
    f_divergence,
    fgan_critic_loss,
    gan_value,
    gradient_penalty,
    interpolates,
    mixture_sample,
    mode_coverage,
    non_saturating_generator_loss,
    optimal_discriminator,
    ring_centres,
    variational_bound,
    wasserstein_1d,
)

KEY = jax.random.key(0)
A3, A4 = jnp.zeros(3), jnp.zeros(4)
X = jnp.zeros((4, 2))
GEN = Generator(2, (4,), (3,), rngs=nnx.Rngs(0))
CGEN = Generator(2, (4,), (3,), num_classes=2, rngs=nnx.Rngs(0))
CRITIC = Critic((3,), (4,), rngs=nnx.Rngs(0))

CASES = [
    (
        "disc_batch_mismatch",
        lambda: discriminator_loss(A3, A4),
        ValueError,
        "'fake_logits' must have shape (3,)",
    ),
    (
        "value_2d_logits",
        lambda: gan_value(X, X),
        ValueError,
        "'real_logits' must have shape (batch,)",
    ),
    ("nonsat_2d", lambda: non_saturating_generator_loss(X), ValueError, "'fake_logits'"),
    ("dstar_shapes", lambda: optimal_discriminator(A3, A4), ValueError, "'log_p'"),
    (
        "cycle_shape",
        lambda: cycle_consistency_loss(lambda a: a, lambda b: b[:, :1], X),
        ValueError,
        "shape of 'x'",
    ),
    (
        "cycle_not_callable",
        lambda: cycle_consistency_loss(1, lambda b: b, X),
        TypeError,
        "'forward'",
    ),
    (
        "fdiv_unknown",
        lambda: f_divergence("tv", A3 + 1, A3 + 1, 0.1),
        ValueError,
        "'name' must be one of ['jensen_shannon', 'kl'",
    ),
    ("fdiv_q_zero", lambda: f_divergence("kl", A3 + 1, A3, 0.1), ValueError, "'q' must be > 0"),
    (
        "fdiv_q_shape",
        lambda: f_divergence("kl", A3 + 1, A4 + 1, 0.1),
        ValueError,
        "'q' must have shape (3,)",
    ),
    ("fdiv_dx", lambda: f_divergence("kl", A3 + 1, A3 + 1, 0.0), ValueError, "'dx'"),
    (
        "bound_unknown",
        lambda: variational_bound("chi", A3, A3),
        ValueError,
        "'name' must be one of",
    ),
    (
        "fgan_batch",
        lambda: fgan_critic_loss("kl", A3, A4),
        ValueError,
        "'v_fake' must have shape (3,)",
    ),
    ("wgan_batch", lambda: critic_loss(A3, A4), ValueError, "'fake_scores' must have shape (3,)"),
    (
        "interp_shapes",
        lambda: interpolates(KEY, X, jnp.zeros((4, 3))),
        ValueError,
        "'fake' must have shape (4, 2)",
    ),
    ("interp_key", lambda: interpolates(0, X, X), TypeError, "'key'"),
    (
        "gp_critic_shape",
        lambda: gradient_penalty(KEY, lambda x: x, X, X),
        ValueError,
        "one score per example, shape (4,)",
    ),
    ("clip_c", lambda: clip_weights(-1.0), ValueError, "'c'"),
    ("w1_2d", lambda: wasserstein_1d([[1.0]], [1.0]), ValueError, "'a' must have shape (n,)"),
    (
        "w1_empty",
        lambda: wasserstein_1d([1.0], []),
        ValueError,
        "'b' must hold at least one value",
    ),
    (
        "dirac_mode",
        lambda: dirac_gan(1.0, 1.0, learning_rate=0.1, steps=3, mode="joint"),
        ValueError,
        "'mode' must be one of",
    ),
    (
        "dirac_steps",
        lambda: dirac_gan(1.0, 1.0, learning_rate=0.1, steps=0, mode="alternating"),
        ValueError,
        "'steps'",
    ),
    (
        "dirac_lr",
        lambda: dirac_gan(1.0, 1.0, learning_rate=0.0, steps=3, mode="alternating"),
        ValueError,
        "'learning_rate'",
    ),
    (
        "dirac_gamma",
        lambda: dirac_gan(1.0, 1.0, learning_rate=0.1, steps=3, mode="alternating", gamma=-1.0),
        ValueError,
        "'gamma'",
    ),
    ("ring_modes", lambda: ring_centres(0), ValueError, "'num_modes'"),
    (
        "mixture_centres",
        lambda: mixture_sample(KEY, jnp.zeros((3, 3)), 0.1, 5),
        ValueError,
        "'centres' must have shape (K, 2)",
    ),
    (
        "coverage_samples",
        lambda: mode_coverage(jnp.zeros((5, 3)), jnp.zeros((2, 2)), 0.1),
        ValueError,
        "'samples' must have shape (n, 2)",
    ),
    ("coverage_std", lambda: mode_coverage(X, X, 0.0), ValueError, "'std'"),
    (
        "gen_event_shape",
        lambda: Generator(2, (4,), (), rngs=nnx.Rngs(0)),
        ValueError,
        "'event_shape'",
    ),
    (
        "gen_output",
        lambda: Generator(2, (4,), (3,), output="tanh", rngs=nnx.Rngs(0)),
        ValueError,
        "'output' must be one of",
    ),
    ("gen_rngs", lambda: Generator(2, (4,), (3,), rngs=0), TypeError, "'rngs'"),
    ("gen_z_shape", lambda: GEN(jnp.zeros((4, 3))), ValueError, "'z' must have shape (n, 2)"),
    ("gen_labels_missing", lambda: CGEN.sample(KEY, 4), ValueError, "'labels' is required"),
    (
        "gen_labels_shape",
        lambda: CGEN.sample(KEY, 4, jnp.zeros(3, jnp.int32)),
        ValueError,
        "'labels' must have shape (4,)",
    ),
    (
        "gen_labels_range",
        lambda: CGEN.sample(KEY, 2, jnp.array([0, 2])),
        ValueError,
        "'labels' must lie in 0, ..., 1",
    ),
    (
        "gen_labels_float",
        lambda: CGEN.sample(KEY, 2, jnp.zeros(2)),
        TypeError,
        "'labels' must be an integer array",
    ),
    (
        "gen_labels_unconditional",
        lambda: GEN.sample(KEY, 2, jnp.zeros(2, jnp.int32)),
        ValueError,
        "'labels' must be None",
    ),
    (
        "critic_event_shape",
        lambda: CRITIC(jnp.zeros((4, 2))),
        ValueError,
        "'x' must have shape (batch, 3)",
    ),
    (
        "critic_classes",
        lambda: Critic((3,), (4,), num_classes=-1, rngs=nnx.Rngs(0)),
        ValueError,
        "'num_classes'",
    ),
]


@bad_calls(CASES)
def test_bad_arguments_are_refused_by_name(call, error, message):
    assert_raises_naming(call, error, message)
