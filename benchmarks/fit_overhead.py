"""What does ``train.fit`` cost beyond the training step itself? Steps per second, one run.

``fit`` runs ``steps_per_dispatch`` steps per call of one compiled function and guards the run
(the non-finite stop naming the step, the short last dispatch, a fresh batch and key every
step). Its target (issue 21) is to cost nothing of its own: within 5% of a bare ``lax.scan``
of the same step. Two cases, where the step is small enough for overhead to show:

- **MLP** 2-64-64-2 on 2-D regression, batch 256, Adam, mean-squared error: the step is a
  few microseconds, so the time per step is the loop around it;
- **VAE** 784-200-200-50 tanh (the IWAE paper's), batch 20, Adam, the one-sample ELBO with a
  fresh key per step, on binary images (``dgm_lib.data.load("auto")``, else random ones).

Each case trains the same model four ways:

1. ``nnx.jit``: one Python iteration per step, ``nnx.Optimizer`` updating the module;
2. ``jax.jit`` on split state: the model split once (``nnx.split``), a pure step on arrays,
   the carry donated, one Python iteration per step;
3. a bare ``lax.scan`` of that pure step, ``chunk`` steps per call, the carry donated, no
   check of any kind: the least a training loop does. Its batches are what any training
   needs, a fresh permutation of the data each epoch drawn on the host and cut into batches
   (their indices passed per call), gathered on the device; the step's key ``fold_in(key,
   s)``;
4. ``train.fit`` with ``steps_per_dispatch=chunk``: fresh shuffled batches every step.

Loops 1 and 2 run on one fixed batch. Every rate excludes compilation: each loop is run once
first, and the rate is the extra steps over the extra time of a run of ``n`` and of ``4n``
steps, so the fixed cost of a call cancels too. A second ``fit`` of the same model, loss and
shapes reuses the first one's compilation (``FitResult.traces == 0`` is asserted), and the
seconds of the first call beyond the steady rate are printed as its compile time. The four
loops alternate, ``--repeats`` times, and the table shows medians.

Run: ``.venv/bin/python benchmarks/fit_overhead.py [--repeats 3]`` (about a minute on two
quiet cores). Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from ebm import binary_images  # binarized MNIST, else random binary images
from flax import nnx

import dgm_lib as dgm
from dgm_lib import latent
from dgm_lib.book import timer
from dgm_lib.nn import MLP
from dgm_lib.train import fit

CHUNK = 100  # steps per dispatch, for the scan and for fit
TARGET = 0.95  # fit at least this fraction of the bare scan's steps/s
VAE_SETUP = {name: latent.IWAE_SETUP[name] for name in ("latent_dim", "hidden_sizes", "activation")}


@dataclass(frozen=True)
class Setting:
    """One case: how to make a fresh model, its loss, data and batch, and ``n``."""

    name: str
    make: Callable[[], nnx.Module]
    loss_fn: Callable[[nnx.Module, Any, jax.Array], jax.Array]
    data: Any
    batch_size: int
    n: int


def mse(model: MLP, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> jax.Array:
    x, y = batch
    return jnp.mean((model(x) - y) ** 2)


def extra_rate(seconds: Callable[[int], float], n: int) -> float:
    """``3n / (t_4n - t_n)``: steps/s with the fixed cost of a call cancelled."""
    short, long = seconds(n), seconds(4 * n)
    if long - short < 0.2 * long:
        raise RuntimeError(f"{n} and {4 * n} steps took {short:.2f} s and {long:.2f} s: raise n")
    return 3 * n / (long - short)


def first_batch(case: Setting) -> Any:
    return jax.tree.map(lambda a: jnp.asarray(a[: case.batch_size]), case.data)


def nnx_jit_seconds(case: Setting) -> Callable[[int], float]:
    model = case.make()
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    batch, key = first_batch(case), jax.random.key(0)

    @nnx.jit
    def step(model, optimizer, batch, key):
        loss, grads = nnx.value_and_grad(case.loss_fn)(model, batch, key)
        optimizer.update(model, grads)
        return loss

    def seconds(n: int) -> float:
        with timer() as t:
            for s in range(n):
                loss = step(model, optimizer, batch, jax.random.fold_in(key, s))
            loss.block_until_ready()
        return t.seconds

    seconds(10)
    return seconds


def pure_step(case: Setting, tx: optax.GradientTransformation) -> tuple[Callable, tuple]:
    """The pure training step ``(carry, batch, key) -> (carry, loss)`` and its first carry."""
    graphdef, params, rest = nnx.split(case.make(), nnx.Param, ...)

    def step(carry: tuple, batch: Any, key: jax.Array) -> tuple:
        params, opt_state = carry

        def loss(p):
            return case.loss_fn(nnx.merge(graphdef, p, rest, copy=True), batch, key)

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    return step, (params, tx.init(params))


def jax_jit_seconds(case: Setting) -> Callable[[int], float]:
    step, carry = pure_step(case, optax.adam(1e-3))
    step = jax.jit(step, donate_argnums=0)
    state = [jax.tree.map(jnp.copy, carry)]
    batch, key = first_batch(case), jax.random.key(0)

    def seconds(n: int) -> float:
        with timer() as t:
            for s in range(n):
                state[0], loss = step(state[0], batch, jax.random.fold_in(key, s))
            loss.block_until_ready()
        return t.seconds

    seconds(10)
    return seconds


def scan_seconds(case: Setting) -> Callable[[int], float]:
    step, carry = pure_step(case, optax.adam(1e-3))
    data = jax.tree.map(jnp.asarray, case.data)
    n_examples = jax.tree.leaves(data)[0].shape[0]
    per_epoch = n_examples // case.batch_size
    rng, key = np.random.default_rng(0), jax.random.key(0)

    def shuffled() -> Iterator[np.ndarray]:
        """The data order every training loop needs: a permutation per epoch, in batches."""
        while True:
            perm = rng.permutation(n_examples)[: per_epoch * case.batch_size]
            yield from perm.astype(np.int32).reshape(per_epoch, case.batch_size)

    order = shuffled()

    def dispatch(carry: tuple, data: Any, start: jax.Array, idx: jax.Array) -> tuple:
        def body(carry: tuple, xs: tuple) -> tuple:
            s, rows = xs
            batch = jax.tree.map(lambda a: a[rows], data)
            return step(carry, batch, jax.random.fold_in(key, s))

        return jax.lax.scan(body, carry, (start + jnp.arange(CHUNK), idx))

    dispatch = jax.jit(dispatch, donate_argnums=0)
    state = [jax.tree.map(jnp.copy, carry)]

    def seconds(n: int) -> float:
        with timer() as t:
            for start in range(0, n, CHUNK):
                idx = np.stack(list(itertools.islice(order, CHUNK)))
                state[0], losses = dispatch(state[0], data, start, idx)
            losses.block_until_ready()
        return t.seconds

    seconds(CHUNK)
    return seconds


def fit_seconds(case: Setting) -> tuple[Callable[[int], float], float]:
    """Seconds of ``fit`` for ``n`` steps (compiled already), and the first call's seconds."""

    def seconds(n: int, first: bool = False) -> float:
        with timer() as t:
            result = fit(
                case.make(), case.loss_fn, case.data, key=jax.random.key(0), steps=n,
                batch_size=case.batch_size, optimizer=optax.adam(1e-3),
                steps_per_dispatch=CHUNK, progress=False,
            )  # fmt: skip
        assert result.traces == (1 if first else 0), "fit compiled again"
        return t.seconds

    return seconds, seconds(CHUNK, first=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8192, 2)).astype(np.float32)
    images, origin = binary_images(10_000)
    cases = [
        Setting(
            "MLP 2-64-64-2, batch 256", lambda: MLP([2, 64, 64, 2], rngs=nnx.Rngs(0)), mse,
            (x, np.sin(2 * x)), 256, 2_000,
        ),
        Setting(
            "VAE 784-200-200-50, batch 20",
            lambda: latent.VAE(784, **VAE_SETUP, rngs=nnx.Rngs(0)), latent.vae_loss, images,
            20, 500,
        ),
    ]  # fmt: skip
    print(dgm.run_info())
    print(f"VAE data: {origin}; {CHUNK} steps per dispatch; medians of {args.repeats}\n")
    print("| case | nnx.jit step | jax.jit step | bare lax.scan | train.fit | fit / scan | "
          f"fit's first call: compile + {CHUNK} steps (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    worst = np.inf
    for case in cases:
        fit_time, first = fit_seconds(case)
        loops = [nnx_jit_seconds(case), jax_jit_seconds(case), scan_seconds(case), fit_time]
        rates = [[] for _ in loops]
        for _ in range(args.repeats):
            for rate, seconds in zip(rates, loops, strict=True):
                rate.append(extra_rate(seconds, case.n))
        medians = [statistics.median(r) for r in rates]
        ratio = medians[3] / medians[2]
        worst = min(worst, ratio)
        cells = " | ".join(f"{m:,.0f}" for m in medians)
        print(f"| {case.name} | {cells} | {ratio:.2f} | {first:.2f} |")
    verdict = "met" if worst >= TARGET else "MISSED"
    print(f"\ntarget: train.fit at least {TARGET:.0%} of the bare scan's steps/s: {verdict} "
          f"(worst {worst:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
