"""The build's cell timeout follows the budget (``_ext/cell_timeout.py``): minutes at ``smoke``,
``cpu`` and ``gpu``, none at ``paper``, whatever ``_config.yml`` says."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cell_timeout import use_budget_timeout

from dgm_lib.budgets import BUDGETS, CELL_TIMEOUTS


@pytest.mark.parametrize(("budget", "expected"), [("smoke", 600), ("cpu", 1800), ("gpu", 3600), ("paper", -1)])
def test_the_cell_timeout_is_the_budgets(monkeypatch, budget: str, expected: int) -> None:
    monkeypatch.setenv("DGM_BUDGET", budget)
    config = SimpleNamespace(nb_execution_timeout=1800)  # what _config.yml sets
    use_budget_timeout(None, config)
    assert config.nb_execution_timeout == expected


def test_every_budget_has_a_timeout_and_larger_budgets_allow_longer_cells() -> None:
    assert set(CELL_TIMEOUTS) == set(BUDGETS)
    limits = [CELL_TIMEOUTS[b] or float("inf") for b in BUDGETS]
    assert limits == sorted(limits)
