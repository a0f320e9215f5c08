"""Score-based samplers against PyTorch on the same CPU: annealed Langevin and Euler-Maruyama.

One run measures sampler steps/s, in float32 with the same network weights and the same batch
of chains on both sides; one step is one score evaluation and one update of every chain:

1. Annealed Langevin dynamics (Song and Ermon 2019) on 2-D points, 1000 chains, 10 noise
   levels ``sigma`` from 10 down to 0.01 (geometric), with the noise-conditional score
   ``s(x, sigma) = ScoreModel.score(x, t(sigma))`` of a ``ScoreModel(ScoreMLP(2, (128, 128,
   128)), VESDE(0.01, 10.0), data_std=2.0)``, ``t(sigma) = VESDE.time_of_std(sigma)``:
   ``samplers.annealed_langevin``, against the loop a student writes in PyTorch (Song and
   Ermon's code): ``for sigma in sigmas:`` (the level's times and step size) ``for _ in
   range(T): x = x + eta * score(x, t) + sqrt(2 eta) * torch.randn_like(x)`` under
   ``torch.no_grad``.
2. Reverse-SDE Euler-Maruyama sampling of the same 2-D model from its prior, 1000 chains:
   ``score.euler_maruyama``, against the Python loop of Song et al.'s PyTorch predictor
   (``vec_t = torch.full((n,), t)``, ``drift = sde.drift(x, vec_t) - g**2 * score(x,
   vec_t)``, ``x = x - drift * dt + g * sqrt(dt) * torch.randn_like(x)``, no noise on the
   last step).
3. The same Euler-Maruyama at image size: ``ScoreModel(ScoreMLP(784, (1024, 1024, 1024)),
   VPSDE(), data_std=0.7)`` on flattened 28x28 images, 64 chains.

The PyTorch score is a ``torch.nn.Module`` that reproduces ``ScoreMLP`` (the Fourier time
embedding with the same frozen frequencies, the concatenation, the SiLU MLP, with the weights
copied from the library's network) and ``ScoreModel``'s preconditioning and score (``eps =
sigma / v * x + alpha s / sqrt(v) * F(x / sqrt(v), t)``, ``v = alpha^2 s^2 + sigma^2``, score
``-eps / sigma(t)``), the SDEs' drift, diffusion and marginals in the same formulas; the
script asserts that the two scores agree to 1e-4 (relative to ``max(1, |s|)``) on random
states and times before anything is timed. The random draws differ between the sides; the
speed does not depend on them.

Timing uses the book's one timer (``dgm_lib.book.timer``); the book's one way to compile a
model's method (``dgm_lib.book.compiled``) compiles the samplers. Compilation and the cost of
a call are excluded on the JAX side: each sampler is compiled for n and 4n steps before any
timing (annealed Langevin: 10 levels of n/10 and 4n/10 steps; n = 250 on 2-D points, so the
long run is 10 x 100 steps, and n = 50 for the 784-D network, whose steps are slower), and the
rate is ``3n / (t_4n - t_n)``. PyTorch is warmed up, then timed over the same 4n steps as the
library's long run. JAX and PyTorch measurements alternate, three of each, and the table
shows the medians, so the noise of a shared machine hits both alike.

Threads: JAX runs on the CPU (``jax_platforms=cpu``) and uses every core the process may run
on; PyTorch is given the same number with ``torch.set_num_threads``, or one thread where a
trial of 20 steps before each measurement finds one faster: with another busy process on
the CPU, OpenMP's threads wait for the descheduled one at every operation, and all cores can
run many times slower than one (the table says which each measurement used).

Measured in one run on this machine (2 cores, shared with a book build and its tests: load
average 3.5 at the start, 5.8 at the end, so these are the rates of a busy CPU), library /
PyTorch: annealed Langevin 2-D 1.82x (603 against 332 steps/s), Euler-Maruyama 2-D 1.70x (377
against 223), Euler-Maruyama 784-D 1.11x (57 against 51); PyTorch ran fastest on one thread
every time. The 2-D rows miss the 3x target: with 1000 chains the step is not dispatch-bound.
Its four matrix products are about 83 MFLOP, and on one thread PyTorch's MLP alone takes about
1.5 ms of its 1.9 ms step, so removing the Python loop and the dispatch of its some 35
operations per step can gain little more than the 20% they cost; the rest of the ratio is
XLA's matrix products on both cores, and under load its two threads get a larger share of the
CPU than PyTorch's one. (With 100 chains the same loop is dispatch-bound: about 230 against
850 us per step, 3.7x, in a separate check.) The 784-D step (about 0.5 GFLOP) is matmul-bound,
the same BLAS work on both sides, and the target does not apply there.

PyTorch is needed by this benchmark only, not by the library or the book: install the CPU
build into the project's environment with ``.venv/bin/pip install torch==2.13.0``.

Run: ``.venv/bin/python benchmarks/score.py`` (about two minutes on the two busy cores). ``--quick``
shrinks the runs (n = 50 and 10 steps, one measurement of each side) to check that the
script works; its rates are rough. Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from versus_torch import (
    CORES,
    INSTALL,
    Case,
    TorchModule,
    compiled_rate,
    medians,
    to_torch,
    torch,
    torch_rate,
)

import dgm_lib as dgm
from dgm_lib import score as S
from dgm_lib.book import compiled, timer
from dgm_lib.samplers import annealed_langevin

NO_TORCH = f"benchmarks/score.py compares the library with PyTorch, not installed here: {INSTALL}."

TARGET = 3.0  # the library at least this many times faster on the 2-D (dispatch-bound) loops
LEVELS = 10  # annealed Langevin noise levels, sigma_max down to sigma_min
# PyTorch's warm-up and thread-trial steps: multiples of the annealed sampler's levels
TORCH_WARMUP, TORCH_TRIAL = LEVELS, 2 * LEVELS
SIGMA_MAX, SIGMA_MIN = 10.0, 0.01
LANGEVIN_STEP = 1e-5  # eta at the smallest level; level i uses eta (sigma_i / sigma_L)^2
T_MIN = 1e-3  # where the reverse SDE stops
POINT_CHAINS, IMAGE_CHAINS = 1000, 64
IMAGE_D = 784


@dataclass(frozen=True)
class Settings:
    """How long to run: ``n`` steps (the long run has ``4n``) and measurements per side."""

    points_steps: int = 250
    image_steps: int = 50
    repeats: int = 3  # alternating JAX / PyTorch measurements per case; the table shows medians


QUICK = Settings(points_steps=50, image_steps=10, repeats=1)


class TorchVESDE:
    """``S.VESDE`` in PyTorch: the same formulas on times ``(n,)``."""

    def __init__(self, sde: S.VESDE) -> None:
        self.sigma_min, self.sigma_max = sde.sigma_min, sde.sigma_max
        self.log_ratio = math.log(sde.sigma_max / sde.sigma_min)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        level = self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        return level * math.sqrt(2.0 * self.log_ratio)

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        growth = torch.expm1(2.0 * t * self.log_ratio)
        return torch.ones_like(t), self.sigma_min * torch.sqrt(growth)

    def time_of_std(self, std: float) -> float:
        return math.log1p((std / self.sigma_min) ** 2) / (2.0 * self.log_ratio)


class TorchVPSDE:
    """``S.VPSDE`` in PyTorch: the same formulas on times ``(n,)``."""

    def __init__(self, sde: S.VPSDE) -> None:
        self.beta_min, self.beta_max = sde.beta_min, sde.beta_max

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.beta(t)[:, None] * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t))

    def marginal(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * torch.square(t)
        return torch.exp(-0.5 * b), torch.sqrt(-torch.expm1(-b))


class TorchScoreModel(TorchModule):
    """``ScoreModel(ScoreMLP(...), sde, data_std=s)`` in PyTorch, with the library model's
    weights and frozen embedding frequencies."""

    def __init__(self, model: S.ScoreModel) -> None:
        super().__init__()
        net = model.net
        self.register_buffer("frequencies", to_torch(net.embed.frequencies[...]))
        self.linears = torch.nn.ModuleList()
        for layer in net.net.layers:
            linear = torch.nn.Linear(*layer.kernel.shape)
            with torch.no_grad():
                linear.weight.copy_(to_torch(layer.kernel[...]).T)
                linear.bias.copy_(to_torch(layer.bias[...]))
            self.linears.append(linear)
        self.sde = TorchVESDE(model.sde) if isinstance(model.sde, S.VESDE) else TorchVPSDE(
            model.sde)
        self.data_std = model.data_std

    def net(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``ScoreMLP``: the SiLU MLP of ``[x, sin(2 pi w t), cos(2 pi w t)]``."""
        angle = 2.0 * math.pi * t[:, None] * self.frequencies
        h = torch.cat([x, torch.sin(angle), torch.cos(angle)], dim=-1)
        for linear in self.linears[:-1]:
            h = torch.nn.functional.silu(linear(h))
        return self.linears[-1](h)

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``-eps(x, t) / sigma(t)`` with the preconditioned ``eps`` for times ``(n,)``."""
        alpha, sigma = (a[:, None] for a in self.sde.marginal(t))
        v = torch.square(alpha * self.data_std) + torch.square(sigma)
        root = torch.sqrt(v)
        eps = sigma / v * x + alpha * self.data_std / root * self.net(x / root, t)
        return -eps / sigma


def check_same_score(model: S.ScoreModel, net: TorchScoreModel, x: np.ndarray) -> None:
    """Assert that both score functions agree (to 1e-4 relative to ``max(1, |s|)``) on the
    states ``x`` at random times in ``[T_MIN, 1]``."""
    t = np.random.default_rng(1).uniform(T_MIN, 1.0, x.shape[0]).astype(np.float32)
    ours = np.asarray(model.score(jnp.asarray(x), jnp.asarray(t)))
    with torch.no_grad():
        theirs = net.score(to_torch(x), to_torch(t)).numpy()
    err = np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(ours)))
    assert err < 1e-4, f"the JAX and PyTorch scores differ: relative error {err:.2e}"


def annealed_final(model: S.ScoreModel, key: jax.Array, x0: jax.Array, sigmas: jax.Array, *,
                   steps_per_level: int, step_size: float) -> jax.Array:
    """The final states of annealed Langevin dynamics with ``s(x, sigma) = model.score(x,
    t(sigma))``."""

    def score_fn(x: jax.Array, sigma: jax.Array) -> jax.Array:
        return model.score(x, model.sde.time_of_std(sigma))

    return annealed_langevin(key, score_fn, x0, sigmas=sigmas, step_size=step_size,
                             steps_per_level=steps_per_level).final


def euler_maruyama_final(model: S.ScoreModel, key: jax.Array, x_T: jax.Array, *,
                         num_steps: int) -> jax.Array:
    """Samples by ``num_steps`` reverse-SDE Euler-Maruyama steps of the model's score."""
    return S.euler_maruyama(key, model.sde, model.score, x_T, num_steps=num_steps, t_min=T_MIN)


