"""The conformance suite, shipped with the package so plugin authors can run it on their backend.

    pytest --pyargs normbench.conformance --backend NAME [--plugin my_module]

``normbench check`` runs the same cases through :mod:`normbench.conformance.runner`.
"""
