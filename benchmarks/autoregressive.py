"""Autoregressive models on 28x28 binary images: training speed, and what lax.scan buys sampling.

Two measurements from one run:

1. Training steps per second of ``train.fit`` at batch 100 for MADE (784-500-784, if
   ``dgm_lib.made`` exists) and PixelCNN. ``fit`` compiles on every call, so the rate is the
   difference of a long and a short run with the same ``steps_per_dispatch``,
   ``(long - short) / (t_long - t_short)``; the compile time cancels.
2. Sampling time of the library's samplers (one ``lax.scan`` over the 784 pixels) against a
   plain Python loop that does the same per-pixel computation: the per-step function
   (conditionals on the current canvas, draw pixel ``i``, write it) is ``jax.jit``-compiled
   once and called 784 times from Python. Both are compiled before timing; the best of
   ``--repeats`` runs is kept. For the GRU of ``dgm_lib.sequence`` the per-step function is
   one GRU cell (the state carries the past), as in its scan sampler.

The ratio says how much of a Python-loop sampler is dispatch overhead: large when each step
is a little work (a GRU cell, few samples), near one when each step is a whole network pass
that dwarfs the ~0.1 ms of a Python call (PixelCNN reruns its convolutions on the full canvas
at every one of the 784 steps).

Data: binarized MNIST through ``dgm_lib.data.load`` without downloading, else random binary
images of the same shape (the speed does not depend on the values).

Run: ``python benchmarks/autoregressive.py [--samples 4] [--repeats 1]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from dgm_lib import data as data_lib
from dgm_lib import train
from dgm_lib.autoregressive import nll_loss
from dgm_lib.pixelcnn import PixelCNN
from dgm_lib.probability import sample_bernoulli
from dgm_lib.sequence import GRUAutoregressive, gru_cell

H = W = 28
D = H * W
BATCH = 100


def binary_images(n: int) -> tuple[np.ndarray, str]:
    """``(n, 784)`` float32 binary images: binarized MNIST if found locally, else random."""
    try:
        ds = data_lib.load("binarized_mnist", "train", download=False)
        return data_lib.flatten(data_lib.as_float(ds))[:n], ds.describe()
    except (OSError, ValueError) as err:
        rng = np.random.default_rng(0)
        why = str(err).splitlines()[0][:80]
        return (rng.random((n, D)) < 0.13).astype(np.float32), f"random binary images ({why})"


def steps_per_second(model_fn: Callable[[], nnx.Module], loss_fn, x: np.ndarray,
                     short: int, long: int) -> tuple[float, float]:
    """Rate of ``fit`` at batch 100 from two runs; also the time of the short run (compile).

    Both runs use ``steps_per_dispatch=short``, so they compile the same program."""
    times = {}
    for steps in (short, long):
        t0 = time.perf_counter()
        train.fit(model_fn(), loss_fn, x, key=jax.random.key(0), steps=steps, batch_size=BATCH,
                  steps_per_dispatch=short, progress=False)
        times[steps] = time.perf_counter() - t0
    return (long - short) / (times[long] - times[short]), times[short]


def best_time(run: Callable[[], jax.Array], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - t0)
    return best


@partial(jax.jit, static_argnums=(0, 1))
def _canvas_step(graphdef: nnx.GraphDef, method: str, state: nnx.State, x: jax.Array,
                 i: jax.Array, key: jax.Array) -> jax.Array:
    """One step of ancestral sampling: all conditionals on the canvas, draw pixel ``i``."""
    model = nnx.merge(graphdef, state, copy=True)
    logit = lax.dynamic_index_in_dim(getattr(model, method)(x), i, axis=1, keepdims=False)
    return lax.dynamic_update_index_in_dim(x, sample_bernoulli(key, logit), i, axis=1)


def python_loop_sampler(model: nnx.Module, n: int) -> Callable[[jax.Array, int], jax.Array]:
    """``run(key, steps)``: the first ``steps`` pixels (all 784 for a sample; 1 compiles)."""
    graphdef, state = nnx.split(model)

    def run(key: jax.Array, steps: int = D) -> jax.Array:
        x = jnp.zeros((n, D), jnp.float32)
        for i, k in enumerate(jax.random.split(key, D)[:steps]):
            x = _canvas_step(graphdef, "conditionals", state, x, jnp.int32(i), k)
        return x

    return run


@jax.jit
def _gru_step(params, h: jax.Array, i: jax.Array, key: jax.Array):
    x_i = sample_bernoulli(key, h @ params.readout + params.out_bias[i])
    return gru_cell(params, h, x_i), x_i


def gru_python_loop_sampler(
    model: GRUAutoregressive, n: int
) -> Callable[[jax.Array, int], jax.Array]:
    params = model.params()

    def run(key: jax.Array, steps: int = D) -> jax.Array:
        h = jnp.broadcast_to(params.h0, (n, model.hidden))
        columns = []
        for i, k in enumerate(jax.random.split(key, D)[:steps]):
            h, x_i = _gru_step(params, h, jnp.int32(i), k)
            columns.append(x_i)
        return jnp.stack(columns, axis=1)

    return run


def compare_samplers(name: str, model: nnx.Module, loop: Callable, n: int, repeats: int) -> float:
    def scan_run() -> jax.Array:
        return model.sample(jax.random.key(1), n)

    def loop_run() -> jax.Array:
        return loop(jax.random.key(1))

    jax.block_until_ready((scan_run(), loop(jax.random.key(1), 1)))  # compile both
    t_scan, t_loop = best_time(scan_run, repeats), best_time(loop_run, repeats)
    ratio = t_loop / t_scan
    print(f"  {name:<34s} scan {t_scan:8.3f} s   Python loop {t_loop:8.3f} s   "
          f"loop/scan {ratio:6.2f}x  ({n} samples, {D} steps)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4, help="samples per sampler run")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per sampler")
    args = parser.parse_args()
    start = time.perf_counter()
    have_made = importlib.util.find_spec("dgm_lib.made") is not None
    have_nade = importlib.util.find_spec("dgm_lib.nade") is not None

    x, source = binary_images(1_000)
    print(f"devices: {jax.devices()}   data: {source}")

    def pixelcnn() -> PixelCNN:
        return PixelCNN(jax.random.key(0), (H, W))  # 7x7 A, 4 residual 3x3 B, 32 channels

    print(f"\ntrain.fit steps/s at batch {BATCH} (rate between a short and a long run):")
    if have_made:
        from dgm_lib.made import MADE, made_loss

        def made() -> MADE:
            return MADE(jax.random.key(0), D, (500,))

        rate, compile_s = steps_per_second(made, made_loss, x, 100, 1100)
        print(f"  {'MADE 784-500-784':<34s} {rate:8.1f} steps/s  (first run {compile_s:.1f} s)")
    else:
        print("  MADE: skipped, dgm_lib.made not found")
    rate, compile_s = steps_per_second(pixelcnn, nll_loss, x, 10, 50)
    name = "PixelCNN 7x7A + 4x(3x3B), 32 ch"
    print(f"  {name:<34s} {rate:8.2f} steps/s  (first run {compile_s:.1f} s)")

    n, r = args.samples, args.repeats
    print(f"\nsampling {n} images of 28x28: lax.scan sampler vs Python loop of jitted steps:")
    ratios = {}
    if have_nade:
        from dgm_lib.nade import NADE

        nade = NADE(jax.random.key(0), D, 500)
        ratios["NADE"] = compare_samplers("NADE (H=500)", nade, python_loop_sampler(nade, n), n, r)
    else:
        print("  NADE: skipped, dgm_lib.nade not found")
    if have_made:
        m = made()
        ratios["MADE"] = compare_samplers("MADE 784-500-784", m, python_loop_sampler(m, n), n, r)
    gru = GRUAutoregressive(jax.random.key(0), D, hidden=64)
    ratios["GRU"] = compare_samplers("GRU (H=64), state carried", gru,
                                     gru_python_loop_sampler(gru, n), n, r)
    p = pixelcnn()
    ratios["PixelCNN"] = compare_samplers("PixelCNN (full canvas per step)", p,
                                          python_loop_sampler(p, n), n, r)

    print("\nloop/scan ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    fast = [k for k, v in ratios.items() if v >= 5.0]
    print(f"scan at least 5x faster for: {', '.join(fast) if fast else 'none'}")
    print(f"total time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
