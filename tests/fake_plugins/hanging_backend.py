"""A backend whose training forward never returns (for the per-case time limit)."""
import time

import normbench
from wrong_backends import Wrong


class Hangs(Wrong):
    def batchnorm_train(self, *args, **kwargs):
        time.sleep(3600)


@normbench.hookimpl
def normbench_backends():
    return [Hangs("hangs", "none")]
