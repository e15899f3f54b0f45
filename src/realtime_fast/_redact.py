"""Keep API keys out of logs, reprs and error messages."""

from __future__ import annotations

import logging
import re
from typing import Optional

# "Bearer <token>", "openai-insecure-api-key.<token>" and bare OpenAI-style keys.
_SECRET = re.compile(r"(?i)(bearer\s+|openai-insecure-api-key\.)([^\s,;\"']+)|\b(sk-[A-Za-z0-9_\-]{8,})")


def redact_key(api_key: Optional[str]) -> Optional[str]:
    """A form of ``api_key`` safe to log: its first 3 and last 4 characters (or ``***`` for short keys)."""
    if not api_key:
        return api_key
    if len(api_key) <= 12:
        return "***"
    return f"{api_key[:3]}...{api_key[-4:]}"


def redact_text(text: str) -> str:
    """``text`` with every bearer token, subprotocol key and ``sk-`` key shortened by :func:`redact_key`."""

    def shorten(match: re.Match[str]) -> str:
        if match.group(3):
            return redact_key(match.group(3)) or ""
        return match.group(1) + (redact_key(match.group(2)) or "")

    return _SECRET.sub(shorten, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts keys in a record's message (it never drops records).

    Attached to the loggers handed to the WebSocket library, which logs every
    handshake header (``Authorization`` included) at DEBUG level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redacting_logger(name: str) -> logging.Logger:
    """The logger ``name`` with a :class:`RedactingFilter` attached (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
