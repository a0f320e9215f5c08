"""Bayes networks: the chain rule over a DAG, checked against brute force and sampling.

Oracles: plain-Python products of the CPD entries (float64, written out here), brute-force
enumeration of every assignment with ``itertools.product``, the textbook's own numbers for the
student network (Koller & Friedman 2009, Figure 3.4 and Section 3.2), and Monte Carlo
frequencies from ancestral sampling with binomial error bars.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.background.bayesnet import (
    BayesNet,
    bayes_net,
    conditional,
    full_table_parameters,
    independent,
    joint_table,
    marginal,
    num_parameters,
    student_network,
    topological_order,
)

# The student network's CPDs, typed in again from the textbook, in the book's layout.
P_D = [0.6, 0.4]
P_I = [0.7, 0.3]
P_G_GIVEN_I_D = {(0, 0): [0.3, 0.4, 0.3], (0, 1): [0.05, 0.25, 0.7], (1, 0): [0.9, 0.08, 0.02], (1, 1): [0.5, 0.3, 0.2]}
P_S_GIVEN_I = {0: [0.95, 0.05], 1: [0.2, 0.8]}
P_L_GIVEN_G = {0: [0.1, 0.9], 1: [0.4, 0.6], 2: [0.99, 0.01]}


def student_probability(d: int, i: int, g: int, s: int, l: int) -> float:
    """p(d, i, g, s, l) = P(d) P(i) P(g | i, d) P(s | i) P(l | g), by hand."""
    return P_D[d] * P_I[i] * P_G_GIVEN_I_D[(i, d)][g] * P_S_GIVEN_I[i][s] * P_L_GIVEN_G[g][l]


def random_spec(seed: int) -> tuple[dict, dict, dict]:
    """A random DAG over 4-6 variables of cardinality 2-3, with Dirichlet CPDs.

    The variables are listed in a shuffled order, so the network order is usually not a
    topological order; each variable gets up to three parents among the earlier ones of a
    hidden random order.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 7))
    hidden = [f"X{k}" for k in rng.permutation(n)]
    cards = {v: int(rng.integers(2, 4)) for v in hidden}
    parents = {}
    for k, v in enumerate(hidden):
        candidates = [u for u in hidden[:k] if rng.random() < 0.5]
        parents[v] = tuple(rng.permutation(candidates)[:3].tolist())
    cpds = {
        v: rng.dirichlet(np.ones(cards[v]), size=tuple(cards[p] for p in parents[v]))
        for v in hidden
    }
    listed = [hidden[k] for k in rng.permutation(n)]
    return {v: cards[v] for v in listed}, parents, cpds


def brute_force_joint(cards: dict, parents: dict, cpds: dict) -> dict[tuple[int, ...], float]:
    """Every assignment (in the order of ``cards``) -> the product of its CPD entries."""
    names = list(cards)
    joint = {}
    for x in itertools.product(*(range(cards[v]) for v in names)):
        value = dict(zip(names, x, strict=True))
        joint[x] = math.prod(
            float(cpds[v][(*(value[p] for p in parents[v]), value[v])]) for v in names
        )
    return joint


def brute_force_conditional(cards, parents, cpds, query, evidence) -> np.ndarray:
    names = list(cards)
    table = np.zeros([cards[v] for v in query])
    for x, p in brute_force_joint(cards, parents, cpds).items():
        value = dict(zip(names, x, strict=True))
        if all(value[v] == e for v, e in evidence.items()):
            table[tuple(value[v] for v in query)] += p
    return table / table.sum()


SEEDS = range(6)


@pytest.fixture(scope="module")
def student() -> BayesNet:
    return student_network()


# --------------------------------------------------------------------------------------------
# The chain rule: normalisation and BayesNet.log_prob
# --------------------------------------------------------------------------------------------


def test_student_joint_sums_to_one(student: BayesNet) -> None:
    log_p = joint_table(student)
    assert log_p.shape == (2, 2, 3, 2, 2)
    assert abs(float(jax.nn.logsumexp(log_p))) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_random_network_joint_sums_to_one_and_matches_brute_force(seed: int) -> None:
    cards, parents, cpds = random_spec(seed)
    net = bayes_net(cards, parents, cpds)
    log_p = joint_table(net)
    assert log_p.shape == tuple(cards.values())
    assert abs(float(jax.nn.logsumexp(log_p))) < 1e-6
    oracle = brute_force_joint(cards, parents, cpds)
    expected = np.array([oracle[x] for x in np.ndindex(*cards.values())]).reshape(log_p.shape)
    np.testing.assert_allclose(np.exp(np.asarray(log_p)), expected, rtol=2e-5, atol=1e-9)


