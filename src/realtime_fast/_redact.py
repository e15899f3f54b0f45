"""Keep API keys out of logs, exceptions, reprs and events: the package's one redaction rule.

A :class:`Redactor` knows the exact secrets of one client or connection (the
key it was given, the credentials in its handshake headers and subprotocols)
and shortens every occurrence of them, plus anything that looks like a
credential whoever it belongs to: ``Bearer <token>``,
``openai-insecure-api-key.<token>``, ``sk-...`` keys, ``ek_...`` ephemeral
keys and JWT-like tokens (``eyJ...`` in three dot-separated base64url parts).

Where it applies:

* logs: every logger the package or its transports write to is wrapped in a
  :class:`RedactingLogger` (picows and websockets get a per-connection one in
  place of their own logger), so a record carries no secret at any level,
  whichever handler receives it;
* exceptions: :meth:`Redactor.exception` cleans an exception before the package
  raises or dispatches it: its message, its attributes (``body`` included) and
  its chain, where a foreign exception that quotes a secret is replaced by a
  :class:`RedactedError` stand-in with the same type name and the redacted text.

Nothing here runs per frame: loggers are wrapped once per connection, and the
libraries decide per connection whether their per-frame debug lines are on.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any, Iterable, Mapping, Optional, Sequence

from .errors import RedactedError

__all__ = [
    "RedactingLogger",
    "Redactor",
    "package_logger",
    "redact_key",
    "redact_text",
    "secrets_of_handshake",
]

#: Secrets shorter than this are not replaced wherever they appear (a three-letter
#: "key" would blank out ordinary words); the patterns below still catch them in headers.
MIN_SECRET_LENGTH = 6

#: Credentials whoever they belong to: ``Bearer <token>`` and the subprotocol form
#: (groups 1-2), then bare OpenAI keys, ephemeral keys and JWT-like tokens (group 3).
_PATTERNS = (
    r"(?i:(bearer\s+|openai-insecure-api-key\.)([^\s,;\"'\\]+))"
    r"|\b(sk-[A-Za-z0-9_\-]{8,}|ek_[A-Za-z0-9_\-]{8,}"
    r"|eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,})"
)
#: Header names whose values are credentials (lower case; besides ``Authorization``).
_CREDENTIAL_HEADER_WORDS = ("auth", "key", "token", "secret")
_NOT_CREDENTIAL_HEADERS = frozenset({"sec-websocket-key"})
_KEY_SUBPROTOCOL = "openai-insecure-api-key."


def redact_key(api_key: Optional[str]) -> Optional[str]:
    """A form of ``api_key`` safe to log: its first 3 and last 4 characters (or ``***`` for short keys)."""
    if not api_key:
        return api_key
    if len(api_key) <= 12:
        return "***"
    return f"{api_key[:3]}...{api_key[-4:]}"


def secrets_of_handshake(headers: Mapping[str, str], subprotocols: Sequence[str]) -> list[str]:
    """The credentials a WebSocket handshake carries: bearer tokens, credential headers, key subprotocols."""
    found: list[str] = []
    for name, value in headers.items():
        lower = name.lower()
        if lower in _NOT_CREDENTIAL_HEADERS or not any(word in lower for word in _CREDENTIAL_HEADER_WORDS):
            continue
        found.append(value)
        scheme, _, token = value.strip().partition(" ")
        if token.strip():
            found.append(token.strip())
    for offer in subprotocols:
        if offer.startswith(_KEY_SUBPROTOCOL):
            found.append(offer[len(_KEY_SUBPROTOCOL) :])
    return found


class Redactor:
    """Shortens ``secrets`` (exact strings) and credential-looking text wherever they appear.

    Secrets of fewer than :data:`MIN_SECRET_LENGTH` characters are left to
    the patterns.  A redactor is immutable; build one per client or connection.
    """

    __slots__ = ("secrets", "_regex", "_byte_secrets")

    def __init__(self, secrets: Iterable[Optional[str]] = ()) -> None:
        unique = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        #: The exact secrets, longest first (so a key inside a longer header value goes with it).
        self.secrets: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))
        exact = "|".join(re.escape(s) for s in self.secrets)
        # One pass: at each position an exact secret is tried first, then the patterns.
        self._regex = re.compile(f"({exact})|{_PATTERNS}" if exact else f"(?!)()|{_PATTERNS}")
        self._byte_secrets = tuple(s.encode("utf-8", "surrogatepass") for s in self.secrets)

    # -- text -------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """``text`` with every secret and credential-looking token shortened by :func:`redact_key`."""
        return self._regex.sub(_shorten, text)

    def data(self, data: bytes) -> bytes:
        """:meth:`text` for bytes (read as Latin-1, so any byte string survives the round trip)."""
        text = data.decode("latin-1")
        redacted = self._redact_latin1(text)
        return data if redacted == text else redacted.encode("latin-1")

    def _redact_latin1(self, text: str) -> str:
        # The exact secrets as their UTF-8 bytes would read in Latin-1 (the same for ASCII keys).
        for secret, raw in zip(self.secrets, self._byte_secrets):
            if raw != secret.encode("latin-1", "ignore"):
                text = text.replace(raw.decode("latin-1"), redact_key(secret) or "")
        return self.text(text)

    def leaks(self, value: Any) -> bool:
        """True when ``value`` (text, bytes, or a container or object holding them) quotes a secret."""
        return _leaks(self, value, 3, set())

    # -- exceptions ---------------------------------------------------------------------

    def exception(self, exc: BaseException) -> BaseException:
        """Clean ``exc`` in place for raising or dispatching, and return it.

        Its string ``args`` and string or bytes attributes are redacted; in its
        chain (``__cause__`` and ``__context__``, at any depth) an exception that
        quotes a secret is replaced by a :class:`RedactedError` with its type
        name and redacted text, which keeps the rest of the chain.
        """
        _clean_own(self, exc)
        seen = {id(exc)}
        stand_ins: dict[int, BaseException] = {}
        pending = [exc]
        while pending:
            link = pending.pop()
            for attribute in ("__cause__", "__context__"):
                chained = getattr(link, attribute)
                if chained is None:
                    continue
                if id(chained) in stand_ins:
                    chained = stand_ins[id(chained)]
                    setattr(link, attribute, chained)
                elif id(chained) not in seen and (self.leaks(chained) or self.leaks(_formatted(chained))):
                    stand_in = _stand_in(chained, self)
                    stand_ins[id(chained)] = stand_in
                    setattr(link, attribute, stand_in)
                    chained = stand_in
                if id(chained) not in seen:
                    seen.add(id(chained))
                    pending.append(chained)
        return exc


def _shorten(match: "re.Match[str]") -> str:
    exact = match.group(1)
    if exact:
        return redact_key(exact) or ""
    if match.group(4):
        return redact_key(match.group(4)) or ""
    return match.group(2) + (redact_key(match.group(3)) or "")


def _leaks(redactor: Redactor, value: Any, depth: int, seen: set[int]) -> bool:
    if isinstance(value, str):
        return redactor.text(value) != value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return redactor.data(raw) != raw
    if depth <= 0 or id(value) in seen or value is None or isinstance(value, (int, float, bool)):
        return False
    seen.add(id(value))
    if isinstance(value, BaseException):
        text = f"{value}\n{value!r}"
        if redactor.text(text) != text:
            return True
        items: Iterable[Any] = list(value.args) + list(getattr(value, "__dict__", {}).values())
    elif isinstance(value, Mapping):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ is not our problem here
            text = ""
        if redactor.text(text) != text:
            return True
        items = getattr(value, "__dict__", {}).values()
    return any(_leaks(redactor, item, depth - 1, seen) for item in items)


def _formatted(exc: BaseException) -> str:
    """The text ``traceback`` prints for ``exc`` alone (no chain)."""
    try:
        return "".join(traceback.format_exception_only(type(exc), exc))
    except Exception:  # a broken __str__
        return ""


def _clean_own(redactor: Redactor, exc: BaseException) -> None:
    """Redact ``exc``'s string args and its string or bytes attributes (the package's own exceptions)."""
    args = exc.args
    redacted = tuple(redactor.text(a) if isinstance(a, str) else a for a in args)
    if redacted != args:
        exc.args = redacted
    for name, value in list(getattr(exc, "__dict__", {}).items()):
        if isinstance(value, str):
            clean: Any = redactor.text(value)
        elif isinstance(value, bytes):
            clean = redactor.data(value)
        else:
            continue
        if clean != value:
            setattr(exc, name, clean)


def _stand_in(exc: BaseException, redactor: Redactor) -> RedactedError:
    """The :class:`RedactedError` for ``exc``: its type name and redacted text, and its own (cleaned later) chain."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    try:
        text = str(exc)
    except Exception:
        text = ""
    stand_in = RedactedError(f"{name}: {redactor.text(text)}" if text else name, type_name=name)
    stand_in.__cause__ = exc.__cause__
    stand_in.__context__ = exc.__context__
    stand_in.__suppress_context__ = exc.__suppress_context__
    return stand_in


