"""How long each chapter takes at each budget, measured: the first output of a chapter says it.

``scripts/reproduce.sh CHAPTER --budget B`` executes a chapter top to bottom and, when it
succeeds, records the wall time here with the machine, the commit and the date
(:func:`record_time`, into ``chapter_times.json`` beside this module, so the number travels with
the library to Colab). :func:`expected_time` turns the record into the sentence that
:func:`dgm_lib.book.start_chapter` prints; where the budget has no measurement it says so, and gives
the measurement of another budget as the only guide, named as such.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import jax

from .budgets import BUDGETS, Budget
from .files import atomic_file

__all__ = ["TIMES_FILE", "ChapterTime", "expected_time", "machine", "read_times", "record_time"]

TIMES_FILE = Path(__file__).with_name("chapter_times.json")
"""The measured times, ``{budget: {chapter: ChapterTime fields}}``."""

_CHAPTER = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ChapterTime:
    """One chapter executed whole at one budget: wall seconds, on what, from which commit."""

    seconds: float
    machine: str
    commit: str | None
    date: str


def machine() -> str:
    """The machine in words: ``"2 CPU cores (AMD EPYC 7B13)"`` or ``"1 x NVIDIA T4"``."""
    accelerators = [d for d in jax.devices() if d.platform != "cpu"]
    if accelerators:
        kinds = sorted({d.device_kind for d in accelerators})
        return f"{len(accelerators)} x {', '.join(kinds)}"
    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [line.split(":", 1)[1].strip() for line in info
                     if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} CPU cores" + (f" ({model})" if model else "")


def _check_chapter(where: str, chapter: str) -> str:
    if not isinstance(chapter, str) or not _CHAPTER.match(chapter):
        raise ValueError(
            f"{where}: argument 'chapter' must be a chapter's file name without '.md', such as "
            f"'vae'; got {chapter!r}"
        )
    return chapter


def read_times(path: str | os.PathLike[str] = TIMES_FILE) -> dict[str, dict[str, ChapterTime]]:
    """The recorded times by budget and chapter; ``{}`` when the file does not exist.

    A file that is not this format raises ``ValueError`` naming it (it is written only by
    :func:`record_time`; restore it from git, or delete it to start again)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(raw) - set(BUDGETS)
        if unknown:
            raise TypeError(f"unknown budgets {sorted(unknown)}")
        return {budget: {chapter: ChapterTime(**entry) for chapter, entry in chapters.items()}
                for budget, chapters in raw.items()}
    except (json.JSONDecodeError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{path}: not a file of chapter times ({error}); it is written only by "
            "scripts/reproduce.sh: restore it from git or delete it"
        ) from None


def record_time(
    chapter: str,
    budget: Budget,
    seconds: float,
    commit: str | None,
    path: str | os.PathLike[str] = TIMES_FILE,
) -> ChapterTime:
    """Record that ``chapter`` ran whole at ``budget`` in ``seconds`` on this machine (replacing
    the chapter's old time at that budget; the file is rewritten atomically)."""
    chapter = _check_chapter("record_time", chapter)
    if budget not in BUDGETS:
        raise ValueError(f"record_time: budget must be one of {BUDGETS}; got {budget!r}")
    if not seconds > 0:
        raise ValueError(f"record_time: seconds must be positive; got {seconds!r}")
    entry = ChapterTime(round(float(seconds), 1), machine(), commit,
                        datetime.date.today().isoformat())
    times = read_times(path)
    times.setdefault(budget, {})[chapter] = entry
    ordered = {b: {c: asdict(t) for c, t in sorted(times[b].items())}
               for b in BUDGETS if b in times}
    with atomic_file(path, "w") as out:
        json.dump(ordered, out, indent=1)
        out.write("\n")
    return entry


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def expected_time(
    chapter: str, budget: Budget, path: str | os.PathLike[str] = TIMES_FILE
) -> str:
    """One sentence: how long ``chapter`` took at ``budget`` when it was last measured.

    ``"expected time at cpu: about 5 min (measured on 2 CPU cores (...), commit abc,
    2026-12-04, by scripts/reproduce.sh)"``; without a measurement at ``budget``, it says so,
    gives the command that records one and names the measurements at the other budgets."""
    chapter = _check_chapter("expected_time", chapter)
    times = read_times(path)

    def measured(t: ChapterTime) -> str:
        commit = f", commit {t.commit}" if t.commit else ""
        return f"on {t.machine}{commit}, {t.date}"

    if chapter in times.get(budget, {}):
        t = times[budget][chapter]
        return (f"expected time at {budget}: about {_duration(t.seconds)} (measured "
                f"{measured(t)}, by scripts/reproduce.sh)")
    others = [f"{_duration(times[b][chapter].seconds)} at {b} {measured(times[b][chapter])}"
              for b in BUDGETS if chapter in times.get(b, {})]
    known = f"; measured: {'; '.join(others)}" if others else ""
    return (f"expected time at {budget}: not measured yet (bash scripts/reproduce.sh {chapter} "
            f"--budget {budget} records it){known}")
