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

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from typing import Any, Callable

_HEADER = struct.Struct("<Q")
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
        (:mod:`normbench.memory`; None: the parent's environment, unchanged)."""
        self.backend, self.plugins, self.requested_threads = backend, tuple(plugins), threads
        self.memory_policy = memory_policy
        self.scope = scope
        self.name = backend or "discovery"
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.deaths = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float | None = 300.0) -> dict[str, Any]:
        """Start the process, load the plugins there and apply the thread setting. Returns its info.

        Start-up (importing the plugins and their libraries) gets at least START_S, whatever
        the per-call limit: it is the harness's cost, not the backend's.
        """
        timeout = max(timeout, START_S) if timeout else None
        self.stop()
        # whatever the parent can import (a --plugin module beside the user, a test's fake
        # plugins), the worker can too
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
        if self.memory_policy:
            from .memory import worker_env

            env = worker_env(self.memory_policy, env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "normbench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            start_new_session=True, env=env,
        )
        if self.backend is None:
            return self.info
        try:
            self.info = self.request("init", (self.plugins, self.backend, self.requested_threads, self.scope), timeout)
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
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=2)
            except Exception:  # noqa: BLE001 - a stuck worker is killed below
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass

    # -- requests ----------------------------------------------------------------------------------
    def request(self, kind: str, payload: Any = None, timeout: float | None = None,
                progress: Callable[[], Any] | None = None) -> Any:
        """Send one request and wait for its answer. Raises WorkerDied, WorkerTimedOut, RemoteError.

        With ``progress`` (polled every half second), ``timeout`` is the longest time allowed
        without a change in its value rather than for the whole request.
        """
        proc = self.proc
        if proc is None:
            raise WorkerDied("worker not started")
        try:
            _write(proc.stdin, (kind, payload))
        except (BrokenPipeError, OSError):
            raise self._died() from None
        fd = proc.stdout.fileno()
        deadline = None if not timeout else time.monotonic() + timeout
        seen = progress() if progress else None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if progress:
                wait = 0.5 if wait is None else min(wait, 0.5)
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                break
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
        self.stop()
        self.deaths += 1
        return WorkerDied(f"worker {describe_exit(code)}")


# -- child side ------------------------------------------------------------------------------------
class _Child:
    """What runs in the worker: the registry, one backend, and the handlers of each request."""

    def __init__(self) -> None:
        self.backend = None
        self.ops: dict[str, Any] = {}
        self.timing: dict[str, Any] = {}

    def init(self, payload):
        from .backend import availability_of, probe_of, safe_call
        from .pluginmanager import load

        plugins, name, threads, scope = payload
        registry = load(plugins, **(scope or {}))
        self.backend, self.ops = registry.get(name), registry.op_infos()
        avail = availability_of(self.backend)
        if avail:  # the expensive check, once per worker
            avail = probe_of(self.backend)
        in_effect = safe_call(lambda: self.backend.set_threads(threads)) if avail else None
        return {"available": avail.available, "reason": avail.reason, "threads": in_effect,
                "memory_policy": _POLICY_IN_EFFECT}

    def discover(self, payload):
        """Load every plugin, noting each step in the progress file (see normbench.discovery)."""
        from .discovery import describe_registry
        from .pluginmanager import load

        plugins, exclude, path = payload
        with open(path, "a", buffering=1) as log:
            def step(stage: str, plugin: str) -> None:
                log.write(f"{stage}\t{plugin}\n")
                log.flush()

            registry = load(plugins, exclude=exclude, progress=step)
            info = describe_registry(registry, step)
            step("done", "")
        return info

    def case(self, payload):
        from .conformance.runner import apply_known

        op_name, case = payload
        op = self.ops[op_name]
        return apply_known(self.backend, op.run_case(self.backend, case))

    def setup(self, payload):
        """Prepare and calibrate one configuration; it stays ready for ``samples`` requests."""
        from .backend import timing_note
        from .bench import calibrate, prepare_call

        op_name, pass_, shape, dtype, layout = payload
        op = self.ops[op_name]
        b = self.backend
        t0 = time.perf_counter()
        b.prepare(op.name, dtype, layout, len(shape))
        compile_s = time.perf_counter() - t0
        p = prepare_call(b, op, pass_, shape, dtype, layout)
        number, warmup = calibrate(p)
        self.timing = {"prepared": p, "number": number}
        return {"compile_s": compile_s + warmup, "number": number, "nbytes": p.nbytes,
                "note": timing_note(b, op.name, pass_)}

    def samples(self, payload):
        """Samples within a budget: ``(min_samples, budget_s)`` (normbench.bench.run_samples)."""
        from .bench import run_samples

        min_samples, budget_s = payload
        return run_samples(self.timing["prepared"], self.timing["number"], min_samples, budget_s)

    def facts(self, nbytes):
        """Version, environment, threads in effect here, and a device's own copy bandwidth."""
        from .backend import safe_call

        b = self.backend
        copy = getattr(b, "copy_gbps", None)
        return {"version": safe_call(b.version, ""), "environment": safe_call(b.environment, {}) or {},
                "copy_gbps": safe_call(lambda: copy(nbytes)) if callable(copy) else None}


_POLICY_IN_EFFECT = None


def main() -> int:
    global _POLICY_IN_EFFECT
    policy = os.environ.get("NORMBENCH_MEMORY_POLICY")
    if policy:  # before any plugin allocates: the policy holds for every timed call
        from .memory import apply

        _POLICY_IN_EFFECT = apply(policy)
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a plugin's prints go to stderr, never into the protocol stream
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    stdin = sys.stdin.buffer
    child = _Child()
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return 0  # the parent closed the pipe: done
        (size,) = _HEADER.unpack(header)
        kind, payload = pickle.loads(stdin.read(size))
        try:
            reply = ("ok", getattr(child, kind)(payload))
        except Exception as exc:  # noqa: BLE001 - the backend's exception goes back as data
            lines = str(exc).strip().splitlines()
            reply = ("raise", (type(exc).__name__, lines[0] if lines else ""))
        try:
            _write(proto_out, reply)
        except pickle.PicklingError as exc:
            _write(proto_out, ("raise", ("PicklingError", f"result cannot be sent back: {exc}")))


if __name__ == "__main__":
    sys.exit(main())
