"""Where a store is: a file path (embedded SQLite) or a ``postgresql://`` URL, and how to name it
without its secret."""
from __future__ import annotations

import os
import re
from pathlib import Path

from .._results.redact import _PASSWORD_KEY, _USERINFO, redact  # noqa: F401 - redact: where the store's callers find it
from ..errors import InputError

#: the default embedded store, relative to the working directory (as reports/ and .asv/ are)
DEFAULT = Path(".normbench") / "results.sqlite"
#: the environment variable that names a store for every command (a path or a URL)
ENV = "NORMBENCH_STORE"
OFF = ("off", "none", "0")

def is_postgres(where: str) -> bool:
    return where.lower().startswith(("postgresql://", "postgres://"))


def password_of(where: str) -> str:
    """The password in a store's URL ("" where none): what no message may quote."""
    m = _USERINFO.search(where) or _PASSWORD_KEY.search(where)
    if not m:
        return ""
    return (m.group(2) if m.re is _USERINFO else m.group(2).strip("'"))


def resolve(where: str | Path | None) -> str:
    """The store to use: ``where`` if given, else ``$NORMBENCH_STORE``, else :data:`DEFAULT`."""
    if where is None or where == "":
        where = os.environ.get(ENV) or str(DEFAULT)
        if where.lower() in OFF:
            raise InputError(f"no store: ${ENV} is {where!r} (off); name one with --store PATH_OR_URL")
    where = str(where)
    if "://" in where and not is_postgres(where):
        scheme = where.split("://", 1)[0]
        raise InputError(f"store URL scheme {scheme!r} is not supported; a store is a file path (SQLite) or a "
                         "postgresql:// URL")
    if not is_postgres(where) and re.search(r"(?i)\b(host|dbname|user|password)\s*=", where):
        raise InputError(f"store {redact(where)!r} looks like a key=value connection string; give a postgresql:// "
                         "URL instead")
    return where


def display(where: str) -> str:
    """A store's name for messages and results: the URL without its password."""
    return redact(where) if is_postgres(where) else where
