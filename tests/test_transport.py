"""Transport edge cases against servers the test controls, for every available backend.

Each test runs once per backend (``picows``, ``websockets``) and asserts one
expected result, so both backends must behave the same way for the user.
Two kinds of server run on 127.0.0.1: a ``websockets`` server for well-behaved
traffic, and a raw asyncio TCP server that speaks just enough HTTP/WebSocket to
misbehave on purpose (fragments, bad UTF-8, resets, silence).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import importlib.util
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

import realtime_fast
from realtime_fast.errors import ConnectTimeout, HandshakeRejected, TransportError
from realtime_fast.transport import create_transport
from realtime_fast.transport import loops

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0  # seconds: upper bound for anything that should happen "soon" on loopback


def _backends() -> list[Any]:
    params = []
    if importlib.util.find_spec("picows") is not None:
        params.append(pytest.param("picows", id="picows"))
        from realtime_fast.transport.picows_transport import COMPILED_LISTENER

        if COMPILED_LISTENER:  # "picows" uses the compiled listener: its pure twin must behave the same
            params.append(pytest.param("picows-pure-listener", id="picows-pure-listener"))
    params.append(pytest.param("websockets", id="websockets"))
    return params


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the transport backend under test."""
    name = request.param
    if name == "websockets" and importlib.util.find_spec("realtime_fast.transport.websockets_transport") is None:
        pytest.skip("the websockets transport is not written yet")
    return name


def make(backend: str, **kwargs: Any):
    """A new transport of ``backend``, built with ``kwargs`` (``high_water``, ``close_timeout``: both backends take them)."""
    if backend == "picows-pure-listener":
        from realtime_fast.transport._picows_listener_py import Listener
        from realtime_fast.transport.picows_transport import PicowsTransport

        return type("PurePicows", (PicowsTransport,), {"listener_class": Listener})(**kwargs)
    return type(create_transport(backend))(**kwargs)


class Recorder:
    """The user's side of a connection: everything the transport delivered, copied."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.messages: list[bytes] = []
        self.binaries: list[bytes] = []
        self.closes: list[tuple[int | None, str, BaseException | None]] = []
        self.closed: asyncio.Future[tuple[int | None, str, BaseException | None]] = loop.create_future()
        self._changed = asyncio.Event()
        self.connected = False  # set by the test once connect() has returned
        self.early_deliveries = 0

    def on_message(self, data: bytes | memoryview) -> None:
        assert isinstance(data, (bytes, memoryview))
        if not self.connected:
            self.early_deliveries += 1
        self.messages.append(bytes(data))
        self._changed.set()

    def on_binary(self, data: bytes | memoryview) -> None:
        assert isinstance(data, (bytes, memoryview))
        self.binaries.append(bytes(data))
        self._changed.set()

    def on_close(self, code: int | None, reason: str, exc: BaseException | None) -> None:
        self.closes.append((code, reason, exc))
        if not self.closed.done():
            self.closed.set_result((code, reason, exc))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), WAIT)

    async def wait_closed(self, timeout: float = WAIT) -> tuple[int | None, str, BaseException | None]:
        result = await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        await asyncio.sleep(0.05)  # anything reported twice would show up here
        assert len(self.closes) == 1, f"on_close was called {len(self.closes)} times: {self.closes}"
        return result


async def open_transport(backend: str, url: str, rec: Recorder, *, subprotocols=(), headers=None, make_kwargs=None, **kwargs: Any):
    transport = make(backend, **(make_kwargs or {}))
    await transport.connect(
        url,
        headers=headers or {},
        subprotocols=list(subprotocols),
        on_message=rec.on_message,
        on_binary=rec.on_binary,
        on_close=rec.on_close,
        **kwargs,
    )
    rec.connected = True
    return transport


# ---------------------------------------------------------------- servers


@contextlib.asynccontextmanager
async def ws_server(handler: Callable[[Any], Awaitable[None]], **kwargs: Any) -> AsyncIterator[str]:
    """A websockets server on 127.0.0.1; yields its ws:// URL."""
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("compression", None)
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime?model=test"


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    """One unmasked server-to-client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def address_of(url: str) -> str:
    """``host:port`` of a ws:// URL, as the transports name it in their messages."""
    return url.split("/")[2]


def os_error(code: int) -> str:
    """An OS error as both transports word it: ``[Errno 104] Connection reset by peer``."""
    return f"[Errno {code}] {os.strerror(code)}"


def client_socket(transport: Any) -> Any:
    """The client's TCP socket (test setup only, to shrink its kernel send buffer)."""
    if transport.name == "picows":
        return transport._ws.underlying_transport.get_extra_info("socket")
    return transport._conn.transport.get_extra_info("socket")


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """Read one masked client frame: ``(fin, opcode, payload)``."""
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80, "client frames must be masked (RFC 6455 section 5.3)"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    data = await reader.readexactly(n)
    unmasked = (int.from_bytes(data, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big") if n else b""
    return bool(b0 & 0x80), b0 & 0x0F, unmasked


async def accept_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, extra: bytes = b"", then: bytes = b"") -> dict[str, str]:
    """Answer the client's upgrade request with 101 (plus ``extra`` header lines and ``then`` bytes in the same write)."""
    request = await reader.readuntil(b"\r\n\r\n")
    headers = {}
    for line in request.decode().split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n" + then
    )
    await writer.drain()
    return headers


