r"""How many free parameters each factorisation of :math:`p(x_1, \dots, x_D)` needs.

Every count is an exact Python int (arbitrary precision: :math:`2^{784} - 1` is fine). The
``d`` variables (the data dimension) take ``num_values`` :math:`= k` values each
(:math:`k = 2`: binary). A table for a distribution over :math:`k` values has :math:`k - 1`
free entries, the last one being fixed by summing to one; a conditional table has one such
row per configuration of the variables it conditions on.

The counts for parametrised conditionals (logistic, neural) count every parameter the
density depends on, as the library's models hold them (:mod:`dgm_lib.autoregressive`),
whether or not some of them are redundant (e.g. a hidden layer with no inputs).
"""

from __future__ import annotations

from ..checks import check_int_at_least, check_positive_int

__all__ = [
    "bayes_net_max_parents",
    "chain_rule_tables",
    "full_joint",
    "fully_independent",
    "logistic_conditionals",
    "markov_chain",
    "neural_conditionals",
]


def _check_sizes(where: str, d: int, num_values: int) -> tuple[int, int]:
    """``d >= 1`` variables of ``num_values >= 2`` values each."""
    d = check_positive_int(where, "d", d)
    return d, check_int_at_least(where, "num_values", num_values, 2)


def full_joint(d: int, num_values: int = 2) -> int:
    r"""An unrestricted joint table over :math:`D` variables with :math:`k` values:
    :math:`k^D - 1`.

    One RGB pixel (three variables with 256 values) needs ``full_joint(3, 256)``
    :math:`= 256^3 - 1 = 16\,777\,215`.

    Args:
        d: :math:`D`, the number of variables.
        num_values: :math:`k \ge 2`, the values of each variable.
    """
    d, k = _check_sizes("full_joint", d, num_values)
    return k**d - 1


def chain_rule_tables(d: int, num_values: int = 2) -> int:
    r"""The chain rule with a full table for every conditional :math:`p(x_i \mid x_{<i})`:

    .. math:: \sum_{i=1}^{D} k^{i-1} (k - 1) = k^D - 1,

    one row per configuration of the :math:`i - 1` earlier variables. The sum telescopes to
    the full table's count: the chain rule alone assumes nothing and saves nothing.

    Args:
        d: :math:`D`, the number of variables.
        num_values: :math:`k \ge 2`, the values of each variable.
    """
    d, k = _check_sizes("chain_rule_tables", d, num_values)
    return sum(k ** (i - 1) * (k - 1) for i in range(1, d + 1))


def bayes_net_max_parents(d: int, num_parents: int, num_values: int = 2) -> int:
    r"""A Bayes network in which variable :math:`i` has the :math:`\min(i - 1, m)` variables
    before it as parents (at most :math:`m` = ``num_parents``):

    .. math:: \sum_{i=1}^{D} k^{\min(i-1,\, m)} (k - 1) \;\le\; D\, k^m (k - 1),

    linear in :math:`D` for fixed :math:`m`. ``num_parents=0`` is :func:`fully_independent`,
    ``num_parents=1`` is :func:`markov_chain`, ``num_parents=d-1`` is
    :func:`chain_rule_tables`.

    Args:
        d: :math:`D`, the number of variables.
        num_parents: :math:`m \ge 0`, the most parents of a variable.
        num_values: :math:`k \ge 2`, the values of each variable.
    """
    where = "bayes_net_max_parents"
    d, k = _check_sizes(where, d, num_values)
    if isinstance(num_parents, bool) or not isinstance(num_parents, int) or num_parents < 0:
        raise ValueError(
            f"{where}: argument 'num_parents' must be an int >= 0; got {num_parents!r}"
        )
    return sum(k ** min(i - 1, num_parents) * (k - 1) for i in range(1, d + 1))


def markov_chain(d: int, num_values: int = 2) -> int:
    r"""A first-order Markov chain, :math:`p(x_1) \prod_{i \ge 2} p(x_i \mid x_{i-1})`:
    :math:`(k - 1) + (D - 1)\, k (k - 1)`; for binary variables :math:`2D - 1`.

    Args:
        d: :math:`D`, the number of variables.
        num_values: :math:`k \ge 2`, the values of each variable.
    """
    d, k = _check_sizes("markov_chain", d, num_values)
    return (k - 1) + (d - 1) * k * (k - 1)


def fully_independent(d: int, num_values: int = 2) -> int:
    r"""Fully independent variables, :math:`\prod_i p(x_i)`: :math:`D (k - 1)`.

    Args:
        d: :math:`D`, the number of variables.
        num_values: :math:`k \ge 2`, the values of each variable.
    """
    d, k = _check_sizes("fully_independent", d, num_values)
    return d * (k - 1)


def logistic_conditionals(d: int) -> int:
    r"""Binary variables with logistic conditionals (the FVSBN),
    :math:`p(x_i = 1 \mid x_{<i}) = \sigma(b_i + \sum_{j<i} W_{ij} x_j)`:

    .. math:: \sum_{i=1}^{D} \bigl(1 + (i - 1)\bigr) = \frac{D (D + 1)}{2}.

    Args:
        d: :math:`D`, the number of variables.
    """
    d = check_positive_int("logistic_conditionals", "d", d)
    return d * (d + 1) // 2


def neural_conditionals(d: int, num_hidden: int, shared: bool = True) -> int:
    r"""Binary variables whose conditionals are one-hidden-layer networks with
    :math:`H` = ``num_hidden`` units, :math:`p(x_i = 1 \mid x_{<i}) = \sigma(b_i + V_i^\top
    h_i)`.

    ``shared=True`` (NADE): :math:`h_i = \sigma(c + W_{:, <i}\, x_{<i})` with one input matrix
    :math:`W \in \mathbb{R}^{H \times D}` and one bias :math:`c` shared by all conditionals;
    the column of :math:`x_D` is never used (nothing comes after it), so

    .. math:: H(D - 1) + H + D H + D = 2DH + D.

    ``shared=False``: a separate network per conditional, with its own input weights on the
    :math:`i - 1` earlier variables, hidden bias, output weights and output bias,

    .. math:: \sum_{i=1}^{D} \bigl(H (i - 1) + H + H + 1\bigr)
              = H\,\frac{D (D - 1)}{2} + D (2H + 1),

    quadratic in :math:`D` like the FVSBN, and :math:`H` times larger.

    Args:
        d: :math:`D`, the number of variables.
        num_hidden: :math:`H`, the hidden units of each network.
        shared: one network for all conditionals (NADE) or one per conditional.
    """
    where = "neural_conditionals"
    d = check_positive_int(where, "d", d)
    h = check_positive_int(where, "num_hidden", num_hidden)
    if not isinstance(shared, bool):
        raise TypeError(f"{where}: argument 'shared' must be True or False; got {shared!r}")
    if shared:
        return 2 * d * h + d
    return h * d * (d - 1) // 2 + d * (2 * h + 1)
