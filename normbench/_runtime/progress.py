"""Progress lines on stderr for long jobs (bench, check, run): redrawn in place on a terminal,
throttled to one line every few seconds elsewhere, with an ETA from measured times."""
from __future__ import annotations

import math
import sys
import time
from typing import Callable

def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Progress on stderr: on a terminal ``label [#####.....] 12/40 0:35 elapsed, ETA 1:10``
    redrawn in place; elsewhere (CI logs) one such line every ``every`` seconds, so a long job
    shows it is alive without flooding the log. The ETA assumes the remaining steps take as long
    as the finished ones did on average."""

    def __init__(self, label: str, total: int, *, enabled: bool = True, stream=None, every: float = 10.0,
                 unit: str = "", redraw: bool = True):
        """``redraw=False``: lines, never a bar redrawn in place (several bars run at once)."""
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = redraw and getattr(self.stream, "isatty", lambda: False)()
        self.enabled = enabled and total > 0
        self.label, self.total, self.count, self.every = label, total, 0, every
        self.start = self.last = time.monotonic()
        self.estimate: _Throttled | None = None

    def note(self, text: str) -> None:
        """A line about the job (not a step), where a person reads the progress."""
        if self.enabled:
            self.stream.write(f"{self.label}: {text}\n")
            self.stream.flush()

    def replan(self, total: int, estimator: Callable[[], float] | None = None) -> None:
        """The plan changed (a scheduler that adds processes where rows need them): ``total`` steps
        expected now, and ``estimator()`` the seconds left, from measured times (NaN: not yet)."""
        self.total = max(total, self.count)
        self.enabled = self.enabled or self.total > 0
        self.estimate = _Throttled(estimator) if estimator else None

    def status(self, now: float) -> str:
        elapsed = now - self.start
        text = f"{self.count}/{self.total}{' ' + self.unit if self.unit else ''}, {_clock(elapsed)} elapsed"
        left = self.estimate(now) if self.estimate else math.nan
        if math.isnan(left) and 0 < self.count < self.total:
            left = elapsed / self.count * (self.total - self.count)
        if not math.isnan(left) and self.count < self.total:
            text += f", ETA {_clock(left)}"
        return text

    def step(self, note: str = "") -> None:
        self.count += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            filled = int(30 * self.count / self.total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"\r{self.label} [{bar}] {self.status(now)} {note}"[:160]
            self.stream.write(text.ljust(110))
            self.stream.flush()
        elif now - self.last >= self.every and self.count < self.total:
            self.last = now
            self.stream.write(f"{self.label}: {self.status(now)}\n")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + " " * 170 + "\r")
            self.stream.flush()


class RunProgress:
    """One progress line for a whole ``normbench run``: the phase, done/total in it, the time since
    the run began and an ETA for the run as a whole (the current phase's remaining steps at the rate
    seen so far, plus each later phase's planned steps at an estimated rate). Redrawn in place on a
    terminal, a line every ``every`` seconds elsewhere; safe to step from several threads."""

    def __init__(self, phases: int, *, stream=None, every: float = 10.0):
        import threading

        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.phases, self.every = phases, every
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()
        self.name, self.index, self.total, self.count, self.unit = "", 0, 0, 0, ""
        self.phase_start = self.start
        self.estimate: _Throttled | None = None
        #: (steps, estimated seconds per step) of the phases still to come
        self.later: list[tuple[int, float]] = []

    def phase(self, index: int, name: str, total: int, unit: str, later: Sequence[tuple[int, float]] = ()) -> None:
        with self.lock:
            self.index, self.name, self.total, self.unit, self.count = index, name, total, unit, 0
            self.phase_start, self.later, self.estimate = time.monotonic(), list(later), None

    def note(self, text: str) -> None:
        """A line about the current phase (not a step)."""
        with self.lock:
            self.stream.write(("\r" + " " * 170 + "\r" if self.tty else "") + f"run: {self.name}: {text}\n")
            self.stream.flush()

    def replan(self, total: int, estimator: Callable[[], float] | None = None) -> None:
        """As :meth:`Progress.replan`, for the current phase."""
        with self.lock:
            self.total = max(total, self.count)
            self.estimate = _Throttled(estimator) if estimator else None

    def eta(self, now: float) -> float | None:
        """Seconds left in the run, or None before the current phase has a rate: the phase's own
        estimate where it gives one (:meth:`replan`), else its remaining steps at its rate so far."""
        rest = sum(steps * per for steps, per in self.later)
        left = self.estimate(now) if self.estimate else math.nan
        if not math.isnan(left):
            return left + rest
        if self.count >= self.total:
            return rest
        if not self.count:
            return None
        return (now - self.phase_start) / self.count * (self.total - self.count) + rest

    def status(self, now: float) -> str:
        text = (f"run: phase {self.index}/{self.phases} {self.name}, {self.count}/{self.total} {self.unit}, "
                f"{_clock(now - self.start)} elapsed")
        eta = self.eta(now)
        return text + (f", ETA {_clock(eta)} for the run" if eta is not None else "")

    def step(self, note: str = "") -> None:
        """One more step done (``note``: what it was, shown on a terminal), as :meth:`Progress.step`."""
        with self.lock:
            self.count += 1
            now = time.monotonic()
            if self.tty:
                self.stream.write("\r" + f"{self.status(now)} {note}"[:160].ljust(110))
                self.stream.flush()
            elif now - self.last >= self.every and self.count < self.total:
                self.last = now
                self.stream.write(self.status(now) + "\n")
                self.stream.flush()

    def done(self) -> None:
        if self.tty:
            with self.lock:
                self.stream.write("\r" + " " * 170 + "\r")
                self.stream.flush()


class _Throttled:
    """An estimate of the seconds left, recomputed at most every ``every`` seconds (a scheduler's
    estimate walks its whole plan) and counted down in between."""

    def __init__(self, estimator: Callable[[], float], every: float = 2.0):
        self.estimator, self.every = estimator, every
        self.at, self.value = -math.inf, math.nan

    def __call__(self, now: float) -> float:
        if now - self.at >= self.every:
            self.at, self.value = now, self.estimator()
            return self.value
        return max(0.0, self.value - (now - self.at)) if not math.isnan(self.value) else self.value
