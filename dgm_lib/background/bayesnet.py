r"""Bayes networks: tabular conditional distributions on a DAG of discrete variables.

A Bayes network over discrete variables :math:`X_1, \dots, X_n` is a directed acyclic graph
(DAG) together with one conditional probability distribution (CPD) per variable, given its
parents :math:`\mathrm{Pa}(X_i)`. The chain rule of probability, applied in an order that puts
parents first, collapses to the product of the CPDs:

.. math:: p(x_1, \dots, x_n) = \prod_{i=1}^n p(x_i \mid x_{\mathrm{Pa}(i)}).

Conventions:

- values of a variable with cardinality ``k`` are the integers ``0, ..., k-1``;
- the user writes each CPD as a table of **probabilities** (small and readable), of shape
  ``(|Pa_1|, ..., |Pa_m|, |X|)``: one axis per parent, in the order the parents are listed,
  then the variable's own axis, along which every row sums to one;
- the network stores **log-probabilities** (float32, ``-inf`` for a zero), and every
  computation runs in log-space: products become sums, sums become log-sum-exps;
- log-masses are in nats; exact inference enumerates the full joint table, so it is for
  networks with at most :data:`MAX_JOINT_SIZE` joint outcomes.

:class:`BayesNet` is a JAX pytree (the log-CPDs are its leaves, the graph is static), so its
methods :meth:`BayesNet.log_prob` and :meth:`BayesNet.sample` can be called inside ``jax.jit``
and differentiated in the log-CPDs. Exact inference (:func:`joint_table`, :func:`marginal`,
:func:`conditional`, :func:`independent`) and counting (:func:`num_parameters`) are functions
of the network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_array, check_key, check_positive_int

Array = jax.Array

__all__ = [
    "MAX_JOINT_SIZE",
    "BayesNet",
    "IndependenceTest",
    "bayes_net",
    "conditional",
    "full_table_parameters",
    "independent",
    "joint_table",
    "marginal",
    "num_parameters",
    "student_network",
    "topological_order",
]

MAX_JOINT_SIZE = 2**22
"""The most joint outcomes exact enumeration visits (:math:`2^{22}` float32 entries take 16 MB)."""


# --------------------------------------------------------------------------------------------
# The network and its constructor
# --------------------------------------------------------------------------------------------


@partial(
    jax.tree_util.register_dataclass,
    data_fields=["log_cpds"],
    meta_fields=["variables", "cardinalities", "parents"],
)
@dataclass(frozen=True, eq=False, repr=False)
class BayesNet:
    r"""An immutable Bayes network; build it with :func:`bayes_net`, which validates the
    probability tables (the constructor checks the graph only: JAX rebuilds the network with
    placeholder leaves inside its transformations).

    All four fields are aligned with ``variables`` (the network's variable order, which is
    also the column order of the samples of :meth:`BayesNet.sample` and of ``x`` in
    :meth:`BayesNet.log_prob`):

    Attributes:
        variables: the variable names.
        cardinalities: ``cardinalities[i]`` is the number of values of ``variables[i]``.
        parents: ``parents[i]`` are the names of the parents of ``variables[i]``, in the
            order of the axes of its CPD.
        log_cpds: ``log_cpds[i]`` is :math:`\log p(x_i \mid x_{\mathrm{Pa}(i)})`, float32 of
            shape ``(|Pa_1|, ..., |Pa_m|, |X_i|)``; a root variable has shape ``(|X_i|,)``.
    """

    variables: tuple[str, ...]
    cardinalities: tuple[int, ...]
    parents: tuple[tuple[str, ...], ...]
    log_cpds: tuple[Array, ...]

    def __post_init__(self) -> None:
        where = "BayesNet"
        fields = {"variables": self.variables, "cardinalities": self.cardinalities,
                  "parents": self.parents}
        for name, value in fields.items():
            if not isinstance(value, tuple):
                raise TypeError(
                    f"{where}: argument '{name}' must be a tuple (build networks with "
                    f"bayes_net); got {type(value).__name__}"
                )
        variables = _name_tuple(where, "variables", self.variables)
        n = len(variables)
        if not n or len(self.cardinalities) != n or len(self.parents) != n:
            raise ValueError(
                f"{where}: arguments 'variables', 'cardinalities' and 'parents' must have one "
                f"entry per variable, at least one; got {n}, {len(self.cardinalities)} and "
                f"{len(self.parents)} entries"
            )
        for i, k in enumerate(self.cardinalities):
            check_positive_int(where, f"cardinalities[{i}]", k)
        graph = {
            v: _name_tuple(where, f"parents[{i}]", pa)
            for i, (v, pa) in enumerate(zip(variables, self.parents, strict=True))
        }
        for v, pa in graph.items():
            for p in pa:
                if p not in graph:
                    raise ValueError(
                        f"{where}: unknown parent {p!r} of {v!r}; the variables are {variables}"
                    )
        _topological_order(where, graph)

    def index(self, name: str) -> int:
        """The position of variable ``name`` in ``variables``."""
        return _variable_indices("BayesNet.index", "name", self, name)[0]

    def parents_of(self, name: str) -> tuple[str, ...]:
        """The parents of variable ``name``, in the order of the axes of its CPD."""
        return self.parents[_variable_indices("BayesNet.parents_of", "name", self, name)[0]]

    def cpd(self, name: str) -> Array:
        """The CPD of variable ``name`` as probabilities, shape ``(|Pa_1|, ..., |X|)``."""
        return jnp.exp(self.log_cpds[_variable_indices("BayesNet.cpd", "name", self, name)[0]])

    def log_prob(self, x: Array) -> Array:
        r"""Log-probability of full assignments by the chain rule over the graph, in nats:

        .. math:: \log p(x) = \sum_{i=1}^n \log p(x_i \mid x_{\mathrm{Pa}(i)}),

        each term a lookup (gather) into the log-CPD table of :math:`X_i`. An assignment with
        a value outside ``[0, |X_i|)`` has log-probability ``-inf``. Can be called inside
        ``jax.jit`` and differentiated in ``log_cpds`` (the network is a pytree).

        Args:
            x: integer array of shape ``(batch, n_vars)``, columns in the order of
                ``variables``.

        Returns:
            float32 array of shape ``(batch,)``, :math:`\log p(x)` in nats.
        """
        n_vars = len(self.variables)
        x = check_array("BayesNet.log_prob", "x", x, shape=("batch", n_vars), kind="int")
        return _log_prob(self, x)

    def sample(self, key: Array, n: int) -> Array:
        r"""Ancestral sampling: draw each variable after its parents, from its CPD row,

        .. math:: x_i \sim p(x_i \mid x_{\mathrm{Pa}(i)}) \quad \text{for } i \text{ in a
                  topological order},

        which draws :math:`x \sim p(x)` exactly, by the chain rule. Each draw is
        ``jax.random.categorical`` on a row of log-probabilities.

        Args:
            key: a ``jax.random.key``.
            n: the number of samples, a positive int.

        Returns:
            int32 array of shape ``(n, n_vars)``, columns in the order of ``variables``.
        """
        where = "BayesNet.sample"
        key = check_key(where, key)
        n = check_positive_int(where, "n", n)
        return _sample(key, self, n)

    def __repr__(self) -> str:
        """``BayesNet(D:2; I:2; G:3 | I, D; ...)``: each variable, its cardinality, its
        parents."""
        def one(v: str, k: int, pa: tuple[str, ...]) -> str:
            return f"{v}:{k}" + (f" | {', '.join(pa)}" if pa else "")

        inner = "; ".join(map(one, self.variables, self.cardinalities, self.parents))
        return f"BayesNet({inner})"


def topological_order(parents: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """An order of the variables in which every parent comes before its children.

    Kahn's algorithm, made deterministic: at each step the first variable, in the order of
    the keys of ``parents``, whose parents are all placed, is placed next. So a mapping whose
    keys are already in a topological order is returned unchanged.

    Args:
        parents: maps every variable to the names of its parents; every parent must itself
            be a key (a root maps to an empty sequence).

    Returns:
        The variable names, parents before children.

    Raises:
        ValueError: a parent that is not a key, or a directed cycle (its variables are named
            in the order of the edges, e.g. ``A -> B -> C -> A``).
    """
    where = "topological_order"
    if not isinstance(parents, Mapping):
        raise TypeError(
            f"{where}: argument 'parents' must be a mapping from variable names to sequences "
            f"of parent names; got {type(parents).__name__}"
        )
    graph = {v: _name_tuple(where, f"parents[{v!r}]", pa) for v, pa in parents.items()}
    for v, pa in graph.items():
        for p in pa:
            if p not in graph:
                raise ValueError(
                    f"{where}: unknown parent {p!r} of {v!r}; every parent must be a variable "
                    f"(a key of 'parents'); the variables are {tuple(graph)}"
                )
    return _topological_order(where, graph)


def _topological_order(where: str, graph: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    placed: dict[str, None] = {}
    while len(placed) < len(graph):
        ready = next(
            (v for v, pa in graph.items() if v not in placed and set(pa) <= placed.keys()), None
        )
        if ready is None:
            raise ValueError(
                f"{where}: the graph has a directed cycle {_find_cycle(graph, placed)}"
            )
        placed[ready] = None
    return tuple(placed)


def _find_cycle(graph: dict[str, tuple[str, ...]], placed: Mapping[str, None]) -> str:
    """Every unplaced variable has an unplaced parent: walk up parents until one repeats."""
    walk = [next(v for v in graph if v not in placed)]
    while True:
        up = next(p for p in graph[walk[-1]] if p not in placed)
        if up in walk:
            cycle = [*walk[walk.index(up) :], up]  # child <- parent <- ... <- child
            return " -> ".join(reversed(cycle))
        walk.append(up)


def bayes_net(
    cardinalities: Mapping[str, int],
    parents: Mapping[str, Sequence[str]],
    cpds: Mapping[str, Any],
    *,
    atol: float = 1e-6,
) -> BayesNet:
    r"""Build and validate a Bayes network from readable probability tables.

    .. math:: p(x) = \prod_i p(x_i \mid x_{\mathrm{Pa}(i)}),\qquad
              \texttt{cpds[v][}\mathrm{pa}_1, \dots, \mathrm{pa}_m, x\texttt{]}
              = p(X_v = x \mid \mathrm{Pa}(v) = \mathrm{pa}).

    The CPDs are given as **probabilities** and stored as **log-probabilities** (float32;
    each row is divided by its sum, within ``atol`` of one, before the log, so the stored
    rows are normalised to float32 precision).

    Args:
        cardinalities: maps each variable name to its number of values (a positive int); its
            key order is the network's variable order.
        parents: maps a variable to the names of its parents; a variable that is not a key
            has no parents.
        cpds: maps every variable to its CPD, an array-like of probabilities of shape
            ``(|Pa_1|, ..., |Pa_m|, |X|)``: the parents' cardinalities, in the order of
            ``parents[v]``, then the variable's own.
        atol: how far from one a row sum may be.

    Returns:
        The validated :class:`BayesNet`.

    Raises:
        ValueError: an unknown variable or parent, a directed cycle, a CPD of the wrong shape,
            a negative or non-finite entry, or a row that does not sum to one (the message
            names the variable and the worst row).
    """
    where = "bayes_net"
    for name, value in (("cardinalities", cardinalities), ("parents", parents), ("cpds", cpds)):
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{where}: argument '{name}' must be a mapping keyed by variable name; "
                f"got {type(value).__name__}"
            )
    variables = _name_tuple(where, "cardinalities (its keys)", tuple(cardinalities))
    if not variables:
        raise ValueError(f"{where}: argument 'cardinalities' must name at least one variable")
    cards = {
        v: check_positive_int(where, f"cardinalities[{v!r}]", cardinalities[v]) for v in variables
    }
    for v in parents:
        if v not in cards:
            raise ValueError(
                f"{where}: 'parents' has an entry for {v!r}, which is not a variable; "
                f"the variables (keys of 'cardinalities') are {variables}"
            )
    graph = {v: _name_tuple(where, f"parents[{v!r}]", parents.get(v, ())) for v in variables}
    for v, pa in graph.items():
        for p in pa:
            if p not in cards:
                raise ValueError(
                    f"{where}: unknown parent {p!r} of {v!r}; parents must be variables "
                    f"(keys of 'cardinalities'): {variables}"
                )
    _topological_order(where, graph)
    missing = [v for v in variables if v not in cpds]
    extra = [v for v in cpds if v not in cards]
    if missing or extra:
        raise ValueError(
            f"{where}: 'cpds' must have exactly one entry per variable {variables}; "
            f"missing {tuple(missing)}, not variables {tuple(extra)}"
        )
    log_cpds = tuple(_log_cpd(where, v, graph[v], cards, cpds[v], atol) for v in variables)
    return BayesNet(
        variables=variables,
        cardinalities=tuple(cards[v] for v in variables),
        parents=tuple(graph[v] for v in variables),
        log_cpds=log_cpds,
    )


def _log_cpd(
    where: str, v: str, pa: tuple[str, ...], cards: Mapping[str, int], table: Any, atol: float
) -> Array:
    """Validate one probability table and return its float32 log, rows renormalised."""
    expected = (*(cards[p] for p in pa), cards[v])
    axes = ", ".join(f"|{name}|" for name in (*pa, v))
    try:
        p = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: the CPD of {v!r} must be an array of numbers ({err})") from None
    if p.shape != expected:
        raise ValueError(
            f"{where}: the CPD of {v!r} must have shape ({axes}{',' if not pa else ''}) = "
            f"{expected}: the parents' cardinalities in the order {pa}, then the variable's own; "
            f"got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{where}: the CPD of {v!r} has a non-finite entry (nan or inf)")
    if np.any(p < 0):
        at = np.unravel_index(np.argmin(p), p.shape)
        raise ValueError(
            f"{where}: the CPD of {v!r} must hold probabilities (>= 0); "
            f"entry {tuple(int(i) for i in at)} is {p[at]:g}"
        )
    sums = p.sum(axis=-1)
    worst = np.unravel_index(np.argmax(np.abs(sums - 1.0)), sums.shape)
    if abs(sums[worst] - 1.0) > atol:
        row = ", ".join(f"{name}={int(i)}" for name, i in zip(pa, worst, strict=True))
        raise ValueError(
            f"{where}: every row of the CPD of {v!r} must sum to one (tolerance {atol:g}) over "
            f"its last axis ({v}); the worst row{' [' + row + ']' if row else ''} sums to "
            f"{sums[worst]:.6g}"
        )
    with np.errstate(divide="ignore"):
        return jnp.asarray(np.log(p / sums[..., None]), dtype=jnp.float32)


# --------------------------------------------------------------------------------------------
# Checks shared by the functions below
# --------------------------------------------------------------------------------------------


def _name_tuple(where: str, name: str, value: Any) -> tuple[str, ...]:
    """A sequence of variable names (a single string counts as one name)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not all(isinstance(s, str) and s for s in value):
        raise TypeError(
            f"{where}: argument '{name}' must be a variable name or a sequence of non-empty "
            f"variable names; got {value!r}"
        )
    if len(set(value)) != len(value):
        raise ValueError(f"{where}: argument '{name}' names a variable twice: {tuple(value)}")
    return tuple(value)


