"""The whole site builds with warnings as errors, every chapter executed at the smoke budget.

The build executes each chapter top to bottom in a fresh kernel and stops at the first cell
that raises, so a check cell whose assertion fails (a wrong derivation, a broken library
function) fails here with the chapter, the cell and the traceback in the message. One build
(the session's ``site`` fixture, shared with the browser checks) serves every check here: each
chapter ran, its figures are on its page, its clean notebook is linked, the execution-status
page says how it ran, and every internal link and anchor resolves.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from book_notebooks import chapter_sources, colab_url, repository
from results_page import declared_models
from support import ROOT

CHAPTERS = chapter_sources(ROOT)


def test_book_has_chapters() -> None:
    assert CHAPTERS, "no chapter with a jupytext header listed in _toc.yml"


@pytest.mark.parametrize("source", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executed_at_smoke_budget(site: Path, source: Path) -> None:
    html = (site / "chapters" / f"{source.stem}.html").read_text(encoding="utf-8")
    assert "budget: smoke (DGM_BUDGET=smoke)" in html, (
        f"{source.stem} must start with dgm.start_chapter() and run at the smoke budget"
    )
    assert "expected time at smoke: " in html, f"{source.stem}: dgm.start_chapter({source.stem!r})"
    status = (site / "chapters" / "execution.html").read_text(encoding="utf-8")
    row = re.search(rf"chapters/{source.stem}<.*?</tr>", status, re.S)
    assert row and "✅" in row.group(0), f"{source.stem}: not executed successfully"


def test_site_builds_with_every_page(site: Path) -> None:
    for page in ["index", "chapters/glossary", "chapters/references", "chapters/execution",
                 "chapters/results", "chapters/speed"]:
        assert (site / f"{page}.html").is_file(), page
    for source in CHAPTERS:
        assert (site / "chapters" / f"{source.stem}.html").is_file(), source.stem


def test_speed_page_shows_the_committed_benchmark_run(site: Path) -> None:
    """The speed page includes ``benchmarks/results/vs_pytorch.md`` (``vs_pytorch.py
    --markdown``): the machine it ran on, and a table row for every model family the book
    trains, each with a PyTorch rate (the run had PyTorch installed)."""
    report = (ROOT / "benchmarks" / "results" / "vs_pytorch.md").read_text(encoding="utf-8")
    rows = [line for line in report.splitlines()
            if line.startswith("| ") and not line.startswith("| case")]
    families = ("MLP", "MADE", "NADE 784-500", "VAE", "IWAE", "RealNVP", "PixelCNN",
                "sampling 100 images, NADE",
                "GAN", "RBM", "ULA", "annealed Langevin", "ScoreMLP", "ScoreUNet")
    for family in families:
        assert any(family in row for row in rows), f"no {family} row in the committed run"
    assert all(row.split("|")[4].strip() not in ("", "nan") for row in rows), "a row lacks PyTorch"
    page = (site / "chapters" / "speed.html").read_text(encoding="utf-8")
    assert "machine:" in page and "torch 2." in page
    assert page.count("<tr") == len(rows) + 1, "the page's table is not the committed run's"


@pytest.mark.parametrize("source", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_page_has_its_figures(site: Path, source: Path) -> None:
    html = (site / "chapters" / f"{source.stem}.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert images, f"{source.stem}: no figure on the page"
    for src in images:
        assert (site / "chapters" / src).resolve().is_file(), f"{source.stem}: missing {src}"
    assert "Traceback" not in html, f"{source.stem}: a cell printed a traceback"


@pytest.mark.parametrize("source", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_links_a_clean_notebook(site: Path, source: Path) -> None:
    html = (site / "chapters" / f"{source.stem}.html").read_text(encoding="utf-8")
    link = re.search(rf'href="(\.\./_downloads/[^"]+/{source.stem}\.ipynb)"', html)
    assert link, f"{source.stem}: no link to its .ipynb"
    nb = json.loads((site / "chapters" / link.group(1)).resolve().read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "pip" in "".join(code[0]["source"]), "the first cell must install dgm_lib"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "jupytext" not in nb["metadata"]


@pytest.mark.parametrize("source", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_colab_and_the_download_menu_open_the_committed_notebook(site: Path, source: Path) -> None:
    """The box under the title and the theme's launch menu open notebooks/<name>.ipynb in
    Colab (not the .md the theme would name); the download menu's .ipynb is that notebook."""
    page = (site / "chapters" / f"{source.stem}.html").read_text(encoding="utf-8")
    repo, branch = repository(ROOT)
    colab = html.escape(colab_url(repo, branch, source.stem))
    assert page.count(f'href="{colab}"') >= 2, f"{source.stem}: the Colab links do not open {colab}"
    assert "colab.research.google.com" not in page.replace(colab, ""), "a Colab link elsewhere"
    download = re.search(r'href="([^"]+\.ipynb)"[^>]*>\s*(?:<[^>]+>\s*)*\.ipynb', page)
    assert download and download.group(1) == f"../notebooks/{source.stem}.ipynb", (
        f"{source.stem}: the download menu's .ipynb is {download and download.group(1)}"
    )
    served = (site / "notebooks" / f"{source.stem}.ipynb").read_text(encoding="utf-8")
    assert served == (ROOT / "notebooks" / f"{source.stem}.ipynb").read_text(encoding="utf-8")


