r"""Evaluating generative models (the book's chapter on evaluation): how far a set of samples
is from the data, in a feature space where distance means something.

The Frechet distance (:mod:`~dgm_lib.evaluation.frechet`) fits a Gaussian to each set of
features and reports the squared 2-Wasserstein distance between the two, the FID recipe of
Heusel et al. (2017); :func:`gaussian_frechet_distance` is the closed form for two Gaussians,
:func:`frechet_distance` its estimate from samples. The features come from a small classifier
that the library trains once per data set with a fixed recipe and keeps in its cache
(:mod:`~dgm_lib.evaluation.features`): :func:`feature_extractor` returns a
:class:`FeatureExtractor` whose :meth:`~FeatureExtractor.features` are its penultimate layer.
Scores in one data set's feature space compare only with scores in that same space, at equal
numbers of samples. The kernel inception distance (:mod:`~dgm_lib.evaluation.kid`)
of Bińkowski et al. (2018) compares the same features by an unbiased estimate of the squared
MMD with a cubic polynomial kernel: :func:`kernel_distance` averages :func:`mmd2_unbiased` over
random subsets and gives its standard error. Nearest-neighbour balls
(:mod:`~dgm_lib.evaluation.manifold`) split sample quality into fidelity and diversity:
:func:`prdc` returns the precision and recall of Kynkäänniemi et al. (2019) and the density and
coverage of Naeem et al. (2020), so a model that drops modes (low recall and coverage) is told
apart from one that blurs (low precision and density); :func:`nearest_neighbours` finds the
training points closest to each sample. Two-sample tests
(:mod:`~dgm_lib.evaluation.two_sample`) ask whether two sets of points come from one law: the
energy distance or the kernel MMD (:func:`mmd_test`, a Gaussian kernel of bandwidth
:func:`median_bandwidth`) with a permutation test, or a classifier trained to tell them
apart (:func:`c2st`, :mod:`~dgm_lib.evaluation.classifier_test`). :func:`sample_quality`
(:mod:`~dgm_lib.evaluation.quality`) computes all of these sample metrics at once, at the
sample size of the budget in force, for the results page. The log-likelihood of a
decoder-based model is estimated by annealed importance sampling from the prior to the
posterior (:mod:`~dgm_lib.evaluation.decoder_ais`, Wu et al. 2017): :func:`ais_log_likelihood`
returns each data point's estimate of :math:`\log p(x)` with its standard error, a stochastic
lower bound whose gap closes as the ladder of temperatures gets finer.
"""

from .classifier_test import C2STResult, c2st
from .decoder_ais import DecoderAISResult, LogLikelihoodFn, ais_log_likelihood
from .features import TRAINING, FeatureExtractor, FeatureTraining, feature_extractor
from .frechet import frechet_distance, gaussian_frechet_distance
from .kid import (
    KernelDistance,
    gaussian_kernel,
    kernel_distance,
    median_bandwidth,
    mmd2_unbiased,
    polynomial_kernel,
)
from .manifold import (
    PRDC,
    density_coverage,
    knn_radii,
    nearest_neighbours,
    prdc,
    precision_recall,
)
from .quality import SAMPLE_SIZES, SampleQuality, sample_quality, sample_size
from .two_sample import TwoSampleTest, energy_distance, energy_distance_test, mmd_test

__all__ = [
    "PRDC",
    "SAMPLE_SIZES",
    "TRAINING",
    "C2STResult",
    "DecoderAISResult",
    "FeatureExtractor",
    "FeatureTraining",
    "KernelDistance",
    "LogLikelihoodFn",
    "SampleQuality",
    "TwoSampleTest",
    "ais_log_likelihood",
    "c2st",
    "density_coverage",
    "energy_distance",
    "energy_distance_test",
    "feature_extractor",
    "frechet_distance",
    "gaussian_frechet_distance",
    "gaussian_kernel",
    "kernel_distance",
    "knn_radii",
    "median_bandwidth",
    "mmd2_unbiased",
    "mmd_test",
    "nearest_neighbours",
    "polynomial_kernel",
    "prdc",
    "precision_recall",
    "sample_quality",
    "sample_size",
]
