"""dgm_lib against the PyTorch loop a student writes, on this CPU: one table from one run.

Each row runs the same computation on both sides, in float32, with the same architecture, batch
and optimizer (Adam(1e-3), ``train.fit``'s default, unless the row says otherwise):

- the library: ``dgm_lib.train.fit`` for training (the book's one loop: ``steps_per_dispatch``
  = min(100, n) steps per call of one compiled ``lax.fori_loop``) and the models' own samplers
  (one ``lax.scan``) compiled with ``dgm_lib.book.compiled``;
- PyTorch 2.13, eager, the idiomatic loop: per step a batch indexed from a permutation drawn
  once per epoch, the loss, ``opt.zero_grad()``, ``loss.backward()``, ``opt.step()``; for
  sampling the per-pixel Python loop under ``torch.no_grad()``.

Rows: an MLP 2-64-64-2 on 2-D regression (MSE, batch 256); MADE 784-500-784 and
784-500-500-784 on binary images (batch 100; masked ``F.linear``); NADE with 500 hidden units
(batch 100; the library's scan with its written-out backward recurrence, PyTorch's autograd of
the usual one-pass form, the exclusive ``torch.cumsum`` of a (batch, D, H) tensor); the IWAE
paper's VAE 784-200-200-50 tanh (batch 20) with the ELBO (``latent.vae_loss``) and the IWAE
bound at k = 5 and 50 (``latent.iwae_loss(k)``; PyTorch: ``torch.logsumexp`` of the
log-weights); the flows
chapter's 2-D RealNVP (``flows.Stack`` of ``AffineCoupling(half_mask(2, k), 64)``, as
``benchmarks/flows.py`` builds it) with 8 and 16 couplings on eight Gaussians (batch 256;
PyTorch: a Python loop over the couplings); a PixelCNN with 16 channels on 28x28 images (batch
32; PyTorch: ``F.conv2d`` with the masked kernel); sampling 100 images from MADE 784-500-784
and from NADE (H = 500) (PyTorch: the same O(H) recurrence as the library's sampler, a
Python loop over the 784 pixels; NADE's usual loop, and for MADE the same algorithm rather
than the whole network pass per pixel most MADE code runs, which costs 784 passes); and,
imported from the other benchmarks with their builders, the conditional GAN of
``benchmarks/gan.py``, RBM CD-1 training and ULA on a 2-D MLP energy (1000 chains) of
``benchmarks/ebm.py``, annealed Langevin on a 2-D score model (1000 chains) of
``benchmarks/score.py``, and the diffusion chapter's rows of ``benchmarks/diffusion.py`` (its
builders and step counts): training its class-conditional ``ScoreMLP`` 784-1024-1024-1024-784
(batch 128) and a small ``ScoreUNet(1, (16, 32, 32))`` (batch 32) with ``diffusion_loss``, and
DDIM (eta = 0) and ancestral sampling with each (100 and 16 images).

Same computation: every PyTorch network gets the library network's weights copied in, and the
script asserts before timing that the two give the same outputs and losses (to 1e-4 relative
to ``max(1, |value|)``): for the VAE rows with the library's own Gaussian draws fed to PyTorch,
for the samplers on their conditionals with teacher forcing. (The GAN row is imported as
``benchmarks/gan.py`` has it: its PyTorch networks have their own initial weights, and only
their layer shapes are asserted equal.)

Timing (``benchmarks/versus_torch.py``): the library side's rate excludes compilation: it runs
n and 4n steps once (``fit`` compiles once per process, at the first call, and the 4n-step run
and every timed run reuse the program, which the script asserts: ``FitResult.traces == 0``),
then each measurement is ``3n / (t_4n - t_n)``, so the fixed cost of a call cancels too. The
compile time of each row is printed: the first call's seconds beyond n steps at the steady
rate. A sampling row's "step" is one call of the sampler (100 images, 784 pixels). The PyTorch
side is warmed up, then timed with every core or one thread, whichever a short trial before
each measurement finds faster (``versus_torch.torch_rate``: on a shared CPU OpenMP's threads can
make all cores far slower than one; the table says which each measurement used). JAX and
PyTorch measurements alternate (``versus_torch.medians``), three of each, and the table shows
the medians. JAX runs on the CPU and uses every core the process may run on.

Matmul peak: a 2048x2048 float32 matmul on each side, in GFLOP/s, measured first. For the
matmul-bound rows (MADE) the table gives the library's achieved GFLOP/s and its fraction of
the JAX peak, counting the dense layers' matmuls of one training step: the forward's
``2 B sum(in * out)``, as much again for the weights' gradients, and as much again for the
gradients of the layers' inputs but the first's (the data need none), so a little under 3x
the forward; the elementwise work (masks, activations, Adam) is not counted.

Targets (the issue's): the library at least 2x PyTorch on every row but the matmul-bound ones,
at least 4x on the dispatch-bound ones (MLP, RealNVP 2-D), at least level (1x) on the diffusion
training rows, and MADE's training at least 80% of the measured matmul peak; the script prints
"met" or "MISSED" for each.

Data: the fixed binarized MNIST through ``dgm_lib.data.load("auto", "train", download=False)``
(set ``DGM_DATA_DIR`` to the folder that holds it), else random binary images of the same shape
(the speed does not depend on the values); the GAN row uses ``dgm_lib.data.load_grayscale``, as
``benchmarks/gan.py`` does.

PyTorch is needed by this benchmark only, never by the library or the book: install the CPU
build with ``.venv/bin/pip install torch==2.13.0``. Without it the script says so and runs the
library's half alone (its rates and compile times).

Run: ``DGM_DATA_DIR=... .venv/bin/python benchmarks/vs_pytorch.py [--quick] [--markdown
PATH]`` (about ten minutes on two cores, and some five more for the diffusion rows).
``--quick`` shortens every row and measures each side once, to check that the script works (its
rates are rough); ``--markdown PATH`` also writes the table, under a header that names the
machine, to PATH (atomically, ``dgm_lib.files``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ebm
import flows as flows_benchmark
import gan
import jax
import jax.numpy as jnp
import numpy as np
import optax
import score
from flax import nnx
from vae import SETUP as VAE_SETUP
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
from dgm_lib import latent, toy2d, train
from dgm_lib.autoregressive import MADE, NADE, PixelCNN, made_loss, pixelcnn_mask
from dgm_lib.book import compiled, timer
from dgm_lib.files import atomic_file
from dgm_lib.nn import MLP

D, SIDE = 784, 28
LR = 1e-3  # Adam on both sides (train.fit's default optax.adam(1e-3))
PEAK_SIZE = 2048
SAMPLES = 100  # images per sampler call
DISPATCH_TARGET, TARGET, PEAK_TARGET = 4.0, 2.0, 0.8
LEVEL_TARGET = 1.0  # the diffusion training rows


@dataclass(frozen=True)
class Settings:
    """Steps per row: the library runs n and 4n, PyTorch the given count after a warm-up and a
    thread trial; ``repeats`` alternating measurements per side."""

    repeats: int = 3
    peak: int = 2  # matmuls
    mlp: int = 2000
    mlp_torch: int = 1000
    made: int = 100
    made_torch: int = 100
    nade: int = 20
    nade_torch: int = 3
    vae: int = 500
    vae_torch: int = 500
    iwae5: int = 300
    iwae50: int = 40
    realnvp: int = 300  # with 8 couplings; 16 run half as many steps
    realnvp_torch: int = 300
    pixelcnn: int = 20
    pixelcnn_torch: int = 20
    sample_calls: int = 5
    gan: int = 60  # benchmarks/gan.py: PyTorch times 4n
    cd: int = 150  # benchmarks/ebm.py's n for CD-1
    sampler: int = 250  # ULA and annealed Langevin: n, and PyTorch times 4n
    diffusion_quick: bool = False  # benchmarks/diffusion.py's step counts: its --quick ones


QUICK = Settings(repeats=1, peak=1, mlp=300, mlp_torch=200, made=20, made_torch=10, nade=5,
                 nade_torch=1, vae=100,
                 vae_torch=50, iwae5=50, iwae50=20, realnvp=200, realnvp_torch=50, pixelcnn=5,
                 pixelcnn_torch=3, sample_calls=2, gan=50, cd=50, sampler=50,
                 diffusion_quick=True)


@dataclass(frozen=True)
class Row:
    """A case and how the table reads it: ``unit`` "steps/s" or "ms" (a sampler call, lower is
    better); ``target``, the least library / PyTorch ratio (None: none); ``flops``, the FLOPs of
    one training step of a matmul-bound row (0: not one)."""

    case: Case
    unit: str = "steps/s"
    target: float | None = TARGET
    flops: float = 0.0


_START = time.perf_counter()


def note(message: str) -> None:
    """Progress, on stderr (stdout carries the table), with the seconds since the start."""
    print(f"[{time.perf_counter() - _START:6.0f} s] {message}", file=sys.stderr, flush=True)


def check_close(what: str, ours: Any, theirs: Any, tol: float = 1e-4) -> None:
    """Assert that the two sides agree to ``tol`` relative to ``max(1, |ours|)``."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"{what}: shapes {ours.shape} and {theirs.shape} differ"
    err = float(np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(ours))))
    assert err < tol, f"{what}: the JAX and PyTorch values differ, relative error {err:.2e}"