def _check_net(where: str, net: Any) -> BayesNet:
    if not isinstance(net, BayesNet):
        raise TypeError(
            f"{where}: argument 'net' must be a BayesNet (build one with bayes_net); "
            f"got {type(net).__name__}"
        )
    return net


def _variable_indices(where: str, name: str, net: BayesNet, value: Any) -> tuple[int, ...]:
    names = _name_tuple(where, name, value)
    for v in names:
        if v not in net.variables:
            raise ValueError(
                f"{where}: argument '{name}' names unknown variable {v!r}; "
                f"the network's variables are {net.variables}"
            )
    return tuple(net.variables.index(v) for v in names)


def _disjoint(where: str, **groups: tuple[int, ...]) -> None:
    names = list(groups)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if set(groups[a]) & set(groups[b]):
                raise ValueError(f"{where}: arguments '{a}' and '{b}' must not share a variable")


def _check_size(where: str, net: BayesNet) -> None:
    size = math.prod(net.cardinalities)
    if size > MAX_JOINT_SIZE:
        raise ValueError(
            f"{where}: exact enumeration builds the joint table of prod(cardinalities) = "
            f"{size:,} entries, above the limit MAX_JOINT_SIZE = 2**22 = {MAX_JOINT_SIZE:,}; "
            "estimate from samples (BayesNet.sample) instead"
        )


