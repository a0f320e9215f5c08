r"""Training: one ``fit`` loop for every model in the book, fast by construction.

A step of minibatch gradient descent with an optax optimizer is

.. math:: g_s = \nabla_\theta L(\theta_s; B_s, k_s), \qquad
          (u_s, o_{s+1}) = \mathrm{update}(g_s, o_s, \theta_s), \qquad
          \theta_{s+1} = \theta_s + u_s,

where ``L = loss_fn(model, batch, key)`` is the mean loss over the batch :math:`B_s` (e.g. the
mean NLL in nats) and :math:`k_s` a fresh key, so stochastic objectives such as the ELBO work.
A data-free objective (reverse KL to an energy) has no batch; a game (a GAN) is a list of
:class:`Player`, each taking its own steps on its own parameters within one training step.
With a :class:`Validation`, ``fit`` scores held-out data every ``k`` steps and ends with the
parameters of the best score (model selection), stopping early after ``patience`` scores
without improvement.

Why it is fast (DESIGN section 4; ``benchmarks/fit_overhead.py`` measures it):

1. the model is split once (``nnx.split``) into a static graph and arrays, so the compiled step
   is a pure function of arrays and no Python object is walked per step;
2. one call to the compiled function runs ``steps_per_dispatch`` steps inside a
   ``lax.fori_loop`` and gathers each batch by index from the data held on the device; the
   last dispatch is the same program with a shorter trip count;
3. a step does nothing but the step: no branch, no check of the gradients, no select between
   old and new parameters. Once per dispatch the parameters are checked finite (a non-finite
   gradient makes them so); a bad dispatch is replayed a step at a time from its start to find
   the step, so :class:`NonFiniteLossError` still names it;
4. every batch has the same shape (the ragged last batch of each epoch is dropped), so the
   step compiles once per run, and once per process: the compiled dispatch is cached on the
   model's graph and the structural key (:mod:`dgm_lib.structural_key`) of the losses and
   optimizers, so a second ``fit`` of the same model, loss and shapes, even with a new lambda
   or a new ``optax.adam(1e-3)``, does not compile again.

On several local devices each batch is split over them and the rest replicated
(:mod:`dgm_lib.parallel`); with a checkpoint (:mod:`dgm_lib.checkpoints`) an interrupted run
resumes and ends where an uninterrupted one would.

Key schedule (fixed, so a plain loop can reproduce a run): ``order_key, loss_key =
jax.random.split(key)``; ``rng = dgm_lib.nn.host_rng(order_key)`` orders the examples, epoch
``e`` in its ``e``-th ``rng.permutation(N)`` cut into ``N // batch_size`` consecutive batches.
A training step has ``R`` gradient steps (``R = 1`` for one loss; the sum of the players'
repeats otherwise), in order; gradient step ``r`` of training step ``s`` takes the next batch
and its loss gets ``jax.random.fold_in(loss_key, s * R + r)``, so a single loss at step ``s``
gets ``fold_in(loss_key, s)``. The permutations are drawn on the host (NumPy): on the
device a permutation is a sort, which on a CPU costs as much as dozens of small steps.
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from . import checkpoints
from .checks import check_array, check_key, check_positive_int
from .nn import host_rng
from .parallel import batch_mesh, replicate, shard_batch
from .structural_key import structural_key

__all__ = [
    "FitResult",
    "NonFiniteLossError",
    "Player",
    "Validation",
    "evaluate",
    "fit",
    "nll_loss",
]

Data = Any
"""A data set: one array ``(N, ...)`` or a pytree (tuple, dict) of arrays sharing the leading
``N``."""
LossFn = Callable[[nnx.Module, Data, jax.Array], jax.Array]
"""A loss ``(model, batch, key) -> scalar``, as :func:`fit` calls it."""


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN or infinite at ``step`` (counted from 0).

    A non-finite gradient is seen through what it does: it makes a parameter (or another
    floating-point variable of the model) non-finite. ``losses`` holds the history up to and
    including that step. ``player`` names the :class:`Player` whose update failed first (its
    index and ``wrt``), None for a single loss. The model holds the parameters from before
    that step.
    """

    def __init__(self, step: int, losses: np.ndarray, player: str | None = None) -> None:
        self.step = step
        self.losses = losses
        self.player = player
        last = losses[-1]
        whose = "" if player is None else f" in the update of {player}"
        super().__init__(
            f"fit: the loss or its gradient became non-finite at step {step}{whose} (counted "
            f"from 0; loss = {last}). The model holds the parameters from before step {step}, "
            "the last finite update. Try a lower learning rate or check loss_fn for log(0) "
            "or division by zero."
        )


