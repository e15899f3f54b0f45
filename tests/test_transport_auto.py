"""``transport="auto"``: picows when it imports, websockets when it does not.

The picows-less cases run in a subprocess that blocks ``import picows`` before the
package is imported, so this process's modules are left as they are.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import available_transports, create_transport

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test-realtime-fast-auto-0123456789"

#: Run with picows unimportable (``sys.modules["picows"] = None`` makes ``import picows``
#: raise ImportError): what "auto" picks, and a whole client session with it.
WITHOUT_PICOWS = """
import asyncio, json, sys
sys.modules["picows"] = None
from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import available_transports, create_transport

async def session():
    async with MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, "sk-test-realtime-fast-auto-0123456789", transport="auto")
        await client.connect()
        await client.wait_for_session_created()
        name = client.realtime.transport.name
        done = asyncio.get_running_loop().create_future()
        client.on("conversation.item.completed",
                  lambda e: e["item"]["role"] == "assistant" and not done.done() and done.set_result(e["item"]))
        client.send_user_message_content([{"type": "input_text", "text": "no picows"}])
        item = await asyncio.wait_for(done, 10)
        await client.disconnect()
        return name, item["formatted"]["transcript"], len(item["formatted"]["audio"])

try:
    create_transport("picows")
    explicit = "created"
except ImportError:
    explicit = "ImportError"
name, transcript, samples = asyncio.run(session())
print(json.dumps({
    "available": available_transports(),
    "auto": create_transport("auto").name,
    "default": create_transport().name,
    "explicit_picows": explicit,
    "client_transport": name,
    "transcript": transcript,
    "samples": samples,
}))
"""


def test_auto_is_picows_when_picows_imports() -> None:
    pytest.importorskip("picows")
    from realtime_fast.transport.picows_transport import PicowsTransport

    assert available_transports() == ["picows", "websockets"]
    transport = create_transport("auto")
    assert transport.name == "picows" and isinstance(transport, PicowsTransport)
    assert create_transport().name == "picows"  # "auto" is the default


def test_auto_is_websockets_when_picows_does_not_import() -> None:
    # The same interpreter and the same installed package as this process.
    proc = subprocess.run([sys.executable, "-c", WITHOUT_PICOWS], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["available"] == ["websockets"]
    assert facts["auto"] == "websockets" and facts["default"] == "websockets"
    assert facts["explicit_picows"] == "ImportError"  # asked for by name, it is not silently replaced
    # RealtimeClient(transport="auto") works without picows, on websockets
    assert facts["client_transport"] == "websockets"
    assert facts["transcript"] == 'You said: "no picows"' and facts["samples"] > 0


async def test_client_with_auto_transport_connects_with_picows() -> None:
    pytest.importorskip("picows")
    async with MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY)  # transport="auto" is the default
        explicit = RealtimeClient(mock.url, KEY, transport="auto")
        for c in (client, explicit):
            assert await c.connect() is True
            await c.wait_for_session_created()
            assert c.realtime.transport is not None and c.realtime.transport.name == "picows"
        done = asyncio.get_running_loop().create_future()

        def on_completed(event: dict) -> None:
            if event["item"]["role"] == "assistant" and not done.done():
                done.set_result(event["item"])

        explicit.on("conversation.item.completed", on_completed)
        explicit.send_user_message_content([{"type": "input_text", "text": "auto"}])
        item = await asyncio.wait_for(done, 10)
        assert item["formatted"]["transcript"] == 'You said: "auto"' and len(item["formatted"]["audio"]) > 0
        for c in (client, explicit):
            assert await c.disconnect() is True
            assert not c.is_connected()
