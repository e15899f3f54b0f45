"""The API key never leaves the client in the clear: not in logs, exceptions, reprs or events.

Every scenario runs on both transports, with keys of several shapes (OpenAI
project and legacy keys, an ephemeral ``ek_`` key, a JWT-like token and a
relay token no pattern knows) sent both ways (``Authorization`` header and
subprotocol).  A handler at level 1 on the root logger sees every record of
every library; every exception is walked down its whole chain.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import socket
import traceback
from typing import Any, AsyncIterator, Iterator

import pytest
from _realtime_helpers import HIGH_LEVEL_EVENTS, TRANSPORTS
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from realtime_fast import RealtimeClient
from realtime_fast._redact import Redactor, redact_text, secrets_of_handshake
from realtime_fast.errors import ConnectTimeout, HandshakeRejected, RedactedError, TransportError
from realtime_fast.mock import MockRealtimeServer

pytestmark = pytest.mark.timeout(60)

KEYS = {
    "sk-proj": "sk-proj-Q7vT2mXc9LpR4sWz8NbK1yHd6FgJ3aEu5oIi0tZq",
    "sk": "sk-4fH8kL2pQ9rT6vX1zB3nM7cW5yD0gJaSeUoIiPlKjHgF",
    "ek_": "ek_68a1f0c2d4e6b8a0c2e4f6a8b0d2e4f6a8_Zx9Yw8Vu",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZWFsdGltZS1jbGllbnQifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
    "relay-token": "relay-token-7f3a9c2e5b1d4068a2c4",
}
AUTHS = ["headers", "subprotocols"]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The logger of this module's own failing servers: they are the other side, not the package under test.
SERVER_LOGGER = "test_secrets.server"


def leaks(key: str, text: str) -> bool:
    """True when ``text`` holds the key, or any part of it a masked form does not show."""
    return key in text or key[3:-4] in text


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception shows: its traceback as printed, and each link of its chain (str, repr, vars)."""
    texts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    seen: set[int] = set()
    stack = [exc]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        texts += [str(link), repr(link), repr(link.args), repr(getattr(link, "__dict__", {}))]
        stack += [e for e in (link.__cause__, link.__context__) if e is not None]
    return texts


@contextlib.contextmanager
def every_log_record() -> Iterator[list[str]]:
    """The text of every record logged anywhere, at any level (message, traceback, stack)."""
    texts: list[str] = []
    formatter = logging.Formatter()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith(SERVER_LOGGER):
                return
            texts.append(record.getMessage())
            if record.exc_info:
                texts.append(formatter.formatException(record.exc_info))
            if record.stack_info:
                texts.append(record.stack_info)

    root = logging.getLogger()
    handler = Capture(level=1)
    level = root.level
    root.setLevel(1)
    root.addHandler(handler)
    try:
        yield texts
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def record_events(client: RealtimeClient) -> list[tuple[str, Any]]:
    """Every high-level event of ``client`` and every wire, close and error event of its API."""
    events: list[tuple[str, Any]] = []
    for name in HIGH_LEVEL_EVENTS:
        client.on(name, lambda payload, name=name: events.append((name, payload)))
    for name in ("server.*", "client.*", "close", "error"):
        client.realtime.on(name, lambda payload, name=name: events.append((name, payload)))
    return events


def assert_nothing_leaks(key: str, *, logs: list[str], events: list[tuple[str, Any]], errors: list[BaseException], objects: list[Any]) -> None:
    for text in logs:
        assert not leaks(key, text), f"log record: {text[:500]}"
    for name, payload in events:
        assert not leaks(key, repr(payload)), f"event {name}: {payload!r:.500}"
        values = payload.values() if isinstance(payload, dict) else ()
        errors = errors + [v for v in values if isinstance(v, BaseException)]
    for exc in errors:
        for text in exception_texts(exc):
            assert not leaks(key, text), f"exception: {text[:500]}"
    for obj in objects:
        assert not leaks(key, repr(obj)), f"repr: {obj!r}"


# -- servers that fail the connection in each way ------------------------------------------------


@contextlib.asynccontextmanager
async def raw_server(handler: Any, **kwargs: Any) -> AsyncIterator[int]:
    """A plain TCP server on 127.0.0.1 running ``handler(reader, writer)``; yields its port."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0, **kwargs)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    request = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in request.decode().split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return headers


def echo_request_body(connection: Any, request: Any, status: int) -> Response:
    """A relay's error page that quotes the request it refused, headers and all."""
    body = ("Refused request:\n" + "".join(f"{name}: {value}\n" for name, value in request.headers.raw_items())).encode()
    return Response(status, "Unauthorized" if status == 401 else "Forbidden", Headers([("Content-Length", str(len(body)))]), body)


