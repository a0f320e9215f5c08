r"""A generative and a discriminative classifier of binary feature vectors.

Both predict a class :math:`y \in \{0, \dots, C-1\}` from :math:`x \in \{0, 1\}^D` through
:math:`\log p(y \mid x)`, a float32 array of shape ``(batch, C)`` in nats:

- **naive Bayes** (generative) models the joint :math:`p(y)\prod_j p(x_j \mid y)`, fits it in
  closed form by counting (:func:`fit_naive_bayes`), and gets :math:`p(y \mid x)` by Bayes'
  rule (:meth:`NaiveBayes.log_posterior`);
- **logistic (softmax) regression** (discriminative) models :math:`p(y \mid x)` directly,
  :math:`\mathrm{softmax}(x W + b)`, and fits it by gradient descent with
  :func:`dgm_lib.train.fit` (:func:`fit_logistic_regression`).

Binary features under naive Bayes give a posterior of the same softmax-linear form, so the two
are a generative-discriminative pair (Ng and Jordan, 2002): same family of decision rules,
different fitting criteria, :math:`\log p(x, y)` against :math:`\log p(y \mid x)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..checks import check_array, check_key, check_positive_int
from ..train import fit

Array = jax.Array

__all__ = [
    "LogisticRegression",
    "LogisticRegressionFit",
    "NaiveBayes",
    "accuracy",
    "fit_logistic_regression",
    "fit_naive_bayes",
]


def _check_labels(where: str, y: Array, n: int, num_classes: int) -> Array:
    y = check_array(where, "y", y, shape=(n,), kind="int")
    if n and (int(jnp.min(y)) < 0 or int(jnp.max(y)) >= num_classes):
        raise ValueError(
            f"{where}: argument 'y' must hold class indices in [0, {num_classes}); got values "
            f"from {int(jnp.min(y))} to {int(jnp.max(y))}"
        )
    return y.astype(jnp.int32)


# --------------------------------------------------------------------------------------------
# Naive Bayes: the generative classifier
# --------------------------------------------------------------------------------------------


@partial(jax.tree_util.register_dataclass, data_fields=["log_prior", "logits"], meta_fields=[])
@dataclass(frozen=True)
class NaiveBayes:
    r"""A fitted naive Bayes model of binary features; build it with :func:`fit_naive_bayes`.

    .. math:: p(x, y) = p(y) \prod_{j=1}^{D} \mathrm{Bern}\bigl(x_j; \sigma(\ell_{yj})\bigr).

    A JAX pytree (its two arrays are the leaves), so it can be passed to ``jax.jit``.

    Attributes:
        log_prior: :math:`\log p(y)`, float32 of shape ``(C,)``.
        logits: :math:`\ell_{cj}`, the logit of :math:`p(x_j = 1 \mid y = c)`, float32 of
            shape ``(C, D)``.
    """

    log_prior: Array
    logits: Array

    def __post_init__(self) -> None:
        # Only arrays are checked: JAX rebuilds the pytree with placeholder leaves inside its
        # transformations (vmap's axes, tree prefixes).
        if hasattr(self.log_prior, "shape") and hasattr(self.logits, "shape"):
            prior, logits = np.shape(self.log_prior), np.shape(self.logits)
            if len(prior) != 1 or len(logits) != 2 or logits[0] != prior[0]:
                raise ValueError(
                    "NaiveBayes: arguments 'log_prior' and 'logits' must have shapes (C,) and "
                    f"(C, D); got {prior} and {logits}"
                )

    def log_posterior(self, x: Array) -> Array:
        r"""Bayes' rule in log space:

        .. math:: \log p(y \mid x) = \log p(y) + \sum_j \log p(x_j \mid y)
                  - \log \sum_{c} p(c) \prod_j p(x_j \mid c),

        with :math:`\sum_j \log p(x_j \mid y) = x^\top \ell_y - \sum_j \log(1 + e^{\ell_{yj}})`
        and the normaliser a log-sum-exp over the classes.

        Args:
            x: float32 zeros and ones, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch, C)``, nats; each row log-sum-exps to zero.
        """
        x = check_array("NaiveBayes.log_posterior", "x", x, shape=("batch", self.logits.shape[1]))
        return _naive_bayes_log_posterior(self, x)


def fit_naive_bayes(x: Array, y: Array, num_classes: int, alpha: float = 1.0) -> NaiveBayes:
    r"""Maximum likelihood with Laplace (add-:math:`\alpha`) smoothing, by counting:

    .. math:: p(x_j = 1 \mid y = c) = \frac{N_{cj} + \alpha}{N_c + 2\alpha}, \qquad
              p(y = c) = \frac{N_c + \alpha}{N + C\alpha},

    where :math:`N_c` counts the examples of class :math:`c` and :math:`N_{cj}` those among
    them with :math:`x_j = 1`. Stored as logits,
    :math:`\ell_{cj} = \log(N_{cj} + \alpha) - \log(N_c - N_{cj} + \alpha)`, and log-priors.
    :math:`\alpha = 0` is plain maximum likelihood (a feature never seen on gets logit
    :math:`-\infty`).

    Args:
        x: float32 zeros and ones, shape ``(N, D)``.
        y: integer class labels in ``[0, num_classes)``, shape ``(N,)``.
        num_classes: :math:`C`, a positive int.
        alpha: the pseudo-count :math:`\alpha \ge 0` added to each cell.

    Returns:
        The fitted :class:`NaiveBayes`.
    """
    where = "fit_naive_bayes"
    x = check_array(where, "x", x, shape=("N", "D"))
    num_classes = check_positive_int(where, "num_classes", num_classes)
    y = _check_labels(where, y, x.shape[0], num_classes)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise ValueError(f"{where}: argument 'alpha' must be a number >= 0; got {alpha!r}")
    one_hot = jax.nn.one_hot(y, num_classes, dtype=jnp.float32)  # (N, C)
    n_c = one_hot.sum(axis=0)  # (C,)
    ones = one_hot.T @ x  # (C, D): N_cj
    logits = jnp.log(ones + alpha) - jnp.log(n_c[:, None] - ones + alpha)
    log_prior = jnp.log(n_c + alpha) - jnp.log(x.shape[0] + num_classes * alpha)
    return NaiveBayes(log_prior=log_prior, logits=logits)


@jax.jit
def _naive_bayes_log_posterior(model: NaiveBayes, x: Array) -> Array:
    log_joint = model.log_prior + x @ model.logits.T - jnp.sum(jax.nn.softplus(model.logits), -1)
    return jax.nn.log_softmax(log_joint, axis=-1)


# --------------------------------------------------------------------------------------------
# Logistic regression: the discriminative classifier
# --------------------------------------------------------------------------------------------


class LogisticRegression(nnx.Module):
    r"""Multinomial logistic (softmax) regression,
    :math:`p(y \mid x) = \mathrm{softmax}(x W + b)_y`, with ``weight`` :math:`W` of shape
    ``(D, C)`` and ``bias`` :math:`b` of shape ``(C,)``, zero at initialisation (the
    regularised NLL is convex, so the start does not matter, and no ``rngs`` is needed).

    Args:
        d: :math:`D`, the number of features.
        num_classes: :math:`C`, the number of classes.
    """

    def __init__(self, d: int, num_classes: int) -> None:
        where = "LogisticRegression"
        self.d = check_positive_int(where, "d", d)
        self.num_classes = check_positive_int(where, "num_classes", num_classes)
        self.weight = nnx.Param(jnp.zeros((self.d, self.num_classes), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((self.num_classes,), jnp.float32))

    def log_posterior(self, x: Array) -> Array:
        r""":math:`\log p(y \mid x) = x W + b - \log \sum_c e^{(x W + b)_c}`.

        Args:
            x: float32 features, shape ``(batch, D)``.

        Returns:
            float32 array of shape ``(batch, C)``, nats.
        """
        x = check_array("LogisticRegression.log_posterior", "x", x, shape=("batch", self.d))
        return self._log_posterior(x)

    def _log_posterior(self, x: Array) -> Array:
        return jax.nn.log_softmax(x @ self.weight[...] + self.bias[...], axis=-1)


class LogisticRegressionFit(NamedTuple):
    """What :func:`fit_logistic_regression` returns."""

    model: LogisticRegression
    """The fitted :class:`LogisticRegression`."""
    losses: np.ndarray
    """The objective (nats per example plus the penalty) at every step, shape ``(steps,)``."""
    traces: int
    """How often the training step was compiled (1 for a healthy run)."""


def fit_logistic_regression(
    key: Array,
    x: Array,
    y: Array,
    num_classes: int,
    *,
    l2: float = 0.0,
    steps: int = 1000,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
) -> LogisticRegressionFit:
    r"""Fit :class:`LogisticRegression` with :func:`dgm_lib.train.fit` by minimising

    .. math:: L(W, b) = -\frac{1}{N} \sum_{n=1}^{N} \log p(y_n \mid x_n)
              + \frac{\lambda}{2} \lVert W \rVert^2 \quad (\lambda = \texttt{l2};
              \text{ the bias is not penalised}),

    with Adam and a cosine-decaying learning rate, so the iterates settle at the minimum.
    scikit-learn's ``LogisticRegression(C=c)`` minimises :math:`N c` times the same objective
    when :math:`\lambda = 1 / (N c)`.

    Args:
        key: a ``jax.random.key`` (orders the minibatches).
        x: float32 features, shape ``(N, D)``.
        y: integer labels in ``[0, num_classes)``, shape ``(N,)``.
        num_classes: :math:`C`, a positive int.
        l2: :math:`\lambda \ge 0`.
        steps: optimizer steps.
        learning_rate: Adam's initial step size.
        batch_size: examples per step; ``None`` is the full batch (deterministic).

    Returns:
        A :class:`LogisticRegressionFit`: ``model`` the fitted :class:`LogisticRegression`,
        ``losses`` the objective at every step, ``traces`` the number of compilations.
    """
    where = "fit_logistic_regression"
    key = check_key(where, key)
    x = check_array(where, "x", x, shape=("N", "D"))
    num_classes = check_positive_int(where, "num_classes", num_classes)
    y = _check_labels(where, y, x.shape[0], num_classes)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
        raise ValueError(f"{where}: argument 'l2' must be a number >= 0; got {l2!r}")
    steps = check_positive_int(where, "steps", steps)
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or not learning_rate > 0
    ):
        raise ValueError(
            f"{where}: argument 'learning_rate' must be a number > 0; got {learning_rate!r}"
        )
    n = x.shape[0]
    batch_size = n if batch_size is None else check_positive_int(where, "batch_size", batch_size)
    if batch_size > n:
        raise ValueError(
            f"{where}: argument 'batch_size' ({batch_size}) must be at most the number of "
            f"examples ({n})"
        )
    lam = float(l2)

    def loss_fn(model: LogisticRegression, batch: tuple[Array, Array], _: Array) -> Array:
        xb, yb = batch
        log_p = jnp.take_along_axis(model._log_posterior(xb), yb[:, None], axis=1)
        return -jnp.mean(log_p) + 0.5 * lam * jnp.sum(model.weight[...] ** 2)

    schedule = optax.cosine_decay_schedule(learning_rate, steps)
    model = LogisticRegression(x.shape[1], num_classes)
    result = fit(
        model,
        loss_fn,
        (x, y),
        key=key,
        steps=steps,
        batch_size=batch_size,
        optimizer=optax.adam(schedule),
        progress=False,
    )
    return LogisticRegressionFit(model, np.asarray(result.losses), result.traces)


def accuracy(log_posterior: Array, y: Array) -> Array:
    r"""The fraction of examples whose most probable class is the label,
    :math:`\frac1N \sum_n 1[\arg\max_c \log p(c \mid x_n) = y_n]`.

    Args:
        log_posterior: float32 of shape ``(N, C)`` (any scores whose argmax is the prediction).
        y: integer labels, shape ``(N,)``.

    Returns:
        float32 scalar in ``[0, 1]``.
    """
    where = "accuracy"
    log_posterior = check_array(where, "log_posterior", log_posterior, shape=("N", "C"))
    y = check_array(where, "y", y, shape=(log_posterior.shape[0],), kind="int")
    return jnp.mean((jnp.argmax(log_posterior, axis=-1) == y).astype(jnp.float32))
