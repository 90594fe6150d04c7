"""Each backend in a worker process of its own, owned by the harness (pyperf's model).

The parent only orchestrates: it sends small requests (a case, a configuration, "n samples")
and gets results back as data. The worker loads the plugins itself, makes the data from the
case's seed, and runs every backend call, including ``set_threads``, in its main thread, so
per-thread settings (Numba's thread count, a CUDA device or stream) are in effect where the
timed calls run. A crash, ``os._exit`` or ``abort`` in a kernel kills only the worker: the
parent sees the exit code or signal, reports it with the case or configuration, and can start
a fresh worker. A time limit kills the worker process; no thread is ever abandoned.

Protocol: pickled ``(kind, payload)`` frames with an 8-byte length, on the child's stdin and a
duplicate of its stdout; the child's own stdout goes to stderr, so a plugin that prints cannot
corrupt the stream. Workers run in a session of their own, so a Ctrl-C reaches the parent
only, which stops them.
"""
from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .._timing import floor  # bench --floor: the copy that stands in for a backend
from . import memory
from ..backend import availability_of, probe_of, safe_call
from ..errors import shadowing_note
from .pluginmanager import load

_HEADER = struct.Struct("<Q")
#: how a worker starts: ``-c`` puts the current directory first on sys.path, where a file named
#: like a standard module (struct.py, json.py) would break every worker, so it goes; the parent's
#: own sys.path entries come after the standard library and site-packages
BOOTSTRAP = """\
import os, sys
del sys.path[0]
sys.path += [p for p in os.environ.pop("NORMBENCH_SYS_PATH", "").split(os.pathsep) if p and p not in sys.path]
from normbench._runtime.worker import main
sys.exit(main())
"""
START_S = 120.0


class WorkerError(Exception):
    """The worker could not answer: it died or ran past its time limit."""

    kind = "crash"


class WorkerDied(WorkerError):
    kind = "crash"


class WorkerTimedOut(WorkerError):
    kind = "timeout"


class RemoteError(Exception):
    """The backend raised inside the worker; ``type_name`` is the original exception type."""

    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name


T = TypeVar("T")
_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn(start: Callable[[], T]) -> T:
    """``start()`` (a worker's ``Popen``) in the main thread, or else in one thread that lives as
    long as the harness. Why: a worker arms the parent-death signal (:func:`_die_with_parent`),
    which Linux sends when the *thread* that forked the worker ends, not its process. Started from
    a short-lived thread (``check``'s jobs), a worker was SIGKILLed as soon as that thread finished
    its items: mid-use on another thread ("killed by SIGKILL, not by normbench"), or before its
    backend's leftover processes were counted (a test that failed on a busy machine)."""
    if threading.current_thread() is threading.main_thread():
        return start()
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="normbench-spawn")
    return _spawner.submit(start).result()


