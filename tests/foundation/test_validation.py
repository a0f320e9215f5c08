"""Model selection and early stopping in ``fit`` (:class:`dgm_lib.train.Validation`): the
scores are :func:`evaluate`'s numbers for the parameters of that step, scoring does not change
the training run, the model ends with the best-scoring parameters, ``patience`` stops the run,
an interrupted run with validation resumes to the same end, and bad settings are refused."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dgm_lib import checkpoints
from dgm_lib.train import Validation, evaluate, fit


class Mean(nnx.Module):
    """A unit-variance Gaussian with a learned mean in 2-D."""

    def __init__(self) -> None:
        self.mu = nnx.Param(jnp.zeros(2))

    def nll(self, x: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum((x - self.mu[...]) ** 2, axis=-1)


def loss(model: Mean, x: jax.Array, key: jax.Array) -> jax.Array:
    return jnp.mean(model.nll(x))


def per_example(model: Mean, x: jax.Array) -> jax.Array:
    return model.nll(x)


RNG = np.random.default_rng(0)
TRAIN = (RNG.normal(size=(400, 2)) + 2.0).astype(np.float32)
# held-out data from the training distribution, and from one the training leads away from
HELD_OUT = (RNG.normal(size=(150, 2)) + 2.0).astype(np.float32)
ELSEWHERE = (RNG.normal(size=(150, 2)) - 1.0).astype(np.float32)
RUN = {"key": jax.random.key(3), "steps": 120, "batch_size": 16, "steps_per_dispatch": 25,
       "progress": False, "optimizer": optax.sgd(0.02)}


def mu(model: Mean) -> np.ndarray:
    return np.asarray(model.mu[...])


def test_scores_are_evaluates_numbers_and_scoring_does_not_change_the_run() -> None:
    # every = 10 does not divide the dispatch of 25: dispatches end at both multiples
    scored = Mean()
    result = fit(scored, loss, TRAIN, validation=Validation(HELD_OUT, per_example, every=10,
                                                            batch_size=64), **RUN)
    assert result.validation[:, 0].tolist() == [*range(10, 121, 10)]
    plain = Mean()
    plain_losses = fit(plain, loss, TRAIN, **RUN).losses
    np.testing.assert_array_equal(result.losses, plain_losses)  # the same steps, batches, keys
    for step in (10, 70, 120):
        again = Mean()
        fit(again, loss, TRAIN, **{**RUN, "steps": step})
        want = evaluate(again, per_example, HELD_OUT, batch_size=64)
        got = result.validation[result.validation[:, 0] == step, 1][0]
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_the_model_ends_with_the_best_scoring_parameters() -> None:
    model = Mean()
    result = fit(model, loss, TRAIN, validation=Validation(ELSEWHERE, per_example, every=20),
                 **RUN)
    scores = result.validation
    best = int(scores[np.argmin(scores[:, 1]), 0])
    assert best == result.best_step == 20  # training moves the mean away from -1
    assert scores[-1, 1] > scores[0, 1] + 1.0  # the last parameters score far worse
    np.testing.assert_allclose(evaluate(model, per_example, ELSEWHERE, batch_size=500),
                               scores[0, 1], rtol=1e-6)
    first = Mean()
    fit(first, loss, TRAIN, **{**RUN, "steps": 20})
    np.testing.assert_array_equal(mu(model), mu(first))
    assert len(result.losses) == RUN["steps"]  # no patience: the run went to the end


def test_patience_stops_the_run_after_that_many_scores_without_improvement() -> None:
    model = Mean()
    result = fit(model, loss, TRAIN, validation=Validation(ELSEWHERE, per_example, every=10,
                                                           patience=3), **RUN)
    assert result.validation[:, 0].tolist() == [10, 20, 30, 40]  # best at 10, then 3 worse
    assert result.losses.shape == (40,) and result.best_step == 10
    improving = fit(Mean(), loss, TRAIN, validation=Validation(HELD_OUT, per_example, every=10,
                                                               patience=3), **RUN)
    assert len(improving.losses) > 40  # a score that keeps improving does not stop the run


def test_a_stochastic_score_gets_the_same_keys_at_every_evaluation() -> None:
    def noisy(model: Mean, x: jax.Array, key: jax.Array) -> jax.Array:
        return model.nll(x) + jax.random.normal(key, (x.shape[0],))

    frozen = {**RUN, "optimizer": optax.sgd(0.0)}  # the parameters never move
    result = fit(Mean(), loss, TRAIN, validation=Validation(
        HELD_OUT, noisy, every=30, score_key=jax.random.key(9)), **frozen)
    assert np.ptp(result.validation[:, 1]) == 0.0  # the same noise: the same score
    want = evaluate(Mean(), noisy, HELD_OUT, batch_size=500, key=jax.random.key(9))
    np.testing.assert_allclose(result.validation[0, 1], want, rtol=1e-6)


class Interrupted(Exception):
    """Stands for the kill of a long run."""


@pytest.mark.parametrize("patience", [None, 2])
def test_an_interrupted_run_with_validation_resumes_to_the_same_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, patience: int | None
) -> None:
    validation = Validation(ELSEWHERE if patience else HELD_OUT, per_example, every=10,
                            patience=patience)
    reference = Mean()
    want = fit(reference, loss, TRAIN, validation=validation, **RUN)
    path = tmp_path / "run.npz"
    monkeypatch.setattr(checkpoints, "SAVE_SECONDS", 0.0)
    save = checkpoints.save

    def save_then_stop(path: Path, run: str, state: checkpoints.FitState) -> None:
        save(path, run, state)
        if state.step == 20:
            raise Interrupted

    monkeypatch.setattr(checkpoints, "save", save_then_stop)
    with pytest.raises(Interrupted):
        fit(Mean(), loss, TRAIN, validation=validation, checkpoint=path, **RUN)
    monkeypatch.undo()
    for _ in range(2):  # resumed, then loaded as a finished run
        model = Mean()
        got = fit(model, loss, TRAIN, validation=validation, checkpoint=path, **RUN)
        np.testing.assert_array_equal(got.losses, want.losses)
        np.testing.assert_array_equal(got.validation, want.validation)
        assert got.best_step == want.best_step
        np.testing.assert_array_equal(mu(model), mu(reference))
    assert got.start == len(want.losses)
    with pytest.raises(ValueError, match="checkpoint of another run"):
        fit(Mean(), loss, TRAIN, checkpoint=path, **RUN)  # the same run without validation


@pytest.mark.parametrize(
    "validation, error, message",
    [
        ((HELD_OUT, per_example), TypeError, "fit: argument 'validation' must be a dgm_lib.train.Validation"),
        (Validation(HELD_OUT, per_example, every=0), ValueError, "fit: argument 'validation.every' must be a positive int"),
        (Validation(HELD_OUT, per_example, every=5, patience=0), ValueError, "fit: argument 'validation.patience' must be a positive int"),
        (Validation(HELD_OUT, per_example, every=5, batch_size=0), ValueError, "fit: argument 'validation.batch_size' must be a positive int"),
        (Validation(HELD_OUT[:0], per_example, every=5), ValueError, "fit: argument 'validation.data' holds no examples"),
        (Validation(HELD_OUT, "nll", every=5), TypeError, "fit: argument 'validation.fn' must be a callable"),
        (Validation(HELD_OUT, per_example, every=5, score_key=1), TypeError, "fit: argument 'validation.score_key' must be a single random key"),
    ],
)
def test_bad_validation_settings_are_refused_naming_the_setting(validation, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        fit(Mean(), loss, TRAIN, validation=validation, **RUN)


def test_extra_columns_are_recorded_beside_the_score_which_alone_selects() -> None:
    def with_terms(model: Mean, x: jax.Array) -> jax.Array:
        return jnp.stack([model.nll(x), -model.nll(x), x[:, 0]], axis=1)

    result = fit(Mean(), loss, TRAIN, validation=Validation(ELSEWHERE, with_terms, every=40),
                 **RUN)
    assert result.validation.shape == (3, 4)
    np.testing.assert_allclose(result.validation[:, 2], -result.validation[:, 1])
    np.testing.assert_allclose(result.validation[:, 3], ELSEWHERE[:, 0].mean(), rtol=1e-5)
    assert result.best_step == 40  # by column 0 (the second column would pick 120)


def test_a_non_finite_score_is_never_the_best() -> None:
    def nan_first(model: Mean, x: jax.Array) -> jax.Array:
        # NaN for the parameters of the first score (mu still near 0), finite afterwards
        return jnp.where(jnp.sum(model.mu[...]) < 1.0, jnp.nan, model.nll(x))

    result = fit(Mean(), loss, TRAIN, validation=Validation(HELD_OUT, nan_first, every=10),
                 **RUN)
    assert np.isnan(result.validation[0, 1]) and np.isfinite(result.validation[-1, 1])
    finite = result.validation[np.isfinite(result.validation[:, 1])]
    assert result.best_step == int(finite[np.argmin(finite[:, 1]), 0])
