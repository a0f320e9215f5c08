"""dgm_lib: the library of the CS236 companion book on deep generative models.

A shared foundation at the top: ``probability`` (densities, samplers, KLs), ``estimators``
(Monte Carlo with error bars), ``checks``, ``masks`` (MADE degrees and masks), ``nn`` (one MLP,
initialisers, ``Frozen``), ``enumeration``, ``empirical``, ``data``, ``toy2d``, ``train`` (one
``fit`` loop, one ``nll_loss``), ``checkpoints`` (``fit`` resumes where it stopped),
``parallel`` (the batch split over every local device),
``structural_key`` (what lets ``fit`` compile once per
process), ``metrics``, ``plot``, ``budgets``, ``chapter_times`` (each chapter's measured
wall time per budget), ``book`` (what a chapter
runs first, its timer, its compiled model methods), ``results`` (each chapter's record for the
results page), ``files`` (atomic writes), ``samplers`` (scanned Markov chains:
Gibbs, ULA, MALA, annealed Langevin), ``ais`` (annealed importance sampling),
``score_matching`` (Hyvarinen's, denoising and sliced objectives) and ``divergence`` (exact and
Hutchinson). Then one subpackage per part of the course: ``background``, ``autoregressive``,
``latent``, ``flows``, ``adversarial``, ``energy``, ``score``, ``diffusion``, ``evaluation``.
Chapters start with
``dgm_lib.start_chapter("<chapter>")`` and size their experiments with
``dgm_lib.pick(smoke=..., cpu=..., gpu=..., paper=...)`` (``paper`` defaults to ``gpu``).
"""

from . import (
    adversarial,
    ais,
    autoregressive,
    background,
    book,
    budgets,
    chapter_times,
    checkpoints,
    checks,
    data,
    diffusion,
    divergence,
    empirical,
    energy,
    enumeration,
    estimators,
    evaluation,
    files,
    flows,
    latent,
    masks,
    metrics,
    nn,
    parallel,
    plot,
    probability,
    results,
    samplers,
    score,
    score_matching,
    structural_key,
    toy2d,
    train,
)
from .book import glue, run_info, start_chapter
from .budgets import budget, pick

__all__ = [
    "adversarial",
    "ais",
    "autoregressive",
    "background",
    "book",
    "budget",
    "budgets",
    "chapter_times",
    "checkpoints",
    "checks",
    "data",
    "diffusion",
    "divergence",
    "empirical",
    "energy",
    "enumeration",
    "estimators",
    "evaluation",
    "files",
    "flows",
    "glue",
    "latent",
    "masks",
    "metrics",
    "nn",
    "parallel",
    "pick",
    "plot",
    "probability",
    "results",
    "run_info",
    "samplers",
    "score",
    "score_matching",
    "start_chapter",
    "structural_key",
    "toy2d",
    "train",
]
__version__ = "0.1.0"
