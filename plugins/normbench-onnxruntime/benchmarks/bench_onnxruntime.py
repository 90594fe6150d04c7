"""ONNX Runtime's backend under normbench's asv suite, beside torch-cpu and numba, on the ops it
implements: the standard shapes of each (``normbench.asvsuite``). NORMBENCH_BACKENDS overrides
the backends, NORMBENCH_GRID=quick|full adds the op grids."""
import os

from normbench.asvsuite import install

install(globals(), backends=None if os.environ.get("NORMBENCH_BACKENDS") else ["onnxruntime", "torch-cpu", "numba"],
        ops=["batchnorm", "layernorm", "groupnorm", "instancenorm"])
