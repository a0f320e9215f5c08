"""Energy-based models against PyTorch on the same CPU: RBM training (CD-k) and the sampling loops.

One run measures, in float32 with the same network, batch and optimizer on both sides:

1. Training steps/s of a 784-500 RBM at batch 100 with CD-1 and CD-10: the library's
   ``train.fit`` with ``functools.partial(cd_loss, k=k)`` and ``optax.sgd(0.05)``, against
   the loop a student writes in PyTorch (``k`` sweeps of ``torch.bernoulli`` in a Python
   for-loop under ``torch.no_grad``, the free-energy difference as the loss,
   ``loss.backward()``, ``torch.optim.SGD(lr=0.05).step()``, batches indexed from a
   permutation drawn once per epoch).
2. Block Gibbs sampling of the same RBM, 100 chains, 1000 sweeps: ``RBM.gibbs_chain`` (one
   ``lax.scan``) against a for-loop of ``torch.bernoulli`` sweeps under ``torch.no_grad``.
3. Langevin (ULA) sampling of an MLP energy (silu), 1000 steps: 2-64-64-1 on 2-D points with
   1000 chains and 784-256-256-1 on 28x28 images (flattened) with 64 chains.
   ``samplers.ula`` with the score ``score_matching.energy_score``, against the usual
   autograd loop (``x.requires_grad_(True)``, ``g, = torch.autograd.grad(net(x).sum(), x)``,
   ``x = x - eta * g + sqrt(2 eta) * randn``). The energy is a ``dgm_lib.nn.MLP`` whose
   weights are copied into a ``torch.nn.Sequential``; the script asserts that the two
   energies (and the two RBMs' free energies) agree to 1e-4.

Timing uses the book's one timer (``dgm_lib.book.timer``); the book's one way to compile a
model's method (``dgm_lib.book.compiled``) compiles the samplers. Compilation is excluded on
the JAX side: every rate is the extra steps over the extra time of a run of n and a longer
one, so the fixed cost of a call cancels. ``fit`` compiles once per process: a first run of n
steps compiles its program before any timing, and every later ``fit`` of the same model, loss
and shapes (the same ``steps_per_dispatch``) reuses it; the long run has 4n steps, doubled
until its extra steps take 2 s, beside which the noise of a shared CPU is small. The
samplers are compiled for n = 250 and 4n = 1000 steps before any timing, and the rate is
``3n / (t_4n - t_n)``. PyTorch is warmed up, then timed over n training steps, or over the
same 1000 steps as the library's long run for the sampling loops. JAX and PyTorch
measurements alternate, three of each, and the table shows the medians, so the noise of a
shared machine hits both alike.

Threads: JAX runs on the CPU (``jax_platforms=cpu``) and uses every core the process may run
on; PyTorch is given the same number with ``torch.set_num_threads``, or one thread where a
trial of 10 steps before each measurement finds one faster: with another busy process on
the CPU, OpenMP's threads wait for the descheduled one at every operation, and all cores
can run many times slower than one (the table says which each measurement used).

Data: the fixed binarized MNIST through ``dgm_lib.data.load("auto", "train",
download=False)`` (set ``DGM_DATA_DIR`` to the folder that holds it), else random binary
images of the same shape (the speed does not depend on the values); the script says which.

PyTorch is needed by this benchmark only, not by the library or the book: install the CPU
build into the project's environment with ``.venv/bin/pip install torch==2.13.0``.

Run: ``.venv/bin/python benchmarks/ebm.py`` (about two minutes on two quiet cores). Prints one
table; nothing is written.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from versus_torch import (
    CORES,
    INSTALL,
    Case,
    LibraryRate,
    TorchModule,
    compiled_rate,
    medians,
    to_torch,
    torch,
    torch_rate,
)

import dgm_lib as dgm
from dgm_lib import train
from dgm_lib.book import compiled, timer
from dgm_lib.energy import RBM, cd_loss
from dgm_lib.nn import MLP
from dgm_lib.samplers import ula
from dgm_lib.score_matching import energy_score

NO_TORCH = f"benchmarks/ebm.py compares the library with PyTorch, not installed here: {INSTALL}."

D, HIDDEN, BATCH, CHAINS = 784, 500, 100, 100
LR = 0.05
REPEATS = 3  # alternating JAX / PyTorch measurements per case; the table shows medians
CD_STEPS = {1: 250, 10: 50}  # n for CD-k: fit runs n and (at least) 4n steps, PyTorch n
MIN_EXTRA_S = 2.0  # the least time of fit's extra steps in the long run
SAMPLER_STEPS = 250  # n for the sampling loops; the long run has 4n = 1000 steps
TORCH_WARMUP, TORCH_TRIAL = 5, 10  # PyTorch's warm-up and thread-trial steps
TARGET = 2.0  # the library at least this many times faster on the sampling loops


def binary_images(n: int) -> tuple[np.ndarray, str]:
    """``(n, 784)`` float32 binary images: binarized MNIST if found locally, else random."""
    try:
        ds = dgm.data.load("auto", "train", download=False)
    except (OSError, ValueError) as err:
        why = str(err).splitlines()[0][:80]
    else:
        x = dgm.data.flatten(dgm.data.as_float(ds))[:n].astype(np.float32)
        if x.shape[1] == D:
            return x, ds.describe()
        why = f"found only {ds.describe()}"
    rng = np.random.default_rng(0)
    return (rng.random((n, D)) < 0.13).astype(np.float32), f"random binary images ({why})"


def fit_rate(seconds: Callable[[int], float], n: int) -> float:
    """Steps/s of ``fit`` from a run of ``n`` steps and a longer one, ``(long - n) /
    (t_long - t_n)``: the fixed cost of a call, the same in both, cancels (``fit`` compiled
    its program at its first call, before any timing). ``long`` is ``4n``, doubled until the
    extra steps take ``MIN_EXTRA_S``, so that the noise of a busy shared CPU stays small
    beside them."""
    short, long = seconds(n), 4 * n
    while (t_long := seconds(long)) - short < MIN_EXTRA_S:
        if long >= 64 * n:
            raise RuntimeError(
                f"fit: {n} and {long} steps took {short:.2f} s and {t_long:.2f} s; the "
                "difference is within the noise of the fixed cost, raise the number of steps"
            )
        long *= 2
    return (long - n) / (t_long - short)


class TorchRBM(TorchModule):
    """The RBM as a student writes it in PyTorch, with the weights of a library ``RBM``."""

    def __init__(self, rbm: RBM) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(to_torch(rbm.W[...]))
        self.b = torch.nn.Parameter(to_torch(rbm.b[...]))
        self.c = torch.nn.Parameter(to_torch(rbm.c[...]))

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """``F(v) = -b.v - sum_j softplus(c_j + v.W_j)``, shape ``(n,)``."""
        return -(v @ self.b) - torch.nn.functional.softplus(v @ self.W + self.c).sum(-1)

    def gibbs_step(self, v: torch.Tensor) -> torch.Tensor:
        """One block Gibbs sweep, ``h ~ p(h | v)`` then ``v' ~ p(v | h)``."""
        h = torch.bernoulli(torch.sigmoid(v @ self.W + self.c))
        return torch.bernoulli(torch.sigmoid(h @ self.W.T + self.b))


