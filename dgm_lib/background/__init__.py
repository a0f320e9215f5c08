"""Background (the book's chapter "Background"): Bayes networks with exact inference by
enumeration, parameter counts of the chain rule and its simplifications, and the
generative-versus-discriminative pair naive Bayes / logistic regression.

Bayes networks are :class:`~dgm_lib.background.bayesnet.BayesNet` objects with the model
contract's ``log_prob(x)`` and ``sample(key, n)``; exact inference and counting are the
functions of :mod:`dgm_lib.background.bayesnet` and :mod:`dgm_lib.background.parameter_counts`.
"""

from . import bayesnet, parameter_counts
from .bayesnet import BayesNet, bayes_net, student_network
from .classifiers import (
    LogisticRegression,
    LogisticRegressionFit,
    NaiveBayes,
    accuracy,
    fit_logistic_regression,
    fit_naive_bayes,
)

__all__ = [
    "BayesNet",
    "LogisticRegression",
    "LogisticRegressionFit",
    "NaiveBayes",
    "accuracy",
    "bayes_net",
    "bayesnet",
    "fit_logistic_regression",
    "fit_naive_bayes",
    "parameter_counts",
    "student_network",
]
