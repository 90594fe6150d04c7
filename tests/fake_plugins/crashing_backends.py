"""Backends that take their process down inside the training pass: segfault, abort, os._exit, a spin.

Their other passes work (they are the plain float64 backend of wrong_backends), so a harness
that isolates them still gets eval results from them, and everything from the others.
"""
import ctypes
import os
import signal

import normbench
from wrong_backends import Wrong


class Crashing(Wrong):
    def batchnorm_train(self, *args, **kwargs):
        if self.bug == "segfault":
            ctypes.string_at(0)
        elif self.bug == "abort":
            os.abort()
        elif self.bug == "exit":
            os._exit(1)
        elif self.bug == "sigkill":  # what the kernel's OOM killer does
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.bug == "spin":
            while True:
                pass
        return super().batchnorm_train(*args, **kwargs)


class ThreadSpy(Wrong):
    """Records Numba's thread count as seen inside the timed call, in the file NORMBENCH_SPY names."""

    def set_threads(self, threads):
        import numba

        if threads:
            numba.set_num_threads(threads)
        return numba.get_num_threads()

    def batchnorm_train(self, *args, **kwargs):
        import numba

        with open(os.environ["NORMBENCH_SPY"], "a") as f:
            f.write(f"{numba.get_num_threads()}\n")
        return super().batchnorm_train(*args, **kwargs)


@normbench.hookimpl
def normbench_backends():
    return [Crashing(f"crash-{bug}", bug) for bug in ("segfault", "abort", "exit", "spin", "sigkill")] + [ThreadSpy("thread-spy", None)]