def check_same_rbm(rbm: RBM, net: TorchRBM, x: np.ndarray) -> None:
    """Assert that both RBMs give the same free energies (to 1e-4 relative) on ``x``."""
    ours = np.asarray(rbm.free_energy(jnp.asarray(x)))
    with torch.no_grad():
        theirs = net.free_energy(to_torch(x)).numpy()
    err = np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(ours)))
    assert err < 1e-4, f"the JAX and PyTorch RBMs differ: relative error {err:.2e}"


def cd_cases(x: np.ndarray, cd_steps: dict[int, int] = CD_STEPS) -> list[Case]:
    """CD-k training of a 784-500 RBM at batch 100, SGD(0.05), on both sides, for each ``k``
    of ``cd_steps`` (its n): CD-1 and CD-10. ``fit``'s program is compiled here, by a first
    run of n steps."""
    rbm = RBM(D, HIDDEN, rngs=nnx.Rngs(0))
    if torch is not None:
        check_same_rbm(rbm, TorchRBM(rbm), x[:BATCH])
        data = to_torch(x)

    def library_seconds(k: int, steps: int) -> float:
        model = RBM(D, HIDDEN, rngs=nnx.Rngs(0))
        with timer() as t:
            train.fit(model, partial(cd_loss, k=k), x, key=jax.random.key(0), steps=steps,
                      batch_size=BATCH, optimizer=optax.sgd(LR),
                      steps_per_dispatch=cd_steps[k], progress=False)
        return t.seconds

    def library(k: int, n: int) -> LibraryRate:
        seconds = partial(library_seconds, k)
        return LibraryRate(partial(fit_rate, seconds, n), seconds(n), n)  # the first compiles

    def pytorch_train(k: int, steps: int) -> None:
        net = TorchRBM(rbm)
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        per_epoch = len(data) // BATCH
        for step in range(steps):
            if step % per_epoch == 0:
                perm = torch.randperm(len(data))
            v = data[perm[(step % per_epoch) * BATCH : (step % per_epoch + 1) * BATCH]]
            with torch.no_grad():
                negative = v
                for _ in range(k):
                    negative = net.gibbs_step(negative)
            loss = net.free_energy(v).mean() - net.free_energy(negative).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return [
        Case(f"RBM {D}-{HIDDEN} CD-{k} training, batch {BATCH}", library(k, n),
             None if torch is None else partial(
                 torch_rate, partial(pytorch_train, k), n, warmup=TORCH_WARMUP,
                 trial=TORCH_TRIAL), target_applies=False)
        for k, n in cd_steps.items()
    ]


