"""Servers that misbehave within a session, and handlers that block: what the client does about them.

End-to-end on both transports, against small servers written here.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import numpy as np
import orjson
import pytest
from _realtime_helpers import KEY, EventLog, TRANSPORTS
from websockets.asyncio.server import serve

from realtime_fast import ConversationError, RealtimeClient, in_thread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


class Server:
    """Sends ``session.created``, then ``events`` in order, then one ``response.done``; reads until closed."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    async def __aenter__(self) -> str:
        async def handler(ws: Any) -> None:
            await ws.send(orjson.dumps({"type": "session.created", "event_id": "e0", "session": {}}), text=True)
            await ws.recv()  # the client's session.update: it is connected and listening
            for number, event in enumerate(self.events, 1):
                await ws.send(orjson.dumps({"event_id": f"event_{number}", **event}), text=True)
            await ws.send(orjson.dumps({"type": "response.done", "event_id": "event_done", "response": {"id": "resp_end"}}), text=True)
            async for _ in ws:
                pass

        self.server = await serve(handler, "127.0.0.1", 0, compression=None)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/realtime"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


def assistant_turn(response_id: str, item_id: str, transcript: str, pcm: bytes) -> list[dict[str, Any]]:
    """What the service sends for one spoken assistant item (GA names), up to its last delta."""
    item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    return [
        {"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item},
        {"type": "conversation.item.added", "previous_item_id": None, "item": item},
        {"type": "response.content_part.added", "response_id": response_id, "item_id": item_id, "output_index": 0,
         "content_index": 0, "part": {"type": "output_audio", "transcript": ""}},
        {"type": "response.output_audio_transcript.delta", "response_id": response_id, "item_id": item_id,
         "output_index": 0, "content_index": 0, "delta": transcript},
        {"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id, "output_index": 0,
         "content_index": 0, "delta": base64.b64encode(pcm).decode()},
    ]


async def until_done(client: RealtimeClient) -> None:
    await client.realtime.wait_for_next("server.response.done", timeout=10)


# -- two items with one id ----------------------------------------------------------------------------


@pytest.mark.parametrize("listeners", ["updates-only", "every-event"])
async def test_a_second_item_with_the_same_id_is_an_error_and_the_two_are_not_merged(transport: str, listeners: str) -> None:
    first, second = np.arange(240, dtype="<i2").tobytes(), np.full(240, 7, dtype="<i2").tobytes()
    events = assistant_turn("resp_1", "item_x", "first", first) + assistant_turn("resp_2", "item_x", "second", second)
    async with Server(events) as url:
        client = RealtimeClient(url, KEY, transport=transport)
        log = EventLog(client, ["error", "conversation.updated"] + (["realtime.event"] if listeners == "every-event" else []))
        await client.connect()
        await until_done(client)
        item = client.conversation.get_item("item_x")
        assert item["formatted"]["transcript"] == "first" and item["content"] == [{"type": "output_audio", "transcript": "first"}]
        assert item["formatted"]["audio"].to_bytes() == first
        assert [i["id"] for i in client.conversation.get_items()] == ["item_x"]
        errors = log.of("error")
        assert len(errors) == 1 and errors[0]["source"] == "protocol"
        assert isinstance(errors[0]["exception"], ConversationError)
        assert 'the server gave a second item the id "item_x"' in errors[0]["message"]
        await client.disconnect()


# -- a delta before its item ---------------------------------------------------------------------------


async def test_a_delta_for_an_item_not_announced_yet_is_reported_and_dropped(transport: str) -> None:
    # The service announces every item before streaming into it; a delta that comes
    # first cannot be placed, so it is dropped with an error, and the item's own deltas work.
    pcm = np.arange(240, dtype="<i2").tobytes()
    turn = assistant_turn("resp_1", "item_y", "hello", pcm)
    early = dict(turn[4], delta="too early ")
    async with Server([early] + turn) as url:
        client = RealtimeClient(url, KEY, transport=transport)
        log = EventLog(client, ["error", "conversation.updated"])
        await client.connect()
        await until_done(client)
        item = client.conversation.get_item("item_y")
        assert item["formatted"]["transcript"] == "hello" and item["formatted"]["audio"].to_bytes() == pcm
        [error] = log.of("error")
        assert error["source"] == "protocol" and error["event"]["delta"] == "too early "
        assert 'Item "item_y" not found' in error["message"]
        await client.disconnect()


# -- handlers that block -----------------------------------------------------------------------------------


async def test_a_blocking_handler_in_a_thread_leaves_the_receive_path_running(transport: str) -> None:
    pcm = np.arange(240, dtype="<i2").tobytes()
    async with Server(assistant_turn("resp_1", "item_z", "hi", pcm)) as url:
        client = RealtimeClient(url, KEY, transport=transport)
        release = threading.Event()
        handled: list[tuple[str, str]] = []

        def slow(event: dict[str, Any]) -> None:
            # Blocks until the test has seen the session go on; on the loop, this would never return.
            assert release.wait(10), "the receive path stopped while the handler ran"
            handled.append((threading.current_thread().name, event["item"]["id"]))

        client.on("conversation.item.appended", in_thread(slow))
        await client.connect()
        await until_done(client)  # the rest of the response arrived while slow() was blocked
        release.set()
        assert await client.wait_for_handlers(10)
        assert [item for _, item in handled] == ["item_z"] and handled[0][0].startswith("realtime_fast-handler")
        await client.disconnect()


async def test_in_thread_keeps_dispatch_order_and_reports_failures() -> None:
    client = RealtimeClient("ws://127.0.0.1:9/v1/realtime", KEY)
    seen: list[int] = []
    errors = EventLog(client, ["error"])

    def handler(event: int) -> None:
        if event == 3:
            raise ValueError("three")
        seen.append(event)

    client.on("tick", in_thread(handler))
    for number in range(6):
        client.dispatch("tick", number)
    assert await client.wait_for_handlers(10)
    assert seen == [0, 1, 2, 4, 5]
    [error] = errors.of("error")
    assert error["source"] == "handler" and 'Handler for "tick" raised ValueError: three' == error["message"]
    with pytest.raises(TypeError, match="for plain functions"):
        in_thread(until_done)


# -- a server close the client reconnects after ----------------------------------------------------


async def test_a_1011_close_is_an_error_event_that_says_the_client_reconnects(transport: str) -> None:
    connections = 0

    async def handler(ws: Any) -> None:
        nonlocal connections
        connections += 1
        await ws.send(orjson.dumps({"type": "session.created", "event_id": "e0", "session": {}}), text=True)
        if connections == 1:
            await ws.recv()
            await ws.close(1011, "overloaded")
        async for _ in ws:
            pass

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
        client = RealtimeClient(url, KEY, transport=transport, reconnect=True, reconnect_delay=0.01)
        log = EventLog(client, ["error", "close", "reconnected"])
        await client.connect()
        await log.wait_for("reconnected")
        close, error = log.of("close")[0], log.of("error")[0]
        assert (close["code"], close["error"], close["reconnecting"]) == (1011, False, True)
        assert error["message"].endswith("closed the connection with code 1011 (internal error), reason 'overloaded'; the client reconnects.")
        await client.disconnect()