def _parent_indices(net: BayesNet) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(net.variables.index(p) for p in pa) for pa in net.parents)


# --------------------------------------------------------------------------------------------
# The kernels of BayesNet.log_prob and BayesNet.sample (checked by the methods)
# --------------------------------------------------------------------------------------------


@jax.jit
def _log_prob(net: BayesNet, x: Array) -> Array:
    x = x.astype(jnp.int32)
    cards = jnp.asarray(net.cardinalities, dtype=jnp.int32)
    inside = jnp.all((x >= 0) & (x < cards), axis=1)
    x = jnp.clip(x, 0, cards - 1)
    terms = [
        table[(*(x[:, p] for p in pa), x[:, i])]
        for i, (pa, table) in enumerate(zip(_parent_indices(net), net.log_cpds, strict=True))
    ]
    return jnp.where(inside, sum(terms), -jnp.inf)


@partial(jax.jit, static_argnames="n")
def _sample(key: Array, net: BayesNet, n: int) -> Array:
    keys = jax.random.split(key, len(net.variables))
    parents = _parent_indices(net)
    columns: dict[int, Array] = {}
    graph = dict(zip(net.variables, net.parents, strict=True))
    for v in _topological_order("BayesNet.sample", graph):
        i = net.variables.index(v)
        rows = net.log_cpds[i][tuple(columns[p] for p in parents[i])]
        columns[i] = jax.random.categorical(keys[i], rows, axis=-1, shape=(n,))
    return jnp.stack([columns[i] for i in range(len(net.variables))], axis=1).astype(jnp.int32)


