"""Sphinx extension: a chapter's cells may run as long as the budget in force allows.

``_config.yml`` cannot know the budget (``DGM_BUDGET``, or ``gpu`` when JAX sees an
accelerator), so its ``execute.timeout`` is replaced once the configuration is read by
``dgm_lib.budgets.CELL_TIMEOUTS`` of that budget: minutes for ``smoke``, ``cpu`` and ``gpu``,
no limit for ``paper``, whose runs take hours.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.config import Config

from dgm_lib.budgets import cell_timeout


def use_budget_timeout(app: Sphinx, config: Config) -> None:
    limit = cell_timeout()
    config.nb_execution_timeout = -1 if limit is None else limit  # -1: nbclient's "no limit"


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("config-inited", use_budget_timeout, priority=800)  # after myst-nb's defaults
    return {"parallel_read_safe": True, "parallel_write_safe": True}
