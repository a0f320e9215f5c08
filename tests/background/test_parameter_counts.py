"""Parameter counts: the formulas against the models and networks that realise them.

Oracles: the number of parameters a model's log-density actually depends on (entries with a
non-zero gradient of the log-likelihood of all 2**D binary vectors, at random parameters),
``bayesnet.num_parameters`` and ``bayesnet.full_table_parameters`` on networks built with the
matching graphs, and small networks written out here (NADE-style and separate per-conditional
networks, one conditional at a time).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from support.bad_calls import assert_raises_naming, bad_calls

from dgm_lib.autoregressive import FVSBN, IndependentBernoulli, MarkovChainBernoulli
from dgm_lib.background import parameter_counts as pc
from dgm_lib.background.bayesnet import bayes_net, full_table_parameters, num_parameters
from dgm_lib.enumeration import all_binary_vectors


def count_used(log_density, params, d: int) -> int:
    """Entries of ``params`` on which sum_x log p(x) over all x in {0,1}^d depends."""
    x = all_binary_vectors(d)
    grads = jax.grad(lambda p: jnp.sum(log_density(p, x)))(params)
    return sum(int(np.count_nonzero(np.asarray(g))) for g in jax.tree.leaves(grads))


def random_params(tree, seed: int):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [jax.random.normal(k, np.shape(leaf)) for k, leaf in zip(keys, leaves, strict=True)]
    return jax.tree.unflatten(treedef, new)


@pytest.mark.parametrize(
    ("cls", "formula"),
    [
        (IndependentBernoulli, pc.fully_independent),
        (MarkovChainBernoulli, pc.markov_chain),
        (FVSBN, pc.logistic_conditionals),
    ],
    ids=["independent", "markov", "fvsbn"],
)
@pytest.mark.parametrize("d", [1, 2, 6])
def test_library_models_have_the_counted_number_of_free_parameters(cls, formula, d) -> None:
    model = cls(d)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params = random_params(params, seed=d)
    total = sum(int(np.size(p)) for p in jax.tree.leaves(params))

    def log_density(p, x):
        return nnx.merge(graphdef, p, rest).log_prob(x)

    used = count_used(log_density, params, d)
    assert used == formula(d)
    assert total - used == {IndependentBernoulli: 0, MarkovChainBernoulli: 1, FVSBN: d * (d + 1) // 2}[cls]


def _nade_log_prob(p, x):
    """NADE-style: shared W (h, n), c (h,), V (n, h), b (n,), one conditional at a time."""
    n = x.shape[1]
    out = 0.0
    for i in range(n):
        h = jax.nn.sigmoid(p["c"] + x[:, :i] @ p["W"][:, :i].T)
        logit = p["b"][i] + h @ p["V"][i]
        out = out + x[:, i] * logit - jax.nn.softplus(logit)
    return out


def _separate_log_prob(p, x):
    """One network per conditional: W_i (h, i), c_i (h,), v_i (h,), b_i ()."""
    out = 0.0
    for i, q in enumerate(p):
        h = jax.nn.sigmoid(q["c"] + x[:, :i] @ q["W"].T)
        logit = q["b"] + h @ q["v"]
        out = out + x[:, i] * logit - jax.nn.softplus(logit)
    return out


@pytest.mark.parametrize(("n", "h"), [(1, 3), (4, 2), (6, 3)])
def test_neural_conditional_counts_match_networks_written_out(n, h) -> None:
    nade = random_params({"W": np.zeros((h, n)), "c": np.zeros(h), "V": np.zeros((n, h)), "b": np.zeros(n)}, 1)
    assert count_used(_nade_log_prob, nade, n) == pc.neural_conditionals(n, h, shared=True)
    separate = random_params(
        [{"W": np.zeros((h, i)), "c": np.zeros(h), "v": np.zeros(h), "b": np.zeros(())} for i in range(n)], 2
    )
    assert count_used(_separate_log_prob, separate, n) == pc.neural_conditionals(n, h, shared=False)


@pytest.mark.parametrize(("n", "k"), [(1, 2), (3, 2), (10, 2), (784, 2), (3, 256), (5, 7)])
def test_chain_rule_with_tables_saves_nothing(n, k) -> None:
    assert pc.chain_rule_tables(n, k) == pc.full_joint(n, k) == k**n - 1
    assert pc.bayes_net_max_parents(n, n - 1, k) == pc.full_joint(n, k)


def test_famous_counts_are_exact() -> None:
    assert pc.full_joint(3, 256) == 16_777_215  # one RGB pixel
    assert pc.full_joint(784) == 2**784 - 1
    assert len(str(pc.full_joint(784))) == 237
    assert pc.logistic_conditionals(784) == 307_720
    assert pc.markov_chain(784) == 1_567
    assert pc.fully_independent(784) == 784


@pytest.mark.parametrize(("n", "k"), [(1, 2), (4, 2), (6, 3)])
def test_special_cases_of_the_bounded_parent_count(n, k) -> None:
    assert pc.bayes_net_max_parents(n, 0, k) == pc.fully_independent(n, k)
    assert pc.bayes_net_max_parents(n, 1, k) == pc.markov_chain(n, k)
    for m in range(n + 2):
        assert pc.bayes_net_max_parents(n, m, k) <= n * k**m * (k - 1)


def _network(n: int, k: int, max_parents: int):
    """Variable i has the min(i, m) variables just before it as parents; uniform CPDs."""
    names = [f"X{i}" for i in range(n)]
    parents = {v: tuple(names[max(0, i - max_parents) : i]) for i, v in enumerate(names)}
    cpds = {v: np.full((k,) * (len(parents[v]) + 1), 1.0 / k) for v in names}
    return bayes_net({v: k for v in names}, parents, cpds)


@pytest.mark.parametrize(("n", "k", "m"), list(itertools.product([1, 3, 5], [2, 3], [0, 1, 2, 4])))
def test_bayes_network_counts_agree_with_the_bayesnet_module(n, k, m) -> None:
    net = _network(n, k, m)
    assert num_parameters(net) == pc.bayes_net_max_parents(n, m, k)
    assert full_table_parameters(net.cardinalities) == pc.full_joint(n, k)
    if m == 0:
        assert num_parameters(net) == pc.fully_independent(n, k)
    if m == 1:
        assert num_parameters(net) == pc.markov_chain(n, k)


BAD = [
    ("full_joint d", lambda: pc.full_joint(0), "full_joint: argument 'd' must be a positive int"),
    ("full_joint num_values", lambda: pc.full_joint(3, 1), "full_joint: argument 'num_values' must be at least 2"),
    ("chain d", lambda: pc.chain_rule_tables(2.5), "chain_rule_tables: argument 'd' must be a positive int"),
    ("bn parents", lambda: pc.bayes_net_max_parents(3, -1), "bayes_net_max_parents: argument 'num_parents' must be an int >= 0"),
    ("markov num_values", lambda: pc.markov_chain(3, 0), "markov_chain: argument 'num_values' must be a positive int"),
    ("independent d", lambda: pc.fully_independent(-2), "fully_independent: argument 'd' must be a positive int"),
    ("logistic d", lambda: pc.logistic_conditionals(True), "logistic_conditionals: argument 'd' must be a positive int"),
    ("neural d", lambda: pc.neural_conditionals(0, 2), "neural_conditionals: argument 'd' must be a positive int"),
    ("chain values", lambda: pc.chain_rule_tables(3, 1), "chain_rule_tables: argument 'num_values' must be at least 2"),
    ("neural hidden", lambda: pc.neural_conditionals(3, 0), "neural_conditionals: argument 'num_hidden' must be a positive int"),
]


@bad_calls([(name, call, ValueError, message) for name, call, message in BAD])
def test_bad_arguments_raise_errors_naming_the_argument(call, error, message) -> None:
    assert_raises_naming(call, error, message)


def test_neural_conditionals_shared_flag_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="neural_conditionals: argument 'shared'"):
        pc.neural_conditionals(3, 2, shared="yes")