def test_student_log_prob_equals_product_of_textbook_cpd_entries(student: BayesNet) -> None:
    # Koller & Friedman's worked example (Section 3.2.1.2): P(i1, d0, g2, s1, l0) = 0.004608,
    # i.e. D=0, I=1, G=B (index 1), S=1, L=0 in our 0-based values.
    assert math.isclose(student_probability(0, 1, 1, 1, 0), 0.004608, rel_tol=1e-12)
    assignments = [(0, 1, 1, 1, 0), (0, 0, 0, 0, 0), (1, 1, 2, 1, 1), (1, 0, 2, 0, 0), (0, 1, 0, 1, 1)]
    got = student.log_prob(jnp.array(assignments, dtype=jnp.int32))
    expected = [math.log(student_probability(*x)) for x in assignments]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_log_prob_equals_product_of_cpd_entries_and_the_joint_table(seed: int) -> None:
    cards, parents, cpds = random_spec(seed)
    net = bayes_net(cards, parents, cpds)
    oracle = brute_force_joint(cards, parents, cpds)
    x = np.array(list(oracle), dtype=np.int32)
    got = np.asarray(net.log_prob(x))
    np.testing.assert_allclose(got, np.log([oracle[tuple(r)] for r in x]), rtol=1e-5)
    # the gather (log_prob) and the broadcast (joint_table) are two separate code paths
    np.testing.assert_allclose(got, np.asarray(joint_table(net))[tuple(x.T)], rtol=1e-6)


def test_log_prob_is_minus_infinity_outside_the_values(student: BayesNet) -> None:
    x = jnp.array([[0, 0, 3, 0, 0], [0, -1, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 2, 1, 1]])
    got = np.asarray(student.log_prob(x))
    assert np.all(np.isneginf(got[:3])) and np.isfinite(got[3])


def test_log_prob_and_sample_run_under_jit(student: BayesNet) -> None:
    x = jnp.array([[0, 1, 1, 1, 0], [1, 0, 2, 0, 1]], dtype=jnp.int32)
    jitted_log_prob = jax.jit(lambda net, x: net.log_prob(x))
    np.testing.assert_array_equal(jitted_log_prob(student, x), student.log_prob(x))
    key = jax.random.key(3)
    jitted = jax.jit(lambda key, net: net.sample(key, 64))(key, student)
    np.testing.assert_array_equal(jitted, student.sample(key, 64))


def test_log_prob_is_differentiable_in_the_log_cpds(student: BayesNet) -> None:
    # d/d log p(g | i, d) of sum_n log p(x_n) counts how often (i, d, g) occurs: autodiff oracle
    x = jnp.asarray(np.random.default_rng(5).integers(0, 2, size=(500, 5)), dtype=jnp.int32)
    grads = jax.grad(lambda net: jnp.sum(net.log_prob(x)))(student)
    g = student.index("G")
    counts = np.zeros((2, 2, 3))
    np.add.at(counts, (np.asarray(x[:, 1]), np.asarray(x[:, 0]), np.asarray(x[:, 2])), 1.0)
    np.testing.assert_array_equal(np.asarray(grads.log_cpds[g]), counts)


# --------------------------------------------------------------------------------------------
# Exact inference agrees with brute force and with sampling
# --------------------------------------------------------------------------------------------


def test_student_marginal_and_posterior_match_the_textbook(student: BayesNet) -> None:
    # Koller & Friedman, Section 3.2.1.3: P(l1) ~ 0.502, P(l1 | i0) ~ 0.389,
    # P(i1 | g3) ~ 0.079, P(i1 | g3, s1) ~ 0.578 (values rounded to three digits in the book).
    assert abs(float(marginal(student, "L")[1]) - 0.502) < 5e-4
    assert abs(float(conditional(student, "L", {"I": 0})[1]) - 0.389) < 5e-4
    assert abs(float(conditional(student, "I", {"G": 2})[1]) - 0.079) < 5e-4
    assert abs(float(conditional(student, "I", {"G": 2, "S": 1})[1]) - 0.578) < 5e-4


