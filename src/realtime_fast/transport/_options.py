"""The ``ssl`` and ``proxy`` connection options: one rule for both backends, and for the API that validates them early.

``ssl`` is an :class:`ssl.SSLContext` for a ``wss://`` URL, or None for the
default context (certificate and host name checks on).

``proxy`` is None (connect directly), an ``http://[user:password@]host[:port]``
URL of an HTTP CONNECT proxy (port 80 when none is given; the credentials, if
any, go in a ``Proxy-Authorization: Basic`` header), or ``"env"``: the proxy
named by the environment *at each connection*, ``HTTPS_PROXY`` /
``https_proxy`` for ``wss://`` URLs and ``HTTP_PROXY`` / ``http_proxy`` for
``ws://`` URLs, unless ``NO_PROXY`` / ``no_proxy`` lists the host (a value
without a scheme, ``proxy.local:3128``, means ``http://``).  The environment
is read only when asked: the default is a direct connection on every backend,
whatever the WebSocket library would do by itself.
"""

from __future__ import annotations

import ssl as _ssl
from typing import Optional
from urllib.parse import urlsplit

#: The ``proxy`` value that reads the proxy from the environment at each connection.
PROXY_FROM_ENV = "env"


def check_ssl(url: Optional[str], context: object) -> None:
    """Raise TypeError unless ``context`` is None or an SSLContext, ValueError when one is given for a ``ws://`` URL."""
    if context is None:
        return
    if not isinstance(context, _ssl.SSLContext):
        raise TypeError(
            f"ssl must be an ssl.SSLContext (or None for the default verified context), not {type(context).__name__}."
        )
    if url is not None and urlsplit(url).scheme.lower() == "ws":
        raise ValueError(f"ssl= was given for {url!r}, a ws:// URL without TLS: use a wss:// URL, or drop ssl=.")


def check_proxy(proxy: object) -> Optional[str]:
    """``proxy`` if it is None, ``"env"`` or a valid ``http://`` proxy URL; else TypeError or ValueError."""
    if proxy is None or proxy == PROXY_FROM_ENV:
        return proxy  # type: ignore[return-value]
    if not isinstance(proxy, str):
        raise TypeError(f"proxy must be None, 'env' or an http://host:port URL, not {type(proxy).__name__}.")
    _parse_proxy(proxy, "proxy")
    return proxy


def resolve_proxy(url: str, proxy: Optional[str]) -> Optional[str]:
    """The proxy URL to use for ``url`` (None: connect directly); ``"env"`` is looked up now."""
    if proxy != PROXY_FROM_ENV:
        return proxy
    # Imported here, only for proxy="env": urllib.request brings http.client, email, hashlib, tempfile
    # and more (over 2,000 objects that every garbage collection of a client process would then scan).
    import urllib.request

    parts = urlsplit(url)
    secure = parts.scheme.lower() == "wss"
    found = urllib.request.getproxies_environment().get("https" if secure else "http")
    if not found or (parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname)):
        return None
    if "://" not in found:
        found = "http://" + found
    _parse_proxy(found, "HTTPS_PROXY" if secure else "HTTP_PROXY")
    return found


def proxy_address(proxy: str) -> str:
    """``host:port`` of a proxy URL, for messages (never the credentials)."""
    parts = urlsplit(proxy)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def redact_proxy(proxy: Optional[str]) -> Optional[str]:
    """``proxy`` with its credentials (if any) replaced by ``***``, for ``repr``."""
    if proxy is None or "@" not in proxy:
        return proxy
    scheme, _, rest = proxy.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _parse_proxy(proxy: str, source: str) -> None:
    """ValueError unless ``proxy`` is ``http://[user:password@]host[:port]`` (``source`` names where it came from)."""
    parts = urlsplit(proxy)
    try:
        parts.port
    except ValueError:
        valid = False
    else:
        valid = bool(parts.hostname) and parts.path in ("", "/") and not parts.query and not parts.fragment
    if parts.scheme.lower() != "http":
        shown = redact_proxy(proxy)
        raise ValueError(
            f"{source} is {shown!r}: only HTTP CONNECT proxies are supported; give an http://host:port URL."
        )
    if not valid:
        raise ValueError(f"{source} is {redact_proxy(proxy)!r}, not a proxy URL: give http://host:port.")
