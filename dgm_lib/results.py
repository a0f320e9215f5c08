r"""The book's results record: each chapter writes the headline numbers of the models it trains,
and the results page collects every chapter's record once all have executed.

A chapter opens its record once, near the top, and adds a row per model as it evaluates it::

    results_record = dgm.results.Results("autoregressive")
    results_record.add("NADE", data=DATA, nll=nll, nll_stderr=se, nll_kind="exact",
                       steps=steps, epochs=epochs, seconds=secs, samples=images)
    results_record.published("NADE, 500 hidden units", data=DATA, nll=88.86,
                             nll_kind="exact", cite="larochelle2011nade")

A record is one JSON file per chapter and budget, ``<folder>/<budget>/<chapter>.json``, in the
folder named by ``DGM_RESULTS_DIR`` (the book's build sets it; elsewhere it defaults to
``dgm_lib.data.cache_dir() / "results"``). Opening a record replaces that chapter's old one,
and every :meth:`Results.add` rewrites the file atomically, so a reader sees a whole record,
never a half-written one. Its header says how the chapter ran (budget, devices, library
versions, commit, date, seconds since the record was opened, and how many fits of the process
had resumed from a checkpoint, :mod:`dgm_lib.checkpoints`, when the last row was added: their
training times cover only the last session); each row names its data, its
training (steps, epochs, seconds), its held-out negative log-likelihood in nats per example
with what kind of number it is (``exact``: the model's normalised likelihood; ``bound``: an
upper bound on the NLL such as the negative ELBO; ``estimate``: an importance-sampled,
annealed or ODE estimate), its bits per dimension, and sample metrics computed in a named
feature space. A small picture of the model's samples (images or 2-D points) is saved beside
the record. Rows from papers are labelled by their citation key.

Long runs (the ``gpu`` and ``paper`` budgets) are recorded the same way into the repository's
``results/`` folder (``DGM_RESULTS_DIR=results``); the results page shows them beside this
build's rows, with their provenance.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from .book import run_info
from .checkpoints import resumed_fits
from .files import atomic_file

__all__ = [
    "NLL_KINDS",
    "RESULTS_ENV",
    "SCHEMA",
    "NllKind",
    "Record",
    "Results",
    "Row",
    "commit",
    "load_record",
    "read_records",
    "results_dir",
]

RESULTS_ENV = "DGM_RESULTS_DIR"
"""The environment variable naming the folder of results records."""

SCHEMA = 1
"""The version of the record format; a reader refuses records of another version."""

NllKind = Literal["exact", "bound", "estimate"]
"""The kind of number a row's NLL is, ``exact`` (the model's normalised likelihood), ``bound``
(an upper bound on the NLL, such as the negative ELBO or an importance-weighted bound) or
``estimate`` (AIS, the probability-flow ODE with a trace estimator)."""

NLL_KINDS: tuple[NllKind, ...] = ("exact", "bound", "estimate")
"""Every :data:`NllKind`."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_THUMBNAIL_IMAGES = 16


