r"""Checkpoints of :func:`dgm_lib.train.fit`: a long run that is interrupted resumes where it
stopped, and a finished run that is executed again loads its result instead of training.

A checkpoint is one ``.npz`` file holding everything a run needs to go on exactly as if it had
never stopped: the steps done, the carry (parameters, other variables, optimizer states), the
loss history, and the state of the host generator that orders the batches with the batches it
has drawn but not used. The key of step ``s`` is ``fold_in(loss_key, s)`` whatever step a run
starts from, so a resumed run computes the same numbers as an uninterrupted one.

Files are written atomically (:func:`dgm_lib.files.atomic_file`), so an interruption during a
write leaves the previous checkpoint. On load the file is checked: it must be readable and be
of this run, that is carry the run's **fingerprint**, a SHA-256 digest of the structure and
dtypes of the carry, the bytes of the initial carry (the model's initial parameters), the
training data, the key, the number of steps, the batch size, the steps per dispatch, the
players' repeats and the loss functions' names and code. Anything else (a value captured in a
loss's closure, a library function it calls) is not in it; ``scripts/reproduce.sh`` discards a
chapter's checkpoints when the chapter or the library changes.

``fit(..., checkpoint=path)`` names the file. With ``DGM_CHECKPOINT_DIR`` set (the reproduce
script sets it) every ``fit`` of the process checkpoints, its ``n``-th call to
``<dir>/fit-<n>.npz``: a chapter executed again from the top calls its fits in the same order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .files import atomic_file

__all__ = [
    "CHECKPOINT_ENV",
    "FORMAT",
    "SAVE_SECONDS",
    "FitState",
    "checkpoint_path",
    "fingerprint",
    "load",
    "resumed_fits",
    "save",
]

CHECKPOINT_ENV = "DGM_CHECKPOINT_DIR"
"""The environment variable naming a folder in which every ``fit`` checkpoints."""

FORMAT = 1
"""The version of the checkpoint format; a file of another version is refused."""

SAVE_SECONDS = 60.0
"""A run writes its checkpoint after a dispatch at most this often, and always when it ends."""

_CALLS = itertools.count()
_RESUMED: list[Path] = []


@dataclass
class FitState:
    """What a checkpoint holds.

    Attributes:
        step: the steps done (a multiple of the steps per dispatch, or all of them).
        leaves: the flattened carry ``(params, rest, opt_states)`` after ``step`` steps (NumPy
            arrays, typed PRNG keys as JAX keys).
        history: the losses of steps ``0 .. step - 1``, shape ``(step, players)``.
        order: the batch order's state (``rng``, the generator's state, and ``rows``, the
            batches drawn but not used), None for a data-free run.
        scores: with validation, the scores so far, rows ``(step, score, other columns)``;
            None without.
        best: with validation, the carry of the best score (empty before the first).
    """

    step: int
    leaves: list[np.ndarray]
    history: np.ndarray
    order: dict[str, Any] | None
    scores: np.ndarray | None = None
    best: list[np.ndarray] | None = None


def checkpoint_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """Where this ``fit`` checkpoints: ``explicit`` if given, else ``fit-<n>.npz`` in the folder
    ``DGM_CHECKPOINT_DIR`` names (``n`` counts this process's fits), else None."""
    if explicit is not None:
        return Path(explicit)
    folder = os.environ.get(CHECKPOINT_ENV, "").strip()
    return Path(folder) / f"fit-{next(_CALLS):03d}.npz" if folder else None


def resumed_fits() -> int:
    """How many fits of this process began from a checkpoint (their measured training times
    cover only the part run after the resume; a results record says so)."""
    return len(_RESUMED)


def _host(leaf: Any) -> tuple[np.ndarray, str | None]:
    """A leaf as a NumPy array, and the name of its generator when it is a typed PRNG key
    (stored as its key data)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf)), str(jax.random.key_impl(leaf))
    return np.asarray(leaf), None


def _code(fn: Any) -> bytes:
    """The name and bytecode of a loss (the function of a ``partial``), as stable bytes."""
    fn = getattr(fn, "func", fn)
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__qualname__", type(fn).__qualname__).encode()
    return name if code is None else name + code.co_code + repr(code.co_consts).encode()


def fingerprint(key: jax.Array, treedef: Any, leaves: Sequence[Any], data: Any,
                settings: dict[str, Any], losses: Sequence[Any]) -> str:
    """The SHA-256 digest (hex) of what fixes a run (module docstring): the run's key, the
    carry's structure and initial values, the data, the ``settings`` (steps, batch size, ...)
    and the losses' names and code."""
    digest = hashlib.sha256()
    digest.update(str(treedef).encode())
    for leaf in [*leaves, *jax.tree.leaves(data), key]:
        array = np.ascontiguousarray(_host(leaf)[0])
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for fn in losses:
        digest.update(_code(fn))
    return digest.hexdigest()


def save(path: Path, run: str, state: FitState) -> None:
    """Write ``state`` with the run's fingerprint ``run`` to ``path``, atomically."""
    hosted = [_host(leaf) for leaf in state.leaves]
    arrays = {f"leaf{i}": array for i, (array, _) in enumerate(hosted)}
    keys = {str(i): impl for i, (_, impl) in enumerate(hosted) if impl is not None}
    meta = {"format": FORMAT, "fingerprint": run, "step": state.step,
            "leaves": len(state.leaves), "keys": keys, "order": None, "best": None}
    if state.order is not None:
        meta["order"] = {"rng": state.order["rng"]}
        arrays["order_rows"] = state.order["rows"]
    if state.scores is not None:
        meta["best"] = len(state.best)
        arrays["scores"] = state.scores
        arrays.update({f"best{i}": _host(leaf)[0] for i, leaf in enumerate(state.best)})
    with atomic_file(path) as out:
        np.savez(out, meta=np.array(json.dumps(meta)), history=state.history, **arrays)


def load(path: Path, run: str, like: Sequence[Any]) -> FitState | None:
    """The state saved at ``path`` for the run with fingerprint ``run``, whose carry has the
    leaves ``like``; None when there is no file.

    Raises:
        ValueError: the file is not a readable checkpoint, is of another format, or is of
            another run (another fingerprint, or leaves of other shapes or dtypes).
    """
    if not path.exists():
        return None
    fix = f"delete {path} to start the run afresh"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"fit: {path} is not a checkpoint (not an .npz archive); {fix}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            leaves = [saved[f"leaf{i}"] for i in range(meta["leaves"])]
            history = saved["history"]
            rows = saved["order_rows"] if meta["order"] is not None else None
            scores, best = None, None
            if meta.get("best") is not None:
                scores = saved["scores"]
                best = [saved[f"best{i}"] for i in range(meta["best"])]
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"fit: {path} is not a readable checkpoint ({error}); {fix}") from error
    if meta.get("format") != FORMAT:
        raise ValueError(f"fit: {path} is a checkpoint of format {meta.get('format')!r}, not "
                         f"{FORMAT}; {fix}")
    if meta["fingerprint"] != run:
        raise ValueError(
            f"fit: {path} is the checkpoint of another run (its model, initial parameters, "
            f"data, key, steps, batch size or loss differ from this call's); {fix}, or give "
            "this run another checkpoint path"
        )
    if len(leaves) != len(like):
        raise ValueError(f"fit: {path} holds {len(leaves)} arrays; the run's carry has "
                         f"{len(like)}; {fix}")
    for i, want in enumerate(like):
        want_host = _host(want)[0]
        if leaves[i].shape != want_host.shape or leaves[i].dtype != want_host.dtype:
            raise ValueError(f"fit: {path} holds array {i} of shape {leaves[i].shape} "
                             f"{leaves[i].dtype}; the run's is {want_host.shape} "
                             f"{want_host.dtype}; {fix}")
        if str(i) in meta["keys"]:
            impl = meta["keys"][str(i)]
            leaves[i] = jax.random.wrap_key_data(leaves[i], impl=impl)
            if best:
                best[i] = jax.random.wrap_key_data(best[i], impl=impl)
    order = None if rows is None else {"rng": meta["order"]["rng"], "rows": rows}
    _RESUMED.append(path)
    return FitState(int(meta["step"]), leaves, history, order, scores, best)
