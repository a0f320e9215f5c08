"""Convolutions on XLA:CPU, measured in one run: why the book convolves with matrix products.

1. One training step of a small convolutional network (3x3 convolutions 1-32-32-1, SiLU,
   batch 32 of 28x28 images, Adam, mean-squared error), written two ways: with
   ``lax.conv_general_dilated`` (what ``nnx.Conv`` calls) and with ``dgm_lib.nn.conv2d``
   (shifted copies of the image side by side, times one matrix). Each is timed as a Python
   loop of jitted steps and as a ``lax.fori_loop`` of the same steps in one compiled call,
   the loop that ``train.fit`` and the samplers run. XLA:CPU runs the gradient of
   ``lax.conv`` inside a loop many times slower than outside one (jax-ml/jax#12868); the
   matrix-product form runs at about the same speed in both.
2. ``train.fit`` steps of the score chapter's image model against the library's U-Net, the
   usual choice for images: ``score.ScoreMLP`` 784-1024-1024-1024 against ``ScoreUNet`` with
   features (16, 32, 32), the DSM loss, batch 128, compile time apart.

Every time is the best of ``--repeats`` after a warm-up that compiles. Run:
``.venv/bin/python benchmarks/conv.py [--repeats 3]`` (about two minutes on two cores).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax

import dgm_lib as dgm
from dgm_lib import score as S
from dgm_lib import train
from dgm_lib.book import best_time, timer
from dgm_lib.nn import conv2d

STEPS = 10  # steps per timed call


def lax_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    dims = ("NHWC", "HWIO", "NHWC")
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=dims) + bias


def conv_step_seconds(conv: Callable, repeats: int) -> tuple[float, float]:
    """Seconds per training step as a Python loop of jitted steps and inside one fori_loop."""
    keys = jax.random.split(jax.random.key(0), 4)
    sizes = [(1, 32), (32, 32), (32, 1)]
    params = [(0.1 * jax.random.normal(k, (3, 3, a, b)), jnp.zeros(b))
              for k, (a, b) in zip(keys, sizes, strict=False)]  # fmt: skip
    x = jax.random.normal(keys[3], (32, 28, 28, 1))
    tx = optax.adam(1e-3)

    def loss(params):
        h = x
        for i, (kernel, bias) in enumerate(params):
            h = conv(h, kernel, bias)
            h = jax.nn.silu(h) if i < len(params) - 1 else h
        return jnp.mean(jnp.square(h - x))

    def step(carry):
        params, opt = carry
        grads = jax.grad(loss)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt

    one = jax.jit(step)
    looped = jax.jit(lambda c: lax.fori_loop(0, STEPS, lambda i, c: step(c), c))
    carry = (params, tx.init(params))

    def python_loop():
        c = carry
        for _ in range(STEPS):
            c = one(c)
        return c

    return (best_time(python_loop, repeats=repeats) / STEPS,
            best_time(looped, carry, repeats=repeats) / STEPS)  # fmt: skip


def fit_step_seconds(make: Callable[[], nnx.Module], data: np.ndarray) -> tuple[float, float]:
    """Seconds per ``fit`` step at batch 128 (a run of 60 steps minus one of 20), and the
    first call's seconds beyond a warm one (compilation)."""

    def run(steps: int) -> float:
        model = S.ScoreModel(make(), S.VPSDE(), data_std=1.0)
        with timer() as t:
            train.fit(model, S.dsm_loss, data, key=jax.random.key(0), steps=steps,
                      batch_size=128, steps_per_dispatch=20, progress=False)  # fmt: skip
        return t.seconds

    first, short, long = run(20), run(20), run(60)
    return (long - short) / 40, first - short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(dgm.run_info())
    print("\n| 3x3 conv net 1-32-32-1, batch 32, 28x28 | Python loop of jitted steps (ms) | "
          "inside lax.fori_loop (ms) | loop / Python |")  # fmt: skip
    print("|---|---|---|---|")
    for name, conv in (("lax.conv_general_dilated", lax_conv), ("dgm_lib.nn.conv2d", conv2d)):
        outside, inside = conv_step_seconds(conv, args.repeats)
        print(f"| {name} | {1e3 * outside:.1f} | {1e3 * inside:.1f} | {inside / outside:.1f}x |")
    images = np.random.default_rng(0).normal(size=(2_048, 28, 28, 1)).astype(np.float32)
    print("\n| train.fit, DSM loss, batch 128 | ms per step | compile (s) |")
    print("|---|---|---|")
    rows = [
        ("ScoreMLP 784-1024-1024-1024", lambda: S.ScoreMLP(784, (1024,) * 3, rngs=nnx.Rngs(0)),
         images.reshape(len(images), -1)),
        ("ScoreUNet (16, 32, 32)", lambda: S.ScoreUNet(1, (16, 32, 32), rngs=nnx.Rngs(0)),
         images),
    ]  # fmt: skip
    for name, make, data in rows:
        seconds, compile_seconds = fit_step_seconds(make, data)
        print(f"| {name} | {1e3 * seconds:.0f} | {compile_seconds:.1f} |")


if __name__ == "__main__":
    main()
