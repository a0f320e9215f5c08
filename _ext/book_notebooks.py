"""Sphinx extension: a clean .ipynb of every chapter, generated from its MyST source.

Colab and the download button only work with ``.ipynb``, while the chapters are MyST-Markdown
notebooks (readable diffs). ``notebooks/<name>.ipynb`` (committed, so Colab can open it from the
repository) is every chapter with a jupytext header as a clean notebook: outputs stripped (the
source has none), an install cell first (so it runs in Colab or a bare Jupyter), jupytext
metadata removed. ``builder-inited`` rewrites the ones that are out of date (so does
``python _ext/book_notebooks.py``), and a test fails when a committed one is. At
``source-read`` a box under the chapter's title links the notebook in Colab and as a download;
at ``html-page-context`` the theme's Colab button and ``.ipynb`` download are pointed at it
(the theme would point them at the ``.md`` source and at the executed notebook); at
``build-finished`` the notebooks are copied to the site's ``notebooks/``. It also fills the
table of budgets and devices on the execution-status page (``{chapter-run-table}`` there).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat
import yaml
from sphinx.application import Sphinx

OUT = Path("notebooks")
COLAB = "https://colab.research.google.com"
INSTALL = """\
# Colab or a fresh Jupyter: install dgm_lib if it is not there yet. pip adds only the packages
# this runtime lacks (dgm_lib asks for ranges, so Colab's own JAX stays). DGM_LIB_SOURCE
# installs from elsewhere, e.g. a local clone: git+file:///path/to/clone@main
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("dgm_lib") is None:
    source = os.environ.get("DGM_LIB_SOURCE", "git+{url}@{branch}")
    pip = [sys.executable, "-m", "pip", "install", "-q", source]  # a VCS URL: any pip reads it
    subprocess.run(pip, check=True)
    print(f"installed dgm_lib from {{source}}")
else:
    print("dgm_lib is already installed; nothing to do")"""
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
    seen: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        # Ids from the content, not random ones: the same chapter gives the same file (and an
        # edit changes only its own cells' ids), so the committed notebooks diff cleanly.
        base = hashlib.sha256(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cell.id, repeat = base, 1
        while cell.id in seen:  # a cell repeated word for word
            cell.id, repeat = f"{base}-{repeat}", repeat + 1
        seen.add(cell.id)
    nbformat.validate(nb)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as its ``.ipynb`` file holds it (what the sync test compares)."""
    return nbformat.writes(nb) + "\n"


def write_atomic(nb: nbformat.NotebookNode, target: Path) -> None:
    """Write ``nb`` to ``target`` through a temporary file, so no half-written notebook stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(notebook_text(nb))
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


def repository(root: Path) -> tuple[str, str]:
    """The repository URL and branch of ``_config.yml``: the one setting for both."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    return str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))


def colab_url(repo: str, branch: str, name: str) -> str:
    """Colab's address for the committed ``notebooks/<name>.ipynb`` of a GitHub repository."""
    path = repo.removeprefix("https://github.com/")
    return f"{COLAB}/github/{path}/blob/{branch}/{OUT.as_posix()}/{name}.ipynb"


def write_notebooks(root: Path) -> list[Path]:
    """Rewrite the ``notebooks/`` files that differ from their chapters; return those written."""
    repo, branch = repository(root)
    written = []
    for source in chapter_sources(root):
        target = root / OUT / f"{source.stem}.ipynb"
        nb = clean_notebook(source, repo, branch)
        if not target.is_file() or target.read_text(encoding="utf-8") != notebook_text(nb):
            write_atomic(nb, target)
            written.append(target)
    return written


def generate(app: Sphinx) -> None:
    write_notebooks(Path(app.srcdir))


def add_link(app: Sphinx, docname: str, content: list[str]) -> None:
    """Under the title of a notebook chapter, link its clean ``.ipynb`` in Colab and as a file."""
    if (Path(app.srcdir) / OUT / f"{Path(docname).name}.ipynb").exists() and docname.startswith(
        "chapters/"
    ):
        name = Path(docname).name
        repo, branch = repository(Path(app.srcdir))
        box = (
            "\n\n:::{admonition} Run this chapter\n:class: tip\n"
            f"[Open {name}.ipynb in Colab]({colab_url(repo, branch, name)}) or "
            f"{{download}}`download it </{OUT.as_posix()}/{name}.ipynb>` for Jupyter (outputs "
            "stripped, an install cell first). Every number on this page came from running it; "
            "the {ref}`execution status <execution-status>` page says with which budget and "
            "devices.\n:::\n"
        )
        content[0] = TITLE.sub(lambda m: m.group(0) + box, content[0], count=1)


def point_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Point the theme's Colab button and ``.ipynb`` download at the clean notebook.

    sphinx-book-theme builds both from the page's source: Colab at ``chapters/<name>.md`` in the
    repository (Colab opens no ``.md``), the download at the executed notebook, outputs and no
    install cell. Runs after the theme's handlers (priority 502 > 501)."""
    name = Path(pagename).name
    own_file = Path(app.srcdir) / OUT / f"{name}.ipynb"
    if not (pagename.startswith("chapters/") and own_file.exists()):
        return
    repo, branch = repository(Path(app.srcdir))
    own = f"{context['pathto'](OUT.as_posix(), 1)}/{name}.ipynb"
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                button["url"] = colab_url(repo, branch, name)
            elif button.get("label") == "download-notebook-button":
                button["url"] = own


def copy_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """The clean notebooks at the site's ``notebooks/``, where the download buttons point."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / OUT
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((Path(app.srcdir) / OUT).glob("*.ipynb")):
            shutil.copy2(source, target / source.name)


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
    app.connect("html-page-context", point_buttons, priority=502)
    app.connect("build-finished", copy_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    for written in write_notebooks(Path(__file__).resolve().parents[1]):
        print(f"wrote {written}")
