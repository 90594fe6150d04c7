import normbench


class NotABackend:
    name = "garbage"


@normbench.hookimpl
def normbench_backends():
    return [NotABackend(), 42]
