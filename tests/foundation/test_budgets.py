"""DGM_BUDGET picks the experiment sizes; a wrong value is refused with the valid choices."""

from __future__ import annotations

import jax
import pytest

import dgm_lib as dgm
from dgm_lib import budgets


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "paper"])
def test_budget_follows_environment(monkeypatch, name) -> None:
    monkeypatch.setenv("DGM_BUDGET", name)
    assert dgm.budget() == name
    values = {"smoke": 1, "cpu": 2, "gpu": 3, "paper": 4}
    assert dgm.pick(**values) == values[name]


@pytest.mark.parametrize(("name", "expected"), [("cpu", 2), ("gpu", 3), ("paper", 3)])
def test_paper_left_out_is_the_gpu_value_and_none_is_a_value(monkeypatch, name, expected) -> None:
    monkeypatch.setenv("DGM_BUDGET", name)
    assert dgm.pick(smoke=1, cpu=2, gpu=3) == expected
    assert dgm.pick(smoke=1, cpu=2, gpu=3, paper=None) == (None if name == "paper" else expected)


@pytest.mark.parametrize("value", ["", "auto", "AUTO"])
def test_unset_budget_is_gpu_exactly_when_an_accelerator_is_seen(monkeypatch, value) -> None:
    monkeypatch.setenv("DGM_BUDGET", value)
    monkeypatch.setattr(budgets, "accelerators", lambda: [])
    assert dgm.budget() == "cpu"
    monkeypatch.setattr(budgets, "accelerators", lambda: ["gpu:0 (H100)"])
    assert dgm.budget() == "gpu"  # never paper: the papers' hours are only run when asked for


def test_unknown_budget_names_the_choices(monkeypatch) -> None:
    monkeypatch.setenv("DGM_BUDGET", "huge")
    with pytest.raises(ValueError, match=r"'huge'.*smoke, cpu, gpu, paper"):
        dgm.budget()


def test_run_info_names_budget_and_devices(monkeypatch) -> None:
    monkeypatch.setenv("DGM_BUDGET", "smoke")
    line = str(dgm.run_info())
    assert line.startswith("budget: smoke (DGM_BUDGET=smoke)")
    assert f"devices: {jax.devices()[0].platform}:0" in line
