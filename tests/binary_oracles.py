"""Oracles shared by the tests of the binary autoregressive models."""

from __future__ import annotations

import numpy as np
import scipy.stats as st


def index_of(x: np.ndarray) -> np.ndarray:
    """Row index in ``all_binary_vectors(d)`` of each binary vector (most significant bit first)."""
    d = x.shape[1]
    return (x.astype(np.int64) * (2 ** np.arange(d - 1, -1, -1))).sum(axis=1)


def chi_square_p_value(samples: np.ndarray, log_prob: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of sample frequencies against ``exp(log_prob)``
    over all ``2**d`` binary vectors (the model's float32 normalisation is corrected)."""
    counts = np.bincount(index_of(samples), minlength=len(log_prob))
    expected = np.exp(np.asarray(log_prob, np.float64))
    expected *= counts.sum() / expected.sum()
    return float(st.chisquare(counts, expected).pvalue)