# ------------------------------------------------------------------------------ the two loops


def fit_rate(make: Callable[[], nnx.Module], loss_fn: Callable, data: Any, batch_size: int,
             n: int) -> LibraryRate:
    """``train.fit``'s steps/s: runs of n and 4n steps, Adam(1e-3), ``min(100, n)`` steps per
    dispatch; the first run compiles, and no later one may (asserted)."""
    runs: list[int] = []

    def run(steps: int) -> np.ndarray:
        result = train.fit(make(), loss_fn, data, key=jax.random.key(0), steps=steps,
                           batch_size=batch_size, optimizer=optax.adam(LR),
                           steps_per_dispatch=min(100, n), progress=False)
        assert not runs or result.traces == 0, "fit compiled again: a timed run would include it"
        runs.append(result.traces)
        return result.losses

    return compiled_rate(run, n)


def torch_train(template: Any, loss_fn: Callable, data: tuple[np.ndarray, ...],
                batch_size: int) -> Callable[[int], None]:
    """``run(steps)``: the student's loop on a fresh copy of ``template`` with
    ``torch.optim.Adam(lr=1e-3)``, batches indexed from a permutation drawn once per epoch,
    ``loss_fn(net, *batch)`` the mean loss."""
    tensors = [to_torch(a) for a in data]
    n = len(tensors[0])
    per_epoch = n // batch_size

    def run(steps: int) -> None:
        net = copy.deepcopy(template)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        for step in range(steps):
            j = step % per_epoch
            if j == 0:
                perm = torch.randperm(n)
            idx = perm[j * batch_size : (j + 1) * batch_size]
            loss = loss_fn(net, *(t[idx] for t in tensors))
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def torch_case(run: Callable[[int], object], n: int, warmup: int,
               trial: int) -> Callable[[], tuple[float, int]] | None:
    """One measurement of PyTorch's steps/s (``versus_torch.torch_rate``); None without torch."""
    if torch is None:
        return None
    return lambda: torch_rate(run, n, warmup=warmup, trial=trial)


