"""Every chapter executes top to bottom in a fresh kernel at the smoke budget.

Each chapter's check cells assert the properties it derives, so a wrong derivation or a broken
library function fails here with the cell and the traceback.
"""

from __future__ import annotations

import jupytext
import nbclient
import pytest
from book_notebooks import chapter_sources
from conftest import ROOT

CHAPTERS = chapter_sources(ROOT)


def test_book_has_chapters() -> None:
    assert CHAPTERS, "no chapter with a jupytext header found in chapters/"


@pytest.mark.parametrize("source", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executes_at_smoke_budget(source, monkeypatch) -> None:
    monkeypatch.setenv("DGM_BUDGET", "smoke")
    nb = jupytext.read(source)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}}
    )
    client.execute()
    first = "".join(o.get("text", "") for o in nb.cells[_first_code_cell(nb)].outputs)
    assert "budget: smoke" in first, f"{source.name} must start with dgm.start_chapter()"


def _first_code_cell(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
