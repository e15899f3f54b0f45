"""Mistakes the type checker must report (tests/test_typing.py): each line marked ``# error`` is one."""

from __future__ import annotations

from realtime_fast import RealtimeClient
from realtime_fast.types import ConversationUpdatedEvent, ErrorEvent


def show(event: ConversationUpdatedEvent) -> None:
    print(event["delta"]["text"])  # error: the delta is None for item changes without new content


def failed(event: ErrorEvent) -> None:
    print(event["text"])  # error: an error payload has "message", not "text"


async def item_id(client: RealtimeClient) -> str:
    completed = await client.wait_for_next_completed_item(timeout=5)
    return completed["item"]["id"]  # error: None after a timeout
