"""The conversation of one mock session: its items in order, and the ``conversation.item.*`` events.

:class:`Conversation` holds the items and answers ``conversation.item.create``,
``.retrieve``, ``.delete`` and ``.truncate``; the session's input audio and
responses add their items through :meth:`Conversation.insert` and
:meth:`Conversation.announce`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Iterator

from ._errors import ClientEventError
from ._schema import Any_, Arr, Bool, Nullable, Obj, Str
from .dialects import Dialect, SessionView
from .outbox import Outbox
from .script import Script
from .synth import BYTES_PER_SAMPLE, SAMPLE_RATES, b64encode

__all__ = ["Conversation", "Item", "decode_audio"]

_OBJECT = Any_("an object", dict)
_ITEM_COMMON = {
    "id": Str(max_len=32),
    "type": Str(),
    "object": Str(("realtime.item",)),
    "status": Str(("completed", "incomplete", "in_progress")),
}
_ITEM_SPECS = {
    "message": Obj(
        {**_ITEM_COMMON, "role": Str(("user", "assistant", "system")), "content": Arr(_OBJECT)}, ("role", "content")
    ),
    "function_call": Obj(
        {**_ITEM_COMMON, "call_id": Str(max_len=64), "name": Str(), "arguments": Str()}, ("name", "arguments")
    ),
    "function_call_output": Obj({**_ITEM_COMMON, "call_id": Str(max_len=64), "output": Str()}, ("call_id", "output")),
    "mcp_approval_response": Obj(
        {"id": Str(max_len=32), "type": Str(), "approval_request_id": Str(), "approve": Bool(), "reason": Nullable(Str())},
        ("approval_request_id", "approve"),
    ),
}
#: Item types only the GA dialect takes from a client.
_GA_ONLY_ITEMS = frozenset({"mcp_approval_response"})
#: Image types a data URL in an ``input_image`` part may carry (the service takes PNG and JPEG).
_IMAGE_TYPES = ("image/png", "image/jpeg")
_PART_SPECS = {
    "input_text": Obj({"type": Str(), "text": Str()}, ("text",)),
    "input_audio": Obj({"type": Str(), "audio": Str(), "transcript": Nullable(Str())}),
    "input_image": Obj({"type": Str(), "image_url": Str(), "detail": Str(("auto", "low", "high"))}, ("image_url",)),
    "text": Obj({"type": Str(), "text": Str()}, ("text",)),
    "output_text": Obj({"type": Str(), "text": Str()}, ("text",)),
}


def _check_image_url(url: str, param: str) -> None:
    """A ``data:`` URL must hold a base64 PNG or JPEG image (other URLs pass, as the service fetches them)."""
    if not url.startswith("data:"):
        return
    header, _, data = url.partition(",")
    mime_type = header[len("data:"):].partition(";")[0]
    try:
        ok = header.endswith(";base64") and mime_type in _IMAGE_TYPES and bool(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ClientEventError(
            f"Invalid '{param}'. Expected a base64-encoded data URL with an image/png or image/jpeg image.",
            code="invalid_value",
            param=param,
        )


def image_summary(url: str) -> str:
    """How the mock "sees" an image: ``[image/png, 1234 bytes]`` for a data URL, ``[image]`` otherwise."""
    header, _, data = url.partition(",")
    if not url.startswith("data:"):
        return "[image]"
    mime_type = header[len("data:"):].partition(";")[0]
    return f"[{mime_type}, {len(data) * 3 // 4 - data[-2:].count('=')} bytes]"


def decode_audio(text: str, param: str, fmt: str) -> bytes:
    """The audio bytes of base64 ``text`` in format ``fmt``; ClientEventError naming ``param`` when invalid."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = None
    if data is None or (fmt == "pcm16" and len(data) % 2):
        raise ClientEventError(
            f"Invalid '{param}'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) but got an invalid value.",
            code="invalid_value",
            param=param,
        )
    return data


class Item:
    """A conversation item: its wire ``data`` (never holding audio bytes) plus server-side extras.

    ``audio`` holds the item's audio bytes in ``audio_format`` (user input, or the
    assistant's synthesised audio of which ``audio_ms`` ms were actually sent);
    ``heard`` is what the script decided the user said in a user audio item;
    ``idle`` marks the silent user turn an idle timeout committed.
    """

    __slots__ = ("id", "data", "audio", "audio_format", "audio_ms", "heard", "idle")

    def __init__(
        self, data: dict[str, Any], audio: bytes | None = None, audio_format: str = "pcm16", heard: str | None = None
    ) -> None:
        self.id: str = data["id"]
        self.data = data
        self.audio = audio
        self.audio_format = audio_format
        self.audio_ms = 0.0
        self.heard = heard
        self.idle = False