@dataclass(frozen=True)
class Row:
    """One model's headline numbers.

    Attributes:
        model: the model as the chapter names it (one row per model, data and source).
        data: the data set and split it was evaluated on, as one phrase; rows with the same
            ``data`` are compared in one table.
        source: ``build`` (trained by the chapter) or ``paper`` (a published figure).
        nll: held-out negative log-likelihood, nats per example.
        nll_stderr: its standard error (over test examples or estimator draws).
        nll_kind: ``exact``, ``bound`` or ``estimate`` (see :data:`NllKind`).
        bits_per_dim: the NLL in bits per dimension, as the chapter computed it (for
            continuous images it includes the dequantisation and scaling terms).
        steps: optimiser steps of the training run.
        epochs: passes over the training set those steps make.
        seconds: wall-clock seconds of the training run.
        sample_metrics: sample-quality numbers by name (``fd``, ``kid``, ``precision``, ...).
        sample_space: the feature space and sample sizes the metrics were computed in.
        thumbnail: the file name, in the record's folder, of a picture of samples.
        cite: the citation key of a published row (``references.bib``).
        note: anything a reader must know to compare the row (one short phrase).
    """

    model: str
    data: str
    source: Literal["build", "paper"] = "build"
    nll: float | None = None
    nll_stderr: float | None = None
    nll_kind: NllKind | None = None
    bits_per_dim: float | None = None
    steps: int | None = None
    epochs: float | None = None
    seconds: float | None = None
    sample_metrics: Mapping[str, float] = field(default_factory=dict)
    sample_space: str | None = None
    thumbnail: str | None = None
    cite: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        where = f"results.Row({self.model!r})"
        for name in ("model", "data"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: '{name}' must be a non-empty string; got {value!r}")
        if self.source not in ("build", "paper"):
            raise ValueError(f"{where}: 'source' must be 'build' or 'paper'; got {self.source!r}")
        numbers = {
            k: getattr(self, k) for k in ("nll", "nll_stderr", "bits_per_dim", "epochs", "seconds")
        }
        numbers.update({f"sample_metrics[{k!r}]": v for k, v in self.sample_metrics.items()})
        for name, value in numbers.items():
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(
                    f"{where}: '{name}' must be a finite number or None; got {value!r} (a "
                    "diverged run should fail its chapter's checks, not be recorded)"
                )
        if self.nll is not None and self.nll_kind not in NLL_KINDS:
            raise ValueError(
                f"{where}: a row with an NLL must say what kind of number it is: nll_kind one "
                f"of {', '.join(NLL_KINDS)}; got {self.nll_kind!r}"
            )
        if self.nll is None and (self.nll_stderr is not None or self.nll_kind is not None):
            raise ValueError(f"{where}: 'nll_stderr' and 'nll_kind' need an 'nll'")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 0):
            raise ValueError(f"{where}: 'steps' must be a non-negative int; got {self.steps!r}")
        if self.sample_metrics and not self.sample_space:
            raise ValueError(
                f"{where}: sample metrics need 'sample_space' (the feature space and the "
                "numbers of samples), or they cannot be compared with other rows"
            )
        if self.source == "paper" and not self.cite:
            raise ValueError(f"{where}: a published row needs 'cite', its references.bib key")

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON object (every field, ``None`` where absent)."""
        out = dataclasses.asdict(self)
        out["sample_metrics"] = dict(self.sample_metrics)
        return out


@dataclass(frozen=True)
class Record:
    """A chapter's record as read back: where it is, its header and its rows."""

    path: Path
    header: Mapping[str, Any]
    rows: tuple[Row, ...]

    @property
    def chapter(self) -> str:
        return str(self.header["chapter"])

    @property
    def budget(self) -> str:
        return str(self.header["budget"])


def results_dir() -> Path:
    """The folder of results records: ``DGM_RESULTS_DIR``, else ``cache_dir() / "results"``."""
    from .data import cache_dir

    raw = os.environ.get(RESULTS_ENV, "").strip()
    return Path(raw).expanduser() if raw else cache_dir() / "results"


