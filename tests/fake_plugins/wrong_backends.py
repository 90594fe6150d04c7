"""Deliberately wrong batch-norm backends as a plugin: the conformance suite must catch every one.

They are batch norm's self-test catalogue (:mod:`normbench.ops.batchnorm.mutants`) under the names
``wrong-<bug>``, plus one that hangs and a right one that still lists a known failure.
"""
import normbench
from normbench.ops.batchnorm.mutants import BUGS as CATALOGUE
from normbench.ops.batchnorm.mutants import BatchNormMutant as Wrong

BUGS = [*CATALOGUE]


class ListsAFixedDefect(Wrong):
    """A correct backend that still lists a known failure: the suite must say it now passes."""

    known_failures = (normbench.KnownFailure("batchnorm/dtypes/16x6-float32", "was broken in an old release"),)


@normbench.hookimpl
def normbench_backends():
    return [Wrong(f"wrong-{bug}", bug) for bug in BUGS] + [ListsAFixedDefect("fixed-defect", "none")]
