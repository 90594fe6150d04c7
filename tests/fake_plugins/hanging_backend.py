"""A backend whose training forward never returns (for the per-case time limit)."""
import normbench
from wrong_backends import Wrong


@normbench.hookimpl
def normbench_backends():
    return [Wrong("hangs", "hang")]
