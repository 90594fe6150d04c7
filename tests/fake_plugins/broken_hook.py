import normbench


@normbench.hookimpl
def normbench_backends():
    raise ZeroDivisionError("bug inside the hook")
