"""A backend with a real defect (one-pass variance) that records it as data, as built-in plugins do:
known failures in a TOML file beside the module, one of them stale."""
from pathlib import Path

import normbench
from wrong_backends import Wrong


class RecordsItsDefects(Wrong):
    known_failures = normbench.load_known_failures(Path(__file__).with_name("recorded_defects.toml"), "recorded-onepass")


@normbench.hookimpl
def normbench_backends():
    return [RecordsItsDefects("recorded-onepass", "onepass")]
