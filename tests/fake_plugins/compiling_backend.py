"""The toy op's backend again, declared as compiling every configuration in each process (as
torch-compile, keras-jax and Flax are): `normbench run` checks it on a sample and benchmarks it
only when asked."""
import normbench
from future_ops import FutureBackend


class CompilingBackend(FutureBackend):
    name = "future-compiled"
    compiles_per_configuration = True


@normbench.hookimpl
def normbench_backends():
    return [CompilingBackend()]
