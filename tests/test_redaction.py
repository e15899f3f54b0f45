"""API keys never reach logs, even with DEBUG logging of every library on."""

from __future__ import annotations

import logging

import pytest

from realtime_fast import RealtimeClient
from realtime_fast._redact import redact_text
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import available_transports

SECRET = "sk-proj-SECRETSECRETSECRET0123456789"


@pytest.mark.parametrize("transport", available_transports())
async def test_debug_logs_of_client_mock_and_websocket_library_hold_no_key(transport, caplog):
    caplog.set_level(logging.DEBUG)
    async with MockRealtimeServer(profile="fast") as server:
        client = RealtimeClient(url=server.url, api_key=SECRET, transport=transport, debug=True)
        await client.connect()
        await client.wait_for_session_created()
        await client.disconnect()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Authorization" in text or transport == "picows"  # the handshake was logged (websockets logs headers)
    assert "SECRETSECRET" not in text
    assert "SECRETSECRET" not in repr(client)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("> Authorization: Bearer sk-abcdefghijklmnop1234", "> Authorization: Bearer sk-...1234"),
        ("Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.sk-abcdefghijklmnop1234", "Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.sk-...1234"),
        ("key sk-abcdefghijklmnop1234 leaked", "key sk-...1234 leaked"),
        ("Bearer short", "Bearer ***"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected
