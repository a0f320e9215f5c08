"""The chapter's conditional image GAN against PyTorch on the same CPU: training steps/s.

One run measures training steps per second of the class-conditional GAN of the chapter
"Generative adversarial networks" on 28x28 images (``dgm_lib.data.load_grayscale``), batch 64:
the generator ``Generator(64, (256, 512), (28, 28), num_classes=10, output="sigmoid")``, the
critic ``Critic((28, 28), (512, 256), num_classes=10)`` (``adversarial.IMAGE_GAN_SETUP``;
leaky-ReLU MLPs with a one-hot label concatenated to the input), the non-saturating loss and
Adam(5e-4, b1 = 0.5) for each player. One step is one critic update and one generator update,
each with its own batch of images and labels and its own noise.

- The library: ``train.fit`` with ``adversarial.gan_players("non_saturating",
  conditional=True)``, both players inside one compiled, scanned step.
- PyTorch: the loop a student writes (the DCGAN tutorial's, with MLPs): per step, a random
  batch, ``opt_d.zero_grad()``, the binary cross-entropy of the critic's logits on real and on
  detached generated images, ``backward()``, ``opt_d.step()``; then the generator's
  non-saturating loss, ``backward()``, ``opt_g.step()``. The script asserts before timing that
  the two sides' networks have the same layer shapes.

Compilation and the cost of a call are excluded on the JAX side: ``fit`` runs n and 4n steps
once before any timing (it compiles once per process, at the first of them, and every later
``fit`` of the same model, losses and shapes reuses that program) and the rate is
``3n / (t_4n - t_n)``; PyTorch is warmed up, then timed over 4n steps. JAX and PyTorch
measurements alternate, three of each, and the table shows the medians, so the noise of a
shared machine hits both alike. Threads: JAX uses every core the process may run on;
PyTorch the same number, or one thread where a short trial before each measurement finds one
faster (``versus_torch.torch_rate``); the table says which it used.

Measured in one run on this machine (2 cores, load average 1.1 at the start and 1.8 at the
end): library 128 against PyTorch 66 steps/s, 1.94x; PyTorch ran fastest on both threads. The
step is small enough (about 2.6 MFLOP per example and pass) that PyTorch's per-operation
dispatch, some 60 operations and two optimizer steps in Python per training step, is a large
share of its time, and the compiled step removes it.

PyTorch is needed by this benchmark only, not by the library or the book: install the CPU
build into the project's environment with ``.venv/bin/pip install torch==2.13.0``.

Run: ``.venv/bin/python benchmarks/gan.py`` (about two minutes). ``--quick`` shrinks the runs to
check that the script works; its rates are rough. Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from versus_torch import CORES, INSTALL, Case, compiled_rate, medians, torch, torch_rate

import dgm_lib as dgm
from dgm_lib import adversarial as adv
from dgm_lib import train
from dgm_lib.book import timer

NO_TORCH = f"benchmarks/gan.py compares the library with PyTorch, not installed here: {INSTALL}."

TARGET = 1.0  # the library at least level with PyTorch
BATCH = 64
LEARNING_RATE, BETA1 = 5e-4, 0.5  # the chapter's
SETUP = adv.IMAGE_GAN_SETUP


def library_gan(side: int, num_classes: int) -> adv.GAN:
    return adv.GAN(
        adv.Generator(SETUP["noise_dim"], SETUP["generator_hidden"], (side, side),
                      num_classes=num_classes, output="sigmoid", rngs=nnx.Rngs(0)),
        adv.Critic((side, side), SETUP["critic_hidden"], num_classes=num_classes,
                   rngs=nnx.Rngs(1)))


def library_case(x: np.ndarray, y: np.ndarray, n: int) -> Callable[[], float]:
    """One measurement of train.fit's steps/s (run for n and 4n steps first: the first run
    compiles)."""
    side, num_classes = x.shape[1], int(y.max()) + 1
    data = (jnp.asarray(x), jnp.asarray(y))  # on the device once, not copied by every fit call
    players = adv.gan_players("non_saturating",
                              critic_optimizer=optax.adam(LEARNING_RATE, b1=BETA1),
                              generator_optimizer=optax.adam(LEARNING_RATE, b1=BETA1),
                              conditional=True)

    def run(steps: int) -> None:
        train.fit(library_gan(side, num_classes), players, data, key=jax.random.key(0),
                  steps=steps, batch_size=BATCH, steps_per_dispatch=n, progress=False)

    return compiled_rate(run, n)


def mlp(sizes: list[int], output: torch.nn.Module | None) -> torch.nn.Sequential:
    """Linear layers with leaky ReLU between them (slope 0.01, as jax.nn.leaky_relu)."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.LeakyReLU(0.01))
    if output is not None:
        layers.append(output)
    return torch.nn.Sequential(*layers)


