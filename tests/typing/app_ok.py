"""An application's use of realtime_fast's typed payloads: must type-check (tests/test_typing.py)."""

from __future__ import annotations

from typing import Optional

from realtime_fast import RealtimeClient
from realtime_fast.types import CallDtmfEvent, CloseEvent, ConversationUpdatedEvent, ErrorEvent, IdleTimeoutEvent, ItemEvent


def show(event: ConversationUpdatedEvent) -> None:
    delta = event["delta"]
    if delta is not None and "audio" in delta:
        samples: bytes = delta["audio"]
        print(len(samples), event["item"]["id"])


def failed(event: ErrorEvent) -> None:
    print(event["source"], event["message"])


def closed(event: CloseEvent) -> Optional[int]:
    return event["code"]


def key(event: CallDtmfEvent) -> str:
    return event["digit"]


def idle(event: IdleTimeoutEvent) -> int:
    return event["audio_end_ms"] - event["audio_start_ms"]


async def run(client: RealtimeClient) -> str:
    client.on("conversation.updated", show)
    client.on("error", failed)
    client.on("close", closed)
    client.on("call.dtmf", key)
    client.on("conversation.idle_timeout", idle)
    client.on("anything.else", lambda event: None)

    @client.on("conversation.item.completed")
    def done(event: ItemEvent) -> None:
        print(event["item"]["formatted"]["transcript"])

    completed = await client.wait_for_next_completed_item()
    return "" if completed is None else completed["item"]["id"]