@contextlib.asynccontextmanager
async def failing_server(scenario: str, key: str) -> AsyncIterator[str]:
    """A server that makes ``connect()`` fail in the way ``scenario`` names; yields the URL to connect to."""
    if scenario in ("refused-401", "refused-403"):
        status = int(scenario[-3:])
        async with serve(
            lambda ws: ws.wait_closed(),
            "127.0.0.1",
            0,
            process_request=lambda c, r: echo_request_body(c, r, status),
            logger=logging.getLogger(SERVER_LOGGER),
        ) as server:
            yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
    elif scenario == "tls":

        async def not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await reader.read()

        async with raw_server(not_tls) as port:
            yield f"wss://127.0.0.1:{port}/v1/realtime"
    elif scenario == "connection-refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime"
    elif scenario == "timeout":

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        async with raw_server(silent) as port:
            yield f"ws://127.0.0.1:{port}/v1/realtime"
    elif scenario == "unoffered-subprotocol":

        async def pick_a_subprotocol_with_the_key(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            headers = await read_request(reader)
            accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n"
                b"Sec-WebSocket-Protocol: openai-insecure-api-key." + key.encode() + b".v2\r\n\r\n"
            )
            await reader.read()

        async with raw_server(pick_a_subprotocol_with_the_key) as port:
            yield f"ws://127.0.0.1:{port}/v1/realtime"
    else:  # pragma: no cover
        raise AssertionError(scenario)


EXPECTED = {
    "refused-401": HandshakeRejected,
    "refused-403": HandshakeRejected,
    "tls": TransportError,
    "connection-refused": TransportError,
    "timeout": ConnectTimeout,
    "unoffered-subprotocol": TransportError,
}


@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("key_shape", list(KEYS))
@pytest.mark.parametrize("scenario", list(EXPECTED))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_failed_connect_shows_the_key_nowhere(transport: str, scenario: str, key_shape: str, auth: str) -> None:
    key = KEYS[key_shape]
    with every_log_record() as logs:
        async with failing_server(scenario, key) as url:
            client = RealtimeClient(url=url, api_key=key, transport=transport, auth=auth, connect_timeout=0.5)
            events = record_events(client)
            with pytest.raises(EXPECTED[scenario]) as info:
                await client.connect()
    assert_nothing_leaks(key, logs=logs, events=events, errors=[info.value], objects=[client, client.realtime])
    if scenario.startswith("refused"):
        # The body is kept for diagnosis, with the key shortened.
        body = info.value.body.decode()
        assert body.startswith("Refused request:") and ("..." in body or "***" in body)


@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("key_shape", list(KEYS))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_debug_session_logs_everything_but_the_key(transport: str, key_shape: str, auth: str) -> None:
    # The reproduction: every logger at level 1 (picows logs the upgrade request at 9).
    key = KEYS[key_shape]
    with every_log_record() as logs:
        async with MockRealtimeServer(profile="fast") as mock:
            mock.script.add_rule("hello", "Hi!")
            client = RealtimeClient(url=mock.url, api_key=key, transport=transport, auth=auth, debug=True)
            events = record_events(client)
            done = asyncio.get_running_loop().create_future()
            client.realtime.on("server.response.done", lambda e: done.done() or done.set_result(e))
            await client.connect()
            await client.wait_for_session_created()
            transport_repr = repr(client.realtime.transport)
            client.send_user_message_content([{"type": "input_text", "text": "hello"}])
            await asyncio.wait_for(done, 10)
            await client.disconnect()
    assert any("received" in text for text in logs)  # debug logging was on
    assert_nothing_leaks(key, logs=logs, events=events, errors=[], objects=[client, client.realtime, transport_repr])


# -- the rule itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key_shape", list(KEYS))
def test_the_exact_key_is_shortened_wherever_it_appears(key_shape: str) -> None:
    key = KEYS[key_shape]
    redactor = Redactor([key])
    for text in (key, f"token={key}&x=1", f"b'...Authorization: Bearer {key}\\r\\n...'", f'{{"key": "{key}"}}'):
        clean = redactor.text(text)
        assert not leaks(key, clean) and key[-4:] in clean
    assert not leaks(key, redactor.data(f"Authorization: Bearer {key}\r\n".encode()).decode())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("key ek_0123456789abcdefghij leaked", "key ek_...ghij leaked"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here", "jwt eyJ...dXJl here"),
        ("Bearer relay-token-0123456789", "Bearer rel...6789"),
        ("ordinary text, eyJ alone and ek_short", "ordinary text, eyJ alone and ek_short"),
    ],
)
def test_patterns_cover_ephemeral_keys_and_jwts(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_credentials_of_a_handshake() -> None:
    secrets = secrets_of_handshake(
        {"Authorization": "Bearer tok-123456", "api-key": "azure-key-123", "OpenAI-Beta": "realtime=v1"},
        ["realtime", "openai-insecure-api-key.sub-key-123"],
    )
    assert set(secrets) == {"Bearer tok-123456", "tok-123456", "azure-key-123", "sub-key-123"}


def test_a_chained_exception_that_quotes_the_key_is_replaced_by_a_redacted_stand_in() -> None:
    key = KEYS["relay-token"]
    try:
        try:
            try:
                raise OSError("socket closed")
            except OSError as inner:
                raise ValueError(f"unsupported subprotocol: openai-insecure-api-key.{key}") from inner
        except ValueError:
            raise TransportError("The server selected a subprotocol that was not offered.")
    except TransportError as exc:
        error = exc
    Redactor([key]).exception(error)
    stand_in = error.__context__
    assert isinstance(stand_in, RedactedError) and stand_in.type_name == "ValueError"
    assert str(stand_in) == "ValueError: unsupported subprotocol: openai-insecure-api-key.rel...a2c4"
    assert isinstance(stand_in.__cause__, OSError)  # the rest of the chain is kept
    assert all(not leaks(key, text) for text in exception_texts(error))
