"""The .ipynb made from each chapter is clean, installs dgm_lib first, is written atomically, and
the committed notebooks/ are the chapters' current ones (Colab opens them from the repository)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from book_notebooks import (
    OUT,
    chapter_sources,
    clean_notebook,
    colab_url,
    is_notebook,
    notebook_text,
    repository,
    run_table,
    write_atomic,
    write_notebooks,
)
from support import ROOT

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
    assert '"DGM_LIB_SOURCE", "git+https://example.org/repo@main"' in first.source
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


@pytest.mark.parametrize("present, source", [
    (False, None), (False, "git+file:///a/clone@abc123"), (True, None)])
def test_the_install_cell_installs_only_when_missing_and_says_what_it_did(
    chapter: Path, monkeypatch, capsys, present: bool, source: str | None
) -> None:
    """The cell run with pip replaced by a recorder: ``pip install <source>`` only
    when dgm_lib is missing, from DGM_LIB_SOURCE when set, and a line saying what it did."""
    import importlib.util
    import subprocess

    calls: list[list[str]] = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if present else None)
    monkeypatch.setattr(subprocess, "run", lambda args, check: calls.append(args))
    if source:
        monkeypatch.setenv("DGM_LIB_SOURCE", source)
    else:
        monkeypatch.delenv("DGM_LIB_SOURCE", raising=False)
    cell = clean_notebook(chapter, "https://example.org/repo", "main").cells[0].source
    exec(compile(cell, "install-cell", "exec"), {})
    printed = capsys.readouterr().out
    if present:
        assert calls == [] and "nothing to do" in printed
    else:
        want = source or "git+https://example.org/repo@main"
        assert len(calls) == 1 and calls[0][1:5] == ["-m", "pip", "install", "-q"]
        assert calls[0][-1] == want and f"installed dgm_lib from {want}" in printed


def test_committed_notebooks_are_the_chapters_current_ones() -> None:
    """Colab opens notebooks/<name>.ipynb from the repository: each must be what its chapter
    generates now (the build rewrites stale ones; commit them)."""
    repo, branch = repository(ROOT)
    for source in chapter_sources(ROOT):
        committed = ROOT / OUT / f"{source.stem}.ipynb"
        assert committed.is_file(), f"{committed} is missing: build the book or run _ext/book_notebooks.py"
        want = notebook_text(clean_notebook(source, repo, branch))
        assert committed.read_text(encoding="utf-8") == want, (
            f"{committed.relative_to(ROOT)} is out of date with {source.relative_to(ROOT)}: run "
            "`.venv/bin/python _ext/book_notebooks.py` (or build the book) and commit notebooks/"
        )
    names = {p.stem for p in (ROOT / OUT).glob("*.ipynb")}
    assert names == {p.stem for p in chapter_sources(ROOT)}, "notebooks/ holds a notebook of no chapter"


def test_write_notebooks_rewrites_only_what_changed(chapter: Path) -> None:
    root = chapter.parents[1]
    (root / "_config.yml").write_text("repository:\n  url: https://github.com/o/r\n  branch: b\n")
    assert write_notebooks(root) == [root / OUT / "demo.ipynb"]
    assert write_notebooks(root) == []
    chapter.write_text(chapter.read_text().replace("x = 1", "x = 2"), encoding="utf-8")
    assert write_notebooks(root) == [root / OUT / "demo.ipynb"]
    assert "x = 2" in (root / OUT / "demo.ipynb").read_text()
    assert repository(root) == ("https://github.com/o/r", "b")


def test_colab_opens_the_committed_notebook_on_the_branch() -> None:
    url = colab_url("https://github.com/o/r", "b", "vae")
    assert url == "https://colab.research.google.com/github/o/r/blob/b/notebooks/vae.ipynb"