@dataclass(frozen=True)
class Player:
    """One player of a game trained by :func:`fit`: its loss, the parameters it updates, its
    optimizer and how many gradient steps it takes per training step.

    A GAN is two players, ``[Player(critic_loss, "critic", optax.adam(1e-4), repeats=5),
    Player(generator_loss, "generator", optax.adam(1e-4))]``: each training step runs five
    critic updates (each on a fresh batch), then one generator update, inside the same scanned
    and compiled step.

    Attributes:
        loss_fn: ``(model, batch, key) -> scalar``, or ``(model, key) -> scalar`` when
            ``fit`` runs without data; it is minimised (a player that maximises returns the
            negative).
        wrt: which ``nnx.Param`` leaves this player updates: a Flax NNX filter, or a string,
            read as ``nnx.PathContains(wrt)`` (an attribute name on the path, e.g.
            ``"critic"``). A parameter is updated by the first player whose filter it matches.
        optimizer: the player's optax transformation.
        repeats: gradient steps per training step, each on its own batch and key.
    """

    loss_fn: Callable[..., jax.Array]
    wrt: Any
    optimizer: optax.GradientTransformation
    repeats: int = 1


@dataclass(frozen=True)
class Validation:
    r"""Model selection on held-out data, and early stopping, for :func:`fit`.

    After every ``every`` steps and after the last, ``fit`` scores the current parameters on
    ``data`` as :func:`evaluate` does, :math:`V = \frac1N \sum_i f(x_i)` with ``f = fn(model,
    .)`` (lower is better: an NLL, a negative ELBO), and keeps the parameters of the lowest
    :math:`V` so far; when the run ends the model holds those (model selection: the returned
    model is the one the validation split picked, never the last one by default). With
    ``patience`` set, training stops once ``patience`` scores in a row have not been below the
    best (early stopping). ``data`` is a held-out split, never the test split: a number picked
    on the test images is no longer a test number.

    Attributes:
        data: one array ``(N, ...)`` or a pytree of arrays sharing ``N`` (as ``fit``'s data).
        fn: ``(model, batch) -> (batch_size,)``, or ``(model, batch, key)`` with
            ``score_key`` given (batch ``i`` of every evaluation gets ``fold_in(score_key,
            i)``: the same noise at every evaluation, so a stochastic score such as the ELBO
            compares fairly). It may
            return ``(batch_size, m)``: column 0 is the score, the others are averaged and
            recorded beside it (an ELBO's reconstruction and KL terms, say).
        every: steps between evaluations, a positive int (dispatches end at its multiples).
        batch_size: examples per evaluation batch.
        patience: evaluations without improvement before stopping; None never stops early.
        score_key: a ``jax.random.key`` for a stochastic ``fn``, else None.
    """

    data: Any
    fn: Callable[..., jax.Array]
    every: int
    batch_size: int = 500
    patience: int | None = None
    score_key: jax.Array | None = None


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns (the model itself is updated in place).

    Attributes:
        losses: the loss of every step, float32 (nats if the loss is an NLL): shape
            ``(steps,)`` for one loss; ``(steps, num_players)`` for players, each entry the mean
            over that player's repeats within the step.
        traces: how often the step was traced and compiled during this call: 1 for a first
            run, 0 when an earlier ``fit`` in the process compiled the same program (or when a
            checkpoint held the finished run).
        start: the step this call began at: 0, or the step its checkpoint had reached
            (:mod:`dgm_lib.checkpoints`); ``losses`` covers every step either way.
        validation: with a :class:`Validation`, its scores, float64 ``(evaluations, 1 + m)``:
            the step after which each was taken, the score and the other columns of
            ``Validation.fn`` (``m = 1`` for a score alone); None without.
        best_step: the step of the lowest score, whose parameters the model holds; None
            without validation.

    With early stopping ``losses`` has a row for each step run, fewer than ``steps``.
    """

    losses: np.ndarray
    traces: int
    start: int = 0
    validation: np.ndarray | None = None
    best_step: int | None = None


def _check_data(where: str, data: Data, argument: str = "data") -> tuple[Data, int]:
    """Check that ``data`` is a pytree of numeric arrays sharing one leading axis; put it on
    the device. Returns the data and the number of examples ``N``."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(data)
    if not leaves:
        raise ValueError(f"{where}: argument '{argument}' holds no arrays")
    arrays, first = [], None
    for path, leaf in leaves:
        name = argument + jax.tree_util.keystr(path)
        x = check_array(where, name, leaf, kind="number")
        if x.ndim == 0:
            raise ValueError(f"{where}: argument '{name}' must have shape (N, ...); got shape ()")
        if first is None:
            first = (name, x.shape[0])
        elif x.shape[0] != first[1]:
            raise ValueError(
                f"{where}: argument '{name}' has {x.shape[0]} examples (leading axis) but "
                f"'{first[0]}' has {first[1]}; all arrays in '{argument}' must share the "
                "leading axis"
            )
        arrays.append(x)
    assert first is not None
    if first[1] == 0:
        raise ValueError(
            f"{where}: argument '{argument}' holds no examples (leading axis of size 0)"
        )
    return jax.tree_util.tree_unflatten(treedef, arrays), first[1]


