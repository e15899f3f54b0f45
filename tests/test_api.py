"""RealtimeAPI: one socket, client and server events, malformed frames, closes, large messages.

Runs on every available transport, against the mock and against small servers
written here to misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import socket
import struct

import numpy as np
import pytest
from _realtime_helpers import KEY, EventLog, protocol, received, server, transport_name  # noqa: F401
from websockets.asyncio.server import serve

from realtime_fast import ConnectionStateError, RealtimeAPI
from realtime_fast.api import DEFAULT_URL, redact_key, url_with_model
from realtime_fast.transport import Transport, create_transport

pytestmark = pytest.mark.timeout(60)


# -- plain functions -----------------------------------------------------------------------------


def test_url_with_model():
    assert url_with_model("wss://api.openai.com/v1/realtime", "gpt-realtime") == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert url_with_model("ws://h/v1/realtime?a=1&b=", "m") == "ws://h/v1/realtime?a=1&b=&model=m"
    assert url_with_model("ws://h/?model=x", "m") == "ws://h/?model=x"
    assert url_with_model("ws://h/", None) == "ws://h/"


def test_redact_key():
    assert redact_key("sk-proj-abcdefghijklmnop") == "sk-...mnop"
    assert redact_key("short") == "***"
    assert redact_key(None) is None


def test_constructor_defaults_and_validation():
    api = RealtimeAPI()
    assert api.url == DEFAULT_URL and api.model == "gpt-realtime" and api.protocol == "ga" and not api.is_connected()
    with pytest.raises(ValueError, match="Unknown transport 'tcp'"):
        RealtimeAPI(transport="tcp")
    with pytest.raises(TypeError, match="transport must be"):
        RealtimeAPI(transport=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown protocol"):
        RealtimeAPI(protocol="v3")


def test_send_requires_a_connection():
    with pytest.raises(ConnectionStateError, match=r"^RealtimeAPI is not connected$"):
        RealtimeAPI().send("response.create")


# -- against the mock --------------------------------------------------------------------------------


async def test_server_events_are_dispatched_by_name_then_wildcard(server, transport_name, protocol):
    api = RealtimeAPI(server.url, KEY, transport=transport_name, protocol=protocol)
    order = []
    api.on("server.session.created", lambda e: order.append(("named", e["type"])))
    api.on("server.*", lambda e: order.append(("any", e["type"])))
    await api.connect()
    created = await api.wait_for_next("server.session.created", timeout=10)
    assert created["session"]["id"].startswith("sess_")
    assert order[:2] == [("named", "session.created"), ("any", "session.created")]
    await api.disconnect()
    assert not api.is_connected()


async def test_a_subclass_overriding_receive_gets_every_server_event(server, transport_name):
    seen = []

    class Recording(RealtimeAPI):
        def receive(self, event_name, event):
            seen.append(event_name)
            return super().receive(event_name, event)

    api = Recording(server.url, KEY, transport=transport_name)
    await api.connect()
    api.send("session.update", {"session": {"type": "realtime", "instructions": "Be brief."}})
    await api.wait_for_next("server.session.updated", timeout=10)
    assert seen[:2] == ["session.created", "session.updated"]
    await api.disconnect()


async def test_send_dispatches_client_events_and_returns_the_event(server, transport_name, protocol):
    api = RealtimeAPI(server.url, KEY, transport=transport_name, protocol=protocol)
    await api.connect()
    seen = []
    api.on("client.conversation.item.create", lambda e: seen.append(("named", e)))
    api.on("client.*", lambda e: seen.append(("any", e)))
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    event = api.send("conversation.item.create", {"item": item})
    assert list(event)[:2] == ["event_id", "type"] and event["event_id"].startswith("evt_") and len(event["event_id"]) == 21
    assert seen == [("named", event), ("any", event)]
    own = api.send("response.create", {"event_id": "evt_mine"})
    assert own["event_id"] == "evt_mine"  # an event_id in data wins, as in the reference (relays rely on it)
    [got] = await received(server, "conversation.item.create")
    assert got == event
    await api.disconnect()


async def test_standalone_api_passes_audio_deltas_through_untouched(server, transport_name, protocol):
    api = RealtimeAPI(server.url, KEY, transport=transport_name, protocol=protocol)
    deltas = []
    name = "server.response.output_audio.delta" if protocol == "ga" else "server.response.audio.delta"
    api.on(name, lambda e: deltas.append(e["delta"]))
    await api.connect()
    api.send("conversation.item.create", {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    api.send("response.create")
    await api.wait_for_next("server.response.done", timeout=10)
    sent = [e["delta"] for e in server.events(name[len("server."):])]
    assert deltas == sent and deltas
    await api.disconnect()


async def test_send_input_audio_writes_a_normal_append_event(server, transport_name):
    api = RealtimeAPI(server.url, KEY, transport=transport_name)
    await api.connect()
    pcm = np.arange(-500, 500, dtype=np.int16)
    event_id = api.send_input_audio(pcm)
    listened = []
    api.on("client.input_audio_buffer.append", listened.append)
    second = api.send_input_audio(pcm.tobytes())
    appends = await received(server, "input_audio_buffer.append", 2)
    assert [a["event_id"] for a in appends] == [event_id, second]
    assert all(base64.b64decode(a["audio"]) == pcm.tobytes() for a in appends)
    assert listened == [appends[1]]  # with a listener the event dict is built (and dispatched)
    await api.disconnect()


async def test_debug_logs_events_without_the_key(server, transport_name, caplog):
    api = RealtimeAPI(server.url, KEY, transport=transport_name, debug=True)
    with caplog.at_level("DEBUG", logger="realtime_fast"):
        await api.connect()
        await api.wait_for_next("server.session.created", timeout=10)
        api.send("response.cancel")
        await api.disconnect()
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "realtime_fast")
    assert "sent " in text and "received " in text and "session.created" in text and "response.cancel" in text
    assert KEY not in text


async def test_transport_instance_and_factory_are_accepted(server, transport_name):
    instance = create_transport(transport_name)
    api = RealtimeAPI(server.url, KEY, transport=instance)
    await api.connect()
    assert api.transport is instance
    await api.disconnect()
    await api.connect()  # the next connection uses a fresh transport of the same class
    assert api.transport is not instance and type(api.transport) is type(instance)
    await api.disconnect()
    made = []

    def factory() -> Transport:
        made.append(create_transport(transport_name))
        return made[-1]

    api = RealtimeAPI(server.url, KEY, transport=factory)
    await api.connect()
    assert api.transport is made[0]
    await api.disconnect()


# -- misbehaving servers -----------------------------------------------------------------------------


class Scripted:
    """A WebSocket server that plays ``script(ws)`` for each connection and records what it receives."""

    def __init__(self, script):
        self.script = script
        self.received: list = []
        self.server = None

    async def __aenter__(self):
        async def handler(ws):
            await self.script(ws, self)

        self.server = await serve(handler, "127.0.0.1", 0, max_size=None, compression=None)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def read_all(self, ws):
        async for message in ws:
            self.received.append(message)


def session_created():
    return json.dumps({"type": "session.created", "event_id": "event_1", "session": {"id": "sess_1"}})


async def test_malformed_frames_are_reported_and_the_session_continues(transport_name):
    async def script(ws, me):
        await ws.send("this is not json")
        await ws.send("[1, 2]")
        await ws.send('{"event_id": "e"}')
        await ws.send(b"\x00\x01binary")
        await ws.send(b'{"type": "bad utf8 \xff"}', text=True)
        await ws.send(session_created())
        await me.read_all(ws)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["error", "server.session.created"])
        await api.connect()
        await log.wait_for("server.session.created")
        errors = log.of("error")
        assert [e["source"] for e in errors] == ["protocol"] * 5
        assert "not valid JSON" in errors[0]["message"]
        assert "an array, not a JSON object" in errors[1]["message"]
        assert "no 'type' field" in errors[2]["message"]
        assert "binary frame of 8 bytes" in errors[3]["message"]
        assert "not valid JSON" in errors[4]["message"]
        assert api.is_connected()
        await api.disconnect()


async def test_a_20_mib_message_both_ways_with_the_receive_limit_raised(transport_name):
    # What the client sends is not limited; receiving more than 16 MiB needs max_message_size raised.
    big_text = "x" * (20 * 1024 * 1024)

    async def script(ws, me):
        await ws.send(json.dumps({"type": "big.event", "event_id": "e", "data": big_text}))
        await me.read_all(ws)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name, max_message_size=32 * 1024 * 1024)
        await api.connect()
        event = await api.wait_for_next("server.big.event", timeout=30)
        assert len(event["data"]) == len(big_text)
        api.send("conversation.item.create", {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": big_text}]}})
        await api.drain()
        await api.disconnect()
    assert len(srv.received) == 1 and len(srv.received[0]) > len(big_text)


@pytest.mark.parametrize("reason", ["", "bye"])
async def test_a_normal_server_close_is_no_error(transport_name, reason):
    async def script(ws, me):
        await ws.send(session_created())
        await ws.close(1000, reason)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error"])
        await api.connect()
        close = await log.wait_for("close")
        assert (close["code"], close["reason"], close["error"]) == (1000, reason, False)
        assert log.of("error") == [] and not api.is_connected()
        assert api.closed_because.startswith("was closed by the server with code 1000")


@pytest.mark.parametrize(
    "code, reason, words",
    [
        (1011, "keepalive", "code 1011 (internal error), reason 'keepalive'"),
        (1001, "", "code 1001 (going away)"),
        (4000, "goodbye", "code 4000, reason 'goodbye'"),
    ],
)
async def test_any_other_server_close_is_an_error_event_and_later_calls_say_so(transport_name, code, reason, words):
    async def script(ws, me):
        await ws.send(session_created())
        await ws.close(code, reason)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error"])
        await api.connect()
        close = await log.wait_for("close")
        error = await log.wait_for("error")
        address = srv.url.split("/")[2]
    assert (close["code"], close["reason"], close["error"]) == (code, reason, False)  # the connection itself ended cleanly
    assert error["source"] == "transport" and (error["exception"].code, error["exception"].reason) == (code, reason)
    assert error["message"] == f"The server at {address} closed the connection with {words}; connect() again to start a new session."
    assert log.names() == ["close", "error"]
    assert api.last_close is close and not api.is_connected()
    with pytest.raises(ConnectionStateError) as info:
        api.send("response.create")
    assert str(info.value) == f"RealtimeAPI is not connected; the last connection was closed by the server with {words}."


async def test_abrupt_connection_loss_is_an_abnormal_close_and_an_error(transport_name):
    async def script(ws, me):
        await ws.send(session_created())
        await asyncio.sleep(0.05)
        ws.transport.abort()

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error"])
        await api.connect()
        close = await log.wait_for("close")
        assert close["error"] is True and close["code"] is None and close["exception"] is not None
        error = await log.wait_for("error")
        assert error["source"] == "transport" and "without a close frame" in error["message"]
        with pytest.raises(ConnectionStateError):
            api.send("response.create")


async def test_connection_reset_names_the_os_error(transport_name):
    async def script(ws, me):
        await ws.send(session_created())
        await asyncio.sleep(0.05)
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a TCP reset
        ws.transport.abort()

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error"])
        await api.connect()
        close = await log.wait_for("close")
        assert (close["code"], close["reason"], close["error"]) == (None, "", True)
        error = await log.wait_for("error")
        address = srv.url.split("/")[2]
        reset = f"[Errno {errno.ECONNRESET}] {os.strerror(errno.ECONNRESET)}"
        assert error["source"] == "transport"
        assert error["message"] == f"The connection to {address} was lost without a close frame: {reset}."


async def test_protocol_error_is_a_1002_close_and_an_error(transport_name):
    async def script(ws, me):
        await ws.send(session_created())
        ws.transport.write(bytes([0x80, 0x00]))  # a continuation frame that continues no message
        await me.read_all(ws)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error", "server.session.created"])
        await api.connect()
        close = await log.wait_for("close")
        assert (close["code"], close["reason"], close["error"]) == (1002, "unexpected continuation frame", True)
        error = await log.wait_for("error")
        address = srv.url.split("/")[2]
        assert error["source"] == "transport"
        assert error["message"] == (
            f"The server at {address} broke the WebSocket protocol (unexpected continuation frame); "
            "the client closed the connection with 1002: check the server's WebSocket implementation."
        )
        assert len(log.of("server.session.created")) == 1 and not api.is_connected()


async def test_client_disconnect_is_a_clean_close(transport_name):
    async def script(ws, me):
        await ws.send(session_created())
        await me.read_all(ws)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["close", "error"])
        await api.connect()
        await api.disconnect()
        [close] = log.of("close")
        assert (close["code"], close["error"]) == (1000, False)
        assert await api.disconnect() is True  # idempotent


async def test_fragmented_messages_are_joined(transport_name):
    text = json.dumps({"type": "session.created", "event_id": "e", "session": {"id": "sess_" + "y" * 5000}})

    async def script(ws, me):
        await ws.send([text[:10], text[10:4000], text[4000:]])  # one message in three frames
        await me.read_all(ws)

    async with Scripted(script) as srv:
        api = RealtimeAPI(srv.url, KEY, transport=transport_name)
        log = EventLog(api, ["server.session.created", "error"])
        await api.connect()
        event = await log.wait_for("server.session.created")
        assert event["session"]["id"] == "sess_" + "y" * 5000 and log.of("error") == []
        await api.disconnect()