class Conversation:
    """The items of one session, in order and by id (see the module docstring).

    ``view`` returns the session's current configuration (it changes with
    ``session.update``); iterating gives the items in conversation order.
    """

    def __init__(self, dialect: Dialect, outbox: Outbox, script: Script, view: Callable[[], SessionView]) -> None:
        self._dialect = dialect
        self._outbox = outbox
        self._script = script
        self._view = view
        self._items: list[Item] = []
        self._by_id: dict[str, Item] = {}

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # ------------------------------------------------------------------ lookups and changes

    def get(self, item_id: str) -> Item | None:
        """The item ``item_id``, or ``None``."""
        return self._by_id.get(item_id)

    def lookup(self, item_id: str, param: str = "item_id") -> Item:
        """The item ``item_id``; ClientEventError (``item_not_found``, naming ``param``) when there is none."""
        item = self._by_id.get(item_id)
        if item is None:
            raise ClientEventError.item_not_found(item_id, param)
        return item

    def last_id(self) -> str | None:
        """The id of the last item, or ``None`` when the conversation is empty."""
        return self._items[-1].id if self._items else None

    def previous_of(self, item: Item) -> str | None:
        """The id of the item before ``item`` (``None`` when first or no longer present)."""
        try:
            index = self._items.index(item)
        except ValueError:
            return None
        return self._items[index - 1].id if index > 0 else None

    def insert(self, item: Item, index: int | None = None) -> str | None:
        """Insert ``item`` (at the end by default); returns its previous item's id."""
        if index is None:
            index = len(self._items)
        self._items.insert(index, item)
        self._by_id[item.id] = item
        return self._items[index - 1].id if index > 0 else None

    async def announce(self, item: Item, previous: str | None) -> None:
        """Tell the client about a finished new item (beta: created; GA: added + done)."""
        for etype in self._dialect.item_event_types():
            await self._outbox.send(etype, previous_item_id=previous, item=item.data)

    # ------------------------------------------------------------------ client events

    async def on_create(self, event: dict[str, Any]) -> None:
        """``conversation.item.create``: validate the item and insert it where the client asked."""
        await self._outbox.ack_pause()
        previous_id = event.get("previous_item_id")
        item = self._client_item(event["item"])
        if previous_id is None:
            index = len(self._items)
        elif previous_id == "root":
            index = 0
        else:
            index = self._items.index(self.lookup(previous_id, "previous_item_id")) + 1
        previous = self.insert(item, index)
        await self.announce(item, previous)

    async def on_retrieve(self, event: dict[str, Any]) -> None:
        """``conversation.item.retrieve``: the full item, with the audio that was sent as base64."""
        await self._outbox.ack_pause()
        item = self.lookup(event["item_id"])
        data = dict(item.data)
        if "content" in data:
            data["content"] = [dict(p) for p in data["content"]]
            if item.audio is not None:
                width = BYTES_PER_SAMPLE[item.audio_format]
                samples = int(item.audio_ms * SAMPLE_RATES[item.audio_format] / 1000)
                for part in data["content"]:
                    if part["type"] in ("input_audio", self._dialect.item_audio_type):
                        part["audio"] = b64encode(item.audio[: samples * width])
                        break
        await self._outbox.send("conversation.item.retrieved", item=data)

    async def on_delete(self, event: dict[str, Any]) -> None:
        """``conversation.item.delete``."""
        await self._outbox.ack_pause()
        item = self.lookup(event["item_id"])
        self._items.remove(item)
        del self._by_id[item.id]
        await self._outbox.send("conversation.item.deleted", item_id=item.id)

    async def on_truncate(self, event: dict[str, Any]) -> None:
        """``conversation.item.truncate``: cut an assistant audio item to what the user heard."""
        await self._outbox.ack_pause()
        item = self.lookup(event["item_id"])
        index = event["content_index"]
        end_ms = event["audio_end_ms"]
        data = item.data
        if data["type"] != "message" or data.get("role") != "assistant" or item.audio is None:
            raise ClientEventError("Only model output audio messages can be truncated")
        content = data["content"]
        if index >= len(content) or content[index]["type"] != self._dialect.item_audio_type:
            raise ClientEventError(
                f"Invalid 'content_index': item {item.id} has no audio content at index {index}.",
                code="invalid_value",
                param="content_index",
            )
        sent_ms = int(item.audio_ms)
        if end_ms > sent_ms:
            err = ClientEventError(
                f"Audio content of {sent_ms}ms is already shorter than {end_ms}ms",
                code="invalid_value",
                param="audio_end_ms",
            )
            if self._dialect.beta:
                raise err
            # GA (observed 2026): the error, then the item is still truncated to its real length.
            await self._outbox.send_error(err, event.get("event_id"))
            end_ms = sent_ms
        item.audio_ms = float(end_ms)
        content[index]["transcript"] = ""
        await self._outbox.send(
            "conversation.item.truncated", item_id=item.id, content_index=index, audio_end_ms=end_ms
        )

    def _client_item(self, raw: dict[str, Any]) -> Item:
        kind = raw.get("type")
        if kind is None:
            raise ClientEventError.missing("item.type")
        if not isinstance(kind, str):
            raise ClientEventError.invalid_type("item.type", "a string", kind)
        spec = _ITEM_SPECS.get(kind)
        if spec is None or (kind in _GA_ONLY_ITEMS and self._dialect.beta):
            kinds = tuple(k for k in _ITEM_SPECS if not (k in _GA_ONLY_ITEMS and self._dialect.beta))
            raise ClientEventError.invalid_value(kind, kinds, "item.type")
        spec.check(raw, "item")
        new_id = self._outbox.new_id
        item_id = raw.get("id") or new_id("item_")
        if item_id in self._by_id:
            raise ClientEventError(
                f"Item with id '{item_id}' already exists in the conversation.",
                code="duplicate_item_id",
                param="item.id",
            )
        if kind == "mcp_approval_response":
            return self._approval_response(item_id, raw)
        base = {"id": item_id, "object": "realtime.item", "type": kind, "status": "completed"}
        if kind == "function_call":
            base.update(call_id=raw.get("call_id") or new_id("call_", 16), name=raw["name"], arguments=raw["arguments"])
            return Item(base)
        if kind == "function_call_output":
            call_id = raw["call_id"]
            if not any(i.data["type"] == "function_call" and i.data.get("call_id") == call_id for i in self._items):
                raise ClientEventError(
                    f"Tool call ID '{call_id}' not found in conversation.",
                    code="invalid_tool_call_id",
                    param="item.call_id",
                )
            base.update(call_id=call_id, output=raw["output"])
            return Item(base)
        role = raw["role"]
        dialect = self._dialect
        allowed = {
            "system": ("input_text",),
            "user": dialect.user_content_types,
            "assistant": (dialect.item_text_type,),
        }[role]
        content: list[dict[str, Any]] = []
        audio: bytes | None = None
        heard: str | None = None
        fmt = self._view().input_format
        for i, part in enumerate(raw["content"]):
            path = f"item.content[{i}]"
            ptype = part.get("type")
            if ptype is None:
                raise ClientEventError.missing(f"{path}.type")
            if ptype not in allowed:
                raise ClientEventError.invalid_value(ptype, allowed, f"{path}.type")
            _PART_SPECS[ptype].check(part, path)
            if ptype == "input_audio":
                if "audio" not in part and part.get("transcript") is None:
                    raise ClientEventError.missing(f"{path}.audio")
                if "audio" in part:
                    audio = (audio or b"") + decode_audio(part["audio"], f"{path}.audio", fmt)
                transcript = part.get("transcript")
                content.append({"type": "input_audio", "transcript": transcript})
                if transcript is not None:
                    heard = transcript
            elif ptype == "input_image":
                _check_image_url(part["image_url"], f"{path}.image_url")
                content.append(dict(part))
            else:
                content.append({"type": ptype, "text": part["text"]})
        base.update(role=role, content=content)
        item = Item(base, audio=audio, audio_format=fmt)
        if audio is not None:
            item.audio_ms = len(audio) / BYTES_PER_SAMPLE[fmt] * 1000 / SAMPLE_RATES[fmt]
            if heard is None:
                heard, _ = self._script.next_transcript(item.audio_ms)
        item.heard = heard
        return item

    def _approval_response(self, item_id: str, raw: dict[str, Any]) -> Item:
        """An ``mcp_approval_response`` item: it must answer an approval request of this conversation."""
        request_id = raw["approval_request_id"]
        request = self._by_id.get(request_id)
        if request is None or request.data["type"] != "mcp_approval_request":
            raise ClientEventError(
                f"Approval request '{request_id}' not found in conversation.",
                code="invalid_value",
                param="item.approval_request_id",
            )
        data: dict[str, Any] = {
            "id": item_id,
            "type": "mcp_approval_response",
            "approval_request_id": request_id,
            "approve": raw["approve"],
        }
        if raw.get("reason") is not None:
            data["reason"] = raw["reason"]
        return Item(data)