def gibbs_case(x: np.ndarray) -> Case:
    """1000 block Gibbs sweeps of 100 chains of the 784-500 RBM."""
    rbm = RBM(D, HIDDEN, rngs=nnx.Rngs(0))
    net = None if torch is None else TorchRBM(rbm)
    v0 = x[:CHAINS]
    chains = {n: compiled(rbm, "gibbs_chain", num_steps=n) for n in (SAMPLER_STEPS,
                                                                    4 * SAMPLER_STEPS)}

    def library(steps: int) -> jax.Array:
        return chains[steps](jax.random.key(1), v0).final

    def pytorch(steps: int) -> torch.Tensor:
        v = to_torch(v0)
        with torch.no_grad():
            for _ in range(steps):
                v = net.gibbs_step(v)
        return v

    return Case(f"RBM {D}-{HIDDEN} block Gibbs, {CHAINS} chains",
                compiled_rate(library, SAMPLER_STEPS),
                None if torch is None else partial(
                    torch_rate, pytorch, 4 * SAMPLER_STEPS, warmup=TORCH_WARMUP,
                    trial=TORCH_TRIAL), target_applies=True)


def torch_mlp(mlp: MLP) -> torch.nn.Sequential:
    """The ``dgm_lib.nn.MLP`` (silu here; also relu or tanh) as a ``torch.nn.Sequential``
    with the same weights."""
    activation = {"silu": torch.nn.SiLU, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    layers: list[torch.nn.Module] = []
    for layer in mlp.layers:
        linear = torch.nn.Linear(*layer.kernel.shape)
        with torch.no_grad():
            linear.weight.copy_(to_torch(layer.kernel[...]).T)
            linear.bias.copy_(to_torch(layer.bias[...]))
        layers += [linear, activation[mlp.activation]()]
    return torch.nn.Sequential(*layers[:-1])


def ula_final(energy: MLP, key: jax.Array, x0: jax.Array, *, num_steps: int,
              step_size: float) -> jax.Array:
    """The final states of ``num_steps`` ULA steps on the energy ``energy(x)[:, 0]``."""
    score = energy_score(lambda x: energy(x)[:, 0])
    return ula(key, score, x0, step_size=step_size, num_steps=num_steps).final


def ula_case(sizes: tuple[int, ...], chains: int, step_size: float, what: str,
             steps: int = SAMPLER_STEPS) -> Case:
    """ULA on an MLP energy with layer ``sizes`` (silu), ``chains`` chains of ``sizes[0]``-D;
    runs of ``steps`` and ``4 * steps`` steps."""
    mlp = MLP(sizes, "silu", rngs=nnx.Rngs(0))
    x0 = np.random.default_rng(0).standard_normal((chains, sizes[0])).astype(np.float32)
    if torch is not None:
        net = torch_mlp(mlp)
        with torch.no_grad():
            err = np.max(np.abs(np.asarray(mlp(jnp.asarray(x0))) - net(to_torch(x0)).numpy()))
        assert err < 1e-4, f"the JAX and PyTorch energies differ by {err:.2e} on the same batch"
    runs = {n: compiled(mlp, ula_final, num_steps=n, step_size=step_size)
            for n in (steps, 4 * steps)}

    def library(steps: int) -> jax.Array:
        return runs[steps](jax.random.key(2), x0)

    def pytorch(steps: int) -> torch.Tensor:
        x, noise = to_torch(x0), math.sqrt(2.0 * step_size)
        for _ in range(steps):
            x.requires_grad_(True)
            e = net(x).sum()
            g, = torch.autograd.grad(e, x)
            x = x.detach() - step_size * g + noise * torch.randn_like(x)
        return x

    name = "-".join(map(str, sizes))
    return Case(f"ULA, MLP energy {name} silu, {what}, {chains} chains",
                compiled_rate(library, steps),
                None if torch is None else partial(
                    torch_rate, pytorch, 4 * steps, warmup=TORCH_WARMUP, trial=TORCH_TRIAL),
                target_applies=True)


def main() -> None:
    if torch is None:
        sys.exit(NO_TORCH)
    jax.config.update("jax_platforms", "cpu")
    torch.set_num_threads(CORES)
    x, source = binary_images(10_000)
    print(dgm.run_info())
    print(f"torch {torch.__version__}: torch.set_num_threads({CORES}), the cores this process may"
          " use (XLA:CPU uses them all), or 1 where that measured faster")
    print(f"data: {source}")
    with timer() as total:
        cases = [
            *cd_cases(x),
            gibbs_case(x),
            ula_case((2, 64, 64, 1), 1000, 1e-2, "2-D points"),
            ula_case((D, 256, 256, 1), 64, 1e-3, "28x28 images"),
        ]
        rates = {case.name: medians(case, REPEATS) for case in cases}
    print()
    print(f"steps/s, medians of {REPEATS} alternating measurements; sampling loops "
          f"{4 * SAMPLER_STEPS} steps")
    print("| case | library steps/s | PyTorch steps/s | PyTorch threads | library / PyTorch |")
    print("|---|---|---|---|---|")
    for name, (ours, theirs, threads) in rates.items():
        used = ",".join(map(str, threads))
        print(f"| {name} | {ours:.1f} | {theirs:.1f} | {used} | {ours / theirs:.2f} |")
    print()
    print(f"target: >= {TARGET:.0f}x for the sampling loops")
    for case in cases:
        if case.target_applies:
            ours, theirs, _ = rates[case.name]
            verdict = "meets" if ours >= TARGET * theirs else "MISSES"
            print(f"  {case.name}: {ours / theirs:.2f}x, {verdict} the target")
    print(f"total time {total.seconds:.0f} s")


if __name__ == "__main__":
    main()
