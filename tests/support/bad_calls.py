"""The one shape of the bad-argument tests: named calls that must raise a clear error."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest


def bad_calls(cases: Sequence[tuple[str, Callable[[], object], type, str]]):
    """Parametrise a test over ``(name, call, error, message)`` rows, with ids from the names."""
    return pytest.mark.parametrize(
        ("call", "error", "message"), [c[1:] for c in cases], ids=[c[0] for c in cases]
    )


def assert_raises_naming(
    call: Callable[[], object], error: type | tuple[type, ...], message: str | Sequence[str]
) -> None:
    """``call()`` raises ``error`` and its text contains ``message`` (each of them, if a list)."""
    with pytest.raises(error) as info:
        call()
    for part in [message] if isinstance(message, str) else message:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"
