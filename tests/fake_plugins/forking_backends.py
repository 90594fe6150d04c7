"""Backends that fork inside the training pass: a child left behind, a worker that exits while
its child holds the result pipe, and a spin with a child (for killing the harness)."""
import ctypes
import os
import subprocess
import time

import normbench
from wrong_backends import Wrong


class Forking(Wrong):
    def batchnorm_train(self, *args, **kwargs):
        if self.bug == "exec-spin":  # a program, not a Python fork: no parent-death signal reaches it
            subprocess.Popen(["sleep", "300"])
            while True:
                pass
        if os.fork() == 0:  # the child sleeps, holding the worker's pipes
            if self.bug == "exit":
                # outlive the worker, as a child that reset its parent-death signal (or a program it
                # exec'd) does: normbench's own signal would kill it the moment the worker exits, and
                # whether the harness still saw it then was a race
                ctypes.CDLL(None, use_errno=True).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG, none
            time.sleep(300)
            os._exit(0)
        if self.bug == "exit":
            os._exit(3)
        if self.bug == "spin":
            while True:
                pass
        return super().batchnorm_train(*args, **kwargs)


@normbench.hookimpl
def normbench_backends():
    return [Forking(f"fork-{bug}", bug) for bug in ("stay", "exit", "spin", "exec-spin")]