@pytest.mark.parametrize("seed", SEEDS)
def test_marginal_and_conditional_match_brute_force(seed: int) -> None:
    cards, parents, cpds = random_spec(seed)
    net = bayes_net(cards, parents, cpds)
    rng = np.random.default_rng(100 + seed)
    names = list(rng.permutation(list(cards)))
    query, observed = names[:2], names[2:4]
    evidence = {v: int(rng.integers(cards[v])) for v in observed}
    np.testing.assert_allclose(
        marginal(net, query), brute_force_conditional(cards, parents, cpds, query, {}), atol=2e-6
    )
    np.testing.assert_allclose(
        conditional(net, query, evidence),
        brute_force_conditional(cards, parents, cpds, query, evidence),
        atol=2e-6,
    )


def assert_within_error_bars(freq: np.ndarray, p: np.ndarray, m: int) -> None:
    """|frequency - p| <= 5 binomial standard errors sqrt(p (1 - p) / m) for every cell."""
    sigma = np.sqrt(p * (1 - p) / m)
    assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-6), (freq, p, sigma)


def frequencies(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    counts = np.zeros(shape)
    np.add.at(counts, tuple(values.T), 1.0)
    return counts / len(values)


def test_enumeration_agrees_with_ancestral_sampling_on_the_student_network(student: BayesNet) -> None:
    n = 200_000
    x = np.asarray(student.sample(jax.random.key(0), n))
    assert x.shape == (n, 5) and x.dtype == np.int32
    for v, k in zip(student.variables, student.cardinalities, strict=True):
        freq = frequencies(x[:, [student.index(v)]], (k,))
        assert_within_error_bars(freq, np.asarray(marginal(student, v), np.float64), n)
    # a joint marginal of two non-adjacent variables
    freq = frequencies(x[:, [4, 3]], (2, 2))
    assert_within_error_bars(freq, np.asarray(marginal(student, ["L", "S"]), np.float64), n)
    # rejection sampling: keep the samples that match the evidence G = C (index 2)
    kept = x[x[:, 2] == 2]
    freq = frequencies(kept[:, [0, 1]], (2, 2))
    exact = np.asarray(conditional(student, ["D", "I"], {"G": 2}), np.float64)
    assert_within_error_bars(freq, exact, len(kept))


@pytest.mark.parametrize("seed", [0, 1])
def test_enumeration_agrees_with_ancestral_sampling_on_random_networks(seed: int) -> None:
    cards, parents, cpds = random_spec(seed)
    net = bayes_net(cards, parents, cpds)
    n = 100_000
    x = np.asarray(net.sample(jax.random.key(seed), n))
    exact = np.exp(np.asarray(joint_table(net), np.float64))
    assert_within_error_bars(frequencies(x, exact.shape), exact, n)


# --------------------------------------------------------------------------------------------
# Conditional independences of the student network
# --------------------------------------------------------------------------------------------


def test_sat_is_independent_of_grade_given_intelligence(student: BayesNet) -> None:
    result = independent(student, "S", "G", given=("I",))
    assert result and result.max_deviation < 1e-6
    dependent = independent(student, "S", "G")
    assert not dependent and dependent.max_deviation > 0.01


def test_difficulty_and_intelligence_are_independent_until_grade_is_observed(student: BayesNet) -> None:
    marginally = independent(student, "D", "I")
    assert marginally and marginally.max_deviation < 1e-6
    explaining_away = independent(student, "D", "I", given="G")
    assert not explaining_away and explaining_away.max_deviation > 0.01


def test_letter_is_independent_of_intelligence_given_grade(student: BayesNet) -> None:
    assert independent(student, "L", "I", given=["G"]).max_deviation < 1e-6
    assert independent(student, ["L"], ["I", "D", "S"], given="G").max_deviation < 1e-6
    assert independent(student, "L", "I").max_deviation > 0.01


def test_independence_deviation_matches_brute_force(student: BayesNet) -> None:
    names = list(student.variables)
    cards = dict(zip(names, student.cardinalities, strict=True))
    cpds = {v: np.asarray(student.cpd(v), np.float64) for v in names}
    parents = {v: student.parents_of(v) for v in names}
    p_dig = brute_force_conditional(cards, parents, cpds, ["D", "I", "G"], {})
    p_g = p_dig.sum(axis=(0, 1), keepdims=True)
    expected = np.abs(p_dig / p_g - p_dig.sum(1, keepdims=True) * p_dig.sum(0, keepdims=True) / p_g**2).max()
    assert abs(independent(student, "D", "I", given="G").max_deviation - expected) < 1e-6


# --------------------------------------------------------------------------------------------
# Graphs and parameter counts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_topological_order_puts_parents_before_children(seed: int) -> None:
    cards, parents, _ = random_spec(seed)
    graph = {v: parents[v] for v in cards}
    order = topological_order(graph)
    assert sorted(order) == sorted(cards)
    position = {v: k for k, v in enumerate(order)}
    assert all(position[p] < position[v] for v in graph for p in graph[v])
    assert topological_order({v: graph[v] for v in order}) == order  # already sorted: unchanged


def test_student_network_has_the_textbook_parameter_counts(student: BayesNet) -> None:
    assert num_parameters(student) == 15
    assert full_table_parameters((2, 2, 3, 2, 2)) == 47
    assert full_table_parameters(student.cardinalities) == 47


@pytest.mark.parametrize("seed", SEEDS)
def test_complete_dag_needs_as_many_parameters_as_the_full_table(seed: int) -> None:
    # with every earlier variable as a parent the chain rule assumes nothing: same count
    rng = np.random.default_rng(seed)
    names = [f"V{k}" for k in range(int(rng.integers(2, 6)))]
    cards = {v: int(rng.integers(2, 5)) for v in names}
    parents = {v: tuple(names[:k]) for k, v in enumerate(names)}
    cpds = {v: rng.dirichlet(np.ones(cards[v]), size=tuple(cards[p] for p in parents[v])) for v in names}
    complete = bayes_net(cards, parents, cpds)
    empty = bayes_net(cards, {}, {v: np.ones(k) / k for v, k in cards.items()})
    assert num_parameters(complete) == full_table_parameters(list(cards.values()))
    assert num_parameters(empty) == sum(k - 1 for k in cards.values())


def test_network_stores_log_probabilities_with_rows_renormalised() -> None:
    net = bayes_net({"A": 2, "B": 3}, {"B": ["A"]}, {"A": [0.25, 0.75 + 5e-7], "B": [[1, 0, 0], [0.2, 0.3, 0.5]]})
    assert net.log_cpds[0].dtype == jnp.float32
    np.testing.assert_allclose(np.exp(net.log_cpds[1]), [[1, 0, 0], [0.2, 0.3, 0.5]], rtol=1e-6)
    assert np.isneginf(np.asarray(net.log_cpds[1])[0, 1])
    assert abs(float(jax.nn.logsumexp(net.log_cpds[0]))) < 1e-7
    assert repr(net) == "BayesNet(A:2; B:3 | A)"


# --------------------------------------------------------------------------------------------
# Errors say what was wrong and what was expected
# --------------------------------------------------------------------------------------------

CARDS = {"A": 2, "B": 2, "C": 3}
PARENTS = {"B": ("A",), "C": ("A", "B")}
CPDS = {"A": [0.5, 0.5], "B": [[0.9, 0.1], [0.2, 0.8]], "C": np.full((2, 2, 3), 1 / 3)}


def with_cpd(name: str, table) -> dict:
    return {**CPDS, name: table}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"parents": {"A": ("C",), "B": ("A",), "C": ("B",)}}, ValueError, r"directed cycle A -> B -> C -> A"),
        ({"parents": {"A": ("A",)}}, ValueError, r"directed cycle A -> A"),
        ({"parents": {"B": ("A",), "C": ("Z",)}}, ValueError, r"unknown parent 'Z' of 'C'; parents must be variables .*\('A', 'B', 'C'\)"),
        ({"parents": {"B": ("A", "A")}}, ValueError, r"argument 'parents\['B'\]' names a variable twice: \('A', 'A'\)"),
        ({"parents": {"Q": ()}}, ValueError, r"'parents' has an entry for 'Q', which is not a variable"),
        ({"cpds": with_cpd("C", np.full((2, 3), 1 / 3))}, ValueError, r"CPD of 'C' must have shape \(\|A\|, \|B\|, \|C\|\) = \(2, 2, 3\): the parents' cardinalities in the order \('A', 'B'\), then the variable's own; got shape \(2, 3\)"),
        ({"cpds": with_cpd("A", [[0.5, 0.5]])}, ValueError, r"CPD of 'A' must have shape \(\|A\|,\) = \(2,\)"),
        ({"cpds": with_cpd("B", [[0.9, 0.1], [0.2, 0.7]])}, ValueError, r"every row of the CPD of 'B' must sum to one \(tolerance 1e-06\) over its last axis \(B\); the worst row \[A=1\] sums to 0.9"),
        ({"cpds": with_cpd("A", [0.5, 0.6])}, ValueError, r"CPD of 'A' must sum to one .* the worst row sums to 1.1"),
        ({"cpds": with_cpd("B", [[1.1, -0.1], [0.2, 0.8]])}, ValueError, r"CPD of 'B' must hold probabilities \(>= 0\); entry \(0, 1\) is -0.1"),
        ({"cpds": with_cpd("B", [[np.nan, 0.1], [0.2, 0.8]])}, ValueError, r"CPD of 'B' has a non-finite entry"),
        ({"cpds": {"A": [0.5, 0.5]}}, ValueError, r"exactly one entry per variable \('A', 'B', 'C'\); missing \('B', 'C'\)"),
        ({"cardinalities": {"A": 2, "B": 0, "C": 3}}, ValueError, r"argument 'cardinalities\['B'\]' must be a positive int; got 0"),
        ({"cardinalities": [2, 2, 3]}, TypeError, r"argument 'cardinalities' must be a mapping"),
    ],
)
def test_bayes_net_rejects_invalid_networks_with_a_clear_message(kwargs, error, message) -> None:
    args = {"cardinalities": CARDS, "parents": PARENTS, "cpds": CPDS, **kwargs}
    with pytest.raises(error, match=r"^bayes_net: .*" + message):
        bayes_net(**args)


