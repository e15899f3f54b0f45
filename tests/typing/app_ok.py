"""An application's use of realtime_fast's typed payloads: must type-check (tests/test_typing.py)."""

from __future__ import annotations

from typing import Optional

from realtime_fast import RealtimeClient
from realtime_fast.types import CloseEvent, ConversationUpdatedEvent, ErrorEvent, ItemEvent


def show(event: ConversationUpdatedEvent) -> None:
    delta = event["delta"]
    if delta is not None and "audio" in delta:
        samples: bytes = delta["audio"]
        print(len(samples), event["item"]["id"])


def failed(event: ErrorEvent) -> None:
    print(event["source"], event["message"])


def closed(event: CloseEvent) -> Optional[int]:
    return event["code"]


async def run(client: RealtimeClient) -> str:
    client.on("conversation.updated", show)
    client.on("error", failed)
    client.on("close", closed)
    client.on("anything.else", lambda event: None)

    @client.on("conversation.item.completed")
    def done(event: ItemEvent) -> None:
        print(event["item"]["formatted"]["transcript"])

    completed = await client.wait_for_next_completed_item()
    return "" if completed is None else completed["item"]["id"]
