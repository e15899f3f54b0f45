"""RealtimeClient connections: clear connect errors, connection loss, opt-in reconnect, key redaction."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from _realtime_helpers import KEY, EventLog, protocol, received, server, transport_name  # noqa: F401
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from realtime_fast import ConnectTimeout, HandshakeRejected, RealtimeClient, TransportError
from realtime_fast.errors import RealtimeError
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import Transport

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- connect errors ----------------------------------------------------------------------------------


async def test_unreachable_url_names_the_address_and_the_os_error(transport_name):
    port = free_port()
    client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name)
    with pytest.raises(TransportError) as info:
        await client.connect()
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and ("refused" in message.lower() or "connect call failed" in message.lower())
    assert KEY not in message
    assert not client.is_connected()


@pytest.mark.parametrize("status", [401, 403])
async def test_handshake_rejection_carries_the_status(transport_name, status):
    def reject(connection, request):
        return Response(status, "Nope", Headers([("Content-Length", "6")]), b"denied")

    async with serve(lambda ws: None, "127.0.0.1", 0, process_request=reject) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name)
        with pytest.raises(HandshakeRejected) as info:
            await client.connect()
    assert info.value.status == status
    assert str(status) in str(info.value) and KEY not in str(info.value)


async def test_connect_timeout_when_the_server_never_answers(transport_name):
    writers = []

    async def silent(reader, writer):
        writers.append(writer)
        await reader.read()  # never answers the upgrade

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, connect_timeout=0.2)
        with pytest.raises(ConnectTimeout) as info:
            await client.connect()
        assert f"127.0.0.1:{port}" in str(info.value) and "0.2 s" in str(info.value)
        assert isinstance(info.value, TimeoutError)
    finally:
        for writer in writers:
            writer.close()
        srv.close()
        await srv.wait_closed()


async def test_tls_failure_is_a_clear_transport_error(transport_name):
    writers = []

    async def not_tls(reader, writer):
        writers.append(writer)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(not_tls, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        client = RealtimeClient(f"wss://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, connect_timeout=5)
        with pytest.raises(TransportError) as info:
            await client.connect()
        assert "TLS" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    finally:
        for writer in writers:
            writer.close()
        srv.close()
        await srv.wait_closed()


class FailingTransport(Transport):
    """A transport whose connection always fails (to test what happens before any socket)."""

    name = "failing"

    async def connect(self, url, **kwargs):
        raise TransportError(f"refused {url}")

    def send_text(self, data):  # pragma: no cover
        raise TransportError("closed")

    async def drain(self):  # pragma: no cover
        pass

    async def close(self, code=1000, reason=""):  # pragma: no cover
        pass

    is_open = False
    buffered_amount = 0


async def test_no_key_for_the_openai_url_warns(caplog):
    client = RealtimeClient(transport=FailingTransport)
    with caplog.at_level(logging.WARNING, logger="realtime_fast"):
        with pytest.raises(TransportError, match="refused wss://api.openai.com/v1/realtime\\?model=gpt-realtime"):
            await client.connect()
    assert any('No api_key provided for connection to "wss://api.openai.com/v1/realtime"' in r.getMessage() for r in caplog.records)


def test_the_library_does_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-1234")
    assert RealtimeClient().realtime.api_key is None


def test_constructor_validation():
    with pytest.raises(ValueError, match="max_input_audio_seconds"):
        RealtimeClient(max_input_audio_seconds=0)
    with pytest.raises(ValueError, match="reconnect_attempts"):
        RealtimeClient(reconnect_attempts=0)


# -- connection loss and reconnecting ------------------------------------------------------------------


async def test_session_expiry_without_reconnect_reports_and_stays_closed(transport_name, protocol):
    async with MockRealtimeServer(profile="fast", max_session_seconds=0.2) as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, protocol=protocol)
        log = EventLog(client, ["error", "close", "reconnecting"])
        await client.connect()
        error = await log.wait_for("error")
        assert error["source"] == "server" and error["error"]["code"] == "session_expired"
        close = await log.wait_for("close")
        assert close["code"] == 1001 and close["reconnecting"] is False
        assert not client.is_connected() and log.of("reconnecting") == []


async def test_reconnect_after_session_expiry_replays_config_and_tools(transport_name, protocol):
    async with MockRealtimeServer(profile="fast", max_session_seconds=0.3) as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, protocol=protocol, reconnect=True, reconnect_delay=0.01)
        client.update_session(instructions="Remember me.")
        client.add_tool({"name": "lookup", "parameters": {"type": "object", "properties": {}}}, lambda args: {})
        log = EventLog(client, ["error", "close", "reconnecting", "reconnected"])
        await client.connect()
        await client.wait_for_session_created()
        close = await log.wait_for("close")
        mock.max_session_seconds = 60  # the next session lives on
        assert close["code"] == 1001 and close["reconnecting"] is True
        reconnected = await log.wait_for("reconnected")
        assert reconnected["attempt"] == 1 and reconnected["url"].startswith(mock.url)
        assert log.names().index("close") < log.names().index("reconnecting") < log.names().index("reconnected")
        await client.wait_for_session_created()
        [update] = await received(mock, "session.update", connection=2)
        text = json.dumps(update["session"])
        assert "Remember me." in text and '"lookup"' in text
        # the new session works
        done = EventLog(client, ["conversation.item.completed"])
        client.send_user_message_content([{"type": "input_text", "text": "again"}])
        await done.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
        await client.disconnect()


class DroppingServer:
    """Drops the first connection without a close frame; serves later ones (session.created, then reads)."""

    def __init__(self):
        self.connections = 0
        self.received = []

    async def handler(self, ws):
        self.connections += 1
        await ws.send(json.dumps({"type": "session.created", "event_id": f"event_{self.connections}", "session": {"id": "sess"}}))
        if self.connections == 1:
            await asyncio.sleep(0.05)
            ws.transport.abort()
            return
        async for message in ws:
            self.received.append((self.connections, json.loads(message)))


async def test_reconnect_after_an_abrupt_drop(transport_name):
    dropping = DroppingServer()
    async with serve(dropping.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, reconnect=True, reconnect_delay=0.01)
        log = EventLog(client, ["error", "close", "reconnecting", "reconnected"])
        await client.connect()
        close = await log.wait_for("close")
        assert close["error"] is True and close["reconnecting"] is True
        assert (await log.wait_for("error"))["source"] == "transport"
        await log.wait_for("reconnected")
        assert client.is_connected() and dropping.connections == 2
        await client.disconnect()
    assert [m["type"] for c, m in dropping.received if c == 2][:1] == ["session.update"]


async def test_reconnect_gives_up_after_the_attempts(transport_name):
    dropping = DroppingServer()
    srv = await serve(dropping.handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = RealtimeClient(
        f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, reconnect=True, reconnect_delay=0.05, reconnect_attempts=2
    )
    log = EventLog(client, ["error", "close", "reconnecting", "reconnected"])
    await client.connect()
    srv.close()  # nobody listens any more when the client tries again
    await srv.wait_closed()
    final = await log.wait_for("error", lambda e: "Gave up reconnecting" in e["message"])
    assert final["source"] == "transport"
    assert [e["attempt"] for e in log.of("reconnecting")] == [1, 2]
    assert len([e for e in log.of("error") if "Reconnect attempt" in e["message"]]) == 2
    assert log.of("reconnected") == [] and not client.is_connected()


async def test_auth_failures_never_reconnect(server, transport_name):
    client = RealtimeClient(server.url, None, transport=transport_name, reconnect=True, reconnect_delay=0.01)
    log = EventLog(client, ["close", "reconnecting"])
    await client.connect()
    close = await log.wait_for("close")
    assert close["code"] == 3000 and close["reconnecting"] is False
    assert log.of("reconnecting") == []


async def test_disconnect_stops_a_pending_reconnect(transport_name):
    dropping = DroppingServer()
    async with serve(dropping.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, reconnect=True, reconnect_delay=30)
        log = EventLog(client, ["reconnecting", "reconnected"])
        await client.connect()
        await log.wait_for("reconnecting")
        await client.disconnect()  # cancels the 30 s wait
        assert log.of("reconnected") == [] and dropping.connections == 1


async def test_wait_for_session_created_fails_when_the_connection_closes_first(transport_name):
    async def no_session(ws):
        await asyncio.sleep(0.05)
        await ws.close(4000, "no session for you")

    async with serve(no_session, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        client = RealtimeClient(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name)
        await client.connect()
        with pytest.raises(RealtimeError) as info:
            await client.wait_for_session_created()
        assert str(info.value) == (
            "The connection ended before session.created arrived; "
            "it was closed by the server with code 4000, reason 'no session for you'."
        )
