"""What identifies a machine in the store: the facts that change timings.

A series (one configuration of one backend over time) is one machine's, never mixed: two
machines writing to one store are compared side by side. The fingerprint hashes the machine's
name (``NORMBENCH_MACHINE`` pins it where host names change), CPU model and count, memory and
accelerators (model and count). The memory policy is part of every series' key instead (a check
run has none), and library versions are kept with every measurement and shown where they
change, so that "did the upgrade slow it down?" is one series across the upgrade, not two
series that never meet.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..records import RunHeader

#: the header facts the fingerprint is made of (header.machine keys)
HARDWARE = ("machine", "cpu", "cores", "memory", "accelerators")


def facts(header: RunHeader) -> dict[str, Any]:
    """The fingerprinted facts of a run: its machine's hardware."""
    return {k: header.machine.get(k, "") for k in HARDWARE}


def fingerprint(header: RunHeader) -> str:
    """A short stable hash of :func:`facts`."""
    blob = json.dumps(facts(header), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