async def answer_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read client frames until its close frame, answer it and end the TCP connection."""
    while True:
        _, opcode, payload = await read_frame(reader)
        if opcode == 0x8:
            writer.write(frame(0x8, payload[:2]))
            writer.close()
            return


@contextlib.asynccontextmanager
async def raw_server(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], **kwargs: Any) -> AsyncIterator[str]:
    """A plain TCP server on 127.0.0.1 running ``handler`` per connection; yields a ws:// URL."""
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    server = await asyncio.start_server(run, "127.0.0.1", 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/v1/realtime"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await server.wait_closed()


async def echo_handler(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


# ------------------------------------------------------------------ tests


async def test_messages_in_both_directions_and_clean_close(backend: str) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        await ws.send('{"type":"session.created"}')
        async for message in ws:
            await ws.send(message)
        seen["code"], seen["reason"] = ws.close_code, ws.close_reason

    async with ws_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        assert t.is_open
        t.send_text('{"type":"a"}')
        t.send_text(b'{"type":"b"}')
        await rec.wait_for(lambda: len(rec.messages) == 3)
        assert rec.messages == [b'{"type":"session.created"}', b'{"type":"a"}', b'{"type":"b"}']
        await t.close()
        assert not t.is_open
        assert await rec.wait_closed() == (1000, "", None)
        await t.close()  # idempotent
        with pytest.raises(TransportError):
            t.send_text("{}")
    assert seen == {"code": 1000, "reason": ""}


async def test_close_with_code_and_reason_from_the_client(backend: str) -> None:
    seen: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    async def handler(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass
        seen.set_result((ws.close_code, ws.close_reason))

    async with ws_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await t.close(4321, "user went away")
        code, reason, exc = await rec.wait_closed()
        assert (code, reason, exc) == (4321, "user went away", None)
        assert await asyncio.wait_for(seen, WAIT) == (4321, "user went away")


async def test_server_close_with_code_and_reason(backend: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send('{"type":"error"}')
        await ws.close(4000, "invalid_request_error.invalid_model")

    async with ws_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        assert await rec.wait_closed() == (4000, "invalid_request_error.invalid_model", None)
        assert rec.messages == [b'{"type":"error"}']
        assert not t.is_open
        with pytest.raises(TransportError):
            t.send_text("{}")
        await t.close()  # after the server closed: nothing to do, no error


async def test_messages_sent_before_the_servers_close_answer_are_delivered(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == 0x8:
                writer.write(frame(0x1, b'{"type":"last"}') + frame(0x8, payload))
                writer.close()
                return

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await t.close(1000, "bye")
        assert await rec.wait_closed() == (1000, "bye", None)
        assert rec.messages == [b'{"type":"last"}']


async def test_server_close_frame_is_answered(backend: str) -> None:
    answers: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(0x8, close_payload(1001, "restarting")))
        _, opcode, payload = await read_frame(reader)
        answers.set_result((opcode, payload[:2]))
        writer.close()

    async with raw_server(handler) as url:
        rec = Recorder()
        await open_transport(backend, url, rec)
        assert await rec.wait_closed() == (1001, "restarting", None)
        opcode, code = await asyncio.wait_for(answers, WAIT)
        assert opcode == 0x8 and struct.unpack("!H", code)[0] == 1001


async def test_empty_close_frame_reports_1005(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, then=frame(0x8, b""))
        await read_frame(reader)
        writer.close()

    async with raw_server(handler) as url:
        rec = Recorder()
        await open_transport(backend, url, rec)
        assert await rec.wait_closed() == (1005, "", None)


async def test_reconnect_after_close_and_drain_when_closed(backend: str) -> None:
    async with ws_server(echo_handler) as url:
        first, second = Recorder(), Recorder()
        t = await open_transport(backend, url, first)
        with pytest.raises(TransportError):  # one connection at a time
            await t.connect(url, headers={}, subprotocols=[], on_message=second.on_message, on_binary=second.on_binary, on_close=second.on_close)
        await t.close()
        await first.wait_closed()
        await asyncio.wait_for(t.drain(), WAIT)  # nothing queued on a closed transport
        assert t.buffered_amount == 0
        await t.connect(url, headers={}, subprotocols=[], on_message=second.on_message, on_binary=second.on_binary, on_close=second.on_close)
        t.send_text('{"again":true}')
        await second.wait_for(lambda: len(second.messages) == 1)
        await t.close()
        assert await second.wait_closed() == (1000, "", None)
        assert len(first.closes) == 1 and first.messages == []


async def test_fragmented_text_is_reassembled(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(0x1, b'{"type":"resp', fin=False))
        writer.write(frame(0x0, b'onse.output_text.delta","delta":"h', fin=False))
        writer.write(frame(0x9, b"in-between"))  # a control frame may come between fragments
        writer.write(frame(0x0, b'\xc3\xa9"}', fin=True))
        writer.write(frame(0x1, b'{"type":"next"}'))
        await writer.drain()
        await answer_close(reader, writer)

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await rec.wait_for(lambda: len(rec.messages) == 2)
        assert rec.messages == ['{"type":"response.output_text.delta","delta":"hé"}'.encode(), b'{"type":"next"}']
        assert t.is_open
        await t.close()
        await rec.wait_closed()


async def test_server_ping_is_answered_with_pong(backend: str) -> None:
    pong: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(0x9, b"heartbeat-1"))
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == 0xA:
                pong.set_result((opcode, payload))
                break
        await answer_close(reader, writer)

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        assert await asyncio.wait_for(pong, WAIT) == (0xA, b"heartbeat-1")
        assert rec.messages == [] and t.is_open
        await t.close()
        await rec.wait_closed()


async def test_keepalive_ping_without_pong_closes_the_connection(backend: str) -> None:
    got_ping = asyncio.get_running_loop().create_future()

    close_sent: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        while True:  # answer no ping; end the TCP connection on the client's close frame
            _, opcode, payload = await read_frame(reader)
            if opcode == 0x9 and not got_ping.done():
                got_ping.set_result(True)
            if opcode == 0x8:
                close_sent.set_result(payload)
                writer.close()
                return

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, ping_interval=0.2)
        assert await asyncio.wait_for(got_ping, WAIT)
        code, reason, exc = await rec.wait_closed()
        # RFC 6455 1011, the same code and reason on the wire and in on_close on every backend.
        assert (code, reason) == (1011, "keepalive ping timeout")
        assert await asyncio.wait_for(close_sent, WAIT) == close_payload(1011, "keepalive ping timeout")
        assert isinstance(exc, TransportError) and (exc.code, exc.reason) == (1011, "keepalive ping timeout")
        assert str(exc) == (
            f"The server at {address_of(url)} did not answer a keepalive ping within 0.2 s; "
            "the client closed the connection with 1011: check the network, or raise ping_interval."
        )
        assert not t.is_open


async def test_keepalive_keeps_a_connection_whose_server_answers_pings(backend: str) -> None:
    pings: list[bytes] = []
    enough = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
                pings.append(payload)
                if len(pings) == 4 and not enough.done():
                    enough.set_result(True)
            elif opcode == 0x1:
                writer.write(frame(0x1, payload))
            elif opcode == 0x8:
                writer.write(frame(0x8, payload))
                writer.close()
                return

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, ping_interval=0.1)
        assert await asyncio.wait_for(enough, WAIT)  # four ping intervals, each answered
        assert t.is_open and rec.closes == []
        t.send_text('{"type":"still-here"}')
        await rec.wait_for(lambda: len(rec.messages) == 1)
        await t.close()
        assert await rec.wait_closed() == (1000, "", None)


@pytest.mark.parametrize("how", ["eof", "reset"])
async def test_abrupt_end_without_close_frame(backend: str, how: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, then=frame(0x1, b'{"type":"one"}'))
        await read_frame(reader)  # wait for the client's message, then vanish
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        t.send_text("{}")
        code, reason, exc = await rec.wait_closed()
        assert (code, reason) == (None, "")
        assert isinstance(exc, TransportError) and (exc.code, exc.reason) == (None, "")
        # The OS error of a reset is part of the message on every backend.
        detail = f": {os_error(errno.ECONNRESET)}" if how == "reset" else ""
        assert str(exc) == f"The connection to {address_of(url)} was lost without a close frame{detail}."
        assert rec.messages == [b'{"type":"one"}']
        assert not t.is_open
        with pytest.raises(TransportError):
            t.send_text("{}")
        await t.close()


async def test_messages_before_connect_returns_are_delivered_after(backend: str) -> None:
    first = frame(0x1, b'{"type":"session.created"}') + frame(0x1, b'{"type":"second"}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, then=first)  # 101 and two frames in one write
        await answer_close(reader, writer)

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await rec.wait_for(lambda: len(rec.messages) == 2)
        assert rec.messages == [b'{"type":"session.created"}', b'{"type":"second"}']
        assert rec.early_deliveries == 0
        await t.close()
        await rec.wait_closed()


async def test_20_mib_message_both_directions(backend: str) -> None:
    # Sending has no limit; receiving one over the 16 MiB default needs max_message_size raised.
    big = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * (20 * 1024 * 1024) + b'"}'

    async with ws_server(echo_handler, max_size=None) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, max_message_size=32 * 1024 * 1024)
        t.send_text(big)
        await rec.wait_for(lambda: len(rec.messages) == 1)
        assert len(rec.messages[0]) == len(big) and rec.messages[0] == big
        await t.close()
        await rec.wait_closed()


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragmented"])
async def test_message_over_the_size_limit_closes_with_1009(backend: str, fragmented: bool) -> None:
    sent_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    payload = b'{"type":"x","pad":"' + b"p" * 3000 + b'"}'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        if fragmented:
            writer.write(frame(0x1, payload[:2000], fin=False) + frame(0x0, payload[2000:]))
        else:
            writer.write(frame(0x1, payload))
        while True:
            _, opcode, data = await read_frame(reader)
            if opcode == 0x8:
                sent_code.set_result(struct.unpack("!H", data[:2])[0])
                writer.write(frame(0x8, data[:2]))  # answer, then end the TCP connection like servers do
                writer.close()
                break

    async with raw_server(handler) as url:
        rec = Recorder()
        await open_transport(backend, url, rec, max_message_size=2500)
        code, reason, exc = await rec.wait_closed()
        assert (code, reason) == (1009, "message too big")
        assert isinstance(exc, TransportError) and (exc.code, exc.reason) == (1009, "message too big")
        size = f"at least {len(payload)}" if fragmented else str(len(payload))
        assert str(exc) == (
            f"The server at {address_of(url)} sent a message of {size} bytes, over max_message_size (2500 bytes); "
            "the client closed the connection with 1009: raise max_message_size if such messages are expected."
        )
        assert rec.messages == []
        assert await asyncio.wait_for(sent_code, WAIT) == 1009


async def test_binary_frame_goes_to_on_binary_and_the_session_goes_on(backend: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(b"\x00\x01binary\xff")
        await ws.send('{"type":"after"}')
        async for message in ws:
            await ws.send(message)

    async with ws_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await rec.wait_for(lambda: len(rec.messages) == 1)
        assert rec.binaries == [b"\x00\x01binary\xff"]
        assert rec.messages == [b'{"type":"after"}']
        t.send_text('{"type":"still-open"}')
        await rec.wait_for(lambda: len(rec.messages) == 2)
        await t.close()
        assert (await rec.wait_closed())[2] is None


async def test_invalid_utf8_text_is_delivered_for_the_parser_to_report(backend: str) -> None:
    bad = b'{"type":"response.output_text.delta","delta":"\xff\xfe"}'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(0x1, bad) + frame(0x1, b'{"type":"ok"}'))
        await answer_close(reader, writer)

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        await rec.wait_for(lambda: len(rec.messages) == 2)
        assert rec.messages == [bad, b'{"type":"ok"}']
        assert t.is_open and rec.closes == []
        await t.close()
        await rec.wait_closed()


#: Frames a client must reject, and the (code, reason) every backend reports for them.
PROTOCOL_VIOLATIONS = {
    "continuation-of-nothing": (frame(0x0, b"continues nothing"), 1002, "unexpected continuation frame"),
    "new-message-inside-a-fragmented-one": (
        frame(0x1, b'{"type":', fin=False) + frame(0x1, b"{}"), 1002, "expected a continuation frame"
    ),
    "reserved-bits": (frame(0x1, b"{}", rsv1=True), 1002, "reserved bits set"),
    "reserved-bits-on-a-continuation": (
        frame(0x1, b'{"type":', fin=False) + frame(0x0, b'"x"}', rsv1=True), 1002, "reserved bits set"
    ),
    "masked": (bytes([0x81, 0x82]) + b"\x00\x00\x00\x00" + b"{}", 1002, "masked frame from the server"),
    "unknown-opcode": (frame(0x3, b""), 1002, "invalid opcode"),
    "control-frame-over-125-bytes": (bytes([0x89, 126]) + struct.pack("!H", 126) + b"p" * 126, 1002, "control frame too long"),
    "fragmented-control-frame": (frame(0x9, b"ping", fin=False), 1002, "fragmented control frame"),
    "close-code-1006": (frame(0x8, close_payload(1006)), 1002, "invalid close frame"),
    "close-code-5000": (frame(0x8, close_payload(5000)), 1002, "invalid close frame"),
    "close-reason-not-utf8": (frame(0x8, close_payload(1000) + b"\xff\xfe"), 1007, "invalid UTF-8 in a close frame"),
}


@pytest.mark.parametrize("violation", list(PROTOCOL_VIOLATIONS))
async def test_protocol_violation_fails_the_connection(backend: str, violation: str) -> None:
    bad, expected_code, expected_reason = PROTOCOL_VIOLATIONS[violation]
    sent_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(bad)
        while True:
            _, opcode, data = await read_frame(reader)
            if opcode == 0x8:
                sent_code.set_result(struct.unpack("!H", data[:2])[0])
                # Answer with another code: after failing the connection the
                # client ignores whatever the server sends (RFC 6455 7.1.7).
                writer.write(frame(0x8, close_payload(1000, "fine by me")))
                writer.close()
                return

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"close_timeout": 0.3})
        code, reason, exc = await rec.wait_closed()  # the client fails the connection itself
        assert (code, reason) == (expected_code, expected_reason)
        assert isinstance(exc, TransportError) and (exc.code, exc.reason) == (expected_code, expected_reason)
        assert str(exc) == (
            f"The server at {address_of(url)} broke the WebSocket protocol ({expected_reason}); "
            f"the client closed the connection with {expected_code}: check the server's WebSocket implementation."
        )
        assert await asyncio.wait_for(sent_code, WAIT) == expected_code
        assert rec.messages == [] and not t.is_open


