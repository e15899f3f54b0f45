"""Who may use the relay: tokens, or a hook of yours, checked before the WebSocket upgrade.

A client presents its token the way it would present an OpenAI key:
``Authorization: Bearer <token>`` (servers, openai-python,
:class:`~realtime_fast.RealtimeClient`) or the subprotocol
``openai-insecure-api-key.<token>`` (browsers, the JavaScript reference
client).  The relay never sends it upstream.

Two ways to decide:

* :class:`TokenAuth`: a fixed set of tokens, each with an *identity* (the
  name that limits, metrics and logs use), from ``REALTIME_RELAY_TOKENS`` or a
  file (:meth:`TokenAuth.from_env`, :meth:`TokenAuth.from_file`).
* A hook: any callable (plain or ``async``) taking an :class:`AuthRequest` and
  returning an identity (``str``), or ``None`` to refuse with 401, or raising
  :class:`Refused` to refuse with another status.  ``--auth module:function``
  names one (:func:`load_hook`).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

__all__ = ["AuthHook", "AuthRequest", "Refused", "TokenAuth", "load_hook", "token_of"]

#: The subprotocol prefix that carries a key (or here, a relay token) from a browser.
KEY_PROTOCOL_PREFIX = "openai-insecure-api-key."


class Refused(Exception):
    """Raised by an auth hook to refuse a connection with an HTTP ``status`` (401, 403, 429, ...) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message


@dataclass(frozen=True)
class AuthRequest:
    """What an auth hook is given about one connection attempt (before the upgrade is answered).

    ``headers`` are ``(name, value)`` pairs as received (use :meth:`header`
    for a case-insensitive look-up); ``token`` is what the client presented
    (bearer token or subprotocol key), already extracted; ``peer`` is
    ``"host:port"`` of the TCP peer (the load balancer's address behind one:
    read ``X-Forwarded-For`` there).
    """

    path: str
    query: Mapping[str, List[str]]
    headers: Tuple[Tuple[str, str], ...]
    subprotocols: Tuple[str, ...]
    peer: str
    token: Optional[str] = field(default=None, repr=False)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or ``default``."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return default


AuthHook = Callable[[AuthRequest], Union[Optional[str], Awaitable[Optional[str]]]]


def token_of(headers: Iterable[Tuple[str, str]], subprotocols: Iterable[str]) -> Tuple[Optional[str], str]:
    """``(token, how)``: the token from ``Authorization: Bearer`` (``how="header"``) or from the key subprotocol (``"subprotocol"``).

    ``(None, "none")`` when the client presented neither.
    """
    for name, value in headers:
        if name.lower() == "authorization":
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip(), "header"
    for offer in subprotocols:
        if offer.startswith(KEY_PROTOCOL_PREFIX):
            return offer[len(KEY_PROTOCOL_PREFIX) :], "subprotocol"
    return None, "none"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class TokenAuth:
    """A fixed set of tokens, each mapped to an identity.

    ``tokens`` maps token -> identity, or is an iterable of tokens (each then
    gets the identity ``token-<first 8 hex digits of its SHA-256>``, which
    names it in metrics and logs without revealing it).  Tokens are compared
    by their SHA-256 digests with :func:`hmac.compare_digest`.
    """

    def __init__(self, tokens: Union[Mapping[str, str], Iterable[str]]) -> None:
        pairs = tokens.items() if isinstance(tokens, Mapping) else ((t, None) for t in tokens)
        self._by_digest: Dict[bytes, str] = {}
        for token, identity in pairs:
            token = token.strip()
            if not token:
                continue
            digest = _digest(token)
            self._by_digest[digest] = identity or f"token-{digest.hex()[:8]}"
        if not self._by_digest:
            raise ValueError("TokenAuth needs at least one non-empty token.")

    def __len__(self) -> int:
        return len(self._by_digest)

    def __call__(self, request: AuthRequest) -> Optional[str]:
        """The identity of ``request.token``, or None (refused with 401)."""
        if not request.token:
            return None
        digest = _digest(request.token)
        found: Optional[str] = None
        for known, identity in self._by_digest.items():  # no early exit: the time does not depend on which matched
            if hmac.compare_digest(known, digest):
                found = identity
        return found

    @staticmethod
    def parse(text: str) -> Dict[str, str]:
        """Tokens from text: entries separated by commas or new lines, each ``identity:token`` or a bare token.

        Blank entries and lines starting with ``#`` are skipped.
        """
        out: Dict[str, str] = {}
        for line in text.replace(",", "\n").splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            identity, sep, token = entry.partition(":")
            if sep and identity.strip() and token.strip():
                out[token.strip()] = identity.strip()
            else:
                out[entry] = ""
        return out

    @classmethod
    def from_env(cls, variable: str = "REALTIME_RELAY_TOKENS") -> Optional["TokenAuth"]:
        """The tokens in environment variable ``variable`` (see :meth:`parse`), or None when it is unset or empty."""
        text = os.environ.get(variable, "")
        tokens = cls.parse(text)
        return cls(tokens) if tokens else None

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "TokenAuth":
        """The tokens in file ``path`` (one entry per line; see :meth:`parse`)."""
        tokens = cls.parse(Path(path).read_text(encoding="utf-8"))
        if not tokens:
            raise ValueError(f"The token file {path} holds no token: add one 'identity:token' line per client.")
        return cls(tokens)


def load_hook(spec: str) -> AuthHook:
    """The callable named by ``"module:function"`` (``"package.module:object.method"`` works too)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--auth takes 'module:function', got {spec!r}.")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"--auth {spec}: {attribute} is not callable.")
    return target  # type: ignore[no-any-return]
