"""The .ipynb made from each chapter is clean, installs dgm_lib first, and is written atomically."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from book_notebooks import chapter_sources, clean_notebook, is_notebook, run_table, write_atomic

CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
x = 1
```
"""


@pytest.fixture
def chapter(tmp_path: Path) -> Path:
    (tmp_path / "chapters").mkdir()
    source = tmp_path / "chapters" / "demo.md"
    source.write_text(CHAPTER, encoding="utf-8")
    (tmp_path / "chapters" / "plain.md").write_text("# Not a notebook\n", encoding="utf-8")
    (tmp_path / "chapters" / "draft.md").write_text(CHAPTER, encoding="utf-8")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nparts:\n  - caption: C\n    chapters:\n"
        "      - file: chapters/plain\n      - file: chapters/demo\n",
        encoding="utf-8",
    )
    return source


def test_chapters_are_the_notebooks_listed_in_the_toc(chapter: Path) -> None:
    assert is_notebook(chapter)
    assert not is_notebook(chapter.parent / "plain.md")
    assert chapter_sources(chapter.parents[1]) == [chapter]


def test_clean_notebook_installs_first_and_has_no_outputs(chapter: Path) -> None:
    nb = clean_notebook(chapter, "https://example.org/repo", "main")
    first = nb.cells[0]
    assert first.cell_type == "code" and "pip" in first.source
    assert "dgm_lib @ git+https://example.org/repo@main" in first.source
    assert [c.source for c in nb.cells[1:] if c.cell_type == "code"] == ["x = 1"]
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
    assert "jupytext" not in nb.metadata
    compile(first.source, "install-cell", "exec")


def test_write_atomic_leaves_nothing_half_written(chapter: Path, tmp_path: Path) -> None:
    nb = clean_notebook(chapter, "u", "b")
    target = tmp_path / "out" / "demo.ipynb"
    write_atomic(nb, target)
    assert nbformat.read(target, as_version=4).cells[0].source == nb.cells[0].source
    nb.cells[0]["source"] = object()  # not serialisable: the write must fail cleanly
    with pytest.raises(TypeError):
        write_atomic(nb, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["demo.ipynb"]
    assert nbformat.read(target, as_version=4).cells[0].source != ""


def test_status_table_has_a_row_per_chapter(chapter: Path) -> None:
    table = run_table([chapter])
    assert "{glue:text}`demo.md::run_budget:s`" in table
    assert table.count("\n") == 2
