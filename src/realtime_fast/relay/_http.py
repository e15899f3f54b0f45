"""The little HTTP/1.1 the relay's front door needs: read one request head, write one response.

Every plain HTTP request (health checks, metrics, the page, client secrets)
is answered with ``Connection: close``; WebSocket upgrades are handed to
picows once the relay has decided to accept them.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["HttpError", "Request", "parse_head", "response", "json_response", "post_json"]

#: Largest request head accepted (bytes); larger gets 431.
MAX_HEAD = 16 * 1024
#: Largest request body accepted (bytes), for POST /client-secret.
MAX_BODY = 64 * 1024


class HttpError(Exception):
    """A request the relay answers with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass
class Request:
    """One parsed request head (and body, once read)."""

    method: str
    target: str
    path: str
    query: Dict[str, List[str]]
    headers: Tuple[Tuple[str, str], ...]
    head: bytes
    body: bytes = b""

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return default

    def header_tokens(self, name: str) -> List[str]:
        """Comma-separated values of every ``name`` header, stripped, in order."""
        lowered = name.lower()
        out: List[str] = []
        for key, value in self.headers:
            if key.lower() == lowered:
                out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    @property
    def is_upgrade(self) -> bool:
        """True for a WebSocket upgrade request."""
        return any(t.lower() == "websocket" for t in self.header_tokens("Upgrade"))

    @property
    def content_length(self) -> int:
        value = self.header("Content-Length")
        if value is None:
            return 0
        try:
            length = int(value)
        except ValueError:
            raise HttpError(400, "Content-Length is not a number.") from None
        if length < 0:
            raise HttpError(400, "Content-Length is negative.")
        return length


def parse_head(head: bytes) -> Request:
    """Parse a request head (up to, not including, the blank line); raises :class:`HttpError` 400 when malformed."""
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "The request head is not text.") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "Malformed request line: expected 'METHOD /path HTTP/1.1'.")
    method, target, _version = parts
    headers: List[Tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"Malformed header line {line[:40]!r}.")
        headers.append((name, value.strip()))
    url = urlsplit(target)
    return Request(method, target, url.path or "/", parse_qs(url.query), tuple(headers), head)


def response(status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8", headers: Tuple[Tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 response with ``Connection: close``."""
    phrase = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}", "Connection: close", "Cache-Control: no-store"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(status: int, payload: Any, headers: Tuple[Tuple[str, str], ...] = ()) -> bytes:
    """A JSON response."""
    return response(status, json.dumps(payload).encode(), "application/json", headers)


def error_body(status: int, message: str) -> bytes:
    """The body of a refusal: an OpenAI-style error object (JSON)."""
    kind = {401: "invalid_api_key", 403: "forbidden", 429: "rate_limit_exceeded"}.get(status, "relay_error")
    return json.dumps({"error": {"type": "invalid_request_error" if status < 500 else "server_error", "code": kind, "message": message}}).encode()


async def post_json(url: str, payload: Any, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
    """POST ``payload`` as JSON to an ``http(s)://`` URL; returns ``(status, body)``.

    One request per connection (``Connection: close``); the body is read to
    the end of the connection or ``Content-Length``.
    """
    url_parts = urlsplit(url)
    secure = url_parts.scheme == "https"
    host = url_parts.hostname or ""
    port = url_parts.port or (443 if secure else 80)
    body = json.dumps(payload).encode()
    path = url_parts.path or "/"
    if url_parts.query:
        path += "?" + url_parts.query
    host_header = host if url_parts.port is None else f"{host}:{port}"
    lines = [f"POST {path} HTTP/1.1", f"Host: {host_header}", "Content-Type: application/json", f"Content-Length: {len(body)}", "Connection: close"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def exchange() -> Tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl.create_default_context() if secure else None)
        try:
            writer.write(request)
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(status_line) < 2 or not status_line[1].isdigit():
            raise OSError(f"{host}:{port} did not answer with HTTP")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                rest = _unchunk(rest)
        return int(status_line[1]), rest

    return await asyncio.wait_for(exchange(), timeout)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)
