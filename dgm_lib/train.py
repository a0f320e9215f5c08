"""Training: one ``fit`` loop for every model in the book, fast by construction.

A step of minibatch gradient descent with an optax optimizer is

    g_s = ∇_θ L(θ_s; B_s, k_s),        (u_s, o_{s+1}) = tx.update(g_s, o_s, θ_s),
    θ_{s+1} = θ_s + u_s,

where ``L = loss_fn(model, batch, key)`` is the mean loss over the batch ``B_s`` (e.g. the mean
NLL in nats) and ``k_s`` a fresh key, so stochastic objectives such as the ELBO work.

Why it is fast (DESIGN section 4; ``benchmarks/fit_overhead.py`` measures it):

1. the model is split once (``nnx.split``) into a static graph and arrays, so the compiled step
   is a pure function of arrays and no Python object is walked per step;
2. one call to the compiled function runs ``steps_per_dispatch`` steps inside ``lax.scan`` and
   gathers each batch by index from the data held on the device;
3. the carry (parameters, optimizer state) is donated, so XLA updates it in place;
4. every batch has the same shape (the ragged last batch of each epoch is dropped, to avoid
   recompilation) and the last dispatch keeps the same length (its steps past ``steps`` are
   skipped), so the step compiles exactly once per run.

Key schedule (fixed, so a plain loop can reproduce a run): ``order_key, loss_key =
jax.random.split(key)``; ``rng = np.random.default_rng(np.asarray(jax.random.key_data(
order_key)))`` orders the examples, epoch ``e`` in its ``e``-th ``rng.permutation(N)`` cut into
``N // batch_size`` consecutive batches; step ``s`` takes the next batch and its loss gets
``jax.random.fold_in(loss_key, s)``. The permutations are drawn on the host (NumPy): on the
device a permutation is a sort, which on a CPU costs as much as dozens of small steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax
from tqdm.auto import tqdm

from .checks import check_array, check_key, check_positive_int

Data = Any  # one array (N, ...) or a pytree (tuple, dict) of arrays sharing the leading N
LossFn = Callable[[nnx.Module, Data, jax.Array], jax.Array]


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN or infinite at ``step`` (counted from 0).

    ``losses`` holds the history up to and including that step. The model holds the
    parameters from before that step: the last update whose loss and gradient were finite.
    """

    def __init__(self, step: int, losses: np.ndarray) -> None:
        self.step = step
        self.losses = losses
        super().__init__(
            f"fit: the loss or its gradient became non-finite at step {step} (counted from 0; "
            f"loss = {losses[-1]}). The model holds the parameters from before step {step}, "
            "the last finite update. Try a lower learning rate or check loss_fn for log(0) "
            "or division by zero."
        )


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` returns.

    model: the model passed in, updated in place with the trained parameters.
    losses: the loss of every step, shape ``(steps,)``, float32 (nats if the loss is an NLL).
    traces: how often the step was traced and compiled during the run (1 for a healthy run).
    """

    model: nnx.Module
    losses: np.ndarray
    traces: int


def _check_data(where: str, data: Data) -> tuple[Data, int]:
    """Check that ``data`` is a pytree of numeric arrays sharing one leading axis; put it on
    the device. Returns the data and the number of examples ``N``."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(data)
    if not leaves:
        raise ValueError(f"{where}: argument 'data' holds no arrays")
    arrays, first = [], None
    for path, leaf in leaves:
        name = "data" + jax.tree_util.keystr(path)
        x = check_array(where, name, leaf, kind="number")
        if x.ndim == 0:
            raise ValueError(f"{where}: argument '{name}' must have shape (N, ...); got shape ()")
        if first is None:
            first = (name, x.shape[0])
        elif x.shape[0] != first[1]:
            raise ValueError(
                f"{where}: argument '{name}' has {x.shape[0]} examples (leading axis) but "
                f"'{first[0]}' has {first[1]}; all arrays in 'data' must share the leading axis"
            )
        arrays.append(x)
    assert first is not None
    if first[1] == 0:
        raise ValueError(f"{where}: argument 'data' holds no examples (leading axis of size 0)")
    return jax.tree_util.tree_unflatten(treedef, arrays), first[1]


def _batch_order(key: jax.Array, n: int, batch_size: int) -> Iterator[np.ndarray]:
    """Endless batches of indices: each epoch a fresh permutation of ``range(n)`` cut into
    ``n // batch_size`` batches of ``batch_size``; the ragged rest is dropped."""
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
    per_epoch = n // batch_size
    while True:
        perm = rng.permutation(n)[: per_epoch * batch_size].astype(np.int32)
        yield from perm.reshape(per_epoch, batch_size)


def _all_finite(tree: Any) -> jax.Array:
    return jax.tree.reduce(lambda ok, g: ok & jnp.all(jnp.isfinite(g)), tree, jnp.bool_(True))


def fit(
    model: nnx.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    key: jax.Array,
    steps: int,
    batch_size: int,
    optimizer: optax.GradientTransformation | None = None,
    steps_per_dispatch: int = 100,
    progress: bool = True,
) -> FitResult:
    """Minimise ``loss_fn(model, batch, key)`` over the ``nnx.Param`` leaves of ``model``.

    Args:
      model: any ``nnx.Module``; updated IN PLACE (``nnx.update``) when the run ends (an
        interrupted run leaves it as it was). Other variables that ``loss_fn`` changes
        (batch statistics, RNG counters) are kept; only ``nnx.Param`` leaves are trained.
      loss_fn: ``(model, batch, key) -> scalar``, the mean loss over the batch; ``batch`` has
        the structure of ``data`` with leading axis ``batch_size``.
      data: one array ``(N, ...)`` or a tuple/dict of arrays with the same leading ``N``
        (e.g. ``(images, labels)``); it is copied to the device once.
      key: a ``jax.random.key``; the schedule of keys is in the module docstring.
      steps: number of optimizer steps (not epochs).
      batch_size: examples per step, at most ``N``; the last ``N % batch_size`` examples of
        each epoch's permutation are dropped so every batch has the same shape.
      optimizer: an optax transformation (default ``optax.adam(1e-3)``); schedules and weight
        decay go here, e.g. ``optax.adamw(optax.cosine_decay_schedule(1e-3, steps))``.
      steps_per_dispatch: steps per call of the compiled function; the progress bar and the
        NaN check run once per dispatch. The last dispatch has the same length, its steps
        past ``steps`` do nothing, so the step compiles once.
      progress: show a tqdm progress bar with the mean loss of the last dispatch.

    Returns:
      ``FitResult(model, losses, traces)``: ``losses`` has shape ``(steps,)``, float32.

    Raises:
      NonFiniteLossError: at the first step whose loss or gradient is NaN or infinite; the
        model then holds the parameters from before that step.
    """
    where = "fit"
    data, n = _check_data(where, data)
    steps = check_positive_int(where, "steps", steps)
    batch_size = check_positive_int(where, "batch_size", batch_size)
    if batch_size > n:
        raise ValueError(
            f"{where}: argument 'batch_size' ({batch_size}) must be at most the number of "
            f"examples in 'data' ({n})"
        )
    chunk = min(check_positive_int(where, "steps_per_dispatch", steps_per_dispatch), steps)
    key = check_key(where, key)
    tx = optax.adam(1e-3) if optimizer is None else optimizer

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    order_key, loss_key = jax.random.split(key)
    order = _batch_order(order_key, n, batch_size)
    traces = 0

    def train_step(carry: tuple, s: jax.Array, idx: jax.Array, data: Data) -> tuple:
        params, rest, opt_state, _ = carry
        batch = jax.tree.map(lambda a: a[idx], data)

        def objective(params: nnx.State) -> tuple[jax.Array, nnx.State]:
            m = nnx.merge(graphdef, params, rest, copy=True)
            loss = loss_fn(m, batch, jax.random.fold_in(loss_key, s))
            if jnp.shape(loss) != ():
                raise ValueError(
                    f"{where}: loss_fn must return a scalar (the mean loss over the batch); "
                    f"got shape {jnp.shape(loss)}"
                )
            return loss, nnx.split(m, nnx.Param, ...)[2]

        (loss, new_rest), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        new = (optax.apply_updates(params, updates), new_rest, new_opt_state)
        good = jnp.isfinite(loss) & _all_finite(grads)
        # Keep the last finite state: a bad step changes nothing and stops the run.
        params, rest, opt_state = jax.tree.map(
            lambda a, b: jnp.where(good, a, b), new, (params, rest, opt_state)
        )
        return (params, rest, opt_state, good), (loss.astype(jnp.float32), good)

    def skip_step(carry: tuple, s: jax.Array, idx: jax.Array, data: Data) -> tuple:
        return carry, (jnp.float32(jnp.nan), jnp.bool_(True))

    def run_dispatch(carry: tuple, data: Data, start: jax.Array, idx: jax.Array) -> tuple:
        nonlocal traces
        traces += 1  # runs only while tracing

        def step(carry: tuple, xs: tuple[jax.Array, jax.Array]) -> tuple:
            s, idx_s = xs
            active = (s < steps) & carry[-1]  # within the run and no bad step so far
            return lax.cond(active, train_step, skip_step, carry, s, idx_s, data)

        return lax.scan(step, carry, (start + jnp.arange(chunk, dtype=jnp.int32), idx))

    dispatch = jax.jit(run_dispatch, donate_argnums=0)
    # Copy, so that donating the carry never deletes the arrays the model still holds.
    carry = jax.tree.map(jnp.copy, (params, rest, tx.init(params), jnp.bool_(True)))
    history = np.full(steps, np.nan, dtype=np.float32)
    with tqdm(total=steps, desc="fit", disable=not progress) as bar:
        for start in range(0, steps, chunk):
            k = min(chunk, steps - start)
            idx = np.zeros((chunk, batch_size), np.int32)  # rows past `steps` are never used
            idx[:k] = list(itertools.islice(order, k))
            carry, (losses, good) = dispatch(carry, data, np.int32(start), idx)
            history[start : start + k] = np.asarray(losses)[:k]
            bad = np.flatnonzero(~np.asarray(good)[:k])
            if bad.size:
                nnx.update(model, carry[0], carry[1])
                first = start + int(bad[0])
                raise NonFiniteLossError(first, history[: first + 1].copy())
            bar.update(k)
            bar.set_postfix(loss=f"{history[start : start + k].mean():.4g}")
    nnx.update(model, carry[0], carry[1])
    return FitResult(model=model, losses=history, traces=traces)


def evaluate(
    model: nnx.Module,
    fn: Callable[..., jax.Array],
    data: Data,
    *,
    batch_size: int,
    key: jax.Array | None = None,
) -> float:
    """Mean of a per-example function over a data set: ``(1/N) Σ_i fn(model, x_i)``.

    ``fn(model, batch) -> (batch_size,)``, or ``fn(model, batch, key)`` when ``key`` is given
    (batch ``i`` gets ``jax.random.fold_in(key, i)``), e.g. ``lambda m, x: -m.log_prob(x)``
    for the held-out NLL in nats. ``data`` is one array ``(N, ...)`` or a pytree of arrays
    sharing ``N``. Batches have a fixed size (``min(batch_size, N)``) so one compilation
    serves all; the last batch is padded by repeating an example and the padding is masked
    out, so every example counts exactly once. Per-batch sums are added in float64.
    """
    where = "evaluate"
    data, n = _check_data(where, data)
    batch_size = min(check_positive_int(where, "batch_size", batch_size), n)
    if key is not None:
        key = check_key(where, key)
    graphdef, state = nnx.split(model)
    n_batches = -(-n // batch_size)

    @jax.jit
    def batch_sums(state: nnx.State, data: Data, key: jax.Array | None) -> jax.Array:
        def batch_sum(i: jax.Array) -> jax.Array:
            idx = i * batch_size + jnp.arange(batch_size)
            batch = jax.tree.map(lambda a: a[jnp.minimum(idx, n - 1)], data)
            m = nnx.merge(graphdef, state, copy=True)
            vals = fn(m, batch) if key is None else fn(m, batch, jax.random.fold_in(key, i))
            if jnp.shape(vals) != (batch_size,):
                raise ValueError(
                    f"{where}: fn must return one value per example, shape (batch_size,) = "
                    f"({batch_size},); got shape {jnp.shape(vals)}"
                )
            return jnp.sum(jnp.where(idx < n, vals, 0.0))

        return lax.map(batch_sum, jnp.arange(n_batches))

    sums = np.asarray(batch_sums(state, data, key), dtype=np.float64)
    return float(sums.sum() / n)


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
