"""A backend whose availability() never returns: discovery gives up on its plugin, and naming it says why."""
import time
import normbench
from wrong_backends import Wrong


class AvailHangs(Wrong):
    def availability(self):
        while True:
            time.sleep(1)


@normbench.hookimpl
def normbench_backends():
    return [AvailHangs("avail-hangs", None)]