# --------------------------------------------------------------------------------------------
# Exact inference by enumeration
# --------------------------------------------------------------------------------------------


@jax.jit
def _joint_table(net: BayesNet) -> Array:
    n = len(net.variables)
    total = jnp.zeros(net.cardinalities, dtype=jnp.float32)
    for i, (pa, table) in enumerate(zip(_parent_indices(net), net.log_cpds, strict=True)):
        axes = (*pa, i)  # the joint's axis for each axis of the table
        shape = [1] * n
        for ax in axes:
            shape[ax] = net.cardinalities[ax]
        total = total + jnp.transpose(table, tuple(int(k) for k in np.argsort(axes))).reshape(shape)
    return total


def joint_table(net: BayesNet) -> Array:
    r"""The full joint :math:`\log p(x_1, \dots, x_n)` as a table, in nats.

    Entry ``[x_1, ..., x_n]`` is :math:`\sum_i \log p(x_i \mid x_{\mathrm{Pa}(i)})`, built by
    broadcasting each log-CPD over the axes of the variables it does not mention.

    Args:
        net: the network, with at most :data:`MAX_JOINT_SIZE` joint outcomes.

    Returns:
        float32 array of shape ``net.cardinalities`` (axes in the order of
        ``net.variables``); ``logsumexp`` of it is zero.
    """
    where = "joint_table"
    net = _check_net(where, net)
    _check_size(where, net)
    return _joint_table(net)