def test_topological_order_names_the_cycle_and_unknown_parents() -> None:
    with pytest.raises(ValueError, match=r"topological_order: the graph has a directed cycle B -> C -> B"):
        topological_order({"A": (), "B": ("A", "C"), "C": ("B",), "D": ("C",)})
    with pytest.raises(ValueError, match=r"topological_order: unknown parent 'Z' of 'B'"):
        topological_order({"A": (), "B": ("Z",)})


def test_zero_probability_evidence_is_an_error() -> None:
    net = bayes_net({"A": 2, "B": 2}, {"B": ("A",)}, {"A": [1.0, 0.0], "B": [[0.5, 0.5], [0.1, 0.9]]})
    with pytest.raises(ValueError, match=r"conditional: the evidence \{'A': 1\} has probability zero"):
        conditional(net, "B", {"A": 1})
    np.testing.assert_allclose(conditional(net, "B", {"A": 0}), [0.5, 0.5])


def test_enumeration_refuses_tables_above_the_size_limit() -> None:
    uniform = np.full(2050, 1 / 2050)
    big = bayes_net({"X": 2050, "Y": 2050}, {}, {"X": uniform, "Y": uniform})
    calls = (lambda: joint_table(big), lambda: marginal(big, "X"), lambda: conditional(big, "X", {"Y": 0}), lambda: independent(big, "X", "Y"))
    for call in calls:
        with pytest.raises(ValueError, match=r"prod\(cardinalities\) = 4,202,500 entries, above the limit MAX_JOINT_SIZE = 2\*\*22"):
            call()


