import normbench
from wrong_backends import Wrong


class Future(Wrong):
    api_version = 99


@normbench.hookimpl
def normbench_backends():
    return [Future("from-the-future", None)]
