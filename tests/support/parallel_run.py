"""Run the library's batched entry points once and print what they returned, as JSON.

``tests/foundation/test_parallel.py`` runs this script in two processes, one with JAX's CPU
split into 8 devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``) and one with a
single device, and compares the two. For every entry point it records the values (losses,
samples, estimates) and how many rows of the batch each device held (``shard_rows``), read
from the arrays the library returned and, inside ``fit`` and ``evaluate``, from the batch the
loss saw after XLA partitioned the program (``jax.debug.inspect_array_sharding``).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dgm_lib import ais, samplers
from dgm_lib.diffusion import ancestral_sample, ddim_sample, linear_schedule
from dgm_lib.score.likelihood import probability_flow_log_prob
from dgm_lib.score.sampling import euler_maruyama, probability_flow_ode
from dgm_lib.score.sde import VPSDE
from dgm_lib.train import Validation, evaluate, fit

SEEN: dict[str, list[int]] = {}


class Regressor(nnx.Module):
    """A small MLP ``(n, 6) -> (n,)``."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.Linear(6, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jnp.tanh(self.hidden(x)))[:, 0]


def rows_seen(name: str, x: jax.Array) -> None:
    """Record, at compile time, the rows of ``x`` that one device holds."""
    jax.debug.inspect_array_sharding(
        x, callback=lambda s: SEEN.__setitem__(name, s.shard_shape(x.shape)[0])
    )


def loss(model: Regressor, batch: tuple, key: jax.Array) -> jax.Array:
    """Squared error to noisy targets (so the key matters)."""
    x, y = batch
    return jnp.mean(jnp.square(model(x) - y - 0.1 * jax.random.normal(key, y.shape)))


def watched_loss(model: Regressor, batch: tuple, key: jax.Array) -> jax.Array:
    """:func:`loss`, recording the batch's sharding."""
    rows_seen("fit", batch[0])
    return loss(model, batch, key)


def rows(x: jax.Array) -> int:
    """The rows of the returned array ``x`` that one device holds."""
    return x.sharding.shard_shape(x.shape)[0]


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 6)).astype(np.float32)
    y = np.sin(x.sum(1)).astype(np.float32)
    out: dict[str, dict] = {"devices": {"count": jax.local_device_count()}}

    for batch in (64, 100):  # 100 = 4 shards of 25 on 8 devices
        model = Regressor(nnx.Rngs(0))
        run = fit(model, watched_loss, (x, y), key=jax.random.key(1), steps=130,
                  batch_size=batch, optimizer=optax.adam(3e-3), steps_per_dispatch=50,
                  progress=False)
        first, again = (
            fit(Regressor(nnx.Rngs(0)), lambda m, b, k: loss(m, b, k), (x, y),
                key=jax.random.key(1), steps=130, batch_size=batch, optimizer=optax.adam(3e-3),
                steps_per_dispatch=50, progress=False)
            for _ in range(2)
        )
        kernel = model.hidden.kernel[...]
        out[f"fit{batch}"] = {
            "values": run.losses.tolist(),
            "traces": [first.traces, again.traces],
            "shard_rows": [SEEN.pop("fit")],
            "params": [len(kernel.sharding.device_set), kernel.sharding.is_fully_replicated],
        }
        mse = evaluate(model, lambda m, b: (rows_seen("evaluate", b[0]), (m(b[0]) - b[1]) ** 2)[1],
                       (x, y), batch_size=batch)
        out[f"evaluate{batch}"] = {"values": [mse], "shard_rows": [SEEN.pop("evaluate")]}

    # model selection: the validation scores (batches of 64 split over the devices) and the pick
    picked = fit(Regressor(nnx.Rngs(0)), loss, (x[:400], y[:400]), key=jax.random.key(1),
                 steps=130, batch_size=64, optimizer=optax.adam(3e-3), steps_per_dispatch=50,
                 progress=False, validation=Validation(
                     (x[400:], y[400:]), lambda m, b: (m(b[0]) - b[1]) ** 2, every=20,
                     batch_size=64))
    out["validation"] = {"values": [*picked.validation.ravel().tolist(), picked.best_step]}

    def log_p(z: jax.Array) -> jax.Array:
        return -0.5 * jnp.sum(jnp.square(z - 1.0), axis=-1)

    x0 = jnp.asarray(rng.normal(size=(64, 2)), jnp.float32)
    key = jax.random.key(2)
    chains = {
        "ula": samplers.ula(key, samplers.score_of(log_p), x0, step_size=0.05, num_steps=200),
        "mala": samplers.mala(key, log_p, x0, step_size=0.2, num_steps=200),
        "annealed_langevin": samplers.annealed_langevin(
            key, lambda z, s: (1.0 - z) / (1.0 + s**2), x0, sigmas=jnp.array([1.0, 0.3, 0.1]),
            step_size=0.01, steps_per_level=50),
    }
    for name, result in chains.items():
        out[name] = {"values": result.final.ravel().tolist(), "shard_rows": [rows(result.final)]}

    def tempered(z: jax.Array, beta: jax.Array) -> jax.Array:
        return -0.5 * jnp.sum(jnp.square(z), -1) + beta * log_p(z)

    def step(k: jax.Array, z: jax.Array, beta: jax.Array) -> jax.Array:
        return samplers.mala_transition(lambda v: tempered(v, beta), 0.3)(k, z)[0]

    estimate = ais.ais(key, x0, tempered, step, jnp.linspace(0.0, 1.0, 20))
    out["ais"] = {"values": estimate.log_weights.tolist(), "shard_rows": [rows(estimate.final)]}

    schedule = linear_schedule(40)

    def eps_fn(z: jax.Array, t: jax.Array) -> jax.Array:
        return 0.3 * z * jnp.sqrt(schedule.noise_variance(t))[:, None]

    for name, sample in {
        "ancestral_sample": ancestral_sample(key, eps_fn, schedule, x0),
        "ddim_sample": ddim_sample(key, eps_fn, schedule, x0, num_steps=10, eta=1.0),
    }.items():
        out[name] = {"values": sample.ravel().tolist(), "shard_rows": [rows(sample)]}

    sde = VPSDE()

    def score_fn(z: jax.Array, t: jax.Array) -> jax.Array:
        return -z

    for name, sample in {
        "euler_maruyama": euler_maruyama(key, sde, score_fn, x0, num_steps=50),
        "probability_flow_ode": probability_flow_ode(sde, score_fn, x0),
        "probability_flow_log_prob": probability_flow_log_prob(sde, score_fn, x0),
    }.items():
        out[name] = {"values": sample.ravel().tolist(), "shard_rows": [rows(sample)]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
