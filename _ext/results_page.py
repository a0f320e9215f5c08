"""Sphinx extension: the results page, filled from every chapter's results record.

Chapters write their records while they execute (``dgm_lib.results.Results``), and they
execute while Sphinx reads them, in an order nobody controls. So this extension

- points ``DGM_RESULTS_DIR`` at ``_generated/results`` before anything executes (unless it is
  set already: ``DGM_RESULTS_DIR=results`` records a long run into the repository);
- has Sphinx read the results page on every build, and last (``env-before-read-docs``), when
  every chapter of this build has executed and written its record;
- replaces ``{results-tables}`` on that page with one table per data set: this build's rows,
  the recorded runs committed under ``results/`` with their provenance, and the papers' rows,
  labelled; and warns (an error under ``-W``) when a chapter that declares models in its front
  matter (``results: [model, ...]``) has no row for one of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml
from book_notebooks import chapter_sources
from sphinx.application import Sphinx
from sphinx.util import logging

from dgm_lib.budgets import budget_and_reason
from dgm_lib.results import RESULTS_ENV, Record, Row, load_record, read_records

PAGE = "chapters/results"
PLACEHOLDER = "{results-tables}"
RECORDED = "results"  # the repository's folder of recorded runs
METRIC_ORDER = ("fd", "kid", "precision", "recall", "density", "coverage")
METRIC_NAMES = {
    "fd": "FD",
    "kid": "KID",
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
    "modes": "modes covered",
    "high_quality": "high-quality share",
}
KIND_MARK = {"exact": "", "bound": "≤ ", "estimate": "≈ "}
logger = logging.getLogger(__name__)


def declared_models(source: Path) -> list[str]:
    """The models a chapter's front matter promises the results page (``results:``)."""
    text = source.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return []
    front = yaml.safe_load(text.split("---", 2)[1]) or {}
    models = front.get("results", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError(f"{source}: front matter 'results' must be a list of model names")
    return models


def missing_models(chapters: Iterable[Path], records: dict[str, Record]) -> list[str]:
    """One message per chapter whose declared models lack a row in this build's records."""
    problems = []
    for source in chapters:
        wanted = declared_models(source)
        if not wanted:
            continue
        record = records.get(source.stem)
        if record is None:
            problems.append(
                f"{source.stem}: no results record (it must execute and open "
                f"dgm.results.Results({source.stem!r}))"
            )
            continue
        have = {row.model for row in record.rows if row.source == "build"}
        lost = [m for m in wanted if m not in have]
        if lost:
            problems.append(f"{source.stem}: no row for {', '.join(lost)}")
    return problems


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def nll_cell(row: Row) -> str:
    """``≤ 88.71 ± 0.37``: the kind's mark, the NLL and the 95% half-width when known."""
    if row.nll is None:
        return "–"
    ci = "" if row.nll_stderr is None else f" ± {1.96 * row.nll_stderr:.2f}"
    return f"{KIND_MARK[row.nll_kind or 'exact']}{row.nll:.2f}{ci}"


def training_cell(row: Row, record: Record) -> str:
    """Budget, steps, epochs and seconds of a trained row; the note of a published one."""
    if row.source == "paper":
        return row.note or "as published"
    parts = [f"budget {record.budget}"]
    if row.steps is not None:
        epochs = "" if row.epochs is None else f" ({row.epochs:.1f} epochs)"
        parts.append(f"{row.steps:,} steps{epochs}")
    if row.seconds is not None:
        parts.append(f"{row.seconds:.0f} s")
    if row.note:
        parts.append(row.note)
    return "; ".join(parts)


def source_cell(row: Row, record: Record, this_build: bool, build_commit: str | None) -> str:
    """Who made the row: a paper, this build, or a recorded run with its provenance, warned
    about when its commit is not this build's, and when some of its fits resumed from
    checkpoints (their training times then cover only the last session)."""
    if row.source == "paper":
        return f"{{cite}}`{row.cite}`"
    if this_build:
        return "this build"
    h = record.header
    cell = f"recorded run ({h.get('devices')}, {h.get('date')}, commit {h.get('commit')})"
    if build_commit is not None and h.get("commit") != build_commit:
        cell += f" **from another commit than this build's ({build_commit})**"
    if h.get("resumed_fits"):
        cell += f"; {h['resumed_fits']} fits resumed from checkpoints, timed from the resume"
    return cell


def metric_columns(rows: Iterable[Row]) -> list[str]:
    names = {name for row in rows for name in row.sample_metrics}
    return [m for m in METRIC_ORDER if m in names] + sorted(names - set(METRIC_ORDER))


def thumbnail_cell(row: Row, record: Record, page_dir: Path) -> str:
    if not row.thumbnail:
        return ""
    path = os.path.relpath(record.path.parent / row.thumbnail, page_dir)
    return f"![samples of {row.model}]({Path(path).as_posix()})"


def tables(entries: list[tuple[Row, Record, bool]], page_dir: Path,
           build_commits: dict[str, str | None]) -> str:
    """Markdown: a section and a table per data set, rows in the order given;
    ``build_commits`` maps a chapter to the commit this build executed it at."""
    groups: dict[str, list[tuple[Row, Record, bool]]] = {}
    for entry in entries:
        groups.setdefault(entry[0].data, []).append(entry)
    out = []
    for data, group in groups.items():
        rows = [row for row, _, _ in group]
        metrics = metric_columns(rows)
        has_bpd = any(row.bits_per_dim is not None for row in rows)
        thumbs = any(row.thumbnail for row in rows)
        header = ["model", "chapter", "source", "training", "test NLL (nats, ± 95%)"]
        header += ["bits/dim"] * has_bpd + [METRIC_NAMES.get(m, m) for m in metrics]
        header += ["samples"] * thumbs
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row, record, this_build in group:
            cells = [
                row.model,
                f"{{doc}}`{record.chapter}`",
                source_cell(row, record, this_build, build_commits.get(record.chapter)),
                training_cell(row, record),
                nll_cell(row),
            ]
            cells += [_number(row.bits_per_dim, 3)] * has_bpd
            cells += [_metric(row.sample_metrics.get(m)) for m in metrics]
            cells += [thumbnail_cell(row, record, page_dir)] * thumbs
            lines.append("| " + " | ".join(cells) + " |")
        spaces = sorted({row.sample_space for row in rows if row.sample_space})
        out.append(f"## {data}\n\n" + "\n".join(lines))
        if spaces:
            out.append("Sample metrics: " + "; ".join(spaces) + ".")
    return "\n\n".join(out) if out else "*No chapter has recorded a result in this build.*"


def _metric(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"


def ordered_entries(
    chapters: list[Path], this_build: dict[str, Record], recorded: list[Record]
) -> list[tuple[Row, Record, bool]]:
    """This build's trained rows, then recorded runs, then papers; chapters in book order."""
    order = {source.stem: i for i, source in enumerate(chapters)}
    built = [this_build[c] for c in order if c in this_build]
    runs = sorted((r for r in recorded if r.chapter in order), key=lambda r: order[r.chapter])
    entries = [(row, rec, True) for rec in built for row in rec.rows if row.source == "build"]
    entries += [(row, rec, False) for rec in runs for row in rec.rows if row.source == "build"]
    entries += [(row, rec, True) for rec in built for row in rec.rows if row.source == "paper"]
    return entries


def results_markdown(srcdir: Path) -> tuple[str, list[str]]:
    """The page's tables and the list of missing models, from the records on disk."""
    folder = Path(os.environ[RESULTS_ENV]) / budget_and_reason()[0]
    this_build = {r.chapter: r for r in map(load_record, sorted(folder.glob("*.json")))}
    recorded = [r for r in read_records(srcdir / RECORDED) if r.path.parent != folder]
    chapters = chapter_sources(srcdir)
    page_dir = srcdir / Path(PAGE).parent
    entries = ordered_entries(chapters, this_build, recorded)
    commits = {chapter: r.header.get("commit") for chapter, r in this_build.items()}
    return tables(entries, page_dir, commits), missing_models(chapters, this_build)


def point_kernels_at_records(app: Sphinx) -> None:
    os.environ.setdefault(RESULTS_ENV, str(Path(app.srcdir) / "_generated" / "results"))


def always_read(app: Sphinx, env, added, changed, removed) -> list[str]:
    return [PAGE] if PAGE in env.found_docs else []


def read_last(app: Sphinx, env, docnames: list[str]) -> None:
    if PAGE in docnames:
        docnames.remove(PAGE)
        docnames.append(PAGE)


def fill_page(app: Sphinx, docname: str, content: list[str]) -> None:
    if docname != PAGE:
        return
    markdown, problems = results_markdown(Path(app.srcdir))
    for problem in problems:
        logger.warning(f"results page: {problem}", location=PAGE)
    content[0] = content[0].replace(PLACEHOLDER, markdown)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", point_kernels_at_records)
    app.connect("env-get-outdated", always_read)
    app.connect("env-before-read-docs", read_last)
    app.connect("source-read", fill_page)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
