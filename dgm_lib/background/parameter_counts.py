r"""How many free parameters each factorisation of :math:`p(x_1, \dots, x_n)` needs.

Every count is an exact Python int (arbitrary precision: :math:`2^{784} - 1` is fine). The
variables take ``k`` values each (``k = 2``: binary). A table for a distribution over ``k``
values has ``k - 1`` free entries, the last one being fixed by summing to one; a conditional
table has one such row per configuration of the variables it conditions on.

The counts for parametrised conditionals (logistic, neural) count every parameter the
density depends on, as the library's models hold them (:mod:`dgm_lib.autoregressive`),
whether or not some of them are redundant (e.g. a hidden layer with no inputs).
"""

from __future__ import annotations

from ..checks import check_positive_int

__all__ = [
    "bayes_net_max_parents",
    "chain_rule_tables",
    "full_joint",
    "fully_independent",
    "logistic_conditionals",
    "markov_chain",
    "neural_conditionals",
]


def _check_k(where: str, k: int) -> int:
    k = check_positive_int(where, "k", k)
    if k < 2:
        raise ValueError(f"{where}: argument 'k' (values per variable) must be at least 2; got {k}")
    return k


def full_joint(n: int, k: int = 2) -> int:
    r"""An unrestricted joint table over ``n`` variables with ``k`` values: :math:`k^n - 1`.

    One RGB pixel (three variables with 256 values) needs ``full_joint(3, 256)``
    :math:`= 256^3 - 1 = 16\,777\,215`.
    """
    where = "full_joint"
    return _check_k(where, k) ** check_positive_int(where, "n", n) - 1


def chain_rule_tables(n: int, k: int = 2) -> int:
    r"""The chain rule with a full table for every conditional :math:`p(x_i \mid x_{<i})`:

    .. math:: \sum_{i=1}^{n} k^{i-1} (k - 1) = k^n - 1,

    one row per configuration of the :math:`i - 1` earlier variables. The sum telescopes to
    the full table's count: the chain rule alone assumes nothing and saves nothing.
    """
    where = "chain_rule_tables"
    k = _check_k(where, k)
    n = check_positive_int(where, "n", n)
    return sum(k ** (i - 1) * (k - 1) for i in range(1, n + 1))


def bayes_net_max_parents(n: int, parents: int, k: int = 2) -> int:
    r"""A Bayes network in which variable :math:`i` has the :math:`\min(i - 1, m)` variables
    before it as parents (at most :math:`m` = ``parents``):

    .. math:: \sum_{i=1}^{n} k^{\min(i-1,\, m)} (k - 1) \;\le\; n\, k^m (k - 1),

    linear in ``n`` for fixed ``m``. ``parents=0`` is :func:`fully_independent`, ``parents=1``
    is :func:`markov_chain`, ``parents=n-1`` is :func:`chain_rule_tables`.
    """
    where = "bayes_net_max_parents"
    k = _check_k(where, k)
    n = check_positive_int(where, "n", n)
    if isinstance(parents, bool) or not isinstance(parents, int) or parents < 0:
        raise ValueError(f"{where}: argument 'parents' must be an int >= 0; got {parents!r}")
    return sum(k ** min(i - 1, parents) * (k - 1) for i in range(1, n + 1))


def markov_chain(n: int, k: int = 2) -> int:
    r"""A first-order Markov chain, :math:`p(x_1) \prod_{i \ge 2} p(x_i \mid x_{i-1})`:
    :math:`(k - 1) + (n - 1)\, k (k - 1)`; for binary variables :math:`2n - 1`."""
    where = "markov_chain"
    k = _check_k(where, k)
    n = check_positive_int(where, "n", n)
    return (k - 1) + (n - 1) * k * (k - 1)


def fully_independent(n: int, k: int = 2) -> int:
    r"""Fully independent variables, :math:`\prod_i p(x_i)`: :math:`n (k - 1)`."""
    where = "fully_independent"
    return check_positive_int(where, "n", n) * (_check_k(where, k) - 1)


def logistic_conditionals(n: int) -> int:
    r"""Binary variables with logistic conditionals (the FVSBN),
    :math:`p(x_i = 1 \mid x_{<i}) = \sigma(b_i + \sum_{j<i} W_{ij} x_j)`:

    .. math:: \sum_{i=1}^{n} \bigl(1 + (i - 1)\bigr) = \frac{n (n + 1)}{2}.
    """
    n = check_positive_int("logistic_conditionals", "n", n)
    return n * (n + 1) // 2


def neural_conditionals(n: int, hidden: int, shared: bool = True) -> int:
    r"""Binary variables whose conditionals are one-hidden-layer networks with ``hidden``
    units :math:`d`, :math:`p(x_i = 1 \mid x_{<i}) = \sigma(b_i + V_i^\top h_i)`.

    ``shared=True`` (NADE): :math:`h_i = \sigma(c + W_{:, <i}\, x_{<i})` with one input matrix
    :math:`W \in \mathbb{R}^{d \times n}` and one bias :math:`c` shared by all conditionals;
    the column of :math:`x_n` is never used (nothing comes after it), so

    .. math:: d(n - 1) + d + n d + n = 2nd + n.

    ``shared=False``: a separate network per conditional, with its own input weights on the
    :math:`i - 1` earlier variables, hidden bias, output weights and output bias,

    .. math:: \sum_{i=1}^{n} \bigl(d (i - 1) + d + d + 1\bigr)
              = d\,\frac{n (n - 1)}{2} + n (2d + 1),

    quadratic in :math:`n` like the FVSBN, and :math:`d` times larger.
    """
    where = "neural_conditionals"
    n = check_positive_int(where, "n", n)
    d = check_positive_int(where, "hidden", hidden)
    if not isinstance(shared, bool):
        raise TypeError(f"{where}: argument 'shared' must be True or False; got {shared!r}")
    if shared:
        return 2 * n * d + n
    return d * n * (n - 1) // 2 + n * (2 * d + 1)
