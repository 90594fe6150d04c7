"""Secrets are never printed, logged or written into results: every password of a database URL
or connection string in a text becomes ``***`` (run headers' environment and command line, the
store's messages)."""
from __future__ import annotations

import re

# user:password@ after any scheme, and password=... in a query string or a key/value string
_USERINFO = re.compile(r"(?i)([a-z][\w+.-]*://[^:/@\s]*:)([^@\s]*)(@)")
_PASSWORD_KEY = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^&\s]*)")


def redact(text: str, secret: str = "") -> str:
    """``text`` with every password of a database URL or connection string in it (and ``secret``
    wherever it appears, e.g. quoted back by a driver's error) replaced by ``***``."""
    text = _PASSWORD_KEY.sub(r"\1***", _USERINFO.sub(r"\1***\3", text))
    return text.replace(secret, "***") if secret else text