def torch_case(x: np.ndarray, y: np.ndarray, n: int,
               library: adv.GAN) -> Callable[[], tuple[float, int]]:
    """One measurement of the PyTorch loop's steps/s, and the threads it used."""
    side, num_classes = x.shape[1], int(y.max()) + 1
    d, noise = side * side, SETUP["noise_dim"]
    generator = mlp([noise + num_classes, *SETUP["generator_hidden"], d], torch.nn.Sigmoid())
    critic = mlp([d + num_classes, *SETUP["critic_hidden"], 1], None)
    ours = [tuple(p.shape) for p in jax.tree.leaves(nnx.state(library, nnx.Param))]
    theirs = [tuple(p.shape) for net in (critic, generator) for p in net.parameters()]
    assert sorted(tuple(sorted(s)) for s in ours) == sorted(tuple(sorted(s)) for s in theirs), (
        ours, theirs)
    images = torch.from_numpy(x.reshape(len(x), d))
    labels = torch.from_numpy(y.astype(np.int64))
    opt_g = torch.optim.Adam(generator.parameters(), lr=LEARNING_RATE, betas=(BETA1, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=LEARNING_RATE, betas=(BETA1, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(images), (BATCH,))
        return images[idx], torch.nn.functional.one_hot(labels[idx], num_classes).float()

    def fake(onehot: torch.Tensor) -> torch.Tensor:
        return generator(torch.cat([torch.randn(BATCH, noise), onehot], 1))

    def run(steps: int) -> None:
        for _ in range(steps):
            real, onehot = batch()
            opt_d.zero_grad()
            loss_d = (bce(critic(torch.cat([real, onehot], 1)), ones)
                      + bce(critic(torch.cat([fake(onehot).detach(), onehot], 1)), zeros))
            loss_d.backward()
            opt_d.step()
            _, onehot = batch()
            opt_g.zero_grad()
            loss_g = bce(critic(torch.cat([fake(onehot), onehot], 1)), ones)
            loss_g.backward()
            opt_g.step()

    return lambda: torch_rate(run, 4 * n, warmup=20, trial=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs, one measurement per side: checks the script only")
    quick = parser.parse_args().quick
    if torch is None:
        sys.exit(NO_TORCH)
    n, repeats = (50, 1) if quick else (300, 3)
    jax.config.update("jax_platforms", "cpu")
    torch.set_num_threads(CORES)
    print(dgm.run_info())
    print(f"torch {torch.__version__}: torch.set_num_threads({CORES}), the cores this process may"
          " use (XLA:CPU uses them all), or 1 where that measured faster")
    images = dgm.data.load_grayscale("train")
    x = (images.images / images.max_value).astype(np.float32)
    y = images.labels.astype(np.int32)
    start_load = os.getloadavg()
    with timer() as total:
        side, num_classes = x.shape[1], int(y.max()) + 1
        name = (f"conditional GAN, G {SETUP['noise_dim']}+{num_classes}-"
                f"{'-'.join(map(str, SETUP['generator_hidden']))}-{side * side}, D "
                f"{side * side}+{num_classes}-{'-'.join(map(str, SETUP['critic_hidden']))}-1, "
                f"batch {BATCH}")
        case = Case(name, library_case(x, y, n),
                    torch_case(x, y, n, library_gan(side, num_classes)), True)
        ours, theirs, threads = medians(case, repeats)
    end_load = os.getloadavg()
    print()
    print(f"training steps/s (one critic and one generator update), medians of {repeats} "
          f"alternating measurements; runs of {4 * n} steps")
    print("| case | library steps/s | PyTorch steps/s | library / PyTorch | PyTorch threads |")
    print("|---|---|---|---|---|")
    print(f"| {case.name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | "
          f"{','.join(map(str, threads))} |")
    print()
    verdict = "meets" if ours >= TARGET * theirs else "MISSES"
    print(f"target: the library at least level (>= {TARGET:.0f}x): {ours / theirs:.2f}x, "
          f"{verdict} the target")
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{a:.2f}" for a in start_load)
          + "; at the end: " + ", ".join(f"{a:.2f}" for a in end_load))
    print(f"total time {total.seconds:.0f} s")


if __name__ == "__main__":
    main()