@partial(jax.jit, static_argnames=("query", "evidence"))
def _log_conditional(
    net: BayesNet, query: tuple[int, ...], evidence: tuple[tuple[int, int], ...]
) -> tuple[Array, Array]:
    """``log p(query, evidence)`` with axes in query order, and ``log p(evidence)``."""
    log_p = _joint_table(net)
    observed = dict(evidence)
    log_p = log_p[tuple(observed.get(i, slice(None)) for i in range(len(net.variables)))]
    left = [i for i in range(len(net.variables)) if i not in observed]
    summed = tuple(k for k, i in enumerate(left) if i not in query)
    if summed:
        log_p = jax.nn.logsumexp(log_p, axis=summed)
    kept = [i for i in left if i in query]
    log_p = jnp.transpose(log_p, [kept.index(i) for i in query])
    return log_p, jax.nn.logsumexp(log_p)


def _log_posterior(
    where: str, net: BayesNet, query: tuple[int, ...], evidence: Mapping[str, int]
) -> Array:
    """``log p(query | evidence)``, after checking the evidence; raises if p(evidence) = 0."""
    if not isinstance(evidence, Mapping):
        raise TypeError(
            f"{where}: argument 'evidence' must be a mapping from variable names to observed "
            f"values; got {type(evidence).__name__}"
        )
    observed = _variable_indices(where, "evidence", net, tuple(evidence))
    _disjoint(where, query_vars=query, evidence=observed)
    pairs = []
    for i, (v, value) in zip(observed, evidence.items(), strict=True):
        k = net.cardinalities[i]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not 0 <= value < k
        ):
            raise ValueError(
                f"{where}: evidence[{v!r}] must be an int in [0, {k}) (the values of {v!r}); "
                f"got {value!r}"
            )
        pairs.append((i, int(value)))
    _check_size(where, net)
    log_p, log_z = _log_conditional(net, query, tuple(sorted(pairs)))
    if not np.isfinite(float(log_z)):
        raise ValueError(
            f"{where}: the evidence {dict(evidence)} has probability zero under the network, "
            "so the conditional given it is undefined"
        )
    return log_p - log_z