def watchdog(pgid: int) -> subprocess.Popen | None:
    """A ``/bin/sh`` that kills process group ``pgid`` (a worker and what its backend started) once
    the harness is gone: its stdin, a pipe from the harness, reaches end-of-file however the
    harness dies, SIGKILL included. The parent-death signal covers the worker and the backend's
    forks from Python; a program the backend exec'd (``subprocess``, a C library's fork) gets
    none, and dies here. While the harness lives, :meth:`Worker.stop` kills the watchdog itself."""
    if not os.path.exists("/bin/sh"):
        return None
    try:
        return subprocess.Popen(["/bin/sh", "-c", f"read _; kill -KILL -{pgid} 2>/dev/null"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError:
        return None


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed: this cgroup's count where readable
    (cgroup v2, then v1), else the machine's (/proc/vmstat); None where none is."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control", "/proc/vmstat"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (signal {-code})"
    return f"exited with status {code}"


def _write(stream, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Worker:
    """Parent side: one backend's worker process, started on demand, restarted after a death."""

    def __init__(self, backend: str | None, plugins: tuple[str, ...] = (), threads: int | None = None,
                 scope: dict[str, list[str]] | None = None, memory_policy: str | None = None):
        """``backend=None`` starts a bare worker (discovery); ``scope`` limits the plugins it imports
        (:meth:`Registry.worker_scope`); ``memory_policy`` is the allocator policy it starts under
        (:mod:`normbench._runtime.memory`; None: the parent's environment, unchanged)."""
        self.backend, self.plugins, self.requested_threads = backend, tuple(plugins), threads
        self.memory_policy = memory_policy
        self.scope = scope
        self.name = backend or "discovery"
        self.proc: subprocess.Popen | None = None
        self.stderr: Any = None
        self.watchdog: subprocess.Popen | None = None
        self.oom_at_start: int | None = None
        self.info: dict[str, Any] = {}
        self.deaths = 0
        #: processes the backend left running in its worker's process group (killed), over all starts
        self.leftovers = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float | None = 300.0) -> dict[str, Any]:
        """Start the process, load the plugins there and apply the thread setting. Returns its info.

        Start-up (importing the plugins and their libraries) gets at least START_S, whatever
        the per-call limit: it is the harness's cost, not the backend's.
        """
        timeout = max(timeout, START_S) if timeout else None
        self.stop()
        # whatever the parent can import (a --plugin module beside the user, a test's fake
        # plugins), the worker can too: after the standard library and site-packages, so that a
        # struct.py or json.py in the current directory shadows nothing (BOOTSTRAP)
        env = dict(os.environ, NORMBENCH_SYS_PATH=os.pathsep.join(p or os.getcwd() for p in sys.path),
                   NORMBENCH_PARENT_PID=str(os.getpid()))
        if self.memory_policy:
            env = memory.worker_env(self.memory_policy, env)
        self.oom_at_start = oom_kills()
        # the worker's stderr goes to a file (as pytest captures a test's output): a backend's
        # warnings do not interleave with progress lines, and a death is reported with its last lines
        self.stderr = None if os.environ.get("NORMBENCH_WORKER_STDERR") == "inherit" else tempfile.TemporaryFile()
        self.proc = _spawn(lambda: subprocess.Popen(
            [sys.executable, "-c", BOOTSTRAP], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, start_new_session=True, env=env,
        ))
        self.watchdog = watchdog(self.proc.pid)
        if self.backend is None:
            return self.info
        try:
            self.info = self.request(init, (self.plugins, self.backend, self.requested_threads, self.scope), timeout)
        except BaseException:
            self.stop()
            raise
        return self.info

    @property
    def threads(self) -> int | None:
        """The thread count in effect in the worker, as its backend reported it (not the one asked for)."""
        return self.info.get("threads")

    def ensure(self, timeout: float | None = 300.0) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            return self.start(timeout)
        return self.info

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        left = [pid for pid in group_members(proc.pid) if pid != proc.pid]  # seen before the worker goes
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=2)
            except Exception:  # noqa: BLE001 - a stuck worker is killed below
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._kill_group(proc.pid, left)
        dog, self.watchdog = self.watchdog, None
        if dog is not None and dog.poll() is None:  # the harness is alive: no need for it
            dog.kill()
            dog.wait()
        err, self.stderr = self.stderr, None
        for stream in (proc.stdin, proc.stdout, err):
            try:
                if stream is not None:
                    stream.close()
            except Exception:  # noqa: BLE001
                pass

    def stderr_tail(self, lines: int = 3, width: int = 300) -> str:
        """The last non-blank lines the worker wrote to stderr, on one line ("" when none or not captured)."""
        if self.stderr is None:
            return ""
        try:
            self.stderr.seek(max(0, self.stderr.seek(0, os.SEEK_END) - 16384))
            text = self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        tail = " / ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])
        return tail if len(tail) <= width else "..." + tail[-width:]

    def _kill_group(self, pgid: int, seen: list[int]) -> None:
        """Kill what the backend left in its worker's process group (its own children), saying so;
        ``seen``: those found while the worker still ran (its forks from Python die with it)."""
        left = sorted(set(seen) | set(group_members(pgid)))
        if not left:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        self.leftovers += len(left)
        print(f"normbench: backend {self.name} left {len(left)} process(es) running after its worker ended "
              f"(pid {', '.join(map(str, left[:5]))}); killed", file=sys.stderr)

    # -- requests ----------------------------------------------------------------------------------
    def request(self, kind: Callable[..., Any] | str, payload: Any = None, timeout: float | None = None,
                progress: Callable[[], Any] | None = None) -> Any:
        """Send one request (``kind``: a :func:`handler`, or its "module:function") and wait for its
        answer. Raises WorkerDied, WorkerTimedOut, RemoteError.

        With ``progress`` (polled every half second), ``timeout`` is the longest time allowed
        without a change in its value rather than for the whole request.
        """
        proc = self.proc
        if proc is None:
            raise WorkerDied("worker not started")
        try:
            _write(proc.stdin, (handler_name(kind), payload))
        except (BrokenPipeError, OSError):
            raise self._died() from None
        fd = proc.stdout.fileno()
        deadline = None if not timeout else time.monotonic() + timeout
        seen = progress() if progress else None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = 0.5 if wait is None else min(wait, 0.5)  # look at the worker itself twice a second
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                break
            if proc.poll() is not None and not select.select([fd], [], [], 0)[0]:
                # the worker is gone but the pipe is not closed: a child of the backend holds it
                raise self._died()
            if progress and deadline is not None:
                now = progress()
                if now != seen:
                    seen, deadline = now, time.monotonic() + timeout
            if deadline is not None and time.monotonic() >= deadline:
                self._kill()
                self.deaths += 1
                raise WorkerTimedOut(f"did not finish within {timeout:g} s (worker killed)")
        try:
            (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
            status, value = pickle.loads(_read_exact(fd, size))
        except (EOFError, OSError):
            raise self._died() from None
        if status == "raise":
            raise RemoteError(*value)
        return value

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def _died(self) -> WorkerDied:
        proc = self.proc
        code = proc.wait() if proc is not None else None
        tail = self.stderr_tail()
        self.stop()
        self.deaths += 1
        why = ""
        if code == -signal.SIGKILL:  # normbench's own kills are timeouts, reported as such
            now = oom_kills()
            if self.oom_at_start is not None and now is not None and now > self.oom_at_start:
                why = " - out of memory: the kernel's OOM killer ran while it did"
            else:
                why = " - not by normbench: the kernel's OOM killer (out of memory) or another process"
        if tail:
            why += f"; its stderr ended: {tail}"
        return WorkerDied(f"worker {describe_exit(code)}{why}")


# -- child side ------------------------------------------------------------------------------------
#: request handlers, ``fn(state, payload)``, by "module:function"; registered with :func:`handler` by
#: the modules that use workers (bench, the conformance runner, discovery). A worker imports a
#: handler's module when a request first names it, so this module imports none of them.
HANDLERS: dict[str, Callable[["ChildState", Any], Any]] = {}


def handler(fn: Callable[["ChildState", Any], Any]) -> Callable[["ChildState", Any], Any]:
    """Register ``fn`` as a request handler (a decorator); a request names it by the function itself."""
    HANDLERS[handler_name(fn)] = fn
    return fn


def handler_name(fn: Callable[..., Any] | str) -> str:
    return fn if isinstance(fn, str) else f"{fn.__module__}:{fn.__name__}"


def _find_handler(name: str) -> Callable[["ChildState", Any], Any]:
    if name not in HANDLERS:
        module, _, _ = name.partition(":")
        importlib.import_module(module)  # its @handler decorators register it
    try:
        return HANDLERS[name]
    except KeyError:
        raise LookupError(f"no worker request handler {name!r}") from None


class ChildState:
    """What a worker holds between requests: its backend, the op records, a prepared timing, and
    the registry it was loaded from (``normbench ab`` loads a second backend, its partner, from it)."""

    def __init__(self) -> None:
        self.backend = None
        self.registry = None
        self.partners: dict[str, Any] = {}
        self.ops: dict[str, Any] = {}
        self.timing: dict[str, Any] = {}
        self.memory_policy: str | None = None


@handler
def init(state: ChildState, payload):
    """Load the plugins (those ``scope`` allows), pick the backend, probe it, set its threads."""
    plugins, name, threads, scope = payload
    registry = state.registry = load(plugins, **(scope or {}))
    state.ops = registry.op_infos()
    if name == floor.NAME:  # bench --floor: the copy that stands in for every op (not a plugin)
        state.backend = floor.CopyFloor(state.ops)
    else:
        state.backend = registry.get(name)
    avail = availability_of(state.backend)
    if avail:  # the expensive check, once per worker
        avail = probe_of(state.backend)
    in_effect = safe_call(lambda: state.backend.set_threads(threads)) if avail else None
    return {"available": avail.available, "reason": avail.reason, "threads": in_effect,
            "memory_policy": state.memory_policy}


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (Linux /proc; elsewhere none are found)."""
    out = []
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            out.append(pid)
    return out


def _die_with_parent() -> None:
    """On Linux, the kernel kills this worker when the harness dies (SIGKILL, ``timeout``, a
    cancelled CI job), and every process the backend forks from Python too: none is left
    spinning. The harness may already be gone by the time this runs: then exit."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1

        def arm() -> None:
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

        arm()
        os.register_at_fork(after_in_child=arm)  # the parent of a forked child is this worker
    except (OSError, AttributeError):
        return
    parent = os.environ.get("NORMBENCH_PARENT_PID")
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)


def main() -> int:
    _die_with_parent()
    state = ChildState()
    policy = os.environ.get("NORMBENCH_MEMORY_POLICY")
    if policy:  # before any plugin allocates: the policy holds for every timed call
        state.memory_policy = memory.apply(policy)
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a plugin's prints go to stderr, never into the protocol stream
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return 0  # the parent closed the pipe: done
        (size,) = _HEADER.unpack(header)
        kind, payload = pickle.loads(stdin.read(size))
        try:
            reply = ("ok", _find_handler(kind)(state, payload))
        except Exception as exc:  # noqa: BLE001 - the backend's exception goes back as data
            lines = str(exc).strip().splitlines()
            reply = ("raise", (type(exc).__name__, (lines[0] if lines else "") + shadowing_note()))
        try:
            _write(proto_out, reply)
        except pickle.PicklingError as exc:
            _write(proto_out, ("raise", ("PicklingError", f"result cannot be sent back: {exc}")))


if __name__ == "__main__":
    # run as ``python -m normbench._runtime.worker`` (workers start through BOOTSTRAP): use the module's
    # importable copy, whose HANDLERS the handler modules register into
    from normbench._runtime.worker import main as _main

    sys.exit(_main())
