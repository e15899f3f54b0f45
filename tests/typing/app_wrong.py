"""Mistakes the type checker must report (tests/test_typing.py): each line marked ``# error`` is one."""

from __future__ import annotations

from realtime_fast import RealtimeClient
from realtime_fast.types import CallDtmfEvent, ConversationUpdatedEvent, ErrorEvent


def show(event: ConversationUpdatedEvent) -> None:
    print(event["delta"]["text"])  # error: the delta is None for item changes without new content


def failed(event: ErrorEvent) -> None:
    print(event["text"])  # error: an error payload has "message", not "text"


def pressed(event: CallDtmfEvent) -> int:
    return event["digit"]  # error: a DTMF digit is a str ("0".."9", "*", "#", "A".."D")


async def item_id(client: RealtimeClient) -> str:
    completed = await client.wait_for_next_completed_item(timeout=5)
    return completed["item"]["id"]  # error: None after a timeout