def marginal(net: BayesNet, query_vars: str | Sequence[str]) -> Array:
    r"""The marginal distribution of ``query_vars``, by summing the joint over the others:

    .. math:: p(x_Q) = \sum_{x_{\setminus Q}} p(x_Q, x_{\setminus Q}),

    computed as a log-sum-exp over the enumerated joint (:func:`joint_table`).

    Args:
        net: the network, with at most :data:`MAX_JOINT_SIZE` joint outcomes.
        query_vars: a variable name or a sequence of distinct names.

    Returns:
        float32 table of probabilities, one axis per query variable in the order given,
        shape ``(|Q_1|, ..., |Q_k|)``; it sums to one.
    """
    where = "marginal"
    net = _check_net(where, net)
    query = _variable_indices(where, "query_vars", net, query_vars)
    return jnp.exp(_log_posterior(where, net, query, {}))


def conditional(
    net: BayesNet, query_vars: str | Sequence[str], evidence: Mapping[str, int]
) -> Array:
    r"""The conditional distribution of ``query_vars`` given observed values, by enumeration:

    .. math:: p(x_Q \mid x_E = e) = \frac{\sum_{x_R} p(x_Q, x_R, e)}
              {\sum_{x_Q, x_R} p(x_Q, x_R, e)},

    where :math:`R` are the remaining variables; both sums are log-sum-exps over the
    enumerated joint (:func:`joint_table`).

    Args:
        net: the network, with at most :data:`MAX_JOINT_SIZE` joint outcomes.
        query_vars: a variable name or a sequence of distinct names.
        evidence: maps observed variables (disjoint from ``query_vars``) to their values.

    Returns:
        float32 table of probabilities, one axis per query variable in the order given,
        shape ``(|Q_1|, ..., |Q_k|)``; it sums to one.

    Raises:
        ValueError: the evidence has probability zero.
    """
    where = "conditional"
    net = _check_net(where, net)
    query = _variable_indices(where, "query_vars", net, query_vars)
    return jnp.exp(_log_posterior(where, net, query, evidence))