def point_model() -> S.ScoreModel:
    """The 2-D noise-conditional score model of rows 1 and 2 (untrained: speed only)."""
    rngs = nnx.Rngs(0)
    return S.ScoreModel(S.ScoreMLP(2, (128, 128, 128), rngs=rngs), S.VESDE(SIGMA_MIN, SIGMA_MAX),
                        data_std=2.0)


def prior_states(model: S.ScoreModel, chains: int, d: int) -> np.ndarray:
    """``(chains, d)`` float32 draws of the model's prior ``N(0, sigma(1)^2 I)``."""
    rng = np.random.default_rng(0)
    return (model.sde.prior_std() * rng.standard_normal((chains, d))).astype(np.float32)


def annealed_case(n: int) -> Case:
    """Annealed Langevin on 2-D points, 1000 chains, 10 levels of ``steps / 10`` steps."""
    model = point_model()
    x0 = prior_states(model, POINT_CHAINS, 2)
    if torch is not None:
        net = TorchScoreModel(model)
        check_same_score(model, net, x0)
    sigmas = np.geomspace(SIGMA_MAX, SIGMA_MIN, LEVELS).astype(np.float32)
    runs = {steps: compiled(model, annealed_final, steps_per_level=steps // LEVELS,
                            step_size=LANGEVIN_STEP) for steps in (n, 4 * n)}

    def library(steps: int) -> jax.Array:
        return runs[steps](jax.random.key(1), x0, sigmas)

    def pytorch(steps: int) -> torch.Tensor:
        x = to_torch(x0)
        with torch.no_grad():
            for sigma in sigmas.tolist():
                t = torch.full((x.shape[0],), net.sde.time_of_std(sigma))
                eta = LANGEVIN_STEP * (sigma / SIGMA_MIN) ** 2
                noise = math.sqrt(2.0 * eta)
                for _ in range(steps // LEVELS):
                    x = x + eta * net.score(x, t) + noise * torch.randn_like(x)
        return x

    return Case(f"annealed Langevin, 2-D points, {POINT_CHAINS} chains, {LEVELS} levels",
                compiled_rate(library, n),
                None if torch is None else partial(
                    torch_rate, pytorch, 4 * n, warmup=TORCH_WARMUP, trial=TORCH_TRIAL),
                target_applies=True)


def euler_maruyama_case(model: S.ScoreModel, chains: int, n: int, what: str,
                        dispatch_bound: bool) -> Case:
    """Reverse-SDE Euler-Maruyama of ``model`` from its prior, ``chains`` chains."""
    d = model.net.d
    x_T = prior_states(model, chains, d)
    if torch is not None:
        net = TorchScoreModel(model)
        check_same_score(model, net, x_T)
    runs = {steps: compiled(model, euler_maruyama_final, num_steps=steps)
            for steps in (n, 4 * n)}

    def library(steps: int) -> jax.Array:
        return runs[steps](jax.random.key(2), x_T)

    def pytorch(steps: int) -> torch.Tensor:
        x = to_torch(x_T)
        times = np.linspace(1.0, T_MIN, steps + 1).tolist()
        dt = (1.0 - T_MIN) / steps
        with torch.no_grad():
            for k in range(steps):
                vec_t = torch.full((chains,), times[k])
                g = net.sde.diffusion(vec_t)[:, None]
                drift = net.sde.drift(x, vec_t) - g**2 * net.score(x, vec_t)
                x = x - drift * dt
                if k < steps - 1:
                    x = x + g * math.sqrt(dt) * torch.randn_like(x)
        return x

    return Case(f"Euler-Maruyama, {what}, {chains} chains", compiled_rate(library, n),
                None if torch is None else partial(
                    torch_rate, pytorch, 4 * n, warmup=TORCH_WARMUP, trial=TORCH_TRIAL),
                target_applies=dispatch_bound)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs, one measurement per side: checks the script only")
    settings = QUICK if parser.parse_args().quick else Settings()
    if torch is None:
        sys.exit(NO_TORCH)
    jax.config.update("jax_platforms", "cpu")
    torch.set_num_threads(CORES)
    print(dgm.run_info())
    print(f"torch {torch.__version__}: torch.set_num_threads({CORES}), the cores this process may"
          " use (XLA:CPU uses them all), or 1 where that measured faster")
    start_load = os.getloadavg()
    with timer() as total:
        image_model = S.ScoreModel(S.ScoreMLP(IMAGE_D, (1024, 1024, 1024), rngs=nnx.Rngs(0)),
                                   S.VPSDE(), data_std=0.7)
        cases = [
            annealed_case(settings.points_steps),
            euler_maruyama_case(point_model(), POINT_CHAINS, settings.points_steps,
                                "VE, ScoreMLP 2-128-128-128-2, 2-D points", True),
            euler_maruyama_case(image_model, IMAGE_CHAINS, settings.image_steps,
                                f"VP, ScoreMLP {IMAGE_D}-1024-1024-1024-{IMAGE_D}, 28x28 images",
                                False),
        ]
        rates = {case.name: medians(case, settings.repeats) for case in cases}
    end_load = os.getloadavg()
    print()
    print(f"steps/s (one score evaluation and update of every chain), medians of "
          f"{settings.repeats} alternating measurements; 2-D runs {4 * settings.points_steps}"
          f" steps, 784-D runs {4 * settings.image_steps}")
    print("| case | library steps/s | PyTorch steps/s | library / PyTorch | PyTorch threads |")
    print("|---|---|---|---|---|")
    for name, (ours, theirs, threads) in rates.items():
        used = ",".join(map(str, threads))
        print(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | {used} |")
    print()
    print(f"target: >= {TARGET:.0f}x for the dispatch-bound 2-D sampler loops")
    for case in cases:
        ours, theirs, _ = rates[case.name]
        if case.target_applies:
            verdict = "meets" if ours >= TARGET * theirs else "MISSES"
            print(f"  {case.name}: {ours / theirs:.2f}x, {verdict} the target")
        else:
            print(f"  {case.name}: {ours / theirs:.2f}x (matmul-bound: no target)")
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{a:.2f}" for a in start_load)
          + "; at the end: " + ", ".join(f"{a:.2f}" for a in end_load))
    print(f"total time {total.seconds:.0f} s")


if __name__ == "__main__":
    main()