def torch_loss(net: Any, loss_fn: Callable, *batch: np.ndarray) -> float:
    """``loss_fn(net, *batch)`` on PyTorch tensors, as a float."""
    with torch.no_grad():
        return float(loss_fn(net, *(to_torch(b) for b in batch)))


def bce_sum(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p(x)`` per example under Bernoulli logits, summed over all but the first axis."""
    nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return nll.flatten(1).sum(1)


# ------------------------------------------------------------------------------ matmul peak


def peak_case(s: Settings) -> Case:
    """2048x2048 float32 matmuls; rates in matmuls/s."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(np.float32) for _ in range(2))
    matmul = jax.jit(jnp.matmul)
    ja, jb = jnp.asarray(a), jnp.asarray(b)

    def library(count: int) -> jax.Array:
        return [matmul(ja, jb) for _ in range(count)][-1]

    pytorch = None
    if torch is not None:
        ta, tb = to_torch(a), to_torch(b)
        check_close("matmul", matmul(ja, jb), ta @ tb, tol=1e-3)

        def run(count: int) -> None:
            for _ in range(count):
                torch.mm(ta, tb)

        pytorch = torch_case(run, 3 * s.peak, 1, 1)
    return Case(f"matmul {PEAK_SIZE}x{PEAK_SIZE} float32", compiled_rate(library, s.peak),
                pytorch, False)


# ------------------------------------------------------------------------------ MLP


def mse(model: MLP, batch: tuple[jax.Array, jax.Array], key: jax.Array) -> jax.Array:
    x, y = batch
    return jnp.mean((model(x) - y) ** 2)


def mlp_row(s: Settings) -> Row:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8192, 2)).astype(np.float32)
    data = (x, np.sin(2 * x))

    def make() -> MLP:
        return MLP([2, 64, 64, 2], rngs=nnx.Rngs(0))

    pytorch = None
    if torch is not None:
        model, net = make(), ebm.torch_mlp(make())

        def loss(net: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.mse_loss(net(x), y)

        batch = tuple(a[:256] for a in data)
        with torch.no_grad():
            check_close("MLP outputs", model(batch[0]), net(to_torch(batch[0])))
        check_close("MLP loss", mse(model, batch, None), torch_loss(net, loss, *batch))
        pytorch = torch_case(torch_train(net, loss, data, 256), s.mlp_torch, 50, 50)
    return Row(Case("MLP 2-64-64-2 relu, MSE regression, batch 256",
                    fit_rate(make, mse, data, 256, s.mlp), pytorch, True),
               target=DISPATCH_TARGET)


# ------------------------------------------------------------------------------ MADE


class MaskedLinear(TorchModule):
    """MADE's masked layer as PyTorch code writes it: ``F.linear(x, W * M, b)``, with the
    weights ``(in, out)``, bias and mask of a library layer."""

    def __init__(self, weight: jax.Array, bias: jax.Array, mask: jax.Array) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(to_torch(weight).T.contiguous())
        self.bias = torch.nn.Parameter(to_torch(bias))
        self.register_buffer("mask", to_torch(mask).T.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight * self.mask, self.bias)


def torch_made(made: MADE) -> torch.nn.Sequential:
    """The MADE's ordering 0 as masked linear layers with ReLU between them."""
    layers: list[Any] = []
    for w, b, m in zip(made.weights, made.biases, made.masks(0), strict=True):
        layers += [MaskedLinear(w[...], b[...], m), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def binary_nll(net: Any, x: torch.Tensor) -> torch.Tensor:
    return bce_sum(net(x), x).mean()


def made_row(hidden: tuple[int, ...], x: np.ndarray, s: Settings) -> Row:
    sizes = (D, *hidden, D)

    def make() -> MADE:
        return MADE(D, hidden, rngs=nnx.Rngs(0))

    pytorch = None
    if torch is not None:
        model = make()
        net = torch_made(model)
        batch = x[:100]
        with torch.no_grad():
            check_close("MADE logits", model.conditionals(batch), net(to_torch(batch)))
        check_close("MADE loss", made_loss(model, batch, jax.random.key(0)),
                    torch_loss(net, binary_nll, batch))
        pytorch = torch_case(torch_train(net, binary_nll, (x,), 100), s.made_torch, 5, 10)
    # forward 2B sum(in * out); backward the same for the weights' gradients, and again for
    # the gradients of each layer's input but the first's (the data need none)
    pairs = list(itertools.pairwise(sizes))
    flops = 2 * 100 * (3 * sum(a * b for a, b in pairs) - pairs[0][0] * pairs[0][1])
    name = f"MADE {'-'.join(map(str, sizes))}, binary images, batch 100"
    return Row(Case(name, fit_rate(make, made_loss, x, 100, s.made), pytorch, False),
               target=None, flops=float(flops))


def nade_row(x: np.ndarray, s: Settings) -> Row:
    """NADE (H = 500, the paper's) trained by maximum likelihood, batch 100: the library's
    scan with its written-out backward recurrence against autograd of PyTorch's one pass."""

    def make() -> NADE:
        return NADE(D, 500, rngs=nnx.Rngs(0))

    pytorch = None
    if torch is not None:
        model, batch = make(), x[:100]
        net = TorchNADE(model)
        with torch.no_grad():
            check_close("NADE logits", model.conditionals(batch), net(to_torch(batch)))
        check_close("NADE loss", train.nll_loss(model, batch),
                    torch_loss(net, binary_nll, batch))
        pytorch = torch_case(torch_train(net, binary_nll, (x,), 100), s.nade_torch, 1, 1)
    rate = fit_rate(make, train.nll_loss, x, 100, s.nade)
    return Row(Case("NADE 784-500, binary images, batch 100", rate, pytorch, True))


# ------------------------------------------------------------------------------ VAE, IWAE


class TorchVAE(TorchModule):
    """The library's VAE in PyTorch (its encoder and decoder as ``torch.nn.Sequential``)."""

    def __init__(self, vae: latent.VAE) -> None:
        super().__init__()
        self.encoder, self.decoder = ebm.torch_mlp(vae.encoder), ebm.torch_mlp(vae.decoder)

    def loss(self, x: torch.Tensor, k: int | None, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Minus the mean ELBO (``k`` None: one draw, the KL in closed form) or IWAE bound with
        ``k`` draws; ``eps`` ``(k, batch, L)`` are the standard normal draws (default fresh)."""
        mean, log_var = self.encoder(x).chunk(2, dim=-1)
        if eps is None:
            eps = torch.randn(k or 1, *mean.shape)
        z = mean + torch.exp(0.5 * log_var) * eps
        logits = self.decoder(z)  # (k, batch, D)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none").sum(-1)
        if k is None:
            kl = 0.5 * (torch.exp(log_var) + mean**2 - 1.0 - log_var).sum(-1)
            return -(log_px.mean(0) - kl).mean()
        log2pi = math.log(2 * math.pi)
        log_pz = -0.5 * (z**2 + log2pi).sum(-1)
        log_qz = -0.5 * (log2pi + log_var + (z - mean) ** 2 / torch.exp(log_var)).sum(-1)
        log_w = log_px + log_pz - log_qz
        return -(torch.logsumexp(log_w, 0) - math.log(k)).mean()


def vae_row(k: int | None, x: np.ndarray, n: int, n_torch: int) -> Row:
    loss_fn = latent.vae_loss if k is None else latent.iwae_loss(k)

    def make() -> latent.VAE:
        return latent.VAE(D, **VAE_SETUP, rngs=nnx.Rngs(0))

    pytorch = None
    if torch is not None:
        model, net = make(), TorchVAE(make())
        batch, key = x[:20], jax.random.key(3)
        eps = jax.random.normal(key, (k or 1, 20, VAE_SETUP["latent_dim"]))  # the library's draws
        with torch.no_grad():
            theirs = float(net.loss(to_torch(batch), k, to_torch(eps)))
        check_close(f"VAE loss (k={k})", loss_fn(model, batch, key), theirs)
        run = torch_train(net, lambda net, xb: net.loss(xb, k), (x,), 20)
        pytorch = torch_case(run, n_torch, 10, 20)
    name = ("VAE 784-200-200-50 tanh, ELBO, batch 20" if k is None
            else f"IWAE 784-200-200-50 tanh, k = {k}, batch 20")
    return Row(Case(name, fit_rate(make, loss_fn, x, 20, n), pytorch, True))


# ------------------------------------------------------------------------------ RealNVP 2-D


class TorchCoupling(TorchModule):
    """RealNVP's affine coupling (``flows.AffineCoupling``): ``(raw_s, t) = net(m * x)``,
    ``s = (1 - m) b tanh(raw_s / b)``, inverse ``z = (x - (1 - m) t) e^{-s}``."""

    def __init__(self, layer: Any) -> None:
        super().__init__()
        self.register_buffer("mask", to_torch(layer.mask[...]))
        self.net, self.bound = ebm.torch_mlp(layer.net), float(layer.scale_bound)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.mask
        raw_s, t = self.net(m * x).chunk(2, dim=-1)
        s = (1 - m) * self.bound * torch.tanh(raw_s / self.bound)
        return (x - (1 - m) * t) * torch.exp(-s), -s.sum(-1)


class TorchRealNVP(TorchModule):
    """A standard normal pushed through the couplings; ``log_prob`` inverts them in a loop."""

    def __init__(self, layers: Any) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(TorchCoupling(layer) for layer in layers)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        log_det = torch.zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, ld = layer.inverse(x)
            log_det = log_det + ld
        return -0.5 * (x**2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi) + log_det


def flow_nll(net: Any, x: torch.Tensor) -> torch.Tensor:
    return -net.log_prob(x).mean()


def realnvp_row(layers: int, s: Settings) -> Row:
    # benchmarks/flows.py's build: the chapter's 2-D RealNVP (hidden 64), its last layers moved
    # off zero so the flow is not the identity, and the same layers unrolled (for PyTorch)
    scanned, unrolled = flows_benchmark.build(layers, 64)
    x = np.asarray(toy2d.sample(jax.random.key(0), "eight_gaussians", 8192))

    def make() -> nnx.Module:
        return nnx.clone(scanned)

    pytorch = None
    if torch is not None:
        net = TorchRealNVP(unrolled.bijector.layers)
        batch = x[:256]
        with torch.no_grad():
            check_close("RealNVP log_prob", scanned.log_prob(batch),
                        net.log_prob(to_torch(batch)))
        check_close("RealNVP loss", train.nll_loss(scanned, batch),
                    torch_loss(net, flow_nll, batch))
        n = s.realnvp_torch * 8 // layers
        pytorch = torch_case(torch_train(net, flow_nll, (x,), 256), n, 10, max(10, n // 10))
    name = f"RealNVP 2-D, {layers} affine couplings (MLP 2-64-64-4), batch 256"
    return Row(Case(name, fit_rate(make, train.nll_loss, x, 256, s.realnvp * 8 // layers),
                    pytorch, True), target=DISPATCH_TARGET)


# ------------------------------------------------------------------------------ PixelCNN


class MaskedConv2d(TorchModule):
    """A masked convolution as PyTorch code writes it, ``F.conv2d(x, W * M, b, padding=k//2)``,
    with a library kernel ``(k, k, C_in, C_out)`` and ``pixelcnn_mask(k, mask_type)``."""

    def __init__(self, kernel: jax.Array, bias: jax.Array, mask_type: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(to_torch(kernel).permute(3, 2, 0, 1).contiguous())
        self.bias = torch.nn.Parameter(to_torch(bias))
        self.register_buffer("mask", to_torch(pixelcnn_mask(kernel.shape[0], mask_type)))
        self.padding = kernel.shape[0] // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, self.weight * self.mask, self.bias,
                                          padding=self.padding)


class TorchPixelCNN(TorchModule):
    """The library's PixelCNN: a type-A input layer, residual type-B layers, two 1x1 layers."""

    def __init__(self, model: PixelCNN) -> None:
        super().__init__()
        p = model.params()
        self.first = MaskedConv2d(p.first_kernel, p.first_bias, "A")
        self.res = torch.nn.ModuleList(MaskedConv2d(k, b, "B")
                                       for k, b in zip(p.res_kernels, p.res_biases, strict=True))
        c = p.hidden_kernel.shape[0]
        self.hidden, self.out = torch.nn.Conv2d(c, c, 1), torch.nn.Conv2d(c, 1, 1)
        with torch.no_grad():
            self.hidden.weight.copy_(to_torch(p.hidden_kernel).T[:, :, None, None])
            self.hidden.bias.copy_(to_torch(p.hidden_bias))
            self.out.weight.copy_(to_torch(p.out_kernel)[None, :, None, None])
            self.out.bias.copy_(to_torch(p.out_bias).reshape(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 1, H, W)`` for images ``(batch, 1, H, W)``."""
        h = self.first(x)
        for conv in self.res:
            h = h + conv(torch.relu(h))
        return self.out(torch.relu(self.hidden(torch.relu(h))))


def pixelcnn_nll(net: Any, x: torch.Tensor) -> torch.Tensor:
    images = x.view(-1, 1, SIDE, SIDE)
    return bce_sum(net(images), images).mean()


def pixelcnn_row(x: np.ndarray, s: Settings) -> Row:
    def make() -> PixelCNN:
        return PixelCNN((SIDE, SIDE), channels=16, rngs=nnx.Rngs(0))

    pytorch = None
    if torch is not None:
        model = make()
        net = TorchPixelCNN(model)
        batch = x[:32]
        with torch.no_grad():
            theirs = net(to_torch(batch).view(-1, 1, SIDE, SIDE)).flatten(1)
        check_close("PixelCNN logits", model.conditionals(batch), theirs)
        check_close("PixelCNN loss", train.nll_loss(model, batch),
                    torch_loss(net, pixelcnn_nll, batch))
        pytorch = torch_case(torch_train(net, pixelcnn_nll, (x,), 32), s.pixelcnn_torch, 2, 3)
    name = "PixelCNN 28x28, 7x7 A + 4 residual 3x3 B, 16 channels, batch 32"
    return Row(Case(name, fit_rate(make, train.nll_loss, x, 32, s.pixelcnn), pytorch, True))


# ------------------------------------------------------------------------------ sampling


def made_loop(net: Any, n: int, given: torch.Tensor | None = None) -> torch.Tensor:
    """MADE 784-H-784 sampled pixel by pixel with the library's recurrence: carry the first
    layer's pre-activation ``a`` (``(n, H)``), read ``relu(a) . V_i + c_i``, add ``x_i W_i``.
    With ``given`` (teacher forcing) return the logits instead of samples."""
    first, last = net[0], net[-1]
    w_in = (first.weight * first.mask).T.contiguous()  # (D, H): row i is what x_i adds
    w_out = last.weight * last.mask  # (D, H): row i reads logit i
    a = first.bias.expand(n, -1).clone()
    x, logits = torch.zeros(n, D), []
    for i in range(D):
        logit = torch.relu(a) @ w_out[i] + last.bias[i]
        if given is None:
            x[:, i] = torch.bernoulli(torch.sigmoid(logit))
        else:
            logits.append(logit)
            x[:, i] = given[:, i]
        a += x[:, i, None] * w_in[i]
    return x if given is None else torch.stack(logits, 1)


class TorchNADE(TorchModule):
    """NADE's parameters and its usual sampling loop (Larochelle and Murray): ``a = c``; per
    pixel ``p_i = sigmoid(b_i + V_i . sigmoid(a))``, draw ``x_i``, ``a += x_i W_{:, i}``."""

    def __init__(self, nade: NADE) -> None:
        super().__init__()
        param = torch.nn.Parameter
        self.w_t = param(to_torch(nade.weight[...]).T.contiguous())  # (D, H): row i is W_{:, i}
        self.c, self.v = param(to_torch(nade.bias[...])), param(to_torch(nade.out_weight[...]))
        self.b = param(to_torch(nade.out_bias[...]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All D logits in one pass, as the paper and most code write it: the exclusive
        cumulative sum ``a_i = c + sum_{j < i} x_j W_{:, j}`` as a (batch, D, H) tensor."""
        inclusive = torch.cumsum(x[:, :-1, None] * self.w_t[:-1], dim=1)  # sums over j <= i
        a = self.c + torch.nn.functional.pad(inclusive, (0, 0, 1, 0))  # shifted: j < i
        return (torch.sigmoid(a) * self.v).sum(-1) + self.b

    def sample(self, n: int, given: torch.Tensor | None = None) -> torch.Tensor:
        a = self.c.expand(n, -1).clone()
        x, logits = torch.zeros(n, D), []
        for i in range(D):
            logit = torch.sigmoid(a) @ self.v[i] + self.b[i]
            if given is None:
                x[:, i] = torch.bernoulli(torch.sigmoid(logit))
            else:
                logits.append(logit)
                x[:, i] = given[:, i]
            a += x[:, i, None] * self.w_t[i]
        return x if given is None else torch.stack(logits, 1)


def sampler_rows(x: np.ndarray, s: Settings) -> list[Row]:
    made, nade = MADE(D, (500,), rngs=nnx.Rngs(0)), NADE(D, 500, rngs=nnx.Rngs(0))
    rows = []
    for name, model in (("MADE 784-500-784", made), ("NADE H = 500", nade)):
        sample = compiled(model, "sample", n=SAMPLES)

        def library(calls: int, sample: Callable = sample) -> jax.Array:
            return [sample(jax.random.key(i)) for i in range(calls)][-1]

        rate = compiled_rate(library, s.sample_calls)  # the first call compiles
        draws = np.asarray(sample(jax.random.key(0)))
        assert draws.shape == (SAMPLES, D) and set(np.unique(draws)) <= {0.0, 1.0}
        pytorch = None
        if torch is not None:
            loop = made_loop if model is made else None
            net = torch_made(made) if model is made else TorchNADE(nade)
            given = to_torch(x[:SAMPLES])
            with torch.no_grad():
                forced = loop(net, SAMPLES, given) if loop else net.sample(SAMPLES, given)
            check_close(f"{name} teacher-forced logits", model.conditionals(x[:SAMPLES]), forced)

            def run(calls: int, loop: Any = loop, net: Any = net) -> None:
                with torch.no_grad():
                    for _ in range(calls):
                        loop(net, SAMPLES) if loop else net.sample(SAMPLES)

            pytorch = torch_case(run, max(1, s.sample_calls // 2), 1, 1)
        rows.append(Row(Case(f"sampling {SAMPLES} images, {name}", rate, pytorch, True),
                        unit="ms"))
    return rows


# ------------------------------------------------------------------------------ imported rows


def imported_rows(x: np.ndarray, s: Settings) -> list[Row]:
    """The GAN of benchmarks/gan.py, RBM CD-1 and 2-D ULA of benchmarks/ebm.py, 2-D annealed
    Langevin of benchmarks/score.py, with those scripts' builders."""
    with contextlib.redirect_stdout(sys.stderr):
        images = dgm.data.load_grayscale("train")
    gx = (images.images / images.max_value).astype(np.float32)
    gy = images.labels.astype(np.int32)
    side, classes = gx.shape[1], int(gy.max()) + 1
    setup = gan.SETUP
    gan_name = (f"conditional GAN (benchmarks/gan.py), G {setup['noise_dim']}+{classes}-"
                f"{'-'.join(map(str, setup['generator_hidden']))}-{side * side}, D "
                f"{side * side}+{classes}-{'-'.join(map(str, setup['critic_hidden']))}-1, "
                f"batch {gan.BATCH}")
    note(f"  {gan_name}")
    gan_case = Case(gan_name, gan.library_case(gx, gy, s.gan),
                    None if torch is None else gan.torch_case(
                        gx, gy, s.gan, gan.library_gan(side, classes)), True)
    rows = [Row(gan_case)]
    note("  RBM CD-1")
    rows += [Row(case) for case in ebm.cd_cases(x, {1: s.cd})]
    note("  ULA")
    rows.append(Row(ebm.ula_case((2, 64, 64, 1), 1000, 1e-2, "2-D points", steps=s.sampler)))
    note("  annealed Langevin")
    rows.append(Row(score.annealed_case(s.sampler)))
    return rows


def diffusion_rows(s: Settings) -> list[Row]:
    """The rows of benchmarks/diffusion.py, with its builders, step counts and targets."""
    import diffusion  # here, not at the top: benchmarks/diffusion.py imports this module

    settings = diffusion.QUICK if s.diffusion_quick else diffusion.Settings()
    rows = []
    for build, target in diffusion.case_builders(settings):
        note(f"  {build.args[0]}")
        rows.append(Row(build(), target=target))
    return rows


# ------------------------------------------------------------------------------ the report


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.{digits}f}"


GROUPS = ("MLP", "MADE", "NADE", "VAE", "RealNVP", "PixelCNN", "samplers", "imported", "diffusion")
"""The table's row groups, in order (``--only`` picks some)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs, one measurement per side: checks the script only")
    parser.add_argument("--markdown", metavar="PATH",
                        help="also write the table, with a header naming the machine, to PATH")
    parser.add_argument("--only", metavar="GROUPS", type=lambda v: v.split(","),
                        help=f"comma-separated row groups to run (of {', '.join(GROUPS)}): "
                             "while working on one; the table the book shows runs them all")
    args = parser.parse_args()
    unknown = set(args.only or ()) - set(GROUPS)
    if unknown:
        parser.error(f"--only: no row group {', '.join(sorted(unknown))}; the groups are "
                     f"{', '.join(GROUPS)}")
    s = QUICK if args.quick else Settings()
    jax.config.update("jax_platforms", "cpu")
    if torch is None:
        note(f"PyTorch is not installed: to compare, {INSTALL}. Running the library's half only.")
    else:
        torch.set_num_threads(CORES)
    start = datetime.datetime.now().astimezone()
    start_load = os.getloadavg()
    with contextlib.redirect_stdout(sys.stderr):
        x, source = ebm.binary_images(10_000)
    header = [
        f"machine: {platform.node()}, {platform.platform()}; CPU: {cpu_model()}; {CORES} cores "
        f"usable of {os.cpu_count()}",
        f"{dgm.run_info()}; torch "
        f"{'not installed' if torch is None else torch.__version__}",
        f"date: {start.isoformat(timespec='seconds')}; mode: "
        f"{'--quick (rough rates)' if args.quick else 'default'}; data: {source}",
    ]
    for line in header:
        print(line)
    with timer() as total:
        note("matmul peak")
        peak = medians(peak_case(s), s.repeats)
        flop = 2.0 * PEAK_SIZE**3
        jax_peak, torch_peak = peak[0] * flop / 1e9, peak[1] * flop / 1e9
        peak_line = (f"matmul peak, {PEAK_SIZE}x{PEAK_SIZE} float32: JAX {fmt(jax_peak)} GFLOP/s, "
                     f"PyTorch {fmt(torch_peak)} GFLOP/s (threads "
                     f"{','.join(map(str, peak[2])) or 'n/a'})")
        print(peak_line, flush=True)
        builders: list[tuple[str, Callable[[], list[Row]]]] = [
            ("MLP", lambda: [mlp_row(s)]),
            ("MADE", lambda: [made_row((500,), x, s), made_row((500, 500), x, s)]),
            ("NADE", lambda: [nade_row(x, s)]),
            ("VAE", lambda: [vae_row(None, x, s.vae, s.vae_torch),
                             vae_row(5, x, s.iwae5, s.iwae5), vae_row(50, x, s.iwae50, s.iwae50)]),
            ("RealNVP", lambda: [realnvp_row(8, s), realnvp_row(16, s)]),
            ("PixelCNN", lambda: [pixelcnn_row(x, s)]),
            ("samplers", lambda: sampler_rows(x, s)),
            ("imported", lambda: imported_rows(x, s)),
            ("diffusion", lambda: diffusion_rows(s)),
        ]
        assert [what for what, _ in builders] == list(GROUPS)
        results = []
        for what, build in builders:
            if args.only and what not in args.only:
                continue
            note(f"{what}: build, compile, check")
            for row in build():
                note(f"  measuring {row.case.name}")
                results.append((row, medians(row.case, s.repeats)))
    end_load = os.getloadavg()
    caption = (f"medians of {s.repeats} alternating measurements; steps/s for training and "
               f"sampler steps, ms per call for sampling {SAMPLES} images (784 pixels); "
               "library / PyTorch > 1: the library is faster")
    table = [
        "| case | unit | library | PyTorch | PyTorch threads | library / PyTorch | "
        "JAX compile (s) | GFLOP/s (of JAX peak) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts: dict[str, list[tuple[str, float]]] = {"dispatch": [], "speed": [], "level": [],
                                                     "peak": []}
    for row, (ours, theirs, threads) in results:
        ratio = ours / theirs
        compile_s = row.case.library.compile_seconds(ours)
        if row.unit == "ms":
            cells = [fmt(1e3 / ours, 2), fmt(1e3 / theirs, 2)]
        else:
            cells = [fmt(ours), fmt(theirs)]
        flops = "" if not row.flops else (
            f"{fmt(ours * row.flops / 1e9)} ({ours * row.flops / 1e9 / jax_peak:.0%})")
        table.append(f"| {row.case.name} | {row.unit} | {' | '.join(cells)} | "
                     f"{','.join(map(str, threads)) or 'n/a'} | {fmt(ratio, 2)} | "
                     f"{compile_s:.2f} | {flops} |")
        if row.flops:
            verdicts["peak"].append((row.case.name, ours * row.flops / 1e9 / jax_peak))
        elif row.target is not None:
            key = {DISPATCH_TARGET: "dispatch", LEVEL_TARGET: "level"}.get(row.target, "speed")
            verdicts[key].append((row.case.name, ratio))
    targets: list[tuple[str, list[str]]] = []
    for key, title, goal in (
        ("dispatch", f"target: >= {DISPATCH_TARGET:.0f}x PyTorch on the dispatch-bound rows",
         DISPATCH_TARGET),
        ("speed", f"target: >= {TARGET:.0f}x PyTorch on every other row but the matmul-bound",
         TARGET),
        ("level", f"target: >= {LEVEL_TARGET:.0f}x PyTorch (level) on the diffusion training rows",
         LEVEL_TARGET),
        ("peak", f"target: MADE training at >= {PEAK_TARGET:.0%} of the JAX matmul peak "
         f"({fmt(jax_peak)} GFLOP/s)", PEAK_TARGET),
    ):
        items = []
        for name, value in verdicts[key]:
            if not math.isfinite(value):
                items.append(f"{name}: not judged (no PyTorch)")
                continue
            verdict = "met" if value >= goal else "MISSED"
            shown = f"{value:.0%}" if key == "peak" else f"{value:.2f}x"
            items.append(f"{name}: {shown}, {verdict}")
        targets.append((title, items))
    tail = ["load average (1, 5, 15 min) at the start: "
            + ", ".join(f"{a:.2f}" for a in start_load) + "; at the end: "
            + ", ".join(f"{a:.2f}" for a in end_load),
            f"total time {total.seconds:.0f} s"]
    print("\n" + caption)
    print("\n".join(table) + "\n")
    for title, items in targets:
        print("\n".join([title, *(f"  {item}" for item in items)]))
    print("\n".join(tail))
    if args.markdown:
        with atomic_file(args.markdown, "w") as f:
            f.write(markdown_report([*header, peak_line], caption, table, targets, tail))
        note(f"wrote {args.markdown}")


def markdown_report(run: list[str], caption: str, table: list[str],
                    targets: list[tuple[str, list[str]]], tail: list[str]) -> str:
    """The run as a Markdown fragment for the book's speed page (``{include}``-d there): the
    machine and run as a list, the table with its caption, each target with its verdicts."""
    parts = [*(f"- {line}\n" for line in run), f"\n{caption}.\n\n", "\n".join(table) + "\n\n"]
    for title, items in targets:
        parts.append(f"- {title[0].upper()}{title[1:]}\n")
        parts.extend(f"  - {item}\n" for item in items)
    parts.append("\n" + "; ".join(tail) + ".\n")
    return "".join(parts)


if __name__ == "__main__":
    main()