async def test_close_frame_inside_a_fragmented_message_is_a_server_close(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(frame(0x1, b'{"type":', fin=False) + frame(0x8, close_payload(4000, "gone")))
        await read_frame(reader)
        writer.close()

    async with raw_server(handler) as url:
        rec = Recorder()
        await open_transport(backend, url, rec)
        assert await rec.wait_closed() == (4000, "gone", None)
        assert rec.messages == []


@pytest.mark.parametrize("status", [401, 403])
async def test_handshake_rejected_with_http_status(backend: str, status: int) -> None:
    body = b"Incorrect API key provided\n"

    def reject(connection: Any, request: Any) -> Any:
        # The server's own reason phrase, not the standard one for the status.
        return Response(status, "Nope", Headers([("Content-Length", str(len(body)))]), body)

    async with ws_server(echo_handler, process_request=reject) as url:
        rec = Recorder()
        with pytest.raises(HandshakeRejected) as info:
            await open_transport(backend, url, rec)
        assert info.value.status == status and info.value.body == body
        assert str(info.value) == (
            f"The server at {address_of(url)} rejected the WebSocket upgrade with HTTP {status} Nope: "
            "check the URL, the API key and the headers."
        )
        assert rec.closes == [] and rec.messages == []


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_server_closing_during_the_handshake(backend: str, scheme: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the upgrade request, or the TLS client hello
        writer.close()  # no answer at all

    async with raw_server(handler) as url:
        rec = Recorder()
        with pytest.raises(TransportError) as info:
            await open_transport(backend, url.replace("ws://", f"{scheme}://"), rec, open_timeout=5)
        assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
        assert str(info.value) == (
            f"The server at {address_of(url)} closed the connection during the handshake: "
            "check the URL (ws:// or wss://, host, port and path) and the server's logs."
        )
        assert rec.closes == []


async def test_host_name_that_does_not_resolve(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # .invalid never resolves (RFC 6761).  The loop's resolver answers for it at
    # once, as a resolver would, so that the test needs no DNS server.
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo

    async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    rec = Recorder()
    with pytest.raises(TransportError) as info:
        await open_transport(backend, "ws://nonexistent.invalid/v1/realtime", rec, open_timeout=5)
    assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
    assert str(info.value) == (
        f"Cannot resolve the host name of nonexistent.invalid:80: [Errno {socket.EAI_NONAME}] "
        "Name or service not known; check the URL."
    )
    assert isinstance(info.value.__cause__, socket.gaierror)
    assert rec.closes == []


async def test_connect_timeout_when_the_server_never_answers(backend: str) -> None:
    peer_closed = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # read the upgrade request, never answer
        await reader.read()
        peer_closed.set_result(True)

    async with raw_server(handler) as url:
        rec = Recorder()
        with pytest.raises(ConnectTimeout):
            await open_transport(backend, url, rec, open_timeout=0.3)
        assert await asyncio.wait_for(peer_closed, WAIT)  # the client dropped its socket
        assert rec.closes == []


async def test_cancelled_connect_leaves_no_socket(backend: str) -> None:
    peer_closed = asyncio.get_running_loop().create_future()
    got_request = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        got_request.set_result(True)
        await reader.read()
        peer_closed.set_result(True)

    async with raw_server(handler) as url:
        rec = Recorder()
        task = asyncio.ensure_future(open_transport(backend, url, rec, open_timeout=20))
        await asyncio.wait_for(got_request, WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(peer_closed, WAIT)


async def test_unreachable_port(backend: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    rec = Recorder()
    with pytest.raises(TransportError) as info:
        await open_transport(backend, f"ws://127.0.0.1:{port}/", rec, open_timeout=5)
    assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
    assert str(info.value) == (
        f"Cannot connect to 127.0.0.1:{port}: {os_error(errno.ECONNREFUSED)}; "
        "check that the server is running and the address is right."
    )
    assert rec.closes == []


async def test_subprotocol_and_headers_reach_the_server(backend: str) -> None:
    seen: dict[str, Any] = {}

    def record(connection: Any, request: Any) -> None:
        seen["authorization"] = request.headers.get("Authorization")
        seen["offered"] = request.headers.get("Sec-WebSocket-Protocol")

    async with ws_server(echo_handler, subprotocols=["realtime"], process_request=record) as url:
        rec = Recorder()
        offered = ["realtime", "openai-insecure-api-key.sk-test", "openai-beta.realtime-v1"]
        t = await open_transport(backend, url, rec, subprotocols=offered, headers={"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"})
        assert t.subprotocol == "realtime"
        assert seen["authorization"] == "Bearer sk-test"
        assert [p.strip() for p in seen["offered"].split(",")] == offered
        await t.close()
        await rec.wait_closed()


def _user_agent_lines(request: bytes) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in request.decode().split("\r\n") if line.lower().startswith("user-agent:")]


@pytest.mark.parametrize("own", [None, "my-app/2.0", "user-agent"], ids=["default", "caller's", "caller's-lowercase"])
async def test_user_agent(backend: str, own: str | None) -> None:
    requests: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        requests.set_result(request)
        writer.close()

    headers = {"Authorization": "Bearer sk-test"}
    if own == "user-agent":
        headers["user-agent"] = "lower/1"
    elif own is not None:
        headers["User-Agent"] = own
    async with raw_server(handler) as url:
        with pytest.raises(TransportError):  # the server hangs up after reading the request
            await open_transport(backend, url, Recorder(), headers=headers)
        lines = _user_agent_lines(await asyncio.wait_for(requests, WAIT))
    python = "%d.%d" % sys.version_info[:2]
    expected = {None: f"realtime-fast/{realtime_fast.__version__} Python/{python}", "user-agent": "lower/1"}.get(own, own)
    assert lines == [expected]  # exactly one User-Agent: the caller's wins, else ours


async def test_no_subprotocol_offered_means_none_selected(backend: str) -> None:
    async with ws_server(echo_handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        assert t.subprotocol is None
        await t.close()
        await rec.wait_closed()


async def test_server_selecting_an_unoffered_subprotocol_fails_the_handshake(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer, extra=b"Sec-WebSocket-Protocol: something-else\r\n")
        await reader.read()

    async with raw_server(handler) as url:
        rec = Recorder()
        secret = "openai-insecure-api-key.sk-test-secret-0123456789"
        with pytest.raises(TransportError) as info:
            await open_transport(backend, url, rec, subprotocols=["realtime", secret])
        assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
        assert str(info.value) == (
            f"The server at {urlsplit(url).netloc} selected the subprotocol 'something-else', which was not offered: "
            "check the server's configuration."
        )
        assert "secret" not in str(info.value)  # an offer may carry a key: none is quoted
        assert rec.closes == []


async def test_1000_queued_sends_arrive_in_order(backend: str) -> None:
    received: list[str] = []
    done = asyncio.get_running_loop().create_future()

    async def handler(ws: Any) -> None:
        async for message in ws:
            received.append(message)
            if len(received) == 1000:
                done.set_result(True)

    async with ws_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        for i in range(1000):
            t.send_text(f'{{"type":"input_audio_buffer.append","seq":{i},"audio":"{"QUFB" * (i % 50)}"}}')
        await asyncio.wait_for(done, WAIT)
        assert [int(m.split('"seq":')[1].split(",")[0]) for m in received] == list(range(1000))
        await t.close()
        await rec.wait_closed()


async def test_drain_applies_back_pressure_until_the_server_reads(backend: str) -> None:
    high_water = 64 * 1024
    resume = asyncio.Event()
    total_read = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal total_read
        await accept_upgrade(reader, writer)
        await resume.wait()  # stop reading until told
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            total_read += len(chunk)

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"high_water": high_water, "close_timeout": 0.2})
        chunk = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * (256 * 1024) + b'"}'
        sent = 0
        while t.buffered_amount <= high_water:
            assert sent < 256 * 1024 * 1024, "the kernel buffers never filled"
            t.send_text(chunk)  # never blocks, even with nobody reading
            sent += len(chunk)
            await asyncio.sleep(0)
        assert t.buffered_amount > high_water
        drain = asyncio.ensure_future(t.drain())
        await asyncio.sleep(0.1)
        assert not drain.done()  # nobody reads: the queue cannot shrink
        resume.set()
        await asyncio.wait_for(drain, WAIT)
        assert t.buffered_amount <= high_water
        await t.drain()  # below the mark: returns at once
        await t.close()
        await rec.wait_closed()
    assert total_read >= sent


async def test_drain_returns_at_the_high_water_mark_not_below(backend: str) -> None:
    # drain() must let the caller go on as soon as the queue is back at the
    # mark, not hold it until the queue is much lower.  A small kernel send
    # buffer makes the queue shrink in small steps, so the level at which
    # drain() returned shows where it resumed.
    high_water = 256 * 1024
    resume = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        await resume.wait()
        while await reader.read(1 << 16):
            pass

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"high_water": high_water, "close_timeout": 0.2})
        client_socket(t).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        chunk = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * (64 * 1024) + b'"}'
        while t.buffered_amount <= 2 * high_water:
            t.send_text(chunk)
            await asyncio.sleep(0)
        drain = asyncio.ensure_future(t.drain())
        await asyncio.sleep(0)
        assert not drain.done()
        resume.set()
        await asyncio.wait_for(drain, WAIT)
        level = t.buffered_amount
        assert level <= high_water
        assert level > high_water // 4  # resumed at the mark, not at a lower low-water mark
        await t.close()
        await rec.wait_closed()


async def test_drain_raises_when_the_connection_is_lost(backend: str) -> None:
    got_request = asyncio.Event()
    drop = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        got_request.set()
        await drop.wait()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"high_water": 16 * 1024})
        chunk = "A" * (256 * 1024)
        while t.buffered_amount <= 16 * 1024:
            t.send_text(chunk)
            await asyncio.sleep(0)
        drain = asyncio.ensure_future(t.drain())
        await asyncio.sleep(0)
        drop.set()
        with pytest.raises(TransportError):
            await asyncio.wait_for(drain, WAIT)
        code, reason, exc = await rec.wait_closed()
        assert (code, reason) == (None, "")
        assert isinstance(exc, TransportError)
        assert str(exc).startswith(f"The connection to {address_of(url)} was lost without a close frame: [Errno ")