class _BatchOrder:
    """Endless batches of indices: each epoch a fresh permutation of ``range(n)`` cut into
    ``n // batch_size`` batches of ``batch_size``; the ragged rest is dropped."""

    def __init__(self, key: jax.Array, n: int, batch_size: int) -> None:
        self._rng, self._n, self._batch_size = host_rng(key), n, batch_size
        self._rows = np.zeros((0, batch_size), np.int32)

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` batches, shape ``(count, batch_size)``."""
        per_epoch = self._n // self._batch_size
        while len(self._rows) < count:
            perm = self._rng.permutation(self._n)[: per_epoch * self._batch_size]
            epoch = perm.astype(np.int32).reshape(per_epoch, self._batch_size)
            self._rows = np.concatenate([self._rows, epoch])
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    def state(self) -> dict[str, Any]:
        """The generator's state and the batches drawn but not taken (for a checkpoint)."""
        return {"rng": self._rng.bit_generator.state, "rows": self._rows.copy()}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from a :meth:`state`."""
        self._rng.bit_generator.state = state["rng"]
        self._rows = np.asarray(state["rows"], np.int32).reshape(-1, self._batch_size)


def _check_players(where: str, loss_fn: Any, optimizer: Any) -> tuple[list[Player], bool]:
    """The players of a run and whether ``loss_fn`` was one loss (one player, every Param)."""
    if callable(loss_fn):
        tx = optax.adam(1e-3) if optimizer is None else optimizer
        return [Player(loss_fn, nnx.Param, tx)], True
    players = list(loss_fn) if isinstance(loss_fn, (list, tuple)) else None
    if not players or not all(isinstance(p, Player) for p in players):
        raise TypeError(
            f"{where}: argument 'loss_fn' must be a loss (model, batch, key) -> scalar or a "
            f"non-empty list of Player; got {type(loss_fn).__name__}"
        )
    if optimizer is not None:
        raise ValueError(
            f"{where}: with players, give each Player its optimizer; argument 'optimizer' must "
            "be None"
        )
    for p in players:
        check_positive_int(where, "Player.repeats", p.repeats)
    return players, False


def _param_filter(wrt: Any) -> Any:
    return nnx.All(nnx.Param, nnx.PathContains(wrt) if isinstance(wrt, str) else wrt)


def _float_leaves_finite(tree: Any) -> jax.Array:
    """All floating-point leaves of ``tree`` finite (keys and integer counters skipped)."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return functools.reduce(lambda ok, x: ok & jnp.all(jnp.isfinite(x)), leaves, jnp.bool_(True))


class _Selection:
    """The state of a :class:`Validation` during a run: the scores so far and the carry of
    the best one."""

    def __init__(self, where: str, validation: Any, graphdef: Any) -> None:
        if not isinstance(validation, Validation):
            raise TypeError(f"{where}: argument 'validation' must be a dgm_lib.train.Validation "
                            f"or None; got {type(validation).__name__}")
        v = validation
        data, n = _check_data(where, v.data, "validation.data")
        self.every = check_positive_int(where, "validation.every", v.every)
        batch_size = min(check_positive_int(where, "validation.batch_size", v.batch_size), n)
        if v.patience is not None:
            check_positive_int(where, "validation.patience", v.patience)
        if not callable(v.fn):
            raise TypeError(f"{where}: argument 'validation.fn' must be a callable "
                            f"(model, batch) -> (batch_size,); got {type(v.fn).__name__}")
        self.key = (None if v.score_key is None
                    else check_key(where, v.score_key, "validation.score_key"))
        self.patience, self.fn, self.data = v.patience, v.fn, data
        self.settings = {"every": self.every, "batch_size": batch_size, "patience": v.patience}
        self._mean = _dataset_mean(where, graphdef, v.fn, data, n, batch_size, columns=True)
        self.scores: list[np.ndarray] = []  # rows (step, score, other columns)
        self.best: tuple[float, int, list] | None = None  # (score, step, carry)

    def due(self, end: int, steps: int) -> bool:
        """Whether a score is taken after step ``end``."""
        return end % self.every == 0 or end == steps

    def score(self, step: int, treedef: Any, leaves: list) -> None:
        """Score the carry ``leaves`` after ``step`` steps; keep it if it is the best."""
        params, rest, _ = jax.tree.unflatten(treedef, leaves)
        row = np.concatenate([[step], np.atleast_1d(self._mean((*params, rest), self.key))])
        self.scores.append(row)
        value = float(row[1]) if np.isfinite(row[1]) else np.inf  # a NaN score is never best
        if self.best is None or value < self.best[0]:
            self.best = (value, step, leaves)

    @property
    def stopped(self) -> bool:
        """Whether ``patience`` scores in a row have not beaten the best."""
        if self.patience is None or self.best is None:
            return False
        since = sum(1 for row in self.scores if row[0] > self.best[1])
        return since >= self.patience

    def table(self) -> np.ndarray:
        """The scores as rows ``(step, score, other columns)``: ``(0, 2)`` before the first."""
        return np.stack(self.scores) if self.scores else np.zeros((0, 2))

    def restore(self, table: np.ndarray, best: list) -> None:
        """Go on from a checkpoint's scores and best carry."""
        self.scores = list(np.asarray(table, np.float64))
        if self.scores:
            values = [float(r[1]) if np.isfinite(r[1]) else np.inf for r in self.scores]
            i = int(np.argmin(values))
            self.best = (values[i], int(self.scores[i][0]), best)


@dataclass
class _Program:
    """The jitted dispatch of :func:`fit` (made by ``_make_program``), one per structure of
    the flattened carry (a static part of the program, closed over rather than passed, so
    that each call takes JAX's fast path), and how often it has been traced."""

    make: Callable[[Any], Callable[..., tuple]] | None = None
    dispatches: dict = field(default_factory=dict)
    traces: int = 0

    def dispatch(self, treedef: Any) -> Callable[..., tuple]:
        """``(leaves, data, start, count, loss_key, idx) -> (leaves, losses, goods, finite)``
        for carries of structure ``treedef``."""
        if treedef not in self.dispatches:
            self.dispatches[treedef] = self.make(treedef)
        return self.dispatches[treedef]


_PROGRAMS: OrderedDict[Hashable, _Program] = OrderedDict()
_MAX_PROGRAMS = 64  # least recently used programs beyond this are dropped


def _program(graphdef: Any, players: list[Player], data_free: bool, mesh: Mesh | None
             ) -> _Program:
    """The dispatch for this model structure, these players, this kind of data and this mesh
    of devices: the one made by an earlier ``fit`` whose graph, losses and optimizers have the
    same structural key (:mod:`dgm_lib.structural_key`), else a new one. Array shapes are
    ``jax.jit``'s part: a program is traced once per shape of the parameters, data and batch."""
    key = structural_key((players, data_free))
    if key is None:  # a loss that reaches a module or a large array: compile afresh
        return _make_program(graphdef, players, data_free, mesh)
    key = (graphdef, key, mesh)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _make_program(graphdef, players, data_free, mesh)
        while len(_PROGRAMS) > _MAX_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    _PROGRAMS.move_to_end(key)
    return _PROGRAMS[key]


def _make_program(graphdef: Any, players: list[Player], data_free: bool, mesh: Mesh | None
                  ) -> _Program:
    r"""The jitted dispatch ``(leaves, data, start, count, loss_key, idx) -> (leaves, losses,
    goods, finite)`` for each ``treedef`` of the carry: training steps ``start, ..., start +
    count - 1`` in one ``lax.fori_loop`` (a dynamic trip count, so a short last dispatch is the
    same program).

    ``leaves`` are the flattened carry ``(params, rest, opt_states)``;
    ``idx`` holds each step's batch indices, shape
    ``(chunk, slots, batch)``; ``losses`` ``(chunk, players)`` (each player's mean over its
    repeats) and ``goods`` ``(chunk, slots)`` (each update's loss finite) have rows past
    ``count`` unset; ``finite[j]`` says that player ``j``'s parameters and the other
    variables are finite at the end. Nothing is checked per step beyond the loss: a
    non-finite gradient reaches the parameters, and the dispatch is then replayed a step at a
    time from its start (:func:`fit`), so the guard costs nothing in a healthy run.

    On several devices (``mesh`` not None, :mod:`dgm_lib.parallel`) each batch is split over
    the mesh's ``batch`` axis and everything the dispatch returns is replicated on all of its
    devices, so the next dispatch takes it as it is and the program compiles once.
    """
    slots = [(j, r) for j, p in enumerate(players) for r in range(p.repeats)]
    program = _Program()

    def player_step(j: int, carry: tuple, batch: Data, k: jax.Array) -> tuple:
        params, rest, opt_states = carry

        def objective(own: nnx.State) -> tuple[jax.Array, nnx.State]:
            states = [own if i == j else p for i, p in enumerate(params)]
            m = nnx.merge(graphdef, *states, rest, copy=True)
            loss = players[j].loss_fn(m, k) if data_free else players[j].loss_fn(m, batch, k)
            if jnp.shape(loss) != ():
                raise ValueError(
                    "fit: loss_fn must return a scalar (the mean loss over the batch); got "
                    f"shape {jnp.shape(loss)}"
                )
            return loss, nnx.split(m, nnx.Param, ...)[2]

        (loss, new_rest), grads = jax.value_and_grad(objective, has_aux=True)(params[j])
        updates, new_opt = players[j].optimizer.update(grads, opt_states[j], params[j])
        params = [optax.apply_updates(p, updates) if i == j else p for i, p in enumerate(params)]
        opt_states = [new_opt if i == j else o for i, o in enumerate(opt_states)]
        return (params, new_rest, opt_states), loss.astype(jnp.float32)

    def run_dispatch(treedef: Any, leaves: list, data: Data, start, count, loss_key, idx):
        program.traces += 1  # runs only while tracing
        carry = jax.tree.unflatten(treedef, leaves)

        def step(i: jax.Array, state: tuple) -> tuple:
            carry, losses, goods = state
            s = start + i
            step_losses = [jnp.float32(0.0)] * len(players)
            step_goods = []
            for slot, (j, _) in enumerate(slots):
                batch = None if data_free else shard_batch(
                    jax.tree.map(lambda a, r=idx[i, slot]: a[r], data), mesh)
                k = jax.random.fold_in(loss_key, s * len(slots) + slot)
                carry, loss = player_step(j, carry, batch, k)
                step_losses[j] = step_losses[j] + loss / players[j].repeats
                step_goods.append(jnp.isfinite(loss))
            losses = losses.at[i].set(jnp.stack(step_losses))
            return carry, losses, goods.at[i].set(jnp.stack(step_goods))

        losses = jnp.full((idx.shape[0], len(players)), jnp.nan, jnp.float32)
        goods = jnp.ones((idx.shape[0], len(slots)), bool)
        carry, losses, goods = lax.fori_loop(0, count, step, (carry, losses, goods))
        rest_ok = _float_leaves_finite(carry[1])
        finite = jnp.stack([_float_leaves_finite(p) & rest_ok for p in carry[0]])
        return jax.tree.leaves(carry), losses, goods, finite

    placed = {} if mesh is None else {"out_shardings": NamedSharding(mesh, PartitionSpec())}
    program.make = lambda treedef: jax.jit(functools.partial(run_dispatch, treedef), **placed)
    return program


def fit(
    model: nnx.Module,
    loss_fn: LossFn | Sequence[Player],
    data: Data | None = None,
    *,
    key: jax.Array,
    steps: int,
    batch_size: int | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps_per_dispatch: int = 100,
    progress: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    validation: Validation | None = None,
) -> FitResult:
    """Minimise ``loss_fn`` over the ``nnx.Param`` leaves of ``model``, updating it IN PLACE.

    The one training loop of the book. It runs any objective of the course: a loss on
    minibatches of ``data`` (maximum likelihood, the ELBO), a data-free objective
    (``data=None``: reverse KL to an energy, sampling-based losses), and several players that
    take turns inside one training step (a GAN's critic ``k`` steps, then its generator).

    Args:
      model: any ``nnx.Module``. It is updated in place (``nnx.update``) when the run ends
        and when it stops at a non-finite step (an interrupted run leaves it as it was); the
        return value holds only the history. Other variables that a loss changes (batch
        statistics, RNG counters) are kept; only ``nnx.Param`` leaves are trained.
      loss_fn: ``(model, batch, key) -> scalar``, the mean loss over the batch (``batch`` has
        the structure of ``data`` with leading axis ``batch_size``); ``(model, key) ->
        scalar`` when ``data`` is None. Or a list of :class:`Player`, each with its own loss,
        parameters, optimizer and number of repeats, run in list order within every step.
      data: one array ``(N, ...)`` or a tuple/dict of arrays with the same leading ``N``
        (e.g. ``(images, labels)``); it is copied to the device once. ``None`` for a
        data-free objective.
      key: a ``jax.random.key``; the schedule of keys is in the module docstring.
      steps: number of training steps (not epochs).
      batch_size: examples per gradient step, at most ``N``; required with data, must be
        None without. The last ``N % batch_size`` examples of each epoch's permutation are
        dropped so every batch has the same shape.
      optimizer: an optax transformation for a single loss (default ``optax.adam(1e-3)``);
        schedules and weight decay go here, e.g.
        ``optax.adamw(optax.cosine_decay_schedule(1e-3, steps))``. None with players.
      steps_per_dispatch: steps per call of the compiled function; the progress bar and the
        check for non-finite values run once per dispatch. The last dispatch is the same
        program with fewer steps, so the step compiles once.
      progress: show a tqdm progress bar with the mean loss of the last dispatch.
      checkpoint: a file to checkpoint the run in (:mod:`dgm_lib.checkpoints`), written
        atomically after a dispatch at most every ``checkpoints.SAVE_SECONDS`` and when the
        run ends. If it exists and is this run's, the run resumes from it and ends with what
        an uninterrupted run ends with; a finished run returns at once. Default: with
        ``DGM_CHECKPOINT_DIR`` set, ``fit-<n>.npz`` there for the process's ``n``-th fit;
        otherwise no checkpoint.
      validation: a :class:`Validation`: score the model on held-out data every
        ``validation.every`` steps, end with the best-scoring parameters, and stop early
        after ``validation.patience`` scores without improvement. None: the model ends with
        its last parameters.

    Returns:
      ``FitResult(losses, traces, start, validation, best_step)``: ``losses`` float32 of shape
      ``(steps,)`` for one loss or ``(steps, num_players)`` for players (fewer rows when
      stopped early); ``start`` the step a checkpoint resumed; the validation scores and the
      step picked (None without validation).

    Raises:
      NonFiniteLossError: at the first step whose loss or gradient is NaN or infinite; the
        model then holds the parameters from before that step.
      ValueError: the checkpoint is unreadable or of another run (the message says which).
    """
    where = "fit"
    players, single = _check_players(where, loss_fn, optimizer)
    steps = check_positive_int(where, "steps", steps)
    if data is None:
        if batch_size is not None:
            raise ValueError(
                f"{where}: argument 'batch_size' must be None when 'data' is None (a data-free "
                f"objective); got {batch_size!r}"
            )
    else:
        data, n = _check_data(where, data)
        if batch_size is None:
            raise ValueError(f"{where}: argument 'batch_size' is required when 'data' is given")
        batch_size = check_positive_int(where, "batch_size", batch_size)
        if batch_size > n:
            raise ValueError(
                f"{where}: argument 'batch_size' ({batch_size}) must be at most the number of "
                f"examples in 'data' ({n})"
            )
    chunk = min(check_positive_int(where, "steps_per_dispatch", steps_per_dispatch), steps)
    key = check_key(where, key)

    graphdef, *params, rest = nnx.split(model, *(_param_filter(p.wrt) for p in players), ...)
    slots = [(j, r) for j, p in enumerate(players) for r in range(p.repeats)]
    selection = None if validation is None else _Selection(where, validation, graphdef)
    order_key, loss_key = jax.random.split(key)
    order = None if data is None else _BatchOrder(order_key, n, batch_size)
    mesh = batch_mesh(1 if data is None else batch_size)
    program = _program(graphdef, players, data is None, mesh)
    traces_before = program.traces
    opt_states = [p.optimizer.init(q) for p, q in zip(players, params, strict=True)]
    # The carry travels as a flat list of arrays: flattening nnx.State at every call costs.
    leaves, treedef = jax.tree.flatten((params, rest, opt_states))
    history = np.full((steps, len(players)), np.nan, dtype=np.float32)
    path, first = checkpoints.checkpoint_path(checkpoint), 0
    if path is not None:
        settings = {"steps": steps, "batch_size": batch_size, "chunk": chunk,
                    "repeats": [p.repeats for p in players]}
        fixed, fns = data, [p.loss_fn for p in players]
        if selection is not None:
            settings["validation"] = selection.settings
            fixed, fns = (data, selection.data, selection.key), [*fns, selection.fn]
        run = checkpoints.fingerprint(key, treedef, leaves, fixed, settings, fns)
        saved = checkpoints.load(path, run, leaves)
        if saved is not None:
            first, leaves = saved.step, [jnp.asarray(x) for x in saved.leaves]
            history[:first] = saved.history
            if order is not None:
                order.restore(saved.order)
            if selection is not None:
                selection.restore(saved.scores, [jnp.asarray(x) for x in saved.best])
    leaves, data = replicate((leaves, data), mesh)
    dispatch = program.dispatch(treedef)
    width = 1 if data is None else batch_size

    def launch(leaves: list, start: int, count: int, idx: np.ndarray) -> tuple:
        """Start steps ``start, ..., start + count - 1`` (asynchronously: nothing waits)."""
        args = data, np.int32(start), np.int32(count), loss_key, idx
        return leaves, start, count, idx, dispatch(leaves, *args)

    def stop(step: int, leaves: list, goods: np.ndarray, finite: np.ndarray) -> None:
        """Raise for a bad ``step``, leaving the model as it was before that step."""
        params, rest, _ = jax.tree.unflatten(treedef, leaves)
        nnx.update(model, *params, rest)
        found = history[: step + 1].copy()
        if single:
            raise NonFiniteLossError(step, found[:, 0])
        # The first bad update: the first non-finite loss, or the first update of a player
        # whose parameters came out non-finite, whichever is earlier (slots run in order).
        firsts = [i for i, (j, _) in enumerate(slots) if not finite[j]]
        slot = min([*np.flatnonzero(~goods), *firsts, len(slots) - 1])
        j = slots[slot][0]
        raise NonFiniteLossError(step, found, f"player {j} (wrt={players[j].wrt!r})")

    def settle(job: tuple) -> tuple[list, bool]:
        """Wait for a dispatch and check it: its carry, and whether it had to be replayed.
        A bad dispatch is replayed a step at a time from its start, and the bad step raises."""
        before, start, count, idx, (after, losses, goods, finite) = job
        goods, finite = np.asarray(goods), np.asarray(finite)
        if goods[:count].all() and finite.all():
            history[start : start + count] = np.asarray(losses)[:count]
            return after, False
        for s in range(start, start + count):
            one = np.zeros_like(idx)
            one[0] = idx[s - start]
            after, losses, goods, finite = launch(before, s, 1, one)[-1]
            history[s] = np.asarray(losses)[0]
            goods, finite = np.asarray(goods)[0], np.asarray(finite)
            if not (goods.all() and finite.all()):
                stop(s, before, goods, finite)
            before = after
        return before, True  # only a non-deterministic device gets here

    def indices(count: int) -> np.ndarray:
        idx = np.zeros((chunk, len(slots), width), np.int32)  # rows past count unused
        if order is not None:
            idx[:count] = order.take(count * len(slots)).reshape(count, len(slots), width)
        return idx

    def save(step: int, leaves: list, drawn: dict[str, Any] | None) -> None:
        scores, best = None, None
        if selection is not None:
            scores, best = selection.table(), [] if selection.best is None else selection.best[2]
        state = checkpoints.FitState(step, leaves, history[:step], drawn, scores, best)
        checkpoints.save(path, run, state)

    # Dispatches end at every multiple of `chunk` and, with validation, of `every`.
    ends = {*range(chunk, steps, chunk), steps}
    if selection is not None:
        ends |= set(range(selection.every, steps, selection.every))
    ends = sorted(ends)
    spans = [(a, b - a) for a, b in zip([0, *ends[:-1]], ends, strict=True) if a >= first]
    if selection is not None and selection.stopped:  # a checkpoint of a run that stopped early
        spans = []
    done, saved_at = first, time.monotonic()
    # While the device runs one dispatch, the host makes the next one's batches and queues
    # it on the (future) result, then checks the first: the device never waits for Python.
    # A dispatch followed by a validation score is settled first: the score decides whether
    # there is a next one.
    with tqdm(total=steps, initial=first, desc="fit", disable=not progress) as bar:
        job = launch(leaves, *spans[0], indices(spans[0][1])) if spans else None
        for i, (start, count) in enumerate(spans):
            # the batch order after this dispatch's batches, before the next one's are drawn
            drawn = None if path is None or order is None else order.state()
            done = start + count
            scoring = selection is not None and selection.due(done, steps)
            following, more = None, i + 1 < len(spans)
            if more and not scoring:
                after, (next_start, next_count) = job[-1][0], spans[i + 1]
                following = launch(after, next_start, next_count, indices(next_count))
            leaves, replayed = settle(job)
            if replayed and following is not None:
                following = launch(leaves, *following[1:4])
            bar.update(count)
            if progress:
                bar.set_postfix(loss=f"{history[start:done].mean():.4g}")
            if scoring:
                selection.score(done, treedef, leaves)
                more = more and not selection.stopped
                if more:
                    following = launch(leaves, *spans[i + 1], indices(spans[i + 1][1]))
            due = not more or time.monotonic() - saved_at >= checkpoints.SAVE_SECONDS
            if path is not None and due:
                save(done, leaves, drawn)
                saved_at = time.monotonic()
            if not more:
                break
            job = following
    scores = best_step = None
    if selection is not None:
        scores = selection.table()
        if selection.best is not None:
            _, best_step, leaves = selection.best
    params, rest, _ = jax.tree.unflatten(treedef, leaves)
    nnx.update(model, *params, rest)
    traces = program.traces - traces_before
    history = history[:done]
    losses = history[:, 0] if single else history
    return FitResult(losses=losses, traces=traces, start=first, validation=scores,
                     best_step=best_step)


def evaluate(
    model: nnx.Module,
    fn: Callable[..., jax.Array],
    data: Data,
    *,
    batch_size: int,
    key: jax.Array | None = None,
) -> float:
    r"""Mean of a per-example function over a data set, :math:`\frac1N \sum_i f(x_i)` with
    :math:`f` = ``fn(model, .)``.

    ``fn(model, batch) -> (batch_size,)``, or ``fn(model, batch, key)`` when ``key`` is given
    (batch ``i`` gets ``jax.random.fold_in(key, i)``), e.g. ``lambda m, x: -m.log_prob(x)``
    for the held-out NLL in nats. ``data`` is one array ``(N, ...)`` or a pytree of arrays
    sharing ``N``. Batches have a fixed size (``min(batch_size, N)``) so one compilation
    serves all; the last batch is padded by repeating an example and the padding is masked
    out, so every example counts exactly once. Per-batch sums are added in float64. On
    several devices each batch is split over them (:mod:`dgm_lib.parallel`).
    """
    where = "evaluate"
    data, n = _check_data(where, data)
    batch_size = min(check_positive_int(where, "batch_size", batch_size), n)
    if key is not None:
        key = check_key(where, key)
    graphdef, state = nnx.split(model)
    mean = _dataset_mean(where, graphdef, fn, data, n, batch_size)
    return mean((state,), key)


def _dataset_mean(where: str, graphdef: Any, fn: Callable[..., jax.Array], data: Data, n: int,
                  batch_size: int, columns: bool = False
                  ) -> Callable[[tuple, jax.Array | None], Any]:
    """``mean(states, key)``: the mean of ``fn`` over the ``n`` examples of ``data`` for the
    model ``nnx.merge(graphdef, *states)``, in batches of ``batch_size`` (:func:`evaluate`).
    ``fn`` gives ``(batch_size,)``, or with ``columns`` also ``(batch_size, m)`` (then the
    mean is a float64 array ``(m,)``). One compiled function serves every call with states of
    the same shapes."""
    n_batches = -(-n // batch_size)
    mesh = batch_mesh(batch_size)
    data = replicate(data, mesh)

    @jax.jit
    def batch_sums(states: tuple, data: Data, key: jax.Array | None) -> jax.Array:
        def batch_sum(i: jax.Array) -> jax.Array:
            idx = i * batch_size + jnp.arange(batch_size)
            batch = shard_batch(jax.tree.map(lambda a: a[jnp.minimum(idx, n - 1)], data), mesh)
            m = nnx.merge(graphdef, *states, copy=True)
            vals = fn(m, batch) if key is None else fn(m, batch, jax.random.fold_in(key, i))
            shape = jnp.shape(vals)
            if shape != (batch_size,) and not (columns and len(shape) == 2
                                                and shape[0] == batch_size):
                also = " or (batch_size, m)" if columns else ""
                raise ValueError(
                    f"{where}: fn must return one value per example, shape (batch_size,){also} "
                    f"with batch_size = {batch_size}; got shape {shape}"
                )
            inside = (idx < n).reshape(-1, *([1] * (len(shape) - 1)))
            return jnp.sum(jnp.where(inside, vals, 0.0), axis=0)

        return lax.map(batch_sum, jnp.arange(n_batches))

    def mean(states: tuple, key: jax.Array | None) -> Any:
        sums = np.asarray(batch_sums(replicate(states, mesh), data, key), dtype=np.float64)
        total = sums.sum(axis=0) / n
        return total if total.ndim else float(total)

    return mean


def nll_loss(model: nnx.Module, batch: Data, key: jax.Array | None = None) -> jax.Array:
    r"""The maximum-likelihood loss for :func:`dgm_lib.train.fit`: the mean negative
    log-likelihood :math:`-\frac1B \sum_i \log p(x_i)` of a batch, in nats.

    The one maximum-likelihood loss of the book, for every model with a ``log_prob``
    (autoregressive models, mixtures, flows). ``batch`` is an array ``x``
    (``model.log_prob(x)``) or a tuple ``(x, labels)`` (``model.log_prob(x, labels)``, for a
    class-conditional model). ``key`` is unused: the loss is deterministic; it is there to
    match ``fit``'s ``loss_fn(model, batch, key)``.
    """
    log_p = model.log_prob(*batch) if isinstance(batch, tuple) else model.log_prob(batch)
    return -jnp.mean(log_p)