@dataclass(frozen=True)
class IndependenceTest:
    r"""The result of :func:`independent`; true in a boolean context when it holds.

    Attributes:
        holds: ``max_deviation <= tol``.
        max_deviation: :math:`\max |p(a, b \mid c) - p(a \mid c)\,p(b \mid c)|` over all
            values with :math:`p(c) > 0` (a probability, no unit).
        tol: the tolerance it was compared with.
    """

    holds: bool
    max_deviation: float
    tol: float

    def __bool__(self) -> bool:
        return self.holds


@partial(jax.jit, static_argnames=("a", "b", "c"))
def _max_independence_gap(
    net: BayesNet, a: tuple[int, ...], b: tuple[int, ...], c: tuple[int, ...]
) -> Array:
    """max |p(a, b | c) - p(a | c) p(b | c)| over the values with p(c) > 0."""
    log_abc, _ = _log_conditional(net, a + b + c, ())
    axes_a = tuple(range(len(a)))
    axes_b = tuple(range(len(a), len(a) + len(b)))
    log_c = jax.nn.logsumexp(log_abc, axis=axes_a + axes_b, keepdims=True)
    log_ac = jax.nn.logsumexp(log_abc, axis=axes_b, keepdims=True)
    log_bc = jax.nn.logsumexp(log_abc, axis=axes_a, keepdims=True)
    possible = jnp.isfinite(log_c)
    safe_c = jnp.where(possible, log_c, 0.0)  # p(c) = 0 rows are skipped, not divided by
    gap = jnp.exp(log_abc - safe_c) - jnp.exp(log_ac + log_bc - 2.0 * safe_c)
    return jnp.max(jnp.where(possible, jnp.abs(gap), 0.0))


def independent(
    net: BayesNet,
    a: str | Sequence[str],
    b: str | Sequence[str],
    given: str | Sequence[str] = (),
    *,
    tol: float = 1e-5,
) -> IndependenceTest:
    r"""Check :math:`A \perp B \mid C` numerically on the exact joint:

    .. math:: \Delta = \max_{a, b, c:\ p(c) > 0}
              \bigl| p(a, b \mid c) - p(a \mid c)\, p(b \mid c) \bigr|,

    which is zero exactly when the independence holds (up to float32 rounding, about 1e-7).
    Unlike d-separation, which reads independences off the graph, this tests the distribution,
    so it also finds independences that hold because of the numbers in the CPDs.

    Args:
        net: the network, with at most :data:`MAX_JOINT_SIZE` joint outcomes.
        a, b: a variable name or a sequence of names each; ``a``, ``b`` and ``given`` must
            be disjoint.
        given: the conditioning variables (empty: marginal independence).
        tol: the largest deviation counted as independent.

    Returns:
        An :class:`IndependenceTest` with ``holds``, ``max_deviation`` and ``tol``.
    """
    where = "independent"
    net = _check_net(where, net)
    ia = _variable_indices(where, "a", net, a)
    ib = _variable_indices(where, "b", net, b)
    ic = _variable_indices(where, "given", net, given)
    _disjoint(where, a=ia, b=ib, given=ic)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise ValueError(f"{where}: argument 'tol' must be a non-negative number; got {tol!r}")
    _check_size(where, net)
    deviation = float(_max_independence_gap(net, ia, ib, ic))
    return IndependenceTest(holds=deviation <= tol, max_deviation=deviation, tol=float(tol))


