"""Credentials as subprotocols (``auth="subprotocols"``) and the send high-water mark (``high_water``)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from _realtime_helpers import KEY, EventLog, protocol, transport_name  # noqa: F401
from websockets.asyncio.server import serve

from realtime_fast import RealtimeAPI, RealtimeClient, TransportError
from realtime_fast.dialects import get_dialect
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import DEFAULT_HIGH_WATER, Transport, create_transport

pytestmark = pytest.mark.timeout(60)


def expected_offers(protocol: str, key: str | None = KEY) -> list[str]:
    offers = ["realtime"]
    if key:
        offers.append(f"openai-insecure-api-key.{key}")
    if protocol == "beta":
        offers.append("openai-beta.realtime-v1")
    return offers


# -- the dialects' subprotocol lists -----------------------------------------------------------------


def test_each_dialect_offers_its_subprotocols():
    assert get_dialect("ga").subprotocols(KEY) == ["realtime", f"openai-insecure-api-key.{KEY}"]
    assert get_dialect("beta").subprotocols(KEY) == [
        "realtime",
        f"openai-insecure-api-key.{KEY}",
        "openai-beta.realtime-v1",
    ]
    # Without a key only the protocol entries (the server then answers "Missing bearer ...").
    assert get_dialect("ga").subprotocols(None) == ["realtime"]
    assert get_dialect("beta").subprotocols("") == ["realtime", "openai-beta.realtime-v1"]


def test_every_token_character_is_accepted_in_a_key():
    key = "ek_AZaz09!#$%&'*+-.^_`|~"
    assert get_dialect("ga").subprotocols(key)[1] == "openai-insecure-api-key." + key


@pytest.mark.parametrize("bad", [" ", ",", ";", "/", "=", '"', "(", "\n", "\t", "é", "\x7f"])
def test_a_key_no_subprotocol_can_carry_is_a_value_error_that_hides_the_key(bad):
    key = f"sk-secret{bad}tail-0123456789"
    with pytest.raises(ValueError) as info:
        get_dialect("ga").subprotocols(key)
    message = str(info.value)
    assert "position 9" in message and "auth='headers'" in message
    assert "secret" not in message and "tail" not in message


# -- construction-time validation ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RealtimeAPI, RealtimeClient])
def test_unknown_auth_is_refused_at_construction(cls):
    with pytest.raises(ValueError, match="Unknown auth 'cookie': use 'headers'"):
        cls("ws://127.0.0.1:9/v1/realtime", KEY, auth="cookie")


@pytest.mark.parametrize("cls", [RealtimeAPI, RealtimeClient])
def test_a_key_with_a_space_is_refused_before_connecting(cls):
    with pytest.raises(ValueError, match="WebSocket subprotocol cannot carry") as info:
        cls("ws://127.0.0.1:9/v1/realtime", "sk-pasted with-space-0123", auth="subprotocols")
    assert "pasted" not in str(info.value)
    # The same key is not a subprotocol problem when it travels in a header.
    cls("ws://127.0.0.1:9/v1/realtime", "sk-pasted with-space-0123")  # does not raise


@pytest.mark.parametrize("value", [-1, 1.5, "1MB", True])
def test_high_water_must_be_a_byte_count(value):
    with pytest.raises(ValueError, match="high_water must be a number of bytes"):
        RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY, high_water=value)


def test_high_water_with_a_transport_instance_or_factory_is_refused():
    instance = create_transport("websockets")
    with pytest.raises(ValueError, match="set it on your Transport instance"):
        RealtimeAPI("ws://127.0.0.1:9/v1/realtime", KEY, transport=instance, high_water=1024)
    with pytest.raises(ValueError, match="set it on your Transport instance"):
        RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY, transport=lambda: create_transport("websockets"), high_water=1024)


# -- against the mock server ---------------------------------------------------------------------------


async def test_subprotocol_auth_handshake_and_session(transport_name, protocol):
    async with MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport_name, protocol=protocol, auth="subprotocols")
        assert client.realtime.auth == "subprotocols"
        await client.connect()
        try:
            await client.wait_for_session_created()
            record = mock.connection_log[-1]
            assert record.subprotocols == expected_offers(protocol)
            assert "Authorization" not in record.headers and "OpenAI-Beta" not in record.headers
            assert record.api_key == KEY and record.dialect == protocol and record.refused is None
            assert record.subprotocol == "realtime"
            assert client.realtime.transport.subprotocol == "realtime"
            # The session works: a message gets an answer in the dialect's events.
            log = EventLog(client, ["conversation.item.completed"])
            client.send_user_message_content([{"type": "input_text", "text": "hello"}])
            item = (await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant"))["item"]
            assert item["formatted"]["transcript"] or item["formatted"]["text"]
        finally:
            await client.disconnect()


async def test_header_auth_offers_no_subprotocol(transport_name, protocol):
    async with MockRealtimeServer(profile="fast") as mock:
        api = RealtimeAPI(mock.url, KEY, transport=transport_name, protocol=protocol)
        assert api.auth == "headers"
        await api.connect()
        try:
            await api.wait_for_next("server.session.created", 10)
            record = mock.connection_log[-1]
            assert record.subprotocols == [] and record.subprotocol is None
            assert record.headers["Authorization"] == f"Bearer {KEY}"
            assert ("OpenAI-Beta" in record.headers) == (protocol == "beta")
            assert api.transport.subprotocol is None
        finally:
            await api.disconnect()


async def _refusal(mock: MockRealtimeServer, transport_name: str, protocol: str, auth: str, key: str | None):
    api = RealtimeAPI(mock.url, key, transport=transport_name, protocol=protocol, auth=auth)
    log = EventLog(api, ["server.error", "close"])
    await api.connect()
    error = await log.wait_for("server.error")
    close = await log.wait_for("close")
    await api.disconnect()
    return error["error"], close["code"], mock.connection_log[-1].refused


async def test_a_wrong_key_is_refused_as_when_sent_in_a_header(transport_name, protocol):
    async with MockRealtimeServer(api_key="sk-the-right-key-000000", profile="fast") as mock:
        by_header = await _refusal(mock, transport_name, protocol, "headers", "sk-the-wrong-key-123456")
        by_subprotocol = await _refusal(mock, transport_name, protocol, "subprotocols", "sk-the-wrong-key-123456")
        assert mock.connection_log[-1].subprotocols == expected_offers(protocol, "sk-the-wrong-key-123456")
    error, close_code, refused = by_subprotocol
    assert error["code"] == "invalid_api_key" and "Incorrect API key provided" in error["message"]
    assert "sk-the-wrong-key-123456" not in error["message"]
    assert (close_code, refused) == (3000, "invalid_api_key")
    assert by_subprotocol == by_header


async def test_no_key_with_subprotocol_auth_gets_missing_authentication(transport_name):
    async with MockRealtimeServer(profile="fast") as mock:
        error, close_code, refused = await _refusal(mock, transport_name, "ga", "subprotocols", None)
        assert mock.connection_log[-1].subprotocols == ["realtime"]
    assert error["message"] == "Missing bearer or basic authentication in header"
    assert close_code == 3000 and refused == "missing_authentication"


# -- servers that select no subprotocol, or one we did not offer --------------------------------------------


def _raw_server(selected):
    """A minimal Realtime-like server: records the offers, selects ``selected``, sends session.created."""
    seen: list = []

    async def handler(ws):
        await ws.send(orjson.dumps({"type": "session.created", "event_id": "event_1", "session": {}}).decode())
        await ws.wait_closed()

    def select(connection, offers):
        seen.append(list(offers))
        return selected

    return seen, serve(handler, "127.0.0.1", 0, select_subprotocol=select)


async def test_a_server_selecting_no_subprotocol_is_accepted(transport_name, protocol):
    seen, server = _raw_server(None)
    async with server as srv:
        port = srv.sockets[0].getsockname()[1]
        api = RealtimeAPI(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, protocol=protocol, auth="subprotocols")
        waiter = asyncio.ensure_future(api.wait_for_next("server.session.created", 10))
        await api.connect()
        try:
            assert api.is_connected() and api.transport.subprotocol is None
            assert (await waiter)["type"] == "session.created"
            assert seen == [expected_offers(protocol)]
        finally:
            await api.disconnect()


async def test_a_server_selecting_a_subprotocol_not_offered_fails_the_connection(transport_name):
    seen, server = _raw_server("chat.v2")
    async with server as srv:
        port = srv.sockets[0].getsockname()[1]
        api = RealtimeAPI(f"ws://127.0.0.1:{port}/v1/realtime", KEY, transport=transport_name, auth="subprotocols")
        closes = EventLog(api, ["close"])
        with pytest.raises(TransportError) as info:
            await api.connect()
        assert "chat.v2" in str(info.value) and KEY not in str(info.value)
        assert not api.is_connected() and closes.of("close") == []


class _StubTransport(Transport):
    """Connects to nothing and claims the server selected ``selected`` (a custom transport with no check of its own)."""

    name = "stub"

    def __init__(self, selected):
        self.selected = selected
        self.closed_with = None
        self._open = False
        self._on_close = None

    async def connect(self, url, **kwargs):
        self.offered = list(kwargs["subprotocols"])
        self.headers = dict(kwargs["headers"])
        self._on_close = kwargs["on_close"]
        self._open = True

    def send_text(self, data):  # pragma: no cover - never called
        raise TransportError("stub")

    async def drain(self):  # pragma: no cover - never called
        pass

    async def close(self, code=1000, reason=""):
        self.closed_with = code
        self._open = False
        self._on_close(code, reason, None)

    @property
    def is_open(self):
        return self._open

    @property
    def buffered_amount(self):
        return 0

    @property
    def subprotocol(self):
        return self.selected


@pytest.mark.parametrize("auth", ["headers", "subprotocols"])
async def test_the_api_checks_the_selected_subprotocol_even_for_custom_transports(auth):
    stub = _StubTransport("openai-insecure-api-key.sk-not-ours-0123456789")
    api = RealtimeAPI("ws://127.0.0.1:9/v1/realtime", KEY, transport=stub, auth=auth)
    closes = EventLog(api, ["close"])
    with pytest.raises(TransportError, match="which was not offered") as info:
        await api.connect()
    assert KEY not in str(info.value) and "sk-not-ours-0123456789" not in str(info.value)
    assert stub.closed_with == 1002 and not stub.is_open
    assert not api.is_connected() and api.transport is None and closes.of("close") == []
    # What the stub was given: the credentials in exactly one of the two places.
    if auth == "headers":
        assert stub.offered == [] and stub.headers == {"Authorization": f"Bearer {KEY}"}
    else:
        assert stub.offered == expected_offers("ga") and stub.headers == {}


async def test_a_custom_transport_selecting_an_offered_subprotocol_connects():
    stub = _StubTransport("realtime")
    api = RealtimeAPI("ws://127.0.0.1:9/v1/realtime", KEY, transport=stub, auth="subprotocols", protocol="beta")
    await api.connect()
    assert api.is_connected() and api.transport is stub
    assert stub.offered == expected_offers("beta")
    await api.disconnect()


# -- high_water --------------------------------------------------------------------------------------


async def test_high_water_reaches_a_transport_given_by_name(transport_name):
    async with MockRealtimeServer(profile="fast") as mock:
        default = RealtimeAPI(mock.url, KEY, transport=transport_name)
        tuned = RealtimeClient(mock.url, KEY, transport=transport_name, high_water=4096)
        assert default.high_water == DEFAULT_HIGH_WATER and tuned.realtime.high_water == 4096
        await default.connect()
        await tuned.connect()
        try:
            assert default.transport.name == transport_name and default.transport.high_water == DEFAULT_HIGH_WATER
            assert tuned.realtime.transport.name == transport_name and tuned.realtime.transport.high_water == 4096
            await tuned.wait_for_session_created()
            await tuned.drain()  # nothing much queued: returns
        finally:
            await default.disconnect()
            await tuned.disconnect()
        # A new connection gets a new transport with the same setting.
        first = tuned.realtime.transport
        await tuned.connect()
        try:
            assert tuned.realtime.transport is not first and tuned.realtime.transport.high_water == 4096
        finally:
            await tuned.disconnect()


async def test_a_transport_instance_keeps_its_settings_when_the_client_reconnects(transport_name, protocol):
    instance = create_transport(transport_name, high_water=12345, close_timeout=0.75)
    async with MockRealtimeServer(profile="fast", max_session_seconds=0.3) as mock:
        client = RealtimeClient(
            mock.url, KEY, transport=instance, protocol=protocol, auth="subprotocols", reconnect=True, reconnect_delay=0.01
        )
        log = EventLog(client, ["close", "reconnected"])
        await client.connect()
        try:
            assert client.realtime.transport is instance
            await log.wait_for("close")
            mock.max_session_seconds = 60  # the next session lives on
            await log.wait_for("reconnected")
            second = client.realtime.transport
            assert second is not instance and type(second) is type(instance)
            assert (second.high_water, second.close_timeout) == (12345, 0.75)
            await client.wait_for_session_created()
            # ... and the reconnection authenticated the same way.
            assert [r.subprotocols for r in mock.connection_log] == [expected_offers(protocol)] * 2
        finally:
            await client.disconnect()
        # Connecting again by hand: still the instance's settings.
        await client.connect()
        try:
            third = client.realtime.transport
            assert third not in (instance, second) and (third.high_water, third.close_timeout) == (12345, 0.75)
        finally:
            await client.disconnect()


async def test_a_transport_class_without_those_settings_is_rebuilt_without_arguments():
    from realtime_fast.transport.websockets_transport import WebsocketsTransport

    class Fixed(WebsocketsTransport):
        def __init__(self) -> None:
            super().__init__(high_water=777)

    async with MockRealtimeServer(profile="fast") as mock:
        api = RealtimeAPI(mock.url, KEY, transport=Fixed())
        for _ in range(2):
            await api.connect()
            assert isinstance(api.transport, Fixed) and api.transport.high_water == 777
            await api.disconnect()
