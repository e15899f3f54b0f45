"""Mock server: handshake, auth, model and dialect selection, session start and expiry."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime_fast.mock import MockRealtimeServer
from test_mock_support import (  # noqa: F401 - fixtures
    BETA_MODEL,
    GA_MODEL,
    KEY,
    TIMEOUT,
    WireClient,
    assert_valid_events,
    dialect,
    mock_server,
)

pytestmark = pytest.mark.timeout(30)


async def _closed_after_error(client: WireClient) -> tuple[dict, int | None, str | None]:
    error = await client.recv()
    with pytest.raises(ConnectionClosed):
        await client.recv()
    return error, client.ws.close_code, client.ws.close_reason


@pytest.mark.parametrize("path", ["/v1/realtime", "/"])
async def test_session_created_is_sent_first_in_the_dialects_shape(mock_server, dialect, path):
    async with await WireClient.open(mock_server, dialect=dialect, path=path, skip_created=False) as client:
        created = await client.recv()
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["id"].startswith("sess_") and session["object"] == "realtime.session"
    if dialect == "ga":
        assert session["type"] == "realtime" and session["model"] == GA_MODEL
        assert session["output_modalities"] == ["audio"]
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert session["audio"]["output"]["voice"] == "alloy"
        assert "modalities" not in session and "voice" not in session
    else:
        assert session["model"] == BETA_MODEL and session["modalities"] == ["audio", "text"]
        assert session["input_audio_format"] == "pcm16" and session["voice"] == "alloy"
        assert session["turn_detection"]["silence_duration_ms"] == 200
        assert "audio" not in session and "type" not in session
    assert mock_server.connection_log[-1].dialect == dialect


async def test_unknown_path_gets_404(mock_server):
    with pytest.raises(InvalidStatus) as info:
        await asyncio.wait_for(connect(f"ws://127.0.0.1:{mock_server.port}/v2/other?model=gpt-realtime"), TIMEOUT)
    assert info.value.response.status_code == 404


@pytest.mark.parametrize(
    ("key", "code", "message_start", "close_code", "reason"),
    [
        (None, None, "Missing bearer or basic authentication in header", 3000, "invalid_request_error"),
        ("null", "invalid_api_key", "Incorrect API key provided: null.", 3000, "invalid_request_error.invalid_api_key"),
        (
            "undefined",
            "invalid_api_key",
            "Incorrect API key provided: undefined.",
            3000,
            "invalid_request_error.invalid_api_key",
        ),
    ],
)
async def test_missing_or_placeholder_key_is_refused_after_101(
    mock_server, key, code, message_start, close_code, reason
):
    client = await WireClient.open(mock_server, key=key, skip_created=False)
    error, got_code, got_reason = await _closed_after_error(client)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == code
    assert error["error"]["message"].startswith(message_start)
    assert (got_code, got_reason) == (close_code, reason)
    record = mock_server.connection_log[-1]
    assert record.close_code == close_code and record.refused == (code or "missing_authentication")
    assert not mock_server.connections


async def test_configured_key_is_required():
    async with MockRealtimeServer(api_key="sk-right-key-000000", profile="fast") as server:
        client = await WireClient.open(server, key="sk-wrong-key-1234567890", skip_created=False)
        error, code, reason = await _closed_after_error(client)
        assert error["error"]["code"] == "invalid_api_key"
        # the key is masked as the service masks it
        assert "sk-wrong-key-1234567890" not in error["error"]["message"]
        assert "sk-" + "*" * 16 + "7890" in error["error"]["message"]
        assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")
        async with await WireClient.open(server, key="sk-right-key-000000") as ok:
            await ok.send("input_audio_buffer.clear")
            assert (await ok.recv())["type"] == "input_audio_buffer.cleared"
    assert_valid_events(server)


@pytest.mark.parametrize(
    ("model", "code", "needle"),
    [
        ("gpt-3.5-turbo", "invalid_model", 'Model "gpt-3.5-turbo" is not supported in realtime mode'),
        ("", "missing_model", "model"),
    ],
)
async def test_unknown_or_missing_model_closes_4000(mock_server, model, code, needle):
    client = await WireClient.open(mock_server, model=model or "", skip_created=False)
    error, close_code, reason = await _closed_after_error(client)
    assert error["error"]["code"] == code and needle in error["error"]["message"]
    assert (close_code, reason) == (4000, f"invalid_request_error.{code}")


@pytest.mark.parametrize("via", ["header", "subprotocol"])
async def test_beta_refused_when_disabled_but_ga_served(via):
    async with MockRealtimeServer(allow_beta=False, profile="fast") as server:
        if via == "header":
            client = await WireClient.open(server, dialect="beta", skip_created=False)
        else:
            protocols = ["realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"]
            client = await WireClient.open(server, key=None, subprotocols=protocols, skip_created=False)
        error, code, reason = await _closed_after_error(client)
        assert error["error"]["code"] == "beta_api_shape_disabled"
        assert code == 4000 and reason == "invalid_request_error.beta_api_shape_disabled"
        async with await WireClient.open(server, dialect="ga") as ga:
            assert ga.received[0]["session"]["type"] == "realtime"
    assert_valid_events(server)


@pytest.mark.parametrize("beta", [False, True])
async def test_browser_subprotocols_carry_key_and_dialect(mock_server, beta):
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"] + (["openai-beta.realtime-v1"] if beta else [])
    async with await WireClient.open(mock_server, key=None, subprotocols=protocols, skip_created=False) as client:
        assert client.ws.subprotocol == "realtime"
        created = await client.recv()
    assert ("modalities" in created["session"]) is beta
    record = mock_server.connection_log[-1]
    assert record.api_key == KEY and record.dialect == ("beta" if beta else "ga")


async def test_subprotocol_placeholder_key_is_refused(mock_server):
    protocols = ["realtime", "openai-insecure-api-key.null"]
    client = await WireClient.open(mock_server, key=None, subprotocols=protocols, skip_created=False)
    error, code, _ = await _closed_after_error(client)
    assert error["error"]["code"] == "invalid_api_key" and code == 3000


async def test_conversation_created_is_optional(dialect):
    async with MockRealtimeServer(profile="fast", emit_conversation_created=True) as server:
        async with await WireClient.open(server, dialect=dialect, skip_created=False) as client:
            first, second = await client.recv(), await client.recv()
        assert first["type"] == "session.created"
        assert second["type"] == "conversation.created"
        assert second["conversation"]["id"].startswith("conv_")
    assert_valid_events(server)


async def test_session_expires_with_session_expired_and_1001(dialect):
    async with MockRealtimeServer(profile="fast", max_session_seconds=0.3) as server:
        client = await WireClient.open(server, dialect=dialect, skip_created=False)
        created = await client.recv()
        assert created["session"]["expires_at"] >= 0
        error, code, reason = await _closed_after_error(client)
        message = "Your session hit the maximum duration of 0.3 seconds."
        assert error["error"]["code"] == "session_expired" and error["error"]["message"] == message
        assert (code, reason) == (1001, message)
    assert_valid_events(server)


async def test_expiry_message_counts_minutes():
    async with MockRealtimeServer(profile="fast", max_session_seconds=900) as server:
        async with await WireClient.open(server, skip_created=False) as client:
            created = await client.recv()
            session = server.connections[1]
            assert created["session"]["expires_at"] == int(session.created_at + 900)
            session._start_expiry()  # noqa: SLF001 - trigger the timer now
            task = session._expire_task  # noqa: SLF001
            error = await client.recv()
            await task
        assert error["error"]["message"] == "Your session hit the maximum duration of 15 minutes."
    assert server.connection_log[0].close_code == 1001
    assert_valid_events(server)


async def test_client_close_is_recorded(mock_server):
    client = await WireClient.open(mock_server)
    await client.ws.close(1000)
    for _ in range(100):
        if mock_server.connection_log[0].closed_at is not None:  # the session has ended
            break
        await asyncio.sleep(0.01)
    assert mock_server.connection_log[0].close_code == 1000
    assert not mock_server.connections


async def test_server_stop_closes_clients_going_away():
    server = await MockRealtimeServer(profile="fast").start()
    client = await WireClient.open(server)
    await server.stop()
    with pytest.raises(ConnectionClosed):
        await client.recv()
    assert client.ws.close_code == 1001
    assert_valid_events(server)