async def test_close_gives_up_when_the_server_never_answers(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        while True:
            await read_frame(reader)  # read the close frame, never answer it

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"close_timeout": 0.3})
        await asyncio.wait_for(t.close(4001, "bye now"), WAIT)
        assert not t.is_open
        code, reason, exc = await rec.wait_closed()
        assert (code, reason) == (4001, "bye now")  # the close frame the client sent: none came back
        assert isinstance(exc, TransportError) and (exc.code, exc.reason) == (4001, "bye now")
        assert str(exc) == f"The server at {address_of(url)} did not answer the close frame within 0.3 s; the connection was aborted."


async def test_connection_reset_while_closing(backend: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        while True:
            _, opcode, _ = await read_frame(reader)
            if opcode == 0x8:  # reset the connection instead of answering
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return

    async with raw_server(handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec, make_kwargs={"close_timeout": 5.0})
        await asyncio.wait_for(t.close(), WAIT)
        code, reason, exc = await rec.wait_closed()
        assert (code, reason) == (1000, "")
        assert isinstance(exc, TransportError)
        assert str(exc) == (
            f"The connection to {address_of(url)} was lost before the server answered the close frame: "
            f"{os_error(errno.ECONNRESET)}."
        )


async def test_invalid_close_code_is_refused(backend: str) -> None:
    async with ws_server(echo_handler) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        with pytest.raises(ValueError):
            await t.close(1006)  # reserved: never sent on the wire
        assert t.is_open
        await t.close()
        await rec.wait_closed()


# ------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (``openssl`` CLI), as (cert, key) paths."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@contextlib.asynccontextmanager
async def wss_server(tls_files: tuple[str, str]) -> AsyncIterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    async with serve(echo_handler, "127.0.0.1", 0, ssl=context, ping_interval=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"wss://127.0.0.1:{port}/v1/realtime"


async def test_wss_checks_the_certificate(backend: str, tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with wss_server(tls_files) as url:
        rec = Recorder()
        with pytest.raises(TransportError) as info:
            await open_transport(backend, url, rec)
        assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
        assert str(info.value) == (
            f"The TLS handshake with {address_of(url)} failed: certificate verify failed: self-signed certificate; "
            "check the server's certificate (SSL_CERT_FILE selects other trusted roots)."
        )


async def test_wss_with_a_trusted_certificate(backend: str, tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files[0])  # the default context trusts it now
    async with wss_server(tls_files) as url:
        rec = Recorder()
        t = await open_transport(backend, url, rec)
        t.send_text('{"type":"over-tls"}')
        await rec.wait_for(lambda: len(rec.messages) == 1)
        assert rec.messages == [b'{"type":"over-tls"}']
        await t.close()
        assert await rec.wait_closed() == (1000, "", None)


async def test_wss_checks_the_host_name(backend: str, tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # The certificate is trusted but issued for IP 127.0.0.1 only: "localhost" is not in it.
    monkeypatch.setenv("SSL_CERT_FILE", tls_files[0])
    async with wss_server(tls_files) as url:
        rec = Recorder()
        port = int(address_of(url).rsplit(":", 1)[1])
        with pytest.raises(TransportError) as info:
            await open_transport(backend, f"wss://localhost:{port}/v1/realtime", rec, open_timeout=5)
        assert not isinstance(info.value, (HandshakeRejected, ConnectTimeout))
        cause = info.value.__cause__
        assert isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
        assert str(info.value) == (
            f"The TLS handshake with localhost:{port} failed: certificate verify failed: the certificate is not "
            "valid for 'localhost'; check the server's certificate (SSL_CERT_FILE selects other trusted roots)."
        )
        assert rec.closes == []


# ---------------------------------------------------------------- uvloop


@pytest.mark.skipif("uvloop" not in loops.available_loops(), reason="uvloop not installed")
def test_echo_on_uvloop(backend: str) -> None:
    async def main() -> tuple[list[bytes], tuple[Any, ...], str]:
        assert loops.loop_kind() == "uvloop"
        async with ws_server(echo_handler) as url:
            rec = Recorder()
            t = await open_transport(backend, url, rec)
            for i in range(3):
                t.send_text(f'{{"n":{i}}}')
            await rec.wait_for(lambda: len(rec.messages) == 3)
            await t.close()
            return rec.messages, await rec.wait_closed(), loops.loop_kind()

    messages, closed, kind = loops.run(main(), loop="uvloop")
    assert messages == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert closed == (1000, "", None)
    assert kind == "uvloop"


def test_loop_helpers() -> None:
    assert loops.available_loops()[0] == "asyncio"
    loop = loops.new_event_loop("asyncio")
    try:
        assert loops.loop_kind(loop) == "asyncio"
    finally:
        loop.close()
    with pytest.raises(ValueError):
        loops.new_event_loop("trio")
    assert loops.run(asyncio.sleep(0, result=7), loop="asyncio") == 7
    expected = "uvloop" if "uvloop" in loops.available_loops() else "asyncio"
    loop = loops.new_event_loop("auto")
    try:
        assert loops.loop_kind(loop) == expected
    finally:
        loop.close()


async def test_handler_exception_is_logged_and_the_session_goes_on(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    async with ws_server(echo_handler) as url:
        rec = Recorder()
        calls = 0

        def flaky(data: bytes | memoryview) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("bug in a handler")
            rec.on_message(data)

        t = make(backend)
        await t.connect(url, headers={}, subprotocols=[], on_message=flaky, on_binary=rec.on_binary, on_close=rec.on_close)
        rec.connected = True
        t.send_text('{"n":1}')
        t.send_text('{"n":2}')
        await rec.wait_for(lambda: len(rec.messages) == 1)
        assert rec.messages == [b'{"n":2}']
        assert t.is_open and rec.closes == []
        assert "message handler raised" in caplog.text
        await t.close()
        assert await rec.wait_closed() == (1000, "", None)


async def test_a_memoryview_is_only_lent_for_the_callback(backend: str) -> None:
    kept: list[bytes | memoryview] = []
    copies: list[bytes] = []

    def keep(data: bytes | memoryview) -> None:
        kept.append(data)
        copies.append(bytes(data))

    async with ws_server(echo_handler) as url:
        rec = Recorder()
        t = make(backend)
        await t.connect(url, headers={}, subprotocols=[], on_message=keep, on_binary=rec.on_binary, on_close=rec.on_close)
        t.send_text('{"type":"response.output_audio.delta","delta":"AAAA"}')
        await asyncio.wait_for(_until(lambda: len(kept) == 1), WAIT)
        assert copies == [b'{"type":"response.output_audio.delta","delta":"AAAA"}']
        data = kept[0]
        if isinstance(data, memoryview):
            with pytest.raises(ValueError):
                bytes(data)  # released when on_message returned: never stale memory
        else:
            assert data == copies[0]
        if backend.startswith("picows"):
            assert isinstance(data, memoryview)  # zero copy: a view of the receive buffer
        await t.close()
        await rec.wait_closed()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def test_a_frame_receiver_is_fed_straight_from_the_transport(backend: str) -> None:
    # The compiled picows listener feeds a compiled FrameReceiver at C level from its
    # receive buffer; every backend and listener must give the same callbacks.
    from realtime_fast.audio import AudioBuffer
    from realtime_fast.events import FrameReceiver

    buffer = AudioBuffer()
    got: list[tuple[Any, ...]] = []
    receiver = FrameReceiver(
        {"item_1": buffer},
        lambda event: got.append(("event", event)),
        lambda event, buf, start: got.append(("audio", event, buf.to_bytes(start))),
        lambda message, exc: got.append(("error", message)),
    )
    pcm = bytes(range(256)) * 20
    audio = '{"type":"response.output_audio.delta","item_id":"item_1","delta":"%s"}' % base64.b64encode(pcm).decode()
    async with ws_server(echo_handler) as url:
        rec = Recorder()
        t = make(backend)
        await t.connect(url, headers={}, subprotocols=[], on_message=receiver, on_binary=rec.on_binary, on_close=rec.on_close)
        for frame in (audio, '{"type":"session.created"}', "{not json", audio):
            t.send_text(frame)
        await asyncio.wait_for(_until(lambda: len(got) == 4), WAIT)
        await t.close()
        await rec.wait_closed()
    assert [g[0] for g in got] == ["audio", "event", "error", "audio"]
    assert got[0][1] == {"type": "response.output_audio.delta", "item_id": "item_1"} and got[0][2] == pcm
    assert got[1][1] == {"type": "session.created"}
    assert got[2][1].startswith("Could not parse a server frame: ")
    assert buffer.to_bytes() == pcm + pcm
