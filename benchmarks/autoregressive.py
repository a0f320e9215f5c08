"""Autoregressive models on 28x28 binary images: training speed, and what lax.scan buys sampling.

Two measurements from one run:

1. Training steps per second of ``train.fit`` at batch 100 for MADE (784-500-784) and
   PixelCNN: after a first run that compiles (``fit`` compiles once per process), the rate is
   the difference of a long and a short run with the same ``steps_per_dispatch``, ``(long -
   short) / (t_long - t_short)``, so the fixed cost of a call cancels (the long run is
   lengthened until it is at least 2 s longer).
2. Sampling time of the library's samplers, one ``lax.scan`` over the 784 pixels whose step
   is the model's ``recurrence`` (GRU: one cell; NADE: an O(H) update of the running
   pre-activation; MADE: the same for its first layer, then one output unit; PixelCNN: the
   network on the 8x15 window of pixels that reach the next one), against two Python loops
   of ``jax.jit``-compiled steps, each called 784 times:

   (a) the SAME step: what the scan saves is the Python dispatch alone, large when a step
       is a little work, small when a step is a network pass (PixelCNN's window);
   (b) a FULL network pass on the canvas per pixel, the loop most notebooks write: what
       the scan and the model's recurrence save together.

   All are compiled before timing; the best of ``--repeats`` runs is kept.

Data: binarized MNIST through ``dgm_lib.data.load`` without downloading, else random binary
images of the same shape (the speed does not depend on the values).

Run: ``python benchmarks/autoregressive.py [--samples 4] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from dgm_lib import data as data_lib
from dgm_lib import train
from dgm_lib.autoregressive import MADE, NADE, GRUAutoregressive, PixelCNN, made_loss
from dgm_lib.book import best_time, timer
from dgm_lib.probability import sample_bernoulli
from dgm_lib.train import nll_loss

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
                     short: int) -> tuple[float, float]:
    """Rate of ``fit`` at batch 100 from a short and a long run; also the first run's time
    (the compile and ``short`` steps).

    Every run uses ``steps_per_dispatch=short``, so they share one program, compiled by the
    first; the fixed cost of a call cancels in ``(long - short) / (t_long - t_short)``.
    ``long`` grows by 4x until the extra steps take at least 2 s."""

    def seconds(steps: int) -> float:
        with timer() as t:
            train.fit(model_fn(), loss_fn, x, key=jax.random.key(0), steps=steps,
                      batch_size=BATCH, steps_per_dispatch=short, progress=False)
        return t.seconds

    t_first = seconds(short)
    t_short, long = seconds(short), 10 * short
    while (t_long := seconds(long)) - t_short < 2.0:
        long *= 4
    return (long - short) / (t_long - t_short), t_first


@partial(jax.jit, static_argnums=0)
def _canvas_step(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array, i: jax.Array,
                 key: jax.Array) -> jax.Array:
    """One step of the usual loop: all conditionals on the canvas, draw pixel ``i``."""
    logits = nnx.merge(graphdef, state, copy=True).conditionals(x)
    logit = lax.dynamic_index_in_dim(logits, i, axis=1, keepdims=False)
    return lax.dynamic_update_index_in_dim(x, sample_bernoulli(key, logit), i, axis=1)


def full_pass_loop_sampler(model: nnx.Module, n: int) -> Callable[..., jax.Array]:
    """``run(key, steps)``: the loop most notebooks write, a jitted full network pass per
    pixel called from Python (``steps=1`` compiles)."""
    graphdef, state = nnx.split(model)

    def run(key: jax.Array, steps: int = D) -> jax.Array:
        x = jnp.zeros((n, D), jnp.float32)
        for i, k in enumerate(jax.random.split(key, D)[:steps]):
            x = _canvas_step(graphdef, state, x, jnp.int32(i), k)
        return x

    return run


def recurrence_loop_sampler(model: nnx.Module, n: int) -> Callable[..., jax.Array]:
    """``run(key, steps)``: the model's own recurrence (the scan's step), jitted and called
    from Python once per pixel: the same arithmetic as the scan, one dispatch per step."""
    recurrence = model.recurrence(jnp.zeros((n, D), jnp.float32))  # MADE: ordering 0

    @jax.jit
    def step(state, i: jax.Array, key: jax.Array):
        x_i = sample_bernoulli(key, recurrence.read(state, i))
        return recurrence.write(state, i, x_i), x_i

    def run(key: jax.Array, steps: int = D) -> jax.Array:
        state, columns = recurrence.state, []
        for i, k in enumerate(jax.random.split(key, D)[:steps]):
            state, x_i = step(state, jnp.int32(i), k)
            columns.append(x_i)
        return jnp.stack(columns, axis=1)

    return run


def compare_samplers(name: str, model: nnx.Module, n: int, repeats: int) -> tuple[float, float]:
    """Print and return (full-pass loop / scan, recurrence loop / scan) sampling times."""
    runs = {
        "scan": lambda steps=D: model.sample(jax.random.key(1), n)[:, :steps],
        "recurrence loop": partial(recurrence_loop_sampler(model, n), jax.random.key(1)),
        "full-pass loop": partial(full_pass_loop_sampler(model, n), jax.random.key(1)),
    }
    jax.block_until_ready([run(steps=1) for run in runs.values()])  # compile all three
    t = {k: best_time(run, repeats=repeats, warmup=0) for k, run in runs.items()}
    full, same = t["full-pass loop"] / t["scan"], t["recurrence loop"] / t["scan"]
    print(f"  {name:<26s} scan {t['scan']:7.3f} s | loop, same step {t['recurrence loop']:7.3f} s"
          f" ({same:5.1f}x) | loop, full pass {t['full-pass loop']:7.3f} s ({full:6.1f}x)")
    return full, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4, help="samples per sampler run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per sampler")
    args = parser.parse_args()
    with timer() as total:
        run_all(args.samples, args.repeats)
    print(f"total time {total.seconds:.0f} s")


def run_all(n: int, r: int) -> None:
    """The two measurements: training rates, then the samplers."""
    x, source = binary_images(1_000)
    print(f"devices: {jax.devices()}   data: {source}")

    def pixelcnn() -> PixelCNN:
        return PixelCNN((H, W), rngs=nnx.Rngs(0))  # 7x7 A, 4 residual 3x3 B, 32 channels

    def made() -> MADE:
        return MADE(D, (500,), rngs=nnx.Rngs(0))

    print(f"\ntrain.fit steps/s at batch {BATCH} (rate between a short and a long run):")
    rate, compile_s = steps_per_second(made, made_loss, x, 100)
    print(f"  {'MADE 784-500-784':<34s} {rate:8.1f} steps/s  (first run {compile_s:.1f} s)")
    rate, compile_s = steps_per_second(pixelcnn, nll_loss, x, 10)
    name = "PixelCNN 7x7A + 4x(3x3B), 32 ch"
    print(f"  {name:<34s} {rate:8.2f} steps/s  (first run {compile_s:.1f} s)")

    print(f"\nsampling {n} images of 28x28 ({D} steps): the library's lax.scan sampler against a"
          "\nPython loop of jitted steps, (a) the same step, (b) a full network pass per pixel:")
    models = {
        "GRU (H=64)": GRUAutoregressive(D, hidden_size=64, rngs=nnx.Rngs(0)),
        "NADE (H=500)": NADE(D, 500, rngs=nnx.Rngs(0)),
        "MADE 784-500-784": made(),
        "PixelCNN": pixelcnn(),
    }
    ratios = {name: compare_samplers(name, model, n, r) for name, model in models.items()}
    print("\nscan vs the full-pass Python loop: "
          + ", ".join(f"{k} {v[0]:.1f}x" for k, v in ratios.items()))
    print("scan vs the same step in a Python loop (dispatch alone): "
          + ", ".join(f"{k} {v[1]:.1f}x" for k, v in ratios.items()))
    fast = [k for k, v in ratios.items() if v[0] >= 5.0]
    print(f"scan sampler at least 5x faster than the full-pass loop for: "
          f"{', '.join(fast) if fast else 'none'}")


if __name__ == "__main__":
    main()