def test_execution_status_names_budget_and_devices(site: Path) -> None:
    html = (site / "chapters" / "execution.html").read_text(encoding="utf-8")
    for source in CHAPTERS:
        assert source.stem in html
    pasted = re.findall(r'class="pasted-text">([^<]*)<', html)
    assert "smoke" in pasted, "the status page must show the budget each chapter ran with"
    assert any(p.startswith("cpu:") for p in pasted), "the status page must show the devices"


def test_pages_load_nothing_from_another_host(site: Path) -> None:
    """Scripts, styles, fonts and images, MathJax included, come from the site itself, so the
    book reads offline: no <script src>, <link href> or <img src> names another host."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(CHAPTERS)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]*)"', html)
        assert not remote, f"{page.relative_to(site)} loads {remote[:3]}"
    chapter = (site / "chapters" / f"{CHAPTERS[0].stem}.html").read_text(encoding="utf-8")
    mathjax = re.search(r'<script[^>]*src="([^"?]*tex-chtml\.js)[^"]*"', chapter)
    assert mathjax, "no MathJax script on a chapter page"
    assert (site / "chapters" / mathjax.group(1)).resolve().is_file(), mathjax.group(1)


def test_no_page_repeats_a_script(site: Path) -> None:
    """A repeated inline script (sphinx-thebe's ``const THEBE_JS_URL``) is a console error
    in the browser; every script appears once on every page."""
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r"<script\b[^>]*>.*?</script>", html, re.S)
        repeated = {s[:80] for s in scripts if scripts.count(s) > 1}
        assert not repeated, f"{page.relative_to(site)} repeats {sorted(repeated)[:2]}"


def test_results_page_lists_every_declared_model(site: Path) -> None:
    """Each model a chapter declares has a row of this build that links that chapter (two
    chapters may both train an FVSBN: each needs its own row)."""
    page = site / "chapters" / "results.html"
    built = set()
    for row in re.findall(r"<tr\b[^>]*>(.*?)</tr>", page.read_text(encoding="utf-8"), re.S):
        cells = re.findall(r"<td\b[^>]*>(.*?)</td>", row, re.S)
        text = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
        chapter = re.search(r'href="([a-z_]+)\.html', cells[1]) if len(cells) > 2 else None
        if chapter and text[2] == "this build":
            built.add((text[0], chapter.group(1)))
    for source in CHAPTERS:
        for model in declared_models(source):
            assert (model, source.stem) in built, f"results page: no row for {source.stem}'s {model!r}"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page.read_text(encoding="utf-8"))
    assert images, "results page: no sample thumbnails"
    for src in images:
        assert (page.parent / src).resolve().is_file(), f"results page: missing {src}"


def test_every_internal_link_and_anchor_resolves(site: Path) -> None:
    """Each ``<a href>`` that stays in the site names a file the build wrote and, after a ``#``,
    an element id on that page (Sphinx's cross-references, the toc, the glossary links)."""
    pages = sorted(site.rglob("*.html"))
    ids = {page: set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8"))) for page in pages}
    broken = []
    for page in pages:
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', page.read_text(encoding="utf-8")):
            href = html.unescape(href)
            if re.match(r"[a-z][a-z0-9+.-]*:", href) or href.startswith("//"):
                continue  # another scheme or host: the browser checks forbid loading those
            path, _, fragment = href.partition("#")
            target = (page.parent / path.split("?")[0]).resolve() if path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {href} (no such file)")
            elif fragment and target.suffix == ".html" and fragment not in ids.get(target, set()):
                broken.append(f"{page.relative_to(site)}: {href} (no id {fragment!r} there)")
    assert not broken, f"{len(broken)} broken links, e.g. " + "; ".join(broken[:8])


def test_each_citation_reads_as_the_references_page_labels_its_work(site: Path) -> None:
    """"[Burda et al., 2016]" in the text finds "[Burda et al., 2016]" on the references page
    (sphinxcontrib-bibtex's default would label it "[BWS16]"); a second work of the same
    authors and year is "[Song et al., 2021b]" there."""
    refs = (site / "chapters" / "references.html").read_text(encoding="utf-8")
    labels = {
        ident: html.unescape(re.sub(r"<[^>]+>", "", label)).replace("\xa0", " ")
        for ident, label in re.findall(
            r'id="([^"]+)"[^>]*>\s*<span class="label"><span class="fn-bracket">\[</span>(.*?)'
            r'<span class="fn-bracket">\]', refs, re.S)
    }
    assert labels, "no labelled entries on the references page"
    cited = 0
    for page in sorted((site / "chapters").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        for ident, shown in re.findall(r'href="references\.html#([^"]+)"[^>]*>(.*?)</a>', text, re.S):
            shown = html.unescape(re.sub(r"<[^>]+>", "", shown)).replace("\xa0", " ")
            label = labels.get(ident, "")
            same = label == shown or (label[:-1] == shown and label[-1] in "abcdefgh")  # 2021a
            assert same, f"{page.name}: cites {shown!r}, the list says {label!r}"
            cited += 1
    assert cited > len(labels)
