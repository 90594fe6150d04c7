"""Claims a name another third-party plugin (wrong_backends) already uses."""
import normbench
from wrong_backends import Wrong


@normbench.hookimpl
def normbench_backends():
    return [Wrong("wrong-eps-outside", None)]
