"""Backends that leave CPU work behind: a busy thread leaked from every training pass, and a
child process that spins. Timing others beside them must not change their numbers (issue 31)."""
import os
import threading

import normbench
from wrong_backends import Wrong


def _spin():
    while True:
        pass


class LeaksThread(Wrong):
    def batchnorm_train(self, *args, **kwargs):
        threading.Thread(target=_spin, daemon=True).start()
        return super().batchnorm_train(*args, **kwargs)


class LeavesChild(Wrong):
    forked = False

    def batchnorm_train(self, *args, **kwargs):
        if not LeavesChild.forked:  # once per process: a spinning child outliving the pass
            LeavesChild.forked = True
            if os.fork() == 0:
                _spin()
        return super().batchnorm_train(*args, **kwargs)


@normbench.hookimpl
def normbench_backends():
    return [LeaksThread("leaks-thread", None), LeavesChild("leaves-child", None)]
