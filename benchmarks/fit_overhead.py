"""Where does the training speed come from? Steps per second of three loops, one MLP.

A small 2-64-64-2 MLP, batch 128, Adam, mean-squared error: the step is tiny, so the time
per step is the overhead of the loop around it. Three loops train the same model:

1. ``nnx.jit``: one Python iteration per step, ``nnx.Optimizer`` updating the module;
2. ``jax.jit`` on split state: the model split once (``nnx.split``), a pure step on arrays,
   the carry donated, still one Python iteration per step;
3. ``train.fit``: the same pure step inside ``lax.scan``, ``steps_per_dispatch`` steps per
   Python call, each batch gathered on the device by indices shuffled once per epoch.

Loops 1 and 2 train on one fixed batch (the cheapest input they could get); ``fit`` draws
a fresh random batch each step. Compilation is excluded: loops 1 and 2 are warmed up first;
``fit`` compiles on every call, so its rate is the difference of a long and a short run,
``(long - short) / (t_long - t_short)``, with ``long`` ten times the timed steps of the
loops so that the jitter of the compile time (about 0.1 s) stays small beside the run; the
compile time is printed separately.

Run: ``python benchmarks/fit_overhead.py [--steps 4000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dgm_lib.book import best_time
from dgm_lib.train import fit


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(2, 64, rngs=rngs)
        self.l2 = nnx.Linear(64, 64, rngs=rngs)
        self.l3 = nnx.Linear(64, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.l3(nnx.relu(self.l2(nnx.relu(self.l1(x)))))


def loss_fn(model: MLP, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> jax.Array:
    x, y = batch
    return jnp.mean((model(x) - y) ** 2)


def nnx_jit_rate(data, batch_size: int, steps: int, repeats: int) -> float:
    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    batch = (data[0][:batch_size], data[1][:batch_size])

    @nnx.jit
    def step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(loss_fn)(model, batch, None)
        optimizer.update(model, grads)
        return loss

    def run(n: int) -> None:
        for _ in range(n):
            loss = step(model, optimizer, batch)
        loss.block_until_ready()

    run(20)  # compile and warm up
    return steps / best_time(lambda: run(steps), repeats=repeats, warmup=0)


def jax_jit_rate(data, batch_size: int, steps: int, repeats: int) -> float:
    model = MLP(nnx.Rngs(0))
    tx = optax.adam(1e-3)
    graphdef, params = nnx.split(model, nnx.Param)
    batch = (data[0][:batch_size], data[1][:batch_size])

    def pure_loss(params, batch):
        return loss_fn(nnx.merge(graphdef, params, copy=True), batch, None)

    def step(carry, batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(pure_loss)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    step = jax.jit(step, donate_argnums=0)
    carry = [jax.tree.map(jnp.copy, (params, tx.init(params)))]

    def run(n: int) -> None:
        for _ in range(n):
            carry[0], loss = step(carry[0], batch)
        loss.block_until_ready()

    run(20)
    return steps / best_time(lambda: run(steps), repeats=repeats, warmup=0)


def fit_rate(data, batch_size: int, steps: int, repeats: int) -> tuple[float, float, int]:
    """Steps/s of ``fit`` without compilation, the seconds of one short run, and the chunk."""
    chunk = 100

    def run(n: int) -> None:
        model = MLP(nnx.Rngs(0))
        result = fit(
            model, loss_fn, data, key=jax.random.key(0), steps=n, batch_size=batch_size,
            optimizer=optax.adam(1e-3), steps_per_dispatch=chunk, progress=False,
        )  # fmt: skip
        assert result.traces == 1

    t_short = best_time(lambda: run(chunk), repeats=repeats, warmup=0)
    t_long = best_time(lambda: run(chunk + steps), repeats=repeats, warmup=0)
    return steps / (t_long - t_short), t_short, chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8192, 2)).astype(np.float32)
    data = (jnp.asarray(x), jnp.asarray(np.sin(2 * x)))
    batch_size = 128

    print(f"devices: {jax.devices()}; jax {jax.__version__}")
    print(f"2-64-64-2 MLP, batch {batch_size}, Adam, {args.steps} timed steps "
          f"({10 * args.steps} for train.fit), best of {args.repeats}\n")  # fmt: skip
    base = nnx_jit_rate(data, batch_size, args.steps, args.repeats)
    split = jax_jit_rate(data, batch_size, args.steps, args.repeats)
    scanned, t_short, chunk = fit_rate(data, batch_size, 10 * args.steps, args.repeats)

    rows = [
        ("nnx.jit step, nnx.Optimizer", base),
        ("split once + jax.jit step (donated)", split),
        (f"train.fit (lax.scan, {chunk} steps/dispatch)", scanned),
    ]
    print(f"{'loop':<44} {'steps/s':>10} {'vs nnx.jit':>11}")
    for name, rate in rows:
        print(f"{name:<44} {rate:>10.0f} {rate / base:>10.1f}x")
    print(f"\ntrain.fit compile + one dispatch of {chunk} steps: {t_short:.2f} s")
    print(f"ratio train.fit / nnx.jit = {scanned / base:.1f}x")


if __name__ == "__main__":
    main()
