"""The wording both transports share for their errors (see the rule in :mod:`realtime_fast.transport.base`).

Each backend maps its library's failures onto these, so a given failure reads
the same whichever backend carried the connection.
"""

from __future__ import annotations

import os
import ssl
import sys
from typing import Iterable, Optional

from ..errors import TransportError
from .._version import __version__
from . import base


def user_agent() -> str:
    """The ``User-Agent`` both backends send when the caller's headers have none."""

    return base.USER_AGENT_FORMAT.format(version=__version__, python="%d.%d" % sys.version_info[:2])


def os_error_text(errors: Iterable[OSError]) -> str:
    """``[Errno N] text`` for each distinct OS error, joined by "; " (the libraries reword them differently)."""
    texts: list[str] = []
    for exc in errors:
        text = f"[Errno {exc.errno}] {os.strerror(exc.errno)}" if exc.errno is not None else str(exc)
        if text not in texts:
            texts.append(text)
    return "; ".join(texts)


def tls_error_text(exc: ssl.SSLError, host: Optional[str]) -> str:
    """``detail`` for ``base.ERROR_TLS``: the same words whichever TLS implementation failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            why = base.TLS_NAME_MISMATCH.format(host=host)
        else:
            why = exc.verify_message
        return f"certificate verify failed: {why}"
    reason = getattr(exc, "reason", None)
    return reason.lower().replace("_", " ") if reason else str(exc)


def transport_error(message: str, code: Optional[int], reason: str, cause: Optional[BaseException]) -> TransportError:
    """The ``exc`` given to ``on_close``: a TransportError with the close's code and reason, ``cause`` as its cause."""
    error = TransportError(message, code=code, reason=reason)
    error.__cause__ = cause
    return error
