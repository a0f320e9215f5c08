"""Background (the book's chapter "Background"): Bayes networks with exact inference by
enumeration, parameter counts of the chain rule and its simplifications, and the
generative-versus-discriminative pair naive Bayes / logistic regression."""

from . import bayesnet, parameter_counts
from .bayesnet import BayesNet, bayes_net, student_network
from .classifiers import (
    LogisticRegression,
    NaiveBayes,
    accuracy,
    fit_logistic_regression,
    fit_naive_bayes,
    naive_bayes_log_posterior,
)

__all__ = [
    "BayesNet",
    "LogisticRegression",
    "NaiveBayes",
    "accuracy",
    "bayes_net",
    "bayesnet",
    "fit_logistic_regression",
    "fit_naive_bayes",
    "naive_bayes_log_posterior",
    "parameter_counts",
    "student_network",
]
