"""The mock's one REST endpoint: ``POST /v1/realtime/client_secrets`` (ephemeral keys), on the WebSocket port.

The service mints short-lived keys for browsers (WebRTC, or a WebSocket with
the key as a subprotocol) from a server that holds the real key.  The mock
does the same: with the server's key in ``Authorization: Bearer``, a JSON
body ``{"session": {...}, "expires_after": {"anchor": "created_at",
"seconds": N}}`` (both optional; N from 10 to 7200, default 600) gets

    {"value": "ek_...", "expires_at": <unix s>, "session": {"type": "realtime", "object": "realtime.session", "id": "sess_...", ...}}

and the mock then accepts ``ek_...`` as a key until it expires.  Other POST
paths get 404; a bad key gets 401 with the service's error object.

websockets' server only reads GET requests, so a connection whose first
bytes are ``POST `` is answered here instead of being handed to it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = ["CLIENT_SECRETS_PATH", "connection_class"]

CLIENT_SECRETS_PATH = "/v1/realtime/client_secrets"
_MAX_BODY = 1024 * 1024


def connection_class(server: Any) -> type:
    """A :class:`ServerConnection` subclass that answers ``POST`` requests for ``server`` (a MockRealtimeServer)."""

    class RestAwareConnection(ServerConnection):
        _rest: Any = None

        def data_received(self, data: bytes) -> None:
            if self._rest is None:
                self._rest = bytearray() if data[:5] == b"POST " else False
            if self._rest is False:
                super().data_received(data)
                return
            self._rest += data
            head_end = self._rest.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._rest) > 16384:
                    self._answer(431, {"error": {"message": "Request head too large."}})
                return
            head = bytes(self._rest[:head_end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > _MAX_BODY:
                self._answer(400, {"error": {"message": "Bad Content-Length."}})
                return
            body = bytes(self._rest[head_end + 4 :])
            if len(body) < length:
                return
            parts = head[0].split(" ")
            path = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
            status, payload = mint(server, path, headers.get("authorization", ""), body[:length])
            self._answer(status, payload)

        def _answer(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            phrase = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 431: "Request Header Fields Too Large"}.get(status, "Error")
            head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            self.transport.write(head.encode() + body)
            self.transport.close()
            self._rest = bytearray()

    return RestAwareConnection


def _error(message: str, code: Any = None, kind: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def mint(server: Any, path: str, authorization: str, body: bytes) -> tuple[int, Any]:
    """Handle one POST: ``(status, JSON payload)``."""
    if path != CLIENT_SECRETS_PATH:
        return 404, _error(f"Invalid URL (POST {path})")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return 401, _error("Missing bearer or basic authentication in header")
    if not server.accepts_key(key.strip()):
        return 401, _error("Incorrect API key provided.", "invalid_api_key")
    try:
        request = json.loads(body or b"{}")
    except json.JSONDecodeError:
        return 400, _error("We could not parse the JSON body of your request.")
    if not isinstance(request, dict):
        return 400, _error("The body must be a JSON object.")
    expires = request.get("expires_after") or {}
    seconds = expires.get("seconds", 600) if isinstance(expires, dict) else 600
    if not isinstance(seconds, int) or not 10 <= seconds <= 7200:
        return 400, _error("Invalid 'expires_after.seconds': expected an integer from 10 to 7200.", "invalid_value")
    session = request.get("session") or {}
    if not isinstance(session, dict):
        return 400, _error("Invalid 'session': expected an object.", "invalid_type")
    now = int(time.time())
    full = {"type": "realtime", "object": "realtime.session", "id": "sess_" + secrets.token_hex(11), "model": "gpt-realtime", "expires_at": 0, **session}
    value = "ek_" + secrets.token_hex(16)
    server.client_secrets[value] = now + seconds
    return 200, {"value": value, "expires_at": now + seconds, "session": full}
