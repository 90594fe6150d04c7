"""Result files that survive anything: checked before work starts, locked, rewritten atomically.

Each write replaces the file with a complete one (write beside it, then rename), so an
interrupted run leaves a valid file holding every finished row. A lock held for the whole run
(``flock``, released by the kernel if the process dies) makes a second run into the same file
refuse with a clear message instead of silently overwriting the first.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from ..errors import InputError


def check_writable(path: Path, *, suffixes: tuple[str, ...] = (), directory: bool = False) -> None:
    """Refuse, before any work, a path that cannot be written (bad suffix, parent a file, read-only)."""
    path = Path(path)
    if not directory and path.is_dir():
        raise InputError(f"--output {path} is a directory; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"--output must end in {' or '.join(suffixes)}, got {path.name!r}")
    if directory and path.exists() and not path.is_dir():
        raise InputError(f"--output {path} is a file; give a folder")
    parent = path if directory else path.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: {existing} is not writable")
    try:  # what access() cannot tell: /proc, a read-only or full file system
        fd, probe = tempfile.mkstemp(prefix=".normbench-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc} in {existing}") from None


class Lock:
    """An exclusive lock on ``<path>.lock`` for the life of a run."""

    def __init__(self, path: Path):
        self.path = Path(str(path) + ".lock")
        self.fd: int | None = None

    def __enter__(self) -> "Lock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write {self.path.with_suffix('')}: {exc.strerror or exc} "
                             f"(its lock file {self.path.name})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise InputError(f"another normbench run (pid {other}) is writing {self.path.with_suffix('')}; "
                             "wait for it or choose another --output") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


def lock_for(path: Path | None):
    """A :class:`Lock` on ``path``, or a no-op context when nothing is written."""
    import contextlib

    return Lock(path) if path is not None else contextlib.nullcontext()


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (readers see the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Saver:
    """Saves results as they come in. A save that fails (a full disk, a file system gone read-only)
    warns once and does not stop the run: measuring goes on, every later save tries again, and
    :meth:`raise_if_failed` reports it at the end, after the results have been printed."""

    def __init__(self, path: Path, write):
        self.path, self.write, self.error = Path(path), write, ""

    def __call__(self, *args) -> None:
        import sys

        try:
            self.write(*args)
        except (OSError, InputError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if not self.error:
                print(f"normbench: warning: cannot save to {self.path} ({why}); the run goes on and every later "
                      "save tries again", file=sys.stderr)
            self.error = why
        else:
            if self.error:
                print(f"normbench: saved to {self.path} again", file=sys.stderr)
            self.error = ""

    def raise_if_failed(self) -> None:
        if self.error:
            raise InputError(f"cannot write {self.path} ({self.error}): the results printed above are all "
                             "this run kept")
