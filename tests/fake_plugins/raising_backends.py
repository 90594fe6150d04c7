"""Backends that raise from every corner of the contract."""
import normbench
from wrong_backends import Wrong


class AvailabilityRaises(Wrong):
    def availability(self):
        raise OSError("driver exploded")


class OpsRaise(Wrong):
    def version(self):
        raise RuntimeError("no version either")

    def set_threads(self, threads):
        raise RuntimeError("threads? never heard of them")

    def batchnorm_train(self, *args, **kwargs):
        raise RuntimeError("kernel launch failed")

    batchnorm_eval = batchnorm_backward = batchnorm_train


@normbench.hookimpl
def normbench_backends():
    return [AvailabilityRaises("avail-raises", None), OpsRaise("ops-raise", None)]
