r"""Every sample-quality metric of the book at once, in one feature space and at one sample size,
so rows of the results page compare.

:func:`sample_quality` embeds ``num_samples`` generated images and as many held-out real images
with a :class:`~dgm_lib.evaluation.FeatureExtractor` and reports, between the two sets of
features: the Fréchet distance (:func:`~dgm_lib.evaluation.frechet_distance`), the kernel
distance (KID, :func:`~dgm_lib.evaluation.kernel_distance`, subsets of half the sample size)
and the four k-nearest-neighbour metrics (:func:`~dgm_lib.evaluation.prdc`: precision,
recall, density, coverage, with ``k = 5``). Every chapter passes the number of samples of
:data:`SAMPLE_SIZES` for the budget in force, so within a build the metrics of every model are
computed from equally many samples (the Fréchet distance and the k-NN metrics depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ..budgets import Budget, budget
from ..checks import check_positive_int
from .features import FeatureExtractor
from .frechet import frechet_distance
from .kid import kernel_distance
from .manifold import prdc

__all__ = ["SAMPLE_SIZES", "SampleQuality", "sample_quality", "sample_size"]

SAMPLE_SIZES: dict[Budget, int] = {"smoke": 200, "cpu": 500, "gpu": 5_000, "paper": 10_000}
"""Generated and real images per sample-quality evaluation, by budget."""

_K = 5


@dataclass(frozen=True)
class SampleQuality:
    """What :func:`sample_quality` measured.

    Attributes:
        fd: the Fréchet distance between the two sets of features (lower is better).
        kid: the kernel distance (unbiased MMD² with the cubic kernel; about 0 for equal laws).
        kid_stderr: its standard error over the random subsets.
        precision: the share of generated samples inside the k-NN balls of the real features.
        recall: the share of real features inside the k-NN balls of the generated ones.
        density: real balls per generated sample, over ``k`` (1 on average for equal laws).
        coverage: the share of real features whose ball holds a generated sample.
        space: the feature space, the sample sizes and ``k``, as one phrase.
    """

    fd: float
    kid: float
    kid_stderr: float
    precision: float
    recall: float
    density: float
    coverage: float
    space: str

    def metrics(self) -> dict[str, float]:
        """The metrics by name, as a results row stores them."""
        names = ("fd", "kid", "precision", "recall", "density", "coverage")
        return {name: float(getattr(self, name)) for name in names}

    def row_fields(self) -> dict[str, Any]:
        """``sample_metrics`` and ``sample_space`` for :meth:`dgm_lib.results.Results.add`."""
        return {"sample_metrics": self.metrics(), "sample_space": self.space}


def sample_size() -> int:
    """The number of generated (and of real) images per evaluation at the budget in force."""
    return SAMPLE_SIZES[budget()]


def sample_quality(
    features: FeatureExtractor,
    samples: Any,
    real: Any,
    *,
    num_samples: int | None = None,
    seed: int = 0,
) -> SampleQuality:
    """Compare the first ``num_samples`` (default :func:`sample_size`) generated images with as
    many held-out real images, both ``(N, H, W)`` with values in ``[0, 1]`` (or integers of the
    extractor's data set), in ``features``' space. ``seed`` fixes the KID subsets."""
    where = "evaluation.sample_quality"
    n = sample_size() if num_samples is None else num_samples
    n = check_positive_int(where, "num_samples", n)
    for name, x in (("samples", samples), ("real", real)):
        if np.shape(x)[0] < n:
            raise ValueError(
                f"{where}: argument '{name}' has {np.shape(x)[0]} images, fewer than "
                f"num_samples = {n}; draw more, or pass a smaller num_samples to every row of "
                "the comparison"
            )
    fake_f = features.features(np.asarray(samples)[:n])
    real_f = features.features(np.asarray(real)[:n])
    kid = kernel_distance(jax.random.key(seed), fake_f, real_f, num_subsets=100,
                          subset_size=max(2, n // 2))
    knn = prdc(real_f, fake_f, k=_K)
    space = (f"the {features.feature_dim} features of the book's {features.name} classifier "
             f"(digest {features.digest[:12]}), {n:,} samples against {n:,} held-out images, "
             f"k = {_K}, KID on 100 subsets of {max(2, n // 2):,}")
    return SampleQuality(frechet_distance(fake_f, real_f), kid.value, kid.stderr,
                         knn.precision, knn.recall, knn.density, knn.coverage, space)
