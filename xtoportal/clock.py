"""The one source of "now" for the app, so tests can freeze and move time."""
import time
from contextlib import contextmanager

_frozen: int | None = None


def now() -> int:
    """Current Unix time in whole seconds (UTC), or the frozen time in tests."""
    return _frozen if _frozen is not None else int(time.time())


@contextmanager
def frozen(at: int):
    """Freeze `now()` at `at` for the duration of the block; `advance` moves it."""
    global _frozen
    previous, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = previous


def advance(seconds: int) -> int:
    """Move a frozen clock forward; only meaningful inside `frozen`."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen += seconds
    return _frozen
