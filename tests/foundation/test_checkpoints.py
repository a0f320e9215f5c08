"""Checkpoints of ``fit`` (:mod:`dgm_lib.checkpoints`): a run interrupted after any saved
dispatch and started again ends bit for bit where the uninterrupted run ends (parameters,
optimizer state, a dropout generator's key, the batch order, the loss history); a finished run
loads instead of training; a checkpoint of another run or a damaged file is refused with the
file named, and ``DGM_CHECKPOINT_DIR`` gives each fit of a process its own file."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dgm_lib import checkpoints
from dgm_lib.train import Player, fit

X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
Y = np.sin(X.sum(1)).astype(np.float32)
RUN = {"key": jax.random.key(1), "steps": 230, "batch_size": 64, "steps_per_dispatch": 20,
       "progress": False}


class Regressor(nnx.Module):
    """An MLP with dropout, so the carry holds a typed PRNG key that must survive a resume."""

    def __init__(self, seed: int) -> None:
        rngs = nnx.Rngs(seed)
        self.hidden = nnx.Linear(6, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=nnx.Rngs(seed + 5))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(self.drop(jnp.tanh(self.hidden(x))))[:, 0]


def loss(model: Regressor, batch: tuple, key: jax.Array) -> jax.Array:
    x, y = batch
    return jnp.mean(jnp.square(model(x) - y - 0.1 * jax.random.normal(key, y.shape)))


class Interrupted(Exception):
    """Stands for the kill of a long run."""


def interrupt_after(monkeypatch: pytest.MonkeyPatch, step: int) -> list[int]:
    """Save after every dispatch, and stop the run right after the save at ``step``."""
    monkeypatch.setattr(checkpoints, "SAVE_SECONDS", 0.0)
    save, saved = checkpoints.save, []

    def save_then_stop(path: Path, run: str, state: checkpoints.FitState) -> None:
        save(path, run, state)
        saved.append(state.step)
        if state.step == step:
            raise Interrupted

    monkeypatch.setattr(checkpoints, "save", save_then_stop)
    return saved


def params(model: nnx.Module) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


def generators(model: nnx.Module) -> list[np.ndarray]:
    """The dropout generator's state: its key's data and its counter."""
    leaves = jax.tree.leaves(nnx.state(model, nnx.RngState))
    assert len(leaves) == 2
    return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x) for x in leaves]


@pytest.fixture(scope="module")
def uninterrupted() -> tuple[Regressor, np.ndarray]:
    model = Regressor(0)
    return model, fit(model, loss, (X, Y), **RUN).losses


@pytest.mark.parametrize("stop", [20, 100, 220])
def test_an_interrupted_run_resumes_and_ends_where_the_uninterrupted_run_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, uninterrupted: tuple, stop: int
) -> None:
    reference, losses = uninterrupted
    path = tmp_path / "run.npz"
    saved = interrupt_after(monkeypatch, stop)
    with pytest.raises(Interrupted):
        fit(Regressor(0), loss, (X, Y), checkpoint=path, **RUN)
    assert saved == list(range(20, stop + 1, 20))
    monkeypatch.undo()
    model = Regressor(0)
    result = fit(model, loss, (X, Y), checkpoint=path, **RUN)
    assert result.start == stop
    np.testing.assert_array_equal(result.losses, losses)
    for got, want in zip(params(model), params(reference), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(generators(model), generators(reference), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_finished_run_loads_instead_of_training(tmp_path: Path, uninterrupted: tuple) -> None:
    reference, losses = uninterrupted
    path = tmp_path / "run.npz"
    fit(Regressor(0), loss, (X, Y), checkpoint=path, **RUN)
    written = path.read_bytes()
    model = Regressor(0)
    result = fit(model, loss, (X, Y), checkpoint=path, **RUN)
    assert (result.start, result.traces) == (RUN["steps"], 0)
    np.testing.assert_array_equal(result.losses, losses)
    np.testing.assert_array_equal(params(model)[0], params(reference)[0])
    assert path.read_bytes() == written


def test_a_data_free_game_resumes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two players and no data (no batch order to restore), each with its own Adam state."""

    class Pair(nnx.Module):
        def __init__(self) -> None:
            self.a = nnx.Param(jnp.ones(3))
            self.b = nnx.Param(jnp.zeros(3))

    def loss_a(m: Pair, key: jax.Array) -> jax.Array:
        return jnp.sum(jnp.square(m.a[...] - m.b[...] - jax.random.normal(key, (3,))))

    def loss_b(m: Pair, key: jax.Array) -> jax.Array:
        return jnp.sum(jnp.square(m.b[...] + 0.5 * m.a[...]))

    def players() -> list[Player]:
        return [Player(loss_a, "a", optax.adam(0.05), repeats=2), Player(loss_b, "b", optax.sgd(0.1))]

    run = {"key": jax.random.key(3), "steps": 50, "steps_per_dispatch": 10, "progress": False}
    reference = fit(Pair(), players(), **run).losses
    interrupt_after(monkeypatch, 30)
    with pytest.raises(Interrupted):
        fit(Pair(), players(), checkpoint=tmp_path / "game.npz", **run)
    monkeypatch.undo()
    result = fit(Pair(), players(), checkpoint=tmp_path / "game.npz", **run)
    assert result.start == 30
    np.testing.assert_array_equal(result.losses, reference)


@pytest.mark.parametrize("change", ["initial parameters", "data", "key", "steps", "loss"])
def test_the_checkpoint_of_another_run_is_refused(tmp_path: Path, change: str) -> None:
    path = tmp_path / "run.npz"
    fit(Regressor(0), loss, (X, Y), checkpoint=path, **{**RUN, "steps": 40})
    model, data, run, fn = Regressor(0), (X, Y), {**RUN, "steps": 40}, loss
    if change == "initial parameters":
        model = Regressor(1)
    elif change == "data":
        data = (X, Y + 1.0)
    elif change == "key":
        run["key"] = jax.random.key(2)
    elif change == "steps":
        run["steps"] = 60
    else:
        def fn(m: Regressor, batch: tuple, key: jax.Array) -> jax.Array:
            return jnp.mean(jnp.abs(m(batch[0]) - batch[1]))
    with pytest.raises(ValueError, match=f"{path}.*another run"):
        fit(model, fn, data, checkpoint=path, **run)


@pytest.mark.parametrize("content", [b"", b"not an archive", b"PK\x03\x04 truncated"])
def test_a_damaged_checkpoint_is_refused_with_its_name(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "run.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}.*delete"):
        fit(Regressor(0), loss, (X, Y), checkpoint=path, **RUN)


def test_the_checkpoint_folder_gives_each_fit_of_the_process_its_own_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    for steps in (20, 40):
        fit(Regressor(0), loss, (X, Y), **{**RUN, "steps": steps})
    files = sorted(tmp_path.glob("fit-*.npz"))
    assert len(files) == 2
    first, second = (int(f.stem.split("-")[1]) for f in files)
    assert second == first + 1
    assert not list(tmp_path.glob("*.part"))  # atomic writes leave no temporary file