#: Pattern-only redaction, for text no client's key is known for.
_PATTERNS_ONLY = Redactor()


def redact_text(text: str) -> str:
    """``text`` with every bearer token, subprotocol key, ``sk-``/``ek_`` key and JWT shortened by :func:`redact_key`."""
    return _PATTERNS_ONLY.text(text)


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that passes each record through a :class:`Redactor` before any handler sees it.

    Given to the WebSocket libraries in place of their own logger (picows and
    websockets take logger-like objects), and used by the package itself.  A
    record whose text holds no secret is passed on unchanged (message and
    arguments); otherwise its message is the redacted text, and a traceback
    that quotes a secret is put into the message, redacted, instead of
    ``exc_info``.  ``isEnabledFor`` is the wrapped logger's, so the libraries'
    per-frame debug lines stay off unless that logger is enabled.
    """

    def __init__(self, logger: logging.Logger, redactor: Redactor = _PATTERNS_ONLY) -> None:
        super().__init__(logger, None)
        self.redactor = redactor

    def process(self, msg: Any, kwargs: Any) -> Any:
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        redactor = self.redactor
        try:
            text = str(msg) % args if args else str(msg)
        except Exception:  # let logging report the bad format string as it always does
            text = f"{msg!r} % {args!r}"
        clean = redactor.text(text)
        if clean != text:
            msg, args = clean, ()
        exc_info = kwargs.get("exc_info")
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                import sys

                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                formatted = "".join(traceback.format_exception(*exc_info))
                clean_tb = redactor.text(formatted)
                if clean_tb != formatted:
                    msg, args = f"{clean}\n{clean_tb.rstrip()}", ()
                    kwargs["exc_info"] = None
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        self.logger.log(level, msg, *args, **kwargs)


def package_logger(name: str = "realtime_fast", redactor: Redactor = _PATTERNS_ONLY) -> RedactingLogger:
    """The logger ``name`` wrapped in a :class:`RedactingLogger` (pattern-only unless ``redactor`` knows secrets)."""
    return RedactingLogger(logging.getLogger(name), redactor)
