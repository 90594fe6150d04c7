"""Time limits on calls into backends, which may hang (a deadlocked kernel, a lost device)."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class TimedOut(Exception):
    """The call did not return within its time limit (it may still be running)."""


def call_with_timeout(fn: Callable[[], T], timeout: float | None) -> T:
    """Run ``fn`` in a daemon thread and return its result; raise TimedOut after ``timeout`` s.

    A hung native call cannot be killed from Python: the thread is abandoned (daemon) and the
    caller must stop sending work to that backend. Exceptions of ``fn`` propagate.
    """
    if not timeout:
        return fn()
    box: list = []

    def target() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box.append((False, exc))

    t = threading.Thread(target=target, daemon=True, name="normbench-call")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimedOut(f"did not finish within {timeout:g} s")
    ok, value = box[0]
    if not ok:
        raise value
    return value