NET = student_network()
KEY = jax.random.key(0)


BAD_CALLS = [
    ("BayesNet.log_prob 1", lambda: NET.log_prob(jnp.zeros((3, 5))), TypeError, "BayesNet.log_prob: argument 'x' must be an integer array; got dtype float32"),
    ("BayesNet.log_prob 2", lambda: NET.log_prob(jnp.zeros((3, 4), jnp.int32)), ValueError, "BayesNet.log_prob: argument 'x' must have shape (batch, 5); got shape (3, 4)"),
    ("BayesNet.log_prob 3", lambda: NET.log_prob(jnp.zeros(5, jnp.int32)), ValueError, "BayesNet.log_prob: argument 'x' must have shape (batch, 5); got shape (5,)"),
    ("BayesNet.sample 1", lambda: NET.sample(0, 3), TypeError, "BayesNet.sample: argument 'key' must be a single random key"),
    ("BayesNet.sample 2", lambda: NET.sample(KEY, 0), ValueError, "BayesNet.sample: argument 'n' must be a positive int; got 0"),
    ("joint_table 1", lambda: joint_table("student"), TypeError, "joint_table: argument 'net' must be a BayesNet"),
    ("marginal 1", lambda: marginal(NET, "Grade"), ValueError, "marginal: argument 'query_vars' names unknown variable 'Grade'; the network's variables are ('D', 'I', 'G', 'S', 'L')"),
    ("marginal 2", lambda: marginal(NET, ["G", "G"]), ValueError, "marginal: argument 'query_vars' names a variable twice"),
    ("conditional 1", lambda: conditional(NET, "I", {"G": 3}), ValueError, "conditional: evidence['G'] must be an int in [0, 3) (the values of 'G'); got 3"),
    ("conditional 2", lambda: conditional(NET, "I", {"I": 1}), ValueError, "conditional: arguments 'query_vars' and 'evidence' must not share a variable"),
    ("conditional 3", lambda: conditional(NET, "I", [("G", 1)]), TypeError, "conditional: argument 'evidence' must be a mapping"),
    ("independent 1", lambda: independent(NET, "D", "D"), ValueError, "independent: arguments 'a' and 'b' must not share a variable"),
    ("independent 2", lambda: independent(NET, "D", "I", given="X"), ValueError, "independent: argument 'given' names unknown variable 'X'"),
    ("independent 3", lambda: independent(NET, "D", "I", tol=-1.0), ValueError, "independent: argument 'tol' must be a non-negative number"),
    ("num_parameters 1", lambda: num_parameters(None), TypeError, "num_parameters: argument 'net' must be a BayesNet"),
    ("full_table_parameters 1", lambda: full_table_parameters((2, 0)), ValueError, "full_table_parameters: argument 'cardinalities[1]' must be a positive int; got 0"),
    ("full_table_parameters 2", lambda: full_table_parameters(3), TypeError, "full_table_parameters: argument 'cardinalities' must be a non-empty sequence"),
    ("topological_order 1", lambda: topological_order([("A", ())]), TypeError, "topological_order: argument 'parents' must be a mapping"),
    ("BayesNet.cpd 1", lambda: NET.cpd("X"), ValueError, "BayesNet.cpd: argument 'name' names unknown variable 'X'"),
    ("BayesNet.index 1", lambda: NET.index("X"), ValueError, "BayesNet.index: argument 'name' names unknown variable 'X'"),
    ("BayesNet.parents_of 1", lambda: NET.parents_of("X"), ValueError, "BayesNet.parents_of: argument 'name' names unknown variable 'X'"),
    ("BayesNet 1", lambda: BayesNet(("A", "B"), (2,), ((), ()), ()), ValueError, "BayesNet: arguments 'variables', 'cardinalities' and 'parents' must have one entry per variable"),
    ("BayesNet 2", lambda: BayesNet(["A"], (2,), ((),), ()), TypeError, "BayesNet: argument 'variables' must be a tuple"),
    ("BayesNet 3", lambda: BayesNet(("A",), (0,), ((),), ()), ValueError, "BayesNet: argument 'cardinalities[0]' must be a positive int; got 0"),
    ("BayesNet 4", lambda: BayesNet(("A", "B"), (2, 2), (("B",), ("C",)), ()), ValueError, "BayesNet: unknown parent 'C' of 'B'"),
    ("BayesNet 5", lambda: BayesNet(("A", "B"), (2, 2), (("B",), ("A",)), ()), ValueError, "BayesNet: the graph has a directed cycle"),
]


@bad_calls(BAD_CALLS)
def test_public_functions_reject_bad_arguments_with_a_clear_message(call, error, message) -> None:
    assert_raises_naming(call, error, message)