# --------------------------------------------------------------------------------------------
# Counting parameters
# --------------------------------------------------------------------------------------------


def num_parameters(net: BayesNet) -> int:
    r"""The number of free parameters of the network's CPDs:

    .. math:: \sum_i \Bigl(\prod_{j \in \mathrm{Pa}(i)} |X_j|\Bigr)\,(|X_i| - 1),

    one row per parent configuration, each row with one entry fixed by summing to one.

    Args:
        net: the network.

    Returns:
        The count, a Python int.
    """
    net = _check_net("num_parameters", net)
    cards = dict(zip(net.variables, net.cardinalities, strict=True))
    return sum(
        math.prod(cards[p] for p in pa) * (k - 1)
        for pa, k in zip(net.parents, net.cardinalities, strict=True)
    )


def full_table_parameters(cardinalities: Sequence[int]) -> int:
    r"""The number of free parameters of an unrestricted joint table, :math:`\prod_i |X_i| - 1`.

    Args:
        cardinalities: the number of values of each variable, e.g. ``net.cardinalities``.

    Returns:
        The count, a Python int (exact, no overflow).
    """
    where = "full_table_parameters"
    if not isinstance(cardinalities, Sequence) or not cardinalities:
        raise TypeError(
            f"{where}: argument 'cardinalities' must be a non-empty sequence of positive ints; "
            f"got {cardinalities!r}"
        )
    cards = [
        check_positive_int(where, f"cardinalities[{i}]", k) for i, k in enumerate(cardinalities)
    ]
    return math.prod(cards) - 1


# --------------------------------------------------------------------------------------------
# The classic example
# --------------------------------------------------------------------------------------------


def student_network() -> BayesNet:
    r"""The student network of Koller and Friedman, with the textbook's CPDs.

    Source: D. Koller and N. Friedman, *Probabilistic Graphical Models: Principles and
    Techniques*, MIT Press 2009, Figure 3.4 (p. 53). Five variables, in this order:

    ====  ============  =========================  =======
    name  meaning       values                     parents
    ====  ============  =========================  =======
    D     Difficulty    0 easy, 1 hard             --
    I     Intelligence  0 low, 1 high              --
    G     Grade         0 A, 1 B, 2 C              I, D
    S     SAT           0 low, 1 high              I
    L     Letter        0 weak, 1 strong           G
    ====  ============  =========================  =======

    The book's superscripts map to our values as ``d0 -> 0``, ``i1 -> 1``, ``g1 -> 0`` (its
    grades are numbered from 1), ``s1 -> 1``, ``l0 -> 0``. For example, the book's
    :math:`P(i^1, d^0, g^2, s^1, l^0) = 0.3 \cdot 0.6 \cdot 0.08 \cdot 0.8 \cdot 0.4 = 0.004608`
    is ``x = [0, 1, 1, 1, 0]`` here. The CPD of G has axes ``(I, D, G)``, like the book's table.

    Returns:
        The :class:`BayesNet`; it has 15 free parameters against 47 for the full joint table.
    """
    return bayes_net(
        cardinalities={"D": 2, "I": 2, "G": 3, "S": 2, "L": 2},
        parents={"G": ("I", "D"), "S": ("I",), "L": ("G",)},
        cpds={
            "D": [0.6, 0.4],
            "I": [0.7, 0.3],
            "G": [
                [[0.3, 0.4, 0.3], [0.05, 0.25, 0.7]],  # i0: d0, d1
                [[0.9, 0.08, 0.02], [0.5, 0.3, 0.2]],  # i1: d0, d1
            ],
            "S": [[0.95, 0.05], [0.2, 0.8]],
            "L": [[0.1, 0.9], [0.4, 0.6], [0.99, 0.01]],
        },
    )
