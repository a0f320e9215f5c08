"""Helpers shared by the tests of every folder: the repository root, the bad-argument test
scaffold (:mod:`support.bad_calls`) and the oracles for binary-vector models
(:mod:`support.binary_oracles`)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
