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
numbers of samples. Two-sample tests (:mod:`~dgm_lib.evaluation.two_sample`) ask whether two
sets of points come from one law: the energy distance with a permutation test.
"""

from .features import TRAINING, FeatureExtractor, FeatureTraining, feature_extractor
from .frechet import frechet_distance, gaussian_frechet_distance
from .two_sample import TwoSampleTest, energy_distance, energy_distance_test

__all__ = [
    "TRAINING",
    "FeatureExtractor",
    "FeatureTraining",
    "TwoSampleTest",
    "energy_distance",
    "energy_distance_test",
    "feature_extractor",
    "frechet_distance",
    "gaussian_frechet_distance",
]
