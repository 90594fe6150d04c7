"""``python -m normbench.defects CHECK.json [BACKEND ...] [--short]``: the defects a conformance
run found, one row per (backend, known failure), from its check JSON (the command; the table is
built by :mod:`normbench._reporting.defects`)."""
from __future__ import annotations

import sys

from ._reporting.defects import main

if __name__ == "__main__":
    sys.exit(main())
