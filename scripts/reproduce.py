"""Record a reference run of one chapter (``bash scripts/reproduce.sh CHAPTER --budget gpu``).

The chapter's notebook (``chapters/CHAPTER.md``) is executed top to bottom at the budget, in a
kernel whose environment sets ``DGM_BUDGET``, ``DGM_RESULTS_DIR`` (default the repository's
``results/``, which the results page reads) and ``DGM_CHECKPOINT_DIR``: every ``fit`` of the
chapter checkpoints there (:mod:`dgm_lib.checkpoints`), so a run that is interrupted (a lost
connection, a preempted machine, a cell timeout) resumes where it stopped when it is started
again, and its finished fits load instead of training. The checkpoints belong to one version
of the source: when the chapter, the library or the pins change, they are discarded first.
The executed notebook is kept beside them; the results record says the budget, devices,
commit, date and wall time, and the chapter's wall time goes to
``dgm_lib/chapter_times.json``, which the chapter's first output reads (only for a run that
resumed nothing: a resumed run's time covers its last session).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FILE = "source.sha256"


def chapters() -> list[str]:
    """The chapters with code to run: ``chapters/*.md`` that are notebooks."""
    names = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        if "kernelspec:" in path.read_text(encoding="utf-8").split("\n---", 1)[0]:
            names.append(path.stem)
    return names


def source_digest(chapter: str) -> str:
    """SHA-256 of what the run's numbers depend on: the chapter, the library, the pins."""
    digest = hashlib.sha256()
    files = [ROOT / "chapters" / f"{chapter}.md", ROOT / "requirements.txt",
             *sorted((ROOT / "dgm_lib").rglob("*.py"))]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare_checkpoints(folder: Path, digest: str) -> int:
    """Make ``folder`` hold only checkpoints of this source; returns how many it keeps."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / SOURCE_FILE
    kept = sorted(folder.glob("fit-*.npz"))
    if kept and (not marker.exists() or marker.read_text().strip() != digest):
        print(f"reproduce: discarding {len(kept)} checkpoints in {folder}: the chapter, the "
              "library or the pins changed since they were written")
        for path in kept:
            path.unlink()
        kept = []
    marker.write_text(digest + "\n")
    return len(kept)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/reproduce.sh",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("chapter", help="a chapter's name: " + ", ".join(chapters()))
    parser.add_argument("--budget", default="auto",
                        help="smoke, cpu, gpu, paper, or auto (default: gpu when JAX "
                        "sees an accelerator, else cpu)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results",
                        help="where the record goes, as <dir>/<budget>/<chapter>.json "
                        "(default: the repository's results/)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "_generated" / "reproduce",
                        help="checkpoints and the executed notebook, in <dir>/<budget>/<chapter>/")
    parser.add_argument("--times-file", type=Path, default=None,
                        help="where the chapter's wall time is recorded for its first output "
                        "(default: the library's dgm_lib/chapter_times.json)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds a cell may run (default: the budget's, "
                        "dgm_lib.budgets.CELL_TIMEOUTS)")
    args = parser.parse_args(argv)
    if args.chapter not in chapters():
        parser.error(f"no chapter {args.chapter!r}; choose one of {', '.join(chapters())}")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    os.environ["DGM_BUDGET"] = args.budget
    sys.path.insert(0, str(ROOT))
    from dgm_lib.budgets import CELL_TIMEOUTS, budget_and_reason
    from dgm_lib.chapter_times import TIMES_FILE, record_time
    from dgm_lib.checkpoints import CHECKPOINT_ENV
    from dgm_lib.files import atomic_file
    from dgm_lib.results import RESULTS_ENV, commit

    try:
        budget, reason = budget_and_reason()
    except ValueError as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 2
    work = args.work_dir.resolve() / budget / args.chapter
    kept = prepare_checkpoints(work, source_digest(args.chapter))
    os.environ.update({"DGM_BUDGET": budget, RESULTS_ENV: str(args.results_dir.resolve()),
                       CHECKPOINT_ENV: str(work), "MPLBACKEND": "Agg"})
    print(f"reproduce: {args.chapter} at budget {budget} ({reason}); "
          f"{kept} checkpoints to resume from in {work}", flush=True)

    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(ROOT / "chapters" / f"{args.chapter}.md")
    timeout = CELL_TIMEOUTS[budget] if args.timeout is None else args.timeout
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "chapters")}})
    started, failed = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as error:
        failed = error
    with atomic_file(work / f"{args.chapter}.ipynb", "w") as out:
        nbformat.write(notebook, out)
    seconds = time.perf_counter() - started
    if failed is not None:
        print(f"reproduce: a cell failed after {seconds:.0f} s (the executed notebook is "
              f"{work / args.chapter}.ipynb); start the same command again to resume from "
              f"the checkpoints.\n{failed}", file=sys.stderr)
        return 1
    record = args.results_dir.resolve() / budget / f"{args.chapter}.json"
    times = TIMES_FILE if args.times_file is None else args.times_file
    if kept:  # the wall time covers this session only: not the chapter's time
        note = f"not recorded in {times}: {kept} checkpoints resumed"
    else:
        record_time(args.chapter, budget, seconds, commit(), times)
        note = f"recorded in {times}"
    print(f"reproduce: done in {seconds:.0f} s ({note}); results record {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
