"""VAE costs, measured in one run: training steps/s with train.fit, and the k-sample bound.

1. Steps per second of the 784-200-200-50 tanh VAE (the IWAE paper's architecture) trained
   with ``dgm_lib.train.fit`` on binary images (``dgm_lib.data.load("auto")``), at the
   paper's batch of 20 and at 100. Compilation is excluded: after a first run that compiles
   (``fit`` compiles once per process), two runs of n and 4n steps, and the rate is the extra
   steps over the extra time (n set by the budget).
2. The k-sample bound ``VAE.iwae_bound(key, x, k)`` (all k draws in one batched pass) for
   k = 1, 5, 50, 500, 5000, against a Python loop that draws and decodes one sample per
   iteration (each iteration jitted) and combines the log-weights with log-mean-exp, for
   k = 5 and 50; the ratio is loop time over batched time.

Timing uses the book's one timer (``dgm_lib.book.timer``, ``dgm_lib.book.best_time``) and
the book's one way to compile a model's method (``dgm_lib.book.compiled``).

Run: ``.venv/bin/python benchmarks/vae.py``. Prints one table; nothing is written.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import dgm_lib as dgm
from dgm_lib import latent, train
from dgm_lib.book import best_time, compiled, timer

SETUP = {name: latent.IWAE_SETUP[name] for name in ("latent_dim", "hidden_sizes", "activation")}


def fit_rate(x: np.ndarray, batch_size: int, steps: int) -> float:
    """Training steps per second of train.fit, compilation excluded."""

    def run(n: int) -> float:
        model = latent.VAE(x.shape[1], **SETUP, rngs=nnx.Rngs(0))
        with timer() as t:
            train.fit(model, latent.vae_loss, x, key=jax.random.key(0), steps=n,
                      batch_size=batch_size, steps_per_dispatch=min(n, 500), progress=False)
        return t.seconds

    run(steps)  # compiles
    short, long = run(steps), run(4 * steps)
    if long - short < 0.2 * long:
        raise RuntimeError(
            f"fit_rate: {steps} and {4 * steps} steps took {short:.2f} s and {long:.2f} s; the "
            "difference is within the noise of compilation, raise 'steps'"
        )
    return 3 * steps / (long - short)


def one_sample_log_weights(model: latent.VAE, key: jax.Array, x: jax.Array) -> jax.Array:
    """The log-weights of one draw per image, shape ``(batch,)``."""
    return model.log_weights(key, x, 1)[0]


def main() -> None:
    info = dgm.run_info()
    ds = dgm.data.load("auto", "train")
    x = dgm.data.flatten(dgm.data.as_float(ds))[:10_000].astype(np.float32)
    print(info)
    print(ds.describe())
    print()
    print(f"| training ({x.shape[1]}-200-200-50 tanh, Adam) | steps/s |")
    print("|---|---|")
    n = dgm.pick(smoke=100, cpu=500, gpu=20_000)
    for batch_size, steps in ((20, 2 * n), (100, n)):
        print(f"| train.fit, batch {batch_size} | {fit_rate(x, batch_size, steps):.0f} |")

    model = latent.VAE(x.shape[1], **SETUP, rngs=nnx.Rngs(0))
    batch = jnp.asarray(x[:10])
    key = jax.random.key(1)
    one_sample = compiled(model, one_sample_log_weights)

    def loop(k: int) -> jax.Array:
        log_w = jnp.stack([one_sample(jax.random.fold_in(key, i), batch) for i in range(k)])
        return latent.iwae_bound(log_w)

    print()
    print("| k | batched bound (ms) | Python loop (ms) | loop / batched |")
    print("|---|---|---|---|")
    for k in (1, 5, 50, 500, 5000):
        t_vec = best_time(compiled(model, "iwae_bound", k=k), key, batch)
        if k in (5, 50):
            t_loop = best_time(loop, k)
            print(f"| {k} | {1e3 * t_vec:.2f} | {1e3 * t_loop:.2f} | {t_loop / t_vec:.1f} |")
        else:
            print(f"| {k} | {1e3 * t_vec:.2f} | | |")
    print("\nbatch of 10 images; the bound's time per image is the table's value / 10.")


if __name__ == "__main__":
    main()
