"""Sphinx extension: a clean .ipynb of every chapter, generated from its MyST source.

Colab and the download button only work with ``.ipynb``, while the chapters are MyST-Markdown
notebooks (readable diffs). At ``builder-inited`` this writes ``_generated/notebooks/<name>.ipynb``
for every chapter with a jupytext header: outputs stripped (the source has none), an install
cell first (so the notebook runs in Colab or a bare Jupyter), jupytext metadata removed. At
``source-read`` it adds a box under the chapter's title that links the notebook, and fills the
table of budgets and devices on the execution-status page (``{chapter-run-table}`` there).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import jupytext
import nbformat
import yaml
from sphinx.application import Sphinx

OUT = Path("_generated") / "notebooks"
INSTALL = """\
# Colab or a fresh Jupyter: install dgm_lib and what it needs, if it is not there yet.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("dgm_lib") is None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "dgm_lib @ git+{url}@{branch}"],
        check=True,
    )"""
TITLE = re.compile(r"^# .+$", re.MULTILINE)


def is_notebook(path: Path) -> bool:
    """A chapter is a notebook when its front matter has a jupytext kernelspec."""
    head = path.read_text(encoding="utf-8")[:600]
    return head.startswith("---") and "kernelspec:" in head


def clean_notebook(source: Path, url: str, branch: str) -> nbformat.NotebookNode:
    """The chapter as an ``.ipynb``: install cell first, no outputs, no jupytext pairing."""
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    install = nbformat.v4.new_code_cell(INSTALL.format(url=url, branch=branch))
    install.metadata["tags"] = ["install"]
    nb.cells.insert(0, install)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def write_atomic(nb: nbformat.NotebookNode, target: Path) -> None:
    """Write ``nb`` to ``target`` through a temporary file, so no half-written notebook stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def toc_files(entry: object) -> list[str]:
    """Every ``file:`` of a Jupyter Book ``_toc.yml`` tree, in reading order."""
    if isinstance(entry, list):
        return [f for item in entry for f in toc_files(item)]
    if not isinstance(entry, dict):
        return []
    own = [str(entry["file"])] if "file" in entry else []
    return own + [f for key in ("parts", "chapters", "sections") for f in toc_files(entry.get(key))]


def chapter_sources(srcdir: Path) -> list[Path]:
    """The notebook chapters of the book, in the order of ``_toc.yml``."""
    toc = yaml.safe_load((srcdir / "_toc.yml").read_text(encoding="utf-8"))
    paths = [srcdir / f"{name}.md" for name in toc_files(toc)]
    return [p for p in paths if p.is_file() and is_notebook(p)]


def generate(app: Sphinx) -> None:
    srcdir = Path(app.srcdir)
    repo = app.config.html_theme_options.get("repository_url", "")
    branch = app.config.html_theme_options.get("repository_branch", "main")
    for source in chapter_sources(srcdir):
        write_atomic(clean_notebook(source, repo, branch), srcdir / OUT / f"{source.stem}.ipynb")


def add_link(app: Sphinx, docname: str, content: list[str]) -> None:
    """Under the title of a notebook chapter, link its generated ``.ipynb``."""
    if (Path(app.srcdir) / OUT / f"{Path(docname).name}.ipynb").exists() and docname.startswith(
        "chapters/"
    ):
        name = Path(docname).name
        box = (
            "\n\n:::{admonition} Run this chapter\n:class: tip\n"
            f"{{download}}`Download {name}.ipynb </{OUT.as_posix()}/{name}.ipynb>` "
            "(outputs stripped, install cell first) and open it in Jupyter, or in Colab with "
            "*File → Upload notebook*. Every number on this page came from running it; the "
            "{ref}`execution status <execution-status>` page says with which budget and devices.\n"
            ":::\n"
        )
        content[0] = TITLE.sub(lambda m: m.group(0) + box, content[0], count=1)


def run_table(chapters: list[Path]) -> str:
    """Markdown rows pasting each chapter's glued ``run_budget`` and ``run_devices``."""
    rows = ["| chapter | budget | devices |", "|---|---|---|"]
    for source in chapters:
        ref = f"{source.name}::"
        rows.append(
            f"| {{doc}}`{source.stem}` | {{glue:text}}`{ref}run_budget:s` "
            f"| {{glue:text}}`{ref}run_devices:s` |"
        )
    return "\n".join(rows)


def fill_status(app: Sphinx, docname: str, content: list[str]) -> None:
    if docname == "chapters/execution":
        table = run_table(chapter_sources(Path(app.srcdir)))
        content[0] = content[0].replace("{chapter-run-table}", table)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", generate)
    app.connect("source-read", add_link)
    app.connect("source-read", fill_status)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