def commit() -> str | None:
    """The git commit of the working directory (with ``+dirty`` for local changes), or None.
    Changes to the recorded runs themselves (``results/``, ``dgm_lib/chapter_times.json``) do
    not count: recording one chapter after another must not mark the later ones dirty."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--",
             ":(top,exclude)results", ":(top,exclude)dgm_lib/chapter_times.json"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _slug(model: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "model"


def _draw_samples(fig: Figure, samples: np.ndarray) -> None:
    """Images ``(N, H, W)`` in [0, 1] as a 4 x 4 grid, or 2-D points ``(N, 2)`` as a scatter."""
    from .plot import image_grid

    ax = fig.add_axes((0, 0, 1, 1))
    if samples.ndim == 3:
        image_grid(np.clip(samples[:_THUMBNAIL_IMAGES], 0.0, 1.0), nrow=4, ax=ax)
        ax.set_axis_off()
        return
    ax.scatter(samples[:, 0], samples[:, 1], s=1, alpha=0.4, linewidths=0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _check_samples(where: str, samples: Any) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if not ((x.ndim == 3 and x.shape[0] > 0) or (x.ndim == 2 and x.shape[1] == 2 and len(x) > 0)):
        raise ValueError(
            f"{where}: argument 'samples' must be images of shape (N, H, W) with values in "
            f"[0, 1] or 2-D points of shape (N, 2); got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: argument 'samples' holds NaN or infinite values")
    return x


class Results:
    """A chapter's results record, written to ``results_dir() / budget / f"{chapter}.json"``.

    Creating it starts the chapter's record afresh (an empty record replaces the old file);
    :meth:`add` and :meth:`published` add a row and rewrite the file atomically. A row with
    the model, data and source of one the record already has replaces it, so rerunning a cell
    in a notebook does not duplicate it.
    """

    def __init__(self, chapter: str) -> None:
        if not isinstance(chapter, str) or not _NAME.match(chapter):
            raise ValueError(
                f"results.Results: argument 'chapter' must be the chapter's file name without "
                f"'.md' (lower case, digits, '-' or '_'), e.g. 'autoregressive'; got {chapter!r}"
            )
        info = run_info()
        self.chapter = chapter
        self.folder = results_dir() / info.budget
        self.path = self.folder / f"{chapter}.json"
        self._started = time.perf_counter()
        self._header: dict[str, Any] = {
            "schema": SCHEMA,
            "chapter": chapter,
            "budget": info.budget,
            "reason": info.reason,
            "devices": info.devices,
            "versions": info.versions,
            "commit": commit(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        self._rows: dict[tuple[str, str, str], Row] = {}
        self._write()

    @property
    def rows(self) -> tuple[Row, ...]:
        """The rows recorded so far, in the order they were first added."""
        return tuple(self._rows.values())

    def add(self, model: str, *, samples: Any = None, **fields: Any) -> Row:
        """Record a model this chapter trained: the fields of :class:`Row` (``data`` at least).

        ``samples``, images ``(N, H, W)`` in ``[0, 1]`` or 2-D points ``(N, 2)``, are drawn
        into a small picture saved beside the record (its first 16 images, or all the points).
        """
        if samples is not None:
            x = _check_samples(f"results.Results.add({model!r})", samples)
            name = f"{self.chapter}-{_slug(model)}-{_slug(fields.get('data', ''))}.png"
            fig = Figure(figsize=(1.6, 1.6))
            _draw_samples(fig, x)
            with atomic_file(self.folder / name) as out:
                fig.savefig(out, format="png", dpi=80)
            fields["thumbnail"] = name
        return self._put(Row(model, source="build", **fields))

    def published(self, model: str, *, cite: str, **fields: Any) -> Row:
        """Record a published figure to show beside the chapter's own rows, with its
        ``references.bib`` key ``cite``."""
        return self._put(Row(model, source="paper", cite=cite, **fields))

    def _put(self, row: Row) -> Row:
        self._rows[(row.source, row.model, row.data)] = row
        self._write()
        return row

    def _write(self) -> None:
        header = {**self._header, "seconds": round(time.perf_counter() - self._started, 1),
                  "resumed_fits": resumed_fits()}
        body = {**header, "rows": [row.as_json() for row in self._rows.values()]}
        with atomic_file(self.path, "w") as out:
            json.dump(body, out, indent=1, ensure_ascii=False)
            out.write("\n")


def load_record(path: str | os.PathLike[str]) -> Record:
    """Read one record file; a file of another schema or with a malformed row is an error
    that names the file."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"results: cannot read the record {path}: {err}") from None
    if not isinstance(body, dict) or body.get("schema") != SCHEMA:
        raise ValueError(
            f"results: {path} is not a results record of schema {SCHEMA} (found "
            f"{body.get('schema') if isinstance(body, dict) else type(body).__name__}); "
            "rerun its chapter to write it again"
        )
    known = {f.name for f in dataclasses.fields(Row)}
    rows = []
    for i, raw in enumerate(body.get("rows", [])):
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"results: {path}, row {i}: unknown fields {sorted(unknown)}")
        try:
            rows.append(Row(**raw))
        except (TypeError, ValueError) as err:
            raise ValueError(f"results: {path}, row {i}: {err}") from None
    header = {k: v for k, v in body.items() if k != "rows"}
    return Record(path, header, tuple(rows))


def read_records(folder: str | os.PathLike[str]) -> list[Record]:
    """Every record under ``folder`` (``<budget>/<chapter>.json``), sorted by path."""
    return [load_record(p) for p in sorted(Path(folder).glob("*/*.json"))]
