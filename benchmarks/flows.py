"""Does running identical flow layers with ``lax.scan`` keep compile time flat?

A 16-layer RealNVP on 2-D points (affine couplings with alternating half masks, MLP
conditioners 2-H-H-4) is built twice with the same parameters:

1. ``flows.Stack``: the 16 layers' parameters stacked along a leading axis and run by one
   ``lax.scan``, so XLA sees ONE layer;
2. ``flows.Chain``: the same 16 layers unrolled in Python, so XLA sees 16 copies.

For each, one training step (loss = mean NLL, gradient, Adam update) is jitted; we time the
first call (trace + compile + one run, with :func:`dgm_lib.book.timer`) and then the steady
step time (the fastest of many calls, :func:`dgm_lib.book.best_time`).
The two must agree numerically (same parameters); the script asserts that.

What to expect: tracing and lowering the unrolled flow grow with the depth everywhere. XLA's
own compile grows with it on a GPU, but XLA:CPU compiles each distinct fused kernel once and
the 16 copies of a layer fuse into identical kernels, so on a CPU the unrolled compile grows
slowly while the scan pays a fixed price for its loop machinery (the dynamic slices of the
stacked parameters, the stacked residuals of the backward pass). The scan's advantage on a
CPU therefore shows at larger depths than on a GPU; ``--layers 4 16 64`` shows the trend.

Run: ``python benchmarks/flows.py [--layers 16 [64 ...]] [--hidden 64] [--batch 256]
[--steps 200]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dgm_lib import flows as F
from dgm_lib.book import best_time, timer


def build(layers: int, hidden: int) -> tuple[F.Transformed, F.Transformed]:
    """The scanned stack and the same layers unrolled in a Chain (same parameters)."""
    make = lambda r, k: F.AffineCoupling(F.half_mask(2, k), hidden, rngs=r)  # noqa: E731
    stack = F.Stack(make, layers, rngs=nnx.Rngs(0))
    # move the zero-initialised last layers so the flows are not the identity (less for deep
    # stacks, whose log-determinants add up)
    params = nnx.state(stack, nnx.Param)
    rng = np.random.default_rng(1)
    scale = 0.05 * min(1.0, 16 / layers)
    nnx.update(stack, jax.tree.map(lambda p: p + scale * rng.standard_normal(p.shape), params))
    graphdef, state = nnx.split(stack.layers)
    unrolled = [
        nnx.merge(graphdef, jax.tree.map(lambda a, k=k: a[k], state)) for k in range(layers)
    ]
    base = F.StandardNormal((2,))
    return F.Transformed(base, stack), F.Transformed(base, F.Chain(unrolled))


def time_training_step(
    model: F.Transformed, x: jax.Array, steps: int
) -> tuple[float, float, float]:
    """(first call seconds, fastest step seconds, loss) of a jitted Adam step on the mean NLL."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(1e-3)

    def step(params, opt_state, x):
        def loss(p):
            return -jnp.mean(nnx.merge(graphdef, p, rest).log_prob(x))

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    opt_state = tx.init(params)
    with timer() as lower:
        lowered = jax.jit(step).lower(params, opt_state, x)  # trace to a jaxpr, lower to HLO
    with timer() as compile_:
        compiled = lowered.compile()  # XLA compilation
    with timer() as run:
        _, _, value = jax.block_until_ready(compiled(params, opt_state, x))
    first = lower.seconds + compile_.seconds + run.seconds
    print(f"  trace+lower {lower.seconds:.3f} s, XLA compile {compile_.seconds:.3f} s")
    # the same step from the same state every call: the work per call is identical
    step_seconds = best_time(compiled, params, opt_state, x, repeats=steps, warmup=1)
    return first, step_seconds, float(value)


def compare(layers: int, hidden: int, x: jax.Array, steps: int) -> tuple[float, float]:
    """Time both builds of a ``layers``-deep flow; return the unrolled/scan ratios of the
    first-call (compile) time and of the step time."""
    scanned, unrolled = build(layers, hidden)
    results = {}
    for name, model in (("lax.scan over stacked layers", scanned),
                        ("unrolled Python loop", unrolled)):
        results[name] = time_training_step(model, x, steps)
        first, step, loss = results[name]
        print(f"{name:30s} compile+first step {first:7.3f} s   step {1e3 * step:7.3f} ms   "
              f"loss {loss:.6f}")
    (c_scan, s_scan, l_scan), (c_unroll, s_unroll, l_unroll) = results.values()
    assert abs(l_scan - l_unroll) < 1e-4 * max(1.0, abs(l_scan)), "the two flows must agree"
    return c_unroll / c_scan, s_unroll / s_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[16])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"devices: {jax.devices()}; jax {jax.__version__}")
    x = jax.random.normal(jax.random.key(2), (args.batch, 2))
    # Warm up JAX, XLA and optax on a 2-layer flow of the same width, scanned and unrolled, so
    # no timing pays the one-off costs of the first compilations in the process (on a GPU,
    # the autotuning of each new matrix shape).
    for model in build(2, args.hidden):
        time_training_step(model, x, 2)
    ratios = {}
    for layers in args.layers:
        print(f"\n{layers} layers:")
        ratios[layers] = compare(layers, args.hidden, x, args.steps)
    print()
    for layers, (compile_ratio, step_ratio) in ratios.items():
        print(f"{layers} layers: compile time unrolled / scan = {compile_ratio:.1f}x; "
              f"step time unrolled / scan = {step_ratio:.2f}x")


if __name__ == "__main__":
    main()
