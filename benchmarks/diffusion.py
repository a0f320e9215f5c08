"""The diffusion chapter's training and samplers against PyTorch on the same CPU: steps/s.

One run measures, in float32 with the same architecture, weights, batch and update formulas on
both sides, the steps per second of

1. training the chapter's model, ``DiffusionModel(ScoreMLP(784, (1024, 1024, 1024),
   num_classes=10), linear_schedule(1000), prediction="v")``, on flattened 28x28 images at
   batch 128 with ``diffusion_loss(model, x, key, labels=y, drop_labels=0.2)`` and
   Adam(1e-3);
2. training the same model with a small U-Net, ``ScoreUNet(1, (16, 32, 32), num_classes=10)``
   on ``(n, 28, 28, 1)`` images (28, 14 and 7 pixels; about 47 MFLOP per image and forward
   pass), batch 32, the same loss and optimizer;
3. sampling 100 images with the MLP model: DDIM with eta = 0 (``ddim_sample``) and ancestral
   sampling (``ancestral_sample``);
4. the same two samplers with the U-Net model, 16 images.

A training step is one Adam step on one batch; a sampler step is one network call and one
update of every image. The networks are class-conditional (a label embedding added to the time
embedding) and predict v, as in the chapter; the samplers read the conditional noise with fixed
labels (no guidance).

- The library: ``train.fit`` (via ``vs_pytorch.fit_rate``: ``min(100, n)`` steps per dispatch of
  one compiled ``lax.fori_loop``; no timed run compiles, which it asserts) and the chapter's
  samplers, one ``lax.scan`` each, compiled with ``dgm_lib.book.compiled``.
- PyTorch 2.13, eager, the loop a student writes: for training ``vs_pytorch.torch_train``
  (batches indexed from a permutation drawn once per epoch, ``opt.zero_grad();
  loss.backward(); opt.step()`` with ``torch.optim.Adam(lr=1e-3)``), the loss written out
  (``t = torch.randint(1, T + 1, (n,))``, ``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps``, labels
  replaced by "no label" where ``torch.rand(n) < 0.2``, ``eps = sqrt(1 - ab_t) x_t + sqrt(ab_t)
  v``, squared error summed over pixels, mean over the batch); for sampling a Python loop under
  ``torch.no_grad()`` with the library's update formulas: DDIM over its times (``x0 = (x -
  sqrt(1 - ab_t) eps) / sqrt(ab_t)``, ``x = sqrt(ab_s) x0 + sqrt(1 - ab_s) eps``), ancestral
  ``for t in reversed(range(1, T + 1))`` (the posterior mean given ``x0``, plus ``sigma_t
  torch.randn_like(x)`` but at the last step). The U-Net is ``nn.Conv2d`` ('same' padding),
  ``nn.GroupNorm`` (the library's groups and epsilon), SiLU, ``F.avg_pool2d`` and nearest
  ``F.interpolate``, on NCHW images, with the same channel plan.

Same computation: every PyTorch module gets the library's weights (``Conv2d`` kernels
``(k, k, C_in, C_out)`` permuted to ``(C_out, C_in, k, k)``, ``nnx.Linear`` kernels transposed,
the frozen Fourier frequencies, the label table); the U-Net's zero-initialised kernels (the
residual branches' second convolutions and the output) are first drawn at random, so that
every path carries signal. Before timing the script asserts, to 1e-4 relative to ``max(1,
|value|)``: the two networks' noise predictions on random images, times and labels, and the
two losses with ``diffusion_loss``'s own draws (times, noise, dropped labels) fed to PyTorch;
and for each sampler the final images of the library's timed n-step program against PyTorch's
loop from the same ``x_T`` (ancestral with the library's draws ``z_t`` fed in), which agree to
about 5e-6, so every step's update agrees. Outside the checks the random draws differ between
the sides; the speed does not depend on them, nor on the images, which are random in [-1, 1]
with random labels.

Timing (``benchmarks/versus_torch.py``): the library's rate excludes compilation and the fixed
cost of a call: it runs n and 4n steps once (compiling), then each measurement is ``3n / (t_4n
- t_n)``; the compile time of each case is printed apart (the first call's seconds beyond n
steps at the steady rate). Training: n = 50 (MLP) and 10 (U-Net) steps. DDIM: n and 4n of
the 1000 times (n = 50 for the MLP, 25 for the U-Net). Ancestral sampling runs every step of
its schedule, so the library's two runs use linear schedules of n and 4n steps with the same
network (n = 250 for the MLP: the long run is the chapter's 1000-step sampler; 25 for the
U-Net); the cost of a step does not depend on T. PyTorch is warmed up, then timed over the
same 4n steps (samplers) or 100 and 20 steps (training), with every core or one thread,
whichever a short trial before each measurement finds faster (``versus_torch.torch_rate``; on
a shared CPU OpenMP's threads can make all cores far slower than one; the table says which
each measurement used). JAX runs on the CPU and uses every core the process may run on. JAX
and PyTorch measurements alternate, three of each, and the table shows the medians.

Targets (the issue's): the library at least level with PyTorch in training (>= 1x) and at
least 2x in sampling; the script prints "met" or "MISSED" for each row.

Measured in one run on this machine (2 cores of an AMD EPYC, shared with another agent's test
suite and notebook kernels: load average 2.2 at the start and 4.2 at the end, and the load came
and went between the cases, so these are the rates of a busy CPU), library / PyTorch:

| case | library steps/s | PyTorch steps/s | ratio | target |
|---|---|---|---|---|
| training, MLP, batch 128 | 42.6 | 21.5 | 1.98 | >= 1x: met |
| training, U-Net, batch 32 | 6.1 | 13.9 | 0.44 | >= 1x: MISSED |
| DDIM, MLP, 100 images | 133.3 | 75.8 | 1.76 | >= 2x: MISSED |
| ancestral, MLP, 100 images | 366.5 | 135.7 | 2.70 | >= 2x: met |
| DDIM, U-Net, 16 images | 65.2 | 114.3 | 0.57 | >= 2x: MISSED |
| ancestral, U-Net, 16 images | 41.1 | 65.3 | 0.63 | >= 2x: MISSED |

JAX compile times: 2.2 s and 13.7 s for the two training steps, 1.0 and 2.8 s for the MLP's
samplers, 2.5 and 4.2 s for the U-Net's. PyTorch ran fastest on one thread but for the MLP's
ancestral sampler (both threads, the load being lighter then) and one U-Net DDIM measurement.

The MLP (7.5 MFLOP per image and pass; a training step at batch 128 is about 2.9 GFLOP, a
sampler step on 100 images 0.75 GFLOP) is matmul-bound, and the library's gain is XLA's
matrix products on both cores where PyTorch, under load, mostly runs best on one. Its two
sampler rows do the same work per step, so their spread (1.76x against 2.70x, and the
library's 133 against 367 steps/s) is the noise of the shared CPU: a separate check found the
library's step at 3 to 5 ms in both samplers as the other load came and went. So with the
MLP the training target is met, and the samplers are at about 2x, on the sampling target's
edge, not reliably above it.

The U-Net misses both targets by a wide margin, in training and in sampling. Its cost is the
convolutions (about 47 MFLOP per image and pass), and the library's ``dgm_lib.nn.conv2d``
(``tap_products``: nine shifted copies side by side and one matrix product, chosen because the
gradient of ``lax.conv`` is slow inside ``train.fit``'s loop) is slower than PyTorch's
``nn.Conv2d`` at these shapes, by 1.5 to 25 times, worst at 28x28 with many input and few
output channels: the up path's 48 -> 16 convolution on 16 images took 23 ms against 0.9 ms
(PyTorch, one thread) and 1.1 ms (``lax.conv_general_dilated``) in a separate check.

PyTorch is needed by this benchmark only, never by the library or the book: install the CPU
build with ``.venv/bin/pip install torch==2.13.0``. Without it the script says so and runs the
library's half alone (its rates and compile times). ``benchmarks/vs_pytorch.py`` includes these
rows, with these builders.

Run: ``.venv/bin/python benchmarks/diffusion.py`` (about five and a half minutes on the two
busy cores). ``--quick`` shrinks the runs (training n = 10 for the MLP and 3 for the U-Net;
samplers n = 10 for the MLP's DDIM, 25 for its ancestral sampler, 5 for the U-Net's; one
measurement of each side) to check that the script works, in two to three minutes on the busy
cores (under one without PyTorch); its rates are rough. Prints one table and the compile times;
nothing is written.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ebm import torch_mlp
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
from vs_pytorch import check_close, fit_rate, fmt, note, torch_train

import dgm_lib as dgm
from dgm_lib.book import compiled, timer
from dgm_lib.diffusion import (
    DiffusionModel,
    Schedule,
    ancestral_sample,
    ddim_sample,
    diffusion_loss,
    linear_schedule,
    timesteps,
)
from dgm_lib.nn import Conv2d
from dgm_lib.score import ScoreMLP, ScoreUNet

SIDE, D = 28, 784
T = 1000  # the chapter's linear schedule
CLASSES, DROP = 10, 0.2  # class-conditional, labels dropped for classifier-free guidance
PREDICTION = "v"
MLP_HIDDEN = (1024, 1024, 1024)
UNET_FEATURES = (16, 32, 32)
MLP_BATCH, UNET_BATCH = 128, 32  # training batches
MLP_SAMPLES, UNET_SAMPLES = 100, 16  # images per sampler call
EXAMPLES = 10_000  # random training images (the speed does not depend on their values)
TRAIN_TARGET, SAMPLE_TARGET = 1.0, 2.0


@dataclass(frozen=True)
class Settings:
    """Steps per case: the library runs n and 4n, PyTorch the given count after a warm-up and
    a thread trial; ``repeats`` alternating measurements per side."""

    repeats: int = 3
    mlp_train: int = 50
    mlp_train_torch: int = 100
    unet_train: int = 10
    unet_train_torch: int = 20
    mlp_ddim: int = 50  # DDIM on 50 and 200 of the 1000 times; PyTorch times 200
    mlp_ancestral: int = 250  # schedules of 250 and 1000 steps; PyTorch times 1000
    unet_ddim: int = 25
    unet_ancestral: int = 25


QUICK = Settings(repeats=1, mlp_train=10, mlp_train_torch=10, unet_train=3, unet_train_torch=3,
                 mlp_ddim=10, mlp_ancestral=25, unet_ddim=5, unet_ancestral=5)


# ------------------------------------------------------------------------------ the models


def randomised(model: DiffusionModel, seed: int = 0) -> DiffusionModel:
    """The model with its zero-initialised convolution kernels drawn at random (0.1 N(0, 1)),
    as tests/score/test_unet.py does, so that every path of the U-Net carries signal and the
    check of the two sides' outputs means something (at initialisation the residual branches
    and the output are zero). Drawn with NumPy: a JAX draw would compile once per shape."""
    rng = np.random.default_rng(seed)
    params = nnx.state(model, nnx.Param)
    leaves, treedef = jax.tree.flatten(params)
    new = [jnp.asarray(0.1 * rng.standard_normal(p.shape), jnp.float32)
           if p.ndim == 4 and not np.any(p) else p for p in leaves]
    nnx.update(model, jax.tree.unflatten(treedef, new))
    return model


def mlp_model() -> DiffusionModel:
    """The chapter's model: a class-conditional ScoreMLP 784-1024-1024-1024-784 predicting v."""
    net = ScoreMLP(D, MLP_HIDDEN, num_classes=CLASSES, rngs=nnx.Rngs(0))
    return DiffusionModel(net, linear_schedule(T), prediction=PREDICTION)


