"""dgm_lib: the library of the CS236 companion book on deep generative models.

Pure functions on arrays in the core modules (``probability``, ``enumeration``,
``empirical``, ``metrics``, ``toy2d``, ``bayesnet``, ``parameter_counts``, ``data``); thin
Flax NNX modules at the edges (``mixture``, ``autoregressive``, ``nade``, ``made``,
``rnade``, ``pixelcnn``, ``sequence``, ``latent``, ``bijectors``, ``flows``,
``classifiers``); one training loop (``train.fit``) and one plot style (``plot``). Chapters
start with ``dgm_lib.start_chapter()`` and size their experiments with
``dgm_lib.pick(smoke=..., cpu=..., gpu=...)``.
"""

from . import (
    autoregressive,
    bayesnet,
    bijectors,
    classifiers,
    data,
    empirical,
    enumeration,
    flows,
    latent,
    made,
    metrics,
    mixture,
    nade,
    parameter_counts,
    pixelcnn,
    plot,
    probability,
    rnade,
    sequence,
    toy2d,
    train,
)
from .book import glue, run_info, start_chapter
from .budgets import budget, pick

__all__ = [
    "autoregressive",
    "bayesnet",
    "bijectors",
    "budget",
    "classifiers",
    "data",
    "empirical",
    "enumeration",
    "flows",
    "glue",
    "latent",
    "made",
    "metrics",
    "mixture",
    "nade",
    "parameter_counts",
    "pick",
    "pixelcnn",
    "plot",
    "probability",
    "rnade",
    "run_info",
    "sequence",
    "start_chapter",
    "toy2d",
    "train",
]
__version__ = "0.1.0"