def unet_model() -> DiffusionModel:
    """The small class-conditional U-Net ``ScoreUNet(1, (16, 32, 32))`` on 28x28x1 images."""
    net = ScoreUNet(1, UNET_FEATURES, num_classes=CLASSES, rngs=nnx.Rngs(0))
    return randomised(DiffusionModel(net, linear_schedule(T), prediction=PREDICTION))


def loss(model: DiffusionModel, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> jax.Array:
    """The chapter's loss: L_simple with labels dropped at rate 0.2."""
    x, y = batch
    return diffusion_loss(model, x, key, labels=y, drop_labels=DROP)


def loss_draws(key: jax.Array, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The times, noise and dropped labels ``diffusion_loss`` draws from ``key`` (its key
    schedule), to feed the PyTorch loss in the check."""
    time_key, noise_key, drop_key = jax.random.split(key, 3)
    n = x0.shape[0]
    t = jax.random.randint(time_key, (n,), 1, T + 1)
    eps = jax.random.normal(noise_key, x0.shape)
    dropped = jax.random.bernoulli(drop_key, DROP, (n,))
    return np.array(t), np.array(eps), np.array(dropped)  # writable copies, for torch


def ddim_final(model: DiffusionModel, key: jax.Array, x_T: jax.Array, labels: jax.Array, *,
               num_steps: int) -> jax.Array:
    """Deterministic DDIM (eta = 0) on ``num_steps`` of the model's times."""
    return ddim_sample(key, model.eps, model.schedule, x_T, num_steps=num_steps, args=(labels,))


def ancestral_final(model: DiffusionModel, key: jax.Array, x_T: jax.Array,
                    labels: jax.Array) -> jax.Array:
    """Ancestral sampling through every step of the model's schedule."""
    return ancestral_sample(key, model.eps, model.schedule, x_T, args=(labels,))


def nchw(a: Any) -> np.ndarray:
    """``(n, H, W, C)`` to PyTorch's ``(n, C, H, W)`` (vectors are left as they are)."""
    a = np.asarray(a)
    return np.moveaxis(a, -1, 1) if a.ndim == 4 else a


# ------------------------------------------------------------------------------ PyTorch


def torch_linear(layer: nnx.Linear) -> torch.nn.Linear:
    linear = torch.nn.Linear(*layer.kernel.shape)
    with torch.no_grad():
        linear.weight.copy_(to_torch(layer.kernel[...]).T)
        linear.bias.copy_(to_torch(layer.bias[...]))
    return linear


def torch_conv(conv: Conv2d) -> torch.nn.Conv2d:
    """``nn.Conv2d`` with 'same' padding and the library kernel, ``(k, k, C_in, C_out)`` in
    the library, ``(C_out, C_in, k, k)`` in PyTorch."""
    k, _, c_in, c_out = conv.kernel.shape
    layer = torch.nn.Conv2d(c_in, c_out, k, padding=k // 2)
    with torch.no_grad():
        layer.weight.copy_(to_torch(conv.kernel[...]).permute(3, 2, 0, 1))
        layer.bias.copy_(to_torch(conv.bias[...]))
    return layer


def torch_group_norm(norm: nnx.GroupNorm) -> torch.nn.GroupNorm:
    layer = torch.nn.GroupNorm(norm.num_groups, norm.scale.shape[0], eps=norm.epsilon)
    with torch.no_grad():
        layer.weight.copy_(to_torch(norm.scale[...]))
        layer.bias.copy_(to_torch(norm.bias[...]))
    return layer


class TorchEmbedding(TorchModule):
    """``TimeEmbedding`` (the same frozen frequencies) plus ``LabelEmbedding`` (``nn.Embedding``
    with the library's table)."""

    def __init__(self, net: ScoreMLP | ScoreUNet) -> None:
        super().__init__()
        self.register_buffer("frequencies", to_torch(net.embed.frequencies[...]))
        table = net.labels.table.embedding
        self.labels = torch.nn.Embedding(*table.shape)
        with torch.no_grad():
            self.labels.weight.copy_(to_torch(table[...]))

    def forward(self, u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        angle = 2.0 * math.pi * u[:, None] * self.frequencies
        return torch.cat([torch.sin(angle), torch.cos(angle)], -1) + self.labels(labels)


class TorchScoreMLP(TorchModule):
    """``ScoreMLP``: the SiLU MLP of ``[x, embedding]``."""

    def __init__(self, net: ScoreMLP) -> None:
        super().__init__()
        self.embed, self.mlp = TorchEmbedding(net), torch_mlp(net.net)

    def forward(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([x, self.embed(u, labels)], -1))


class TorchResBlock(TorchModule):
    """The U-Net's residual block (``score.networks._ResBlock``) in NCHW."""

    def __init__(self, block: Any) -> None:
        super().__init__()
        self.norm1, self.conv1 = torch_group_norm(block.norm1), torch_conv(block.conv1)
        self.time = torch_linear(block.time)
        self.norm2, self.conv2 = torch_group_norm(block.norm2), torch_conv(block.conv2)
        self.skip = None if block.skip is None else torch_conv(block.skip)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        silu = torch.nn.functional.silu
        h = self.conv1(silu(self.norm1(x)))
        h = h + self.time(silu(emb))[:, :, None, None]
        h = self.conv2(silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class TorchScoreUNet(TorchModule):
    """``ScoreUNet`` with ``nn.Conv2d``, ``nn.GroupNorm``, SiLU, 2x2 average pooling and
    nearest upsampling, the same channel plan and weights, on NCHW images."""

    def __init__(self, net: ScoreUNet) -> None:
        super().__init__()
        self.embed, self.time_mlp = TorchEmbedding(net), torch_mlp(net.time_mlp)
        self.stem = torch_conv(net.stem)
        self.down = torch.nn.ModuleList(TorchResBlock(b) for b in net.down)
        self.middle = TorchResBlock(net.middle)
        self.up = torch.nn.ModuleList(TorchResBlock(b) for b in net.up)
        self.out_norm, self.out = torch_group_norm(net.out_norm), torch_conv(net.out)
        self.levels = net.levels

    def forward(self, x: torch.Tensor, u: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        functional = torch.nn.functional
        emb = self.time_mlp(self.embed(u, labels))
        h, skips = self.stem(x), []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = functional.avg_pool2d(h, 2)
        h = self.middle(h, emb)
        for i, block in zip(reversed(range(self.levels)), self.up, strict=True):
            if i < self.levels - 1:
                h = functional.interpolate(h, scale_factor=2, mode="nearest")
            h = block(torch.cat([h, skips[i]], 1), emb)
        return self.out(functional.silu(self.out_norm(h)))


class TorchDiffusion(TorchModule):
    """``DiffusionModel`` in PyTorch: the network of ``(x_t, t / T, labels)``, its v output
    turned into the noise, ``eps = sqrt(1 - ab_t) x_t + sqrt(ab_t) v``; the schedule's
    coefficients as tensors (indexed per example in training) and as Python floats (the
    samplers' scalars), all from ``Schedule.alpha_bars``."""

    def __init__(self, net: TorchModule, schedule: Schedule) -> None:
        super().__init__()
        self.net, self.T = net, schedule.num_steps
        ab = np.concatenate([[1.0], schedule.alpha_bars])  # index t = 0, ..., T
        self.register_buffer("sqrt_ab", to_torch(np.sqrt(ab)))
        self.register_buffer("sqrt_1m_ab", to_torch(np.sqrt(1.0 - ab)))
        self.ab = ab.tolist()
        beta = np.concatenate([[0.0], schedule.betas])
        ab_prev = np.concatenate([[1.0], ab[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 is never a source
            self.coef_x0 = (np.sqrt(ab_prev) * beta / (1.0 - ab)).tolist()
            self.coef_xt = (np.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab)).tolist()
            self.sigma = np.sqrt((1.0 - ab_prev) / (1.0 - ab) * beta).tolist()

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The noise at integer times ``t`` ``(n,)``."""
        shape = (-1,) + (1,) * (x.dim() - 1)
        out = self.net(x, t.float() / self.T, labels)
        return self.sqrt_1m_ab[t].view(shape) * x + self.sqrt_ab[t].view(shape) * out


def torch_loss(model: TorchDiffusion, x0: torch.Tensor, y: torch.Tensor,
               draws: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """``diffusion_loss`` in PyTorch: ``t ~ U{1..T}``, ``x_t = sqrt(ab) x0 + sqrt(1 - ab) eps``,
    labels dropped to "no label" (index K) with probability 0.2, the squared error of the noise
    summed over pixels, mean over the batch. ``draws`` (t, eps, dropped) replace the random
    ones (the check)."""
    n = x0.shape[0]
    if draws is None:
        t = torch.randint(1, model.T + 1, (n,))
        eps = torch.randn_like(x0)
        dropped = torch.rand(n) < DROP
    else:
        t, eps, dropped = draws
    labels = torch.where(dropped, CLASSES, y.long())  # torch_train hands labels as float32
    shape = (-1,) + (1,) * (x0.dim() - 1)
    x_t = model.sqrt_ab[t].view(shape) * x0 + model.sqrt_1m_ab[t].view(shape) * eps
    return torch.square(eps - model.eps(x_t, t, labels)).flatten(1).sum(1).mean()


def torch_ddim(model: TorchDiffusion, x: torch.Tensor, labels: torch.Tensor,
               times: list[int]) -> torch.Tensor:
    """Deterministic DDIM, the loop a student writes: from each time to the next (then 0),
    ``x0 = (x - sqrt(1 - ab_t) eps) / sqrt(ab_t)``, ``x = sqrt(ab_s) x0 + sqrt(1 - ab_s) eps``."""
    n, ab = x.shape[0], model.ab
    with torch.no_grad():
        for t, s in zip(times, [*times[1:], 0], strict=True):
            eps = model.eps(x, torch.full((n,), t), labels)
            x0 = (x - math.sqrt(1.0 - ab[t]) * eps) / math.sqrt(ab[t])
            x = math.sqrt(ab[s]) * x0 + math.sqrt(1.0 - ab[s]) * eps
    return x


def torch_ancestral(model: TorchDiffusion, x: torch.Tensor, labels: torch.Tensor,
                    noise: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Ancestral sampling, ``for t in reversed(range(1, T + 1))``: ``x0`` from the noise, the
    posterior mean ``c0_t x0 + ct_t x``, plus ``sigma_t z`` but at the last step (``noise``:
    the draws ``z`` by time, for the check; else ``torch.randn_like``)."""
    n, ab = x.shape[0], model.ab
    with torch.no_grad():
        for t in reversed(range(1, model.T + 1)):
            eps = model.eps(x, torch.full((n,), t), labels)
            x0 = (x - math.sqrt(1.0 - ab[t]) * eps) / math.sqrt(ab[t])
            x = model.coef_x0[t] * x0 + model.coef_xt[t] * x
            if t > 1:
                z = torch.randn_like(x) if noise is None else noise[t]
                x = x + model.sigma[t] * z
    return x


def torch_model(model: DiffusionModel) -> TorchDiffusion:
    """The model in PyTorch, with its weights and schedule."""
    net = model.net
    torch_net = TorchScoreUNet(net) if isinstance(net, ScoreUNet) else TorchScoreMLP(net)
    return TorchDiffusion(torch_net, model.schedule)


# ------------------------------------------------------------------------------ the cases


def images(shape: tuple[int, ...], n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random images in [-1, 1] of ``shape`` and labels in ``{0, ..., 9}``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)
    return x, rng.integers(0, CLASSES, n).astype(np.int32)


def shape_of(model: DiffusionModel) -> tuple[int, ...]:
    return (SIDE, SIDE, 1) if isinstance(model.net, ScoreUNet) else (D,)


def check_values(model: DiffusionModel, x: jax.Array, t: jax.Array, y: jax.Array,
                 key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The noise predictions at ``(x, t, y)`` and the loss of ``(x, y)`` with ``key``."""
    return model.eps(x, t, y), loss(model, (x, y), key)


def check_model(model: DiffusionModel, net: TorchDiffusion, batch: int) -> None:
    """Assert that the two sides' noise predictions and losses agree on random inputs (the loss
    with ``diffusion_loss``'s own draws fed to PyTorch)."""
    x, y = images(shape_of(model), batch, seed=1)
    t = np.random.default_rng(2).integers(1, T + 1, batch).astype(np.int32)
    key = jax.random.key(3)
    eps, value = compiled(model, check_values)(x, t, y, key)  # one compilation, not one per op
    t_draw, noise, dropped = loss_draws(key, x)
    draws = (torch.from_numpy(t_draw.astype(np.int64)), to_torch(nchw(noise)),
             torch.from_numpy(dropped))
    x_t, y_t = to_torch(nchw(x)), torch.from_numpy(y.astype(np.int64))
    with torch.no_grad():
        theirs = net.eps(x_t, torch.from_numpy(t.astype(np.int64)), y_t)
        check_close("noise predictions", nchw(eps), theirs)
        check_close("losses", value, torch_loss(net, x_t, y_t, draws))


def train_case(name: str, make: Callable[[], DiffusionModel], batch: int, n: int,
               n_torch: int) -> Case:
    """``train.fit`` with Adam(1e-3) against the PyTorch loop of ``vs_pytorch.torch_train``."""
    model = make()
    x, y = images(shape_of(model), EXAMPLES)
    pytorch = None
    if torch is not None:
        net = torch_model(model)
        check_model(model, net, batch)
        run = torch_train(net, torch_loss, (nchw(x), y), batch)
        trial = max(2, n_torch // 10)
        pytorch = partial(torch_rate, run, n_torch, warmup=trial, trial=trial)
    data = (jnp.asarray(x), jnp.asarray(y))  # on the device once, not copied by every fit
    return Case(name, fit_rate(make, loss, data, batch, n), pytorch, True)


def sampler_inputs(model: DiffusionModel, n: int) -> tuple[np.ndarray, np.ndarray]:
    x_T = np.random.default_rng(4).standard_normal((n, *shape_of(model))).astype(np.float32)
    return x_T, (np.arange(n) % CLASSES).astype(np.int32)


def ddim_case(name: str, model: DiffusionModel, samples: int, n: int) -> Case:
    """DDIM (eta = 0) on n and 4n of the 1000 times; PyTorch's loop on 4n."""
    x_T, labels = sampler_inputs(model, samples)
    runs = {k: compiled(model, ddim_final, num_steps=k) for k in (n, 4 * n)}

    def library(steps: int) -> jax.Array:
        return runs[steps](jax.random.key(0), x_T, labels)

    rate = compiled_rate(library, n)  # compiles the n- and 4n-step programs
    pytorch = None
    if torch is not None:
        net = torch_model(model)
        x_t, y_t = to_torch(nchw(x_T)), torch.from_numpy(labels.astype(np.int64))

        def run(steps: int) -> torch.Tensor:
            return torch_ddim(net, x_t, y_t, timesteps(model.schedule, steps).tolist())

        check_close(f"{name}, after {n} steps", nchw(library(n)), run(n))
        trial = max(2, n // 5)
        pytorch = partial(torch_rate, run, 4 * n, warmup=trial, trial=trial)
    return Case(name, rate, pytorch, True)


def ancestral_case(name: str, model: DiffusionModel, samples: int, n: int) -> Case:
    """Ancestral sampling with linear schedules of n and 4n steps (the same network; 4n = 1000
    is the chapter's); PyTorch's loop through 4n steps."""
    x_T, labels = sampler_inputs(model, samples)
    trial = max(2, n // 5)
    lengths = (trial, n, 4 * n)
    schedules = {k: linear_schedule(k) for k in lengths}
    runs = {k: compiled(DiffusionModel(model.net, schedules[k], prediction=PREDICTION),
                        ancestral_final) for k in (n, 4 * n)}

    def library(steps: int) -> jax.Array:
        return runs[steps](jax.random.key(0), x_T, labels)

    rate = compiled_rate(library, n)  # compiles the n- and 4n-step programs
    pytorch = None
    if torch is not None:
        net = torch_model(model)
        chains = {k: TorchDiffusion(net.net, schedules[k]) for k in lengths}
        x_t, y_t = to_torch(nchw(x_T)), torch.from_numpy(labels.astype(np.int64))

        def run(steps: int) -> torch.Tensor:
            return torch_ancestral(chains[steps], x_t, y_t)

        key = jax.random.key(0)  # the library's draw leaving time t: normal(fold_in(key, t))
        noise = {t: to_torch(nchw(jax.random.normal(jax.random.fold_in(key, t), x_T.shape)))
                 for t in range(2, n + 1)}
        check_close(f"{name}, after {n} steps", nchw(library(n)),
                    torch_ancestral(chains[n], x_t, y_t, noise))
        pytorch = partial(torch_rate, run, 4 * n, warmup=trial, trial=trial)
    return Case(name, rate, pytorch, True)


MLP_NAME = f"ScoreMLP 784-{'-'.join(map(str, MLP_HIDDEN))}-784"
UNET_NAME = f"ScoreUNet(1, {UNET_FEATURES}) 28x28"


def case_builders(s: Settings) -> list[tuple[Callable[[], Case], float]]:
    """Every case, as a function that builds (compiles, checks) it, with its target."""
    mlp, unet = mlp_model(), unet_model()  # the samplers' networks
    return [
        (partial(train_case, f"training, {MLP_NAME}, batch {MLP_BATCH}", mlp_model, MLP_BATCH,
                 s.mlp_train, s.mlp_train_torch), TRAIN_TARGET),
        (partial(train_case, f"training, {UNET_NAME}, batch {UNET_BATCH}", unet_model,
                 UNET_BATCH, s.unet_train, s.unet_train_torch), TRAIN_TARGET),
        (partial(ddim_case, f"DDIM eta=0, {MLP_NAME}, {MLP_SAMPLES} images", mlp, MLP_SAMPLES,
                 s.mlp_ddim), SAMPLE_TARGET),
        (partial(ancestral_case, f"ancestral, {MLP_NAME}, {MLP_SAMPLES} images", mlp,
                 MLP_SAMPLES, s.mlp_ancestral), SAMPLE_TARGET),
        (partial(ddim_case, f"DDIM eta=0, {UNET_NAME}, {UNET_SAMPLES} images", unet,
                 UNET_SAMPLES, s.unet_ddim), SAMPLE_TARGET),
        (partial(ancestral_case, f"ancestral, {UNET_NAME}, {UNET_SAMPLES} images", unet,
                 UNET_SAMPLES, s.unet_ancestral), SAMPLE_TARGET),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs, one measurement per side: checks the script only")
    s = QUICK if parser.parse_args().quick else Settings()
    jax.config.update("jax_platforms", "cpu")
    print(dgm.run_info())
    if torch is None:
        print(f"PyTorch is not installed: to compare, {INSTALL}. Running the library's half "
              "only.")
    else:
        torch.set_num_threads(CORES)
        print(f"torch {torch.__version__}: torch.set_num_threads({CORES}), the cores this "
              "process may use (XLA:CPU uses them all), or 1 where that measured faster")
    start_load = os.getloadavg()
    with timer() as total:
        rates = []
        for build, target in case_builders(s):
            name = build.args[0]
            note(f"{name}: build, compile, check")
            case = build()
            note(f"  measuring {name}")
            rates.append((case, target, medians(case, s.repeats)))
    end_load = os.getloadavg()
    print()
    print(f"steps/s (training: one Adam step; sampling: one network call and update of every "
          f"image), medians of {s.repeats} alternating measurements")
    print("| case | library steps/s | PyTorch steps/s | PyTorch threads | library / PyTorch | "
          "target | verdict |")
    print("|---|---|---|---|---|---|---|")
    for case, target, (ours, theirs, threads) in rates:
        ratio = ours / theirs
        verdict = "n/a" if not math.isfinite(ratio) else "met" if ratio >= target else "MISSED"
        print(f"| {case.name} | {fmt(ours)} | {fmt(theirs)} | "
              f"{','.join(map(str, threads)) or 'n/a'} | {fmt(ratio, 2)} | >= {target:.0f}x | "
              f"{verdict} |")
    print()
    print("JAX compile time (the first call's seconds beyond its steps at the steady rate):")
    for case, _, (ours, _, _) in rates:
        library: LibraryRate = case.library
        print(f"  {case.name}: {library.compile_seconds(ours):.1f} s")
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{a:.2f}" for a in start_load)
          + "; at the end: " + ", ".join(f"{a:.2f}" for a in end_load))
    print(f"total time {total.seconds:.0f} s")


if __name__ == "__main__":
    main()
