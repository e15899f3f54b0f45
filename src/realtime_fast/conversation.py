"""RealtimeConversation: folds server events into an ordered list of items.

Every stored item is the server's item (a copy) plus ``item["formatted"]``:

* ``audio``: an :class:`~realtime_fast.audio.AudioBuffer` with every PCM16
  sample of the item, at the rate of the session's audio format (24 kHz for
  ``pcm16``; 8 kHz for ``g711_ulaw`` and ``g711_alaw``, decoded to PCM16 as
  it arrives; the buffer's ``format`` and ``rate`` say which);
  ``numpy.frombuffer(item["formatted"]["audio"],
  numpy.int16)`` reads it without a copy.  While such a view is alive the
  buffer cannot grow, so the conversation then puts a copy in its place and
  appends there: audio is never lost, and the view keeps showing the samples
  it was made from.
* ``text`` (from ``text``/``input_text``/``output_text`` parts and text deltas),
  ``transcript`` (audio transcript deltas or the input transcription),
* ``tool`` (``{"type": "function", "name", "call_id", "arguments"}``) for
  function calls, ``output`` for function call outputs.

:meth:`RealtimeConversation.process_event` takes beta and GA server events
alike (GA names are aliases of the beta ones, see
:data:`realtime_fast.dialects.SERVER_EVENT_ALIASES`) and returns
``(item, delta)``: the item the event changed (or None) and what changed
(None, ``{"audio": bytes}``, ``{"text": str}``, ``{"transcript": str}`` or
``{"arguments": str}``).  ``delta["audio"]`` is ``bytes`` holding only the new
PCM16 samples.

Input transcription of user audio (``conversation.item.input_audio_transcription.*``,
the same names in beta and GA):

* ``.delta`` (GA servers; several per item with ``gpt-4o-transcribe``, one
  holding the whole text with ``whisper-1``) appends its text to the part's
  ``transcript`` and to ``formatted["transcript"]``: ``{"transcript": delta}``.
  A delta without text changes nothing; a ``delta`` that is not a string is a
  :class:`ConversationError`.
* ``.completed`` sets the final transcript (it replaces what the deltas built;
  an empty one is shown as ``" "``, as the reference does).  Its delta is the
  text it adds: the whole transcript when no delta came first (the reference's
  case), the rest of it when it extends the deltas' text (``""`` when equal),
  and None when it differs from it (re-read ``formatted["transcript"]``, as
  after a truncation).  So the ``transcript`` deltas of a user item always add
  up to its final transcript when the server's deltas do.
* both are queued for an item not known yet (the transcription runs alongside
  the item's creation) and applied when it is created;
* ``.failed`` changes nothing (no transcript, captions already shown stay); the
  client reports it as an ``error`` event.

``conversation.item.retrieved`` (the answer to ``conversation.item.retrieve``)
refreshes a known item in place from the server's full item: its fields,
``status`` and ``content`` (transcripts included) are the server's, and
``formatted`` follows them where the server has a value (text parts, non-null
transcripts, function call fields); ``formatted["audio"]`` is kept, or, when
still empty, replaced by a buffer decoded straight from the item's base64
audio parts (no intermediate copy: such an item can be megabytes).  An unknown item is
added as ``conversation.item.created`` would (the server says it exists), at
the end of the list.  Either way the delta is None.

A diarizing transcription model's ``conversation.item.input_audio_transcription.segment``
events are appended to the user item's ``formatted["segments"]``
(``{"segment": {...}}`` deltas; kept for an item not known yet).

MCP items (GA) carry no status on the wire, so the conversation gives them
one: an ``mcp_call`` or ``mcp_list_tools`` item is ``in_progress`` until its
final form (``conversation.item.done``, ``response.output_item.done`` or a
retrieval) brings its arguments and ``output`` (or ``error``: then it is
``incomplete``), or its ``tools``; ``mcp_list_tools.failed`` and
``response.mcp_call.failed`` make it ``incomplete``.  MCP call arguments
stream like a function call's (``{"arguments": delta}``) into
``formatted["tool"]`` (``{"type": "mcp", "server_label", "name",
"arguments"}``).  Approval requests and responses are complete when
announced.  Lifecycle events naming an item the conversation does not know
are ignored.

After a reconnect, :meth:`RealtimeConversation.text_history` gives the items
a new session can be given as text, and :meth:`RealtimeConversation.replay_as`
moves a local item to the id of its new copy.

Departures from the reference, all deliberate: a queued input transcription is
applied (the reference reads the wrong key); an event naming an unknown item
raises :class:`ConversationError` (the client turns it into an ``error`` event),
except for items of out-of-band responses (``conversation_id`` null), which are
ignored; queued input audio goes to the next user item that has an
``input_audio`` part (not to a text message created in between); a repeated
``conversation.item.done`` for a known item changes nothing, but a second
``conversation.item.created`` (GA: ``.added``) with a known item's id is a
:class:`ConversationError`: the server gave two items one id, so the new item
is not added, the id is put in :attr:`RealtimeConversation.duplicate_ids`, and
every later event about it (deltas, parts, transcriptions, ``output_item.done``)
is ignored, so the two are never merged (the first item keeps what it had);
a delta for an item that was never created (or was forgotten, see
``max_history_items``) is a :class:`ConversationError` and is dropped, as the
service always announces an item before streaming into it; ``response.done``
is recorded on the stored response; an input transcription event without an
``item_id`` raises :class:`ConversationError` (the reference queues it under
``undefined``, where it is never used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from ._impl import load
from .audio import SAMPLE_RATE, AudioBuffer
from .errors import RealtimeError
from .names import (
    AUDIO_PART_TYPES,
    MCP_APPROVAL_REQUEST,
    MCP_CALL,
    MCP_ITEM_TYPES,
    MCP_LIST_TOOLS,
    SERVER_EVENT_ALIASES,
    TEXT_PART_TYPES,
    TRANSCRIPTION_SEGMENT,
)

_core, _ = load("_conversation_core")
if TYPE_CHECKING:  # type checkers read the pure twin, the specification
    from ._conversation_core_py import ConversationCore, append_text
else:
    #: The item store and the streamed-delta rules (compiled when built): see ``_conversation_core_py``.
    ConversationCore = _core.ConversationCore
    append_text = _core.append_text

__all__ = ["ConversationError", "RealtimeConversation"]

Item = Dict[str, Any]
Delta = Optional[Dict[str, Any]]
Result = Tuple[Optional[Item], Delta]

#: Largest number of speech segments / transcripts kept waiting for their item.
MAX_QUEUED = 64

#: Content part types whose base64 ``audio`` a retrieved item may carry (user input, assistant output).
_RETRIEVED_AUDIO_PARTS = AUDIO_PART_TYPES | {"input_audio"}


class ConversationError(RealtimeError, ValueError):
    """A server event could not be folded into the conversation (malformed, or naming an unknown item)."""


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts and lists are copied, everything else shared)."""
    if type(value) is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [json_copy(v) for v in value]
    return value


def tail_bytes(buffer: AudioBuffer, start: int) -> bytes:
    """A ``bytes`` copy of samples ``start:`` of ``buffer`` (2 bytes per sample); no view is left behind."""
    return buffer.to_bytes(start)


def as_audio_buffer(samples: Any) -> AudioBuffer:
    """``samples`` as an AudioBuffer (PCM16 bytes-like or int16 array; an AudioBuffer is returned as is)."""
    if isinstance(samples, AudioBuffer):
        return samples
    buffer = AudioBuffer()
    buffer.append(samples)
    return buffer


class RealtimeConversation(ConversationCore):
    """The local copy of the conversation, built from server events.

    ``max_history_items`` bounds ``items`` for long sessions: once more items
    are stored, the oldest ones that are not ``in_progress`` are dropped (from
    this local copy only; the server keeps its own history).  Later events
    naming a dropped item are reported like any unknown item.
    """

    #: Sample rate (Hz) of the ``pcm16`` format.  ``*_ms`` fields are turned into sample
    #: indices at the rate of the audio they refer to (each AudioBuffer's ``rate``).
    default_frequency: int = SAMPLE_RATE

    def __init__(self, *, max_history_items: Optional[int] = None) -> None:
        if max_history_items is not None and (not isinstance(max_history_items, int) or max_history_items < 1):
            raise ValueError(f"max_history_items must be a positive number of items or None, got {max_history_items!r}.")
        super().__init__()  # item_lookup, audio_buffers, duplicate_ids
        self.max_history_items = max_history_items
        self.items: List[Item] = []
        self.response_lookup: Dict[str, Dict[str, Any]] = {}
        self.responses: List[Dict[str, Any]] = []
        self.queued_speech_items: Dict[str, Dict[str, Any]] = {}
        self.queued_transcript_items: Dict[str, Dict[str, Any]] = {}
        #: item id -> ``{"segments": [...]}``: diarized segments that arrived before their item.
        self.queued_segments: Dict[str, Dict[str, Any]] = {}
        self.queued_input_audio: Optional[AudioBuffer] = None
        self._out_of_band: Set[str] = set()
        self._completed_ids: Set[str] = set()
        #: Wire formats of the session's audio (``"pcm16"``, ``"g711_ulaw"``, ``"g711_alaw"``): new
        #: assistant items' buffers decode the output format, user items' the input format.
        #: The client keeps them in step with the session.
        self.input_audio_format: str = "pcm16"
        self.output_audio_format: str = "pcm16"
        #: Ids of items re-created in a new session (see :meth:`replay_as`) whose announcement is due.
        self._replayed: Set[str] = set()
        #: event type -> processor function, called as ``processor(self, event)`` (one table per class).
        self._processors = _processor_table(type(self))

    # -- public API -----------------------------------------------------------------

    def clear(self) -> bool:
        """Forget every item, response and queued audio or transcript."""
        self.audio_buffers.clear()  # the API holds this very dict
        self.item_lookup.clear()
        self.items = []
        self.response_lookup = {}
        self.responses = []
        self.queued_speech_items = {}
        self.queued_transcript_items = {}
        self.queued_segments = {}
        self.queued_input_audio = None
        self._out_of_band = set()
        self._completed_ids = set()
        self._replayed = set()
        self.duplicate_ids.clear()
        return True

    def queue_input_audio(self, input_audio: Any) -> AudioBuffer:
        """Keep ``input_audio`` (PCM16) for the next user item with an ``input_audio`` part; returns it as an AudioBuffer."""
        self.queued_input_audio = as_audio_buffer(input_audio)
        return self.queued_input_audio

    def process_event(self, event: Dict[str, Any], *args: Any) -> Result:
        """Fold one server event into the conversation; returns ``(item, delta)`` (see the module docstring).

        ``args`` are passed to the processor: ``input_audio_buffer.speech_stopped``
        takes the client's input audio buffer, to cut the speech segment from,
        and the session time (ms) of that buffer's sample 0.
        Raises :class:`ConversationError` for an event without ``event_id`` or
        ``type``, a type with no processor, or one naming an unknown item.
        """
        if not event.get("event_id"):
            raise ConversationError('Missing "event_id" on event')
        event_type = event.get("type")
        if not event_type:
            raise ConversationError('Missing "type" on event')
        processor = self._processors.get(event_type)
        if processor is None:
            raise ConversationError(f'Missing conversation event processor for "{event_type}"')
        return processor(self, event, *args) if args else processor(self, event)

    def can_process(self, event_type: str) -> bool:
        """True when :meth:`process_event` has a processor for ``event_type`` (beta or GA name)."""
        return event_type in self._processors

    def get_item(self, item_id: str) -> Optional[Item]:
        """The item with id ``item_id``, or None."""
        return self.item_lookup.get(item_id)

    def get_items(self) -> List[Item]:
        """A shallow copy of the item list, oldest first."""
        return list(self.items)

    def response_status(self, response_id: str) -> Optional[str]:
        """The last known status of response ``response_id`` (``in_progress``, ``completed``, ...), or None."""
        response = self.response_lookup.get(response_id)
        return response.get("status") if response is not None else None

    def response_of_item(self, item_id: str) -> Optional[Dict[str, Any]]:
        """The stored response whose output holds item ``item_id``, or None."""
        for response in reversed(self.responses):
            if item_id in response.get("output", ()):
                return response
        return None

    def text_history(
        self, max_items: Optional[int] = None, *, assistant_text_type: str = "output_text"
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """The conversation as text items a new session can be given, oldest first: ``(local id, item to create)`` pairs.

        Each message becomes a message of the same role with one text part
        holding what it showed: for user and system messages their text, else
        the transcript of their audio (``input_text``); for assistant messages
        the transcript of their audio, else their text (as
        ``assistant_text_type``: ``"output_text"`` in GA, ``"text"`` in beta).
        Messages with no text are left out (an empty transcription, an
        assistant reply truncated before anything was heard).  Function calls
        come with their outputs (a call without an output, or an output whose
        call is not there, is left out); other items (MCP items, images,
        audio without a transcript) are left out.  ``max_items``: only the
        newest so many entries (None: all).
        """
        answered = {item.get("call_id") for item in self.items if item.get("type") == "function_call_output"}
        entries: List[Tuple[str, Dict[str, Any]]] = []
        for item in self.items:
            kind = item.get("type")
            if kind == "message":
                role = item.get("role")
                text = _shown_text(item)
                if text is None:
                    continue
                part_type = assistant_text_type if role == "assistant" else "input_text"
                entries.append((item["id"], {"type": "message", "role": role, "content": [{"type": part_type, "text": text}]}))
            elif kind == "function_call":
                call_id, name = item.get("call_id"), item.get("name")
                if call_id in answered and isinstance(call_id, str) and isinstance(name, str):
                    arguments = item.get("arguments")
                    entries.append(
                        (item["id"], {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments or "{}"})
                    )
            elif kind == "function_call_output" and isinstance(item.get("call_id"), str):
                output = item.get("output")
                entries.append(
                    (item["id"], {"type": "function_call_output", "call_id": item["call_id"], "output": output if isinstance(output, str) else ""})
                )
        if max_items is not None:
            entries = entries[len(entries) - max_items :] if max_items > 0 else []
        calls = {entry["call_id"] for _, entry in entries if entry["type"] == "function_call"}
        return [(item_id, entry) for item_id, entry in entries if entry["type"] != "function_call_output" or entry["call_id"] in calls]

    def replay_as(self, item_id: str, new_id: str) -> Item:
        """Give local item ``item_id`` the id ``new_id``, under which it is being re-created in a new session.

        The item (its content, audio and ``formatted``) stays as it is, under
        the new id, so that later operations (truncate, delete, retrieve) name
        the server's item; the new session's announcement of ``new_id``
        (``conversation.item.added`` / ``.done``, beta ``.created``) is then an
        acknowledgement that changes nothing and is not reported again.
        Returns the item; raises :class:`ConversationError` when ``item_id``
        is unknown or ``new_id`` is taken.
        """
        item = self.item_lookup.get(item_id)
        if item is None:
            raise ConversationError(f'Cannot replay item "{item_id}": it is not in the conversation')
        if new_id != item_id and new_id in self.item_lookup:
            raise ConversationError(f'Cannot replay item "{item_id}" as "{new_id}": that id is taken')
        del self.item_lookup[item_id]
        item["id"] = new_id
        self.item_lookup[new_id] = item
        buffer = self.audio_buffers.pop(item_id, None)
        if buffer is not None:
            self.audio_buffers[new_id] = buffer
        if item_id in self._completed_ids:
            self._completed_ids.discard(item_id)
            self._completed_ids.add(new_id)
        for response in self.responses:
            output = response.get("output")
            if isinstance(output, list) and item_id in output:
                response["output"] = [new_id if entry == item_id else entry for entry in output]
        self._replayed.add(new_id)
        return item

    def audio_appended(self, item_id: str, buffer: AudioBuffer, start: int) -> Result:
        """Report audio already decoded into ``buffer`` (the item's buffer) from sample ``start`` on.

        :meth:`apply_audio` for the receive path's audio deltas:
        ``(item, {"audio": bytes_of_new_samples})``; ``(None, None)`` for a
        duplicated item id (ignored); raises :class:`ConversationError` for an
        unknown item.
        """
        applied = self.apply_audio(item_id, buffer, start)
        if applied is not None:
            return applied
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None, None
        raise ConversationError(f'Audio for unknown item "{item_id}"')

    # -- helpers --------------------------------------------------------------------

    def _find(self, event: Dict[str, Any], item_id: Any) -> Optional[Item]:
        """The item ``item_id``; None for items of out-of-band responses and duplicated ids; raises for other unknown items."""
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None
        item = self.item_lookup.get(item_id)
        if item is None:
            if event.get("response_id") in self._out_of_band:
                return None
            raise ConversationError(f'{event.get("type")}: Item "{item_id}" not found')
        return item

    def _part(self, event: Dict[str, Any], item: Item) -> Dict[str, Any]:
        index = event.get("content_index", 0)
        content = item.get("content")
        if not isinstance(content, list) or not isinstance(index, int) or not 0 <= index < len(content):
            raise ConversationError(f'{event.get("type")}: Item "{item.get("id")}" has no content part {index}')
        return content[index]

    def _set_audio(self, item: Item, buffer: AudioBuffer) -> None:
        item["formatted"]["audio"] = buffer
        self.audio_buffers[item["id"]] = buffer

    def _unshare_audio(self, item: Item) -> AudioBuffer:
        """Replace the item's audio buffer (which has live views) by a copy and return the copy."""
        copy = item["formatted"]["audio"].slice(0)
        self._set_audio(item, copy)
        return copy

    def _remember(self, queue: Dict[str, Dict[str, Any]], key: str, value: Dict[str, Any]) -> None:
        queue[key] = value
        while len(queue) > MAX_QUEUED:
            del queue[next(iter(queue))]

    def _prune(self) -> None:
        limit = self.max_history_items
        if limit is None:
            return
        excess = len(self.items) - limit
        if excess > 0:
            kept: List[Item] = []
            for item in self.items:
                if excess > 0 and item.get("status") != "in_progress":
                    excess -= 1
                    self.item_lookup.pop(item.get("id"), None)
                    self.audio_buffers.pop(item.get("id"), None)
                    self.duplicate_ids.discard(item.get("id"))
                    self._completed_ids.discard(item.get("id"))
                else:
                    kept.append(item)
            self.items = kept
        extra = len(self.responses) - limit
        if extra > 0:
            for response in self.responses[:extra]:
                self.response_lookup.pop(response.get("id"), None)
            del self.responses[:extra]

    # -- processors -----------------------------------------------------------------

    def _item_created(self, event: Dict[str, Any]) -> Result:
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConversationError(f'{event.get("type")}: Missing "item" with an "id"')
        item_id = item["id"]
        known = self.item_lookup.get(item_id)
        if known is not None:
            if self._replayed and item_id in self._replayed:
                return None, None  # the new session acknowledges an item replayed into it
            if event.get("type") == "conversation.item.done" or item_id in self.duplicate_ids:
                return known, None  # GA's second announcement of the same item
            self.duplicate_ids.add(item_id)
            self.audio_buffers.pop(item_id, None)  # no audio of the other item is decoded into this one
            raise ConversationError(
                f'{event.get("type")}: the server gave a second item the id "{item_id}"; it was not added, and later '
                "events about that id are ignored so that the two items are not merged."
            )
        return self._add(item), None

    def _format_of(self, item: Dict[str, Any]) -> str:
        """The wire format of ``item``'s audio: the input format for user items, the output format otherwise."""
        return self.input_audio_format if item.get("role") == "user" else self.output_audio_format

    def _add(self, item: Dict[str, Any], *, new_input: bool = True) -> Item:
        """Store a copy of the server's ``item`` (not known yet) with its ``formatted``; returns the copy.

        ``new_input``: the item may be the one committed input audio was queued for
        (not so for an item the server only retrieved).
        """
        item_id = item["id"]
        new_item: Item = json_copy(item)
        formatted: Dict[str, Any] = {"audio": AudioBuffer(None, self._format_of(item)), "text": "", "transcript": ""}
        new_item["formatted"] = formatted
        speech = self.queued_speech_items.pop(item_id, None)
        if speech is not None and "audio" in speech and self.keep_audio:
            formatted["audio"] = speech["audio"]
        content = new_item.get("content")
        if isinstance(content, list):
            text = formatted["text"]
            for part in content:
                if isinstance(part, dict) and part.get("type") in TEXT_PART_TYPES:
                    text += part.get("text") or ""
            formatted["text"] = text
        queued = self.queued_transcript_items.pop(item_id, None)
        if queued is not None:
            formatted["transcript"] = queued["transcript"]
            index = queued.get("content_index", 0)
            if isinstance(content, list) and isinstance(index, int) and 0 <= index < len(content) and isinstance(content[index], dict):
                content[index]["transcript"] = queued["raw"]
        segments = self.queued_segments.pop(item_id, None)
        if segments is not None:
            formatted["segments"] = segments["segments"]
        item_type = new_item.get("type")
        if item_type == "message":
            if new_item.get("role") in ("user", "system"):  # never streamed: final when created
                new_item["status"] = "completed"
                if new_input and self.queued_input_audio is not None and self.keep_audio and isinstance(content, list):
                    if any(isinstance(p, dict) and p.get("type") == "input_audio" for p in content):
                        formatted["audio"] = self.queued_input_audio
                        self.queued_input_audio = None
            else:
                new_item["status"] = "in_progress"
        elif item_type == "function_call":
            formatted["tool"] = {
                "type": "function",
                "name": new_item.get("name"),
                "call_id": new_item.get("call_id"),
                "arguments": new_item.get("arguments") or "",
            }
            new_item["status"] = "in_progress"
        elif item_type == "function_call_output":
            new_item["status"] = "completed"
            formatted["output"] = new_item.get("output")
        elif item_type in MCP_ITEM_TYPES:
            self._add_mcp(new_item, formatted)
        self.item_lookup[item_id] = new_item
        self.items.append(new_item)
        self.audio_buffers[item_id] = formatted["audio"]
        self._prune()
        return new_item

    def _item_truncated(self, event: Dict[str, Any]) -> Result:
        item_id = event.get("item_id")
        item = self.item_lookup.get(item_id)
        if item is None:
            raise ConversationError(f'item.truncated: Item "{item_id}" not found')
        audio_end_ms = event.get("audio_end_ms")
        if not isinstance(audio_end_ms, int) or audio_end_ms < 0:
            raise ConversationError(f'item.truncated: "audio_end_ms" must be a non-negative integer, got {audio_end_ms!r}')
        formatted = item["formatted"]
        formatted["transcript"] = ""
        buffer = formatted["audio"]
        end_index = audio_end_ms * buffer.rate // 1000
        try:
            buffer.truncate(end_index)
        except BufferError:
            self._set_audio(item, buffer.slice(0, end_index))
        return item, None

    def _item_deleted(self, event: Dict[str, Any]) -> Result:
        item_id = event.get("item_id")
        item = self.item_lookup.pop(item_id, None)
        if item is None:
            raise ConversationError(f'item.deleted: Item "{item_id}" not found')
        self.audio_buffers.pop(item_id, None)
        self.duplicate_ids.discard(item_id)
        self._completed_ids.discard(item_id)
        self.items = [i for i in self.items if i is not item]
        return item, None

    def _transcription_item_id(self, event: Dict[str, Any]) -> str:
        item_id = event.get("item_id")
        if type(item_id) is not str or not item_id:
            raise ConversationError(f'{event.get("type")}: Missing "item_id"')
        return item_id

    def _transcription_completed(self, event: Dict[str, Any]) -> Result:
        item_id = self._transcription_item_id(event)
        content_index = event.get("content_index", 0)
        transcript = event.get("transcript")
        formatted_transcript = transcript or " "
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None, None
        item = self.item_lookup.get(item_id)
        if item is None:
            # Replaces whatever deltas were queued for the item: the completed transcript is final.
            self._remember(
                self.queued_transcript_items,
                item_id,
                {"transcript": formatted_transcript, "raw": transcript, "content_index": content_index},
            )
            return None, None
        content = item.get("content")
        if isinstance(content, list) and isinstance(content_index, int) and 0 <= content_index < len(content):
            part = content[content_index]
            if isinstance(part, dict):
                part["transcript"] = transcript
        formatted = item["formatted"]
        shown = formatted.get("transcript")
        formatted["transcript"] = formatted_transcript
        if not shown:  # no delta came first: the reference's case
            return item, {"transcript": transcript}
        if isinstance(shown, str) and isinstance(transcript, str) and transcript.startswith(shown):
            return item, {"transcript": transcript[len(shown) :]}
        return item, None  # the final text differs from the deltas': re-read formatted["transcript"]

    def _transcription_delta(self, event: Dict[str, Any]) -> Result:
        item_id = self._transcription_item_id(event)
        delta = event.get("delta")
        if delta is None:
            return None, None  # optional on the wire (an event may carry only logprobs)
        if not isinstance(delta, str):
            raise ConversationError(f'{event.get("type")}: "delta" must be a string, got {type(delta).__name__}')
        if not delta:
            return None, None
        content_index = event.get("content_index", 0)
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None, None
        item = self.item_lookup.get(item_id)
        if item is None:
            queued = self.queued_transcript_items.get(item_id)
            if queued is None:
                self._remember(
                    self.queued_transcript_items,
                    item_id,
                    {"transcript": delta, "raw": delta, "content_index": content_index},
                )
            else:
                append_text(queued, "transcript", delta)
                append_text(queued, "raw", delta)
            return None, None
        content = item.get("content")
        if isinstance(content, list) and isinstance(content_index, int) and 0 <= content_index < len(content):
            part = content[content_index]
            if isinstance(part, dict):
                append_text(part, "transcript", delta)
        append_text(item["formatted"], "transcript", delta)
        return item, {"transcript": delta}

    def _transcription_failed(self, event: Dict[str, Any]) -> Result:
        self._transcription_item_id(event)  # nothing to change: the item keeps what it has
        return None, None

    def _item_retrieved(self, event: Dict[str, Any]) -> Result:
        server_item = event.get("item")
        if not isinstance(server_item, dict) or not isinstance(server_item.get("id"), str):
            raise ConversationError(f'{event.get("type")}: Missing "item" with an "id"')
        item = self.item_lookup.get(server_item["id"])
        audio = None
        if item is None or not len(item["formatted"]["audio"]):
            audio = _retrieved_audio(event, server_item, self._format_of(server_item))  # checked before anything changes
        if item is None:
            item = self._add(server_item, new_input=False)
        for key, value in server_item.items():
            if key != "formatted":
                item[key] = json_copy(value)
        formatted = item["formatted"]
        content = item.get("content")
        if isinstance(content, list):
            parts = [part for part in content if isinstance(part, dict)]
            texts = [p["text"] for p in parts if p.get("type") in TEXT_PART_TYPES and isinstance(p.get("text"), str)]
            if texts:
                formatted["text"] = "".join(texts)
            transcripts = [p["transcript"] for p in parts if isinstance(p.get("transcript"), str)]
            if transcripts:
                transcript = "".join(transcripts)
                formatted["transcript"] = transcript or (" " if item.get("role") == "user" else "")
        tool = formatted.get("tool")
        if tool is not None:
            for key in ("name", "call_id", "arguments"):
                if isinstance(item.get(key), str):
                    tool[key] = item[key]
        if "output" in formatted and "output" in server_item:
            formatted["output"] = item.get("output")
        if item.get("type") in MCP_ITEM_TYPES:
            self._mcp_final(item, server_item)
        if audio is not None and len(audio) and not len(formatted["audio"]):
            self._set_audio(item, audio)
        return item, None

    def _item_done(self, event: Dict[str, Any]) -> Result:
        """``conversation.item.done`` (GA): the item is final; a known one takes the server's status and final content.

        Content is merged, not replaced: a part's ``text`` / ``transcript`` is
        taken only where the server gives a non-empty string (an input
        transcription still running keeps what its deltas built), and
        ``formatted`` follows.  An unknown item is added, as by
        ``conversation.item.added``.
        """
        server_item = event.get("item")
        if not isinstance(server_item, dict) or not isinstance(server_item.get("id"), str):
            raise ConversationError(f'{event.get("type")}: Missing "item" with an "id"')
        item_id = server_item["id"]
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None, None
        if self._replayed and item_id in self._replayed:
            self._replayed.discard(item_id)  # replayed: the local item keeps what it had
            return None, None
        item = self.item_lookup.get(item_id)
        if item is None:
            item = self._add(server_item)
            if item.get("type") in MCP_ITEM_TYPES:
                self._mcp_final(item, server_item)
            return item, None
        if item.get("type") in MCP_ITEM_TYPES:
            self._mcp_final(item, server_item)
            return item, None
        status = server_item.get("status")
        if isinstance(status, str):
            item["status"] = status
        formatted = item["formatted"]
        final = server_item.get("content")
        if isinstance(final, list):
            content = item.get("content")
            if not isinstance(content, list):
                content = item["content"] = []
            for index, server_part in enumerate(final):
                if not isinstance(server_part, dict):
                    continue
                if index >= len(content) or not isinstance(content[index], dict):
                    content[index:index + 1] = [json_copy(server_part)]
                    continue
                part = content[index]
                for key in ("text", "transcript"):
                    value = server_part.get(key)
                    if isinstance(value, str) and value:
                        part[key] = value
            parts = [p for p in content if isinstance(p, dict)]
            texts = [p["text"] for p in parts if p.get("type") in TEXT_PART_TYPES and isinstance(p.get("text"), str)]
            if any(texts):
                formatted["text"] = "".join(texts)
            transcripts = [p["transcript"] for p in parts if isinstance(p.get("transcript"), str)]
            if any(transcripts):
                formatted["transcript"] = "".join(transcripts)
        tool = formatted.get("tool")
        if tool is not None:
            for key in ("name", "call_id", "arguments"):
                value = server_item.get(key)
                if isinstance(value, str) and (value or key != "arguments"):
                    item[key] = value
                    tool[key] = value
        if "output" in formatted and isinstance(server_item.get("output"), str):
            item["output"] = formatted["output"] = server_item["output"]
        return item, None

    # -- MCP items ----------------------------------------------------------------------
    # The wire items carry no status: the conversation gives them one.  A call or a tool
    # list is in progress until its final form (conversation.item.done, the output item's
    # done, or a retrieval) arrives; an approval request and its response are whole when
    # announced.

    def _add_mcp(self, item: Item, formatted: Dict[str, Any]) -> None:
        """``formatted`` and the local status of a new MCP item."""
        kind = item.get("type")
        if kind in (MCP_CALL, MCP_APPROVAL_REQUEST):
            formatted["tool"] = {
                "type": "mcp",
                "server_label": item.get("server_label"),
                "name": item.get("name"),
                "arguments": item.get("arguments") or "",
            }
            if not isinstance(item.get("arguments"), str):
                item["arguments"] = ""
        status = item.get("status")
        if kind == MCP_CALL:
            formatted["output"] = item.get("output")
            if not isinstance(status, str):
                item["status"] = _mcp_call_status(item) or "in_progress"
        elif kind == MCP_LIST_TOOLS:
            formatted["tools"] = json_copy(item["tools"]) if isinstance(item.get("tools"), list) else []
            if not isinstance(status, str):
                item["status"] = "in_progress"
        elif not isinstance(status, str):
            item["status"] = "completed"

    def _mcp_final(self, item: Item, server_item: Dict[str, Any]) -> None:
        """The final form of an MCP item arrived: take its arguments, output, error or tools and settle its status."""
        formatted = item["formatted"]
        tool = formatted.get("tool")
        for key in ("server_label", "name", "arguments"):
            value = server_item.get(key)
            if isinstance(value, str) and (value or key != "arguments"):
                item[key] = value
                if tool is not None:
                    tool[key] = value
        for key in ("output", "error", "approval_request_id"):
            if server_item.get(key) is not None:
                item[key] = json_copy(server_item[key])
        if "output" in formatted:
            formatted["output"] = item.get("output")
        if isinstance(server_item.get("tools"), list):
            item["tools"] = json_copy(server_item["tools"])
            formatted["tools"] = json_copy(server_item["tools"])
        status = server_item.get("status")
        if isinstance(status, str):
            item["status"] = status
        elif item.get("type") == MCP_CALL:
            item["status"] = _mcp_call_status(item) or "completed"
        elif item.get("status") != "incomplete":  # a tool list that failed stays incomplete
            item["status"] = "completed"

    def _mcp_progress(self, event: Dict[str, Any]) -> Result:
        """``mcp_list_tools.*`` / ``response.mcp_call.*``: how listing tools or a call is going.

        ``in_progress`` marks the item in progress, ``failed`` incomplete;
        ``completed`` changes nothing yet (the final item, which follows, brings
        the tools or the output and completes it).  Returns the item when its
        status changed; an item the conversation does not know is ignored.
        """
        item = self.streaming_item(event.get("item_id"))
        if item is None:
            return None, None
        phase = str(event.get("type")).rpartition(".")[2]
        status = {"in_progress": "in_progress", "failed": "incomplete"}.get(phase)
        if status is None or item.get("status") == status or item.get("status") == "completed":
            return None, None
        item["status"] = status
        return item, None

    def _mcp_arguments_done(self, event: Dict[str, Any]) -> Result:
        """``response.mcp_call_arguments.done``: the call's final arguments."""
        item = self._find(event, event.get("item_id"))
        if item is None:
            return None, None
        arguments = event.get("arguments")
        if not isinstance(arguments, str):
            raise ConversationError(f'{event.get("type")}: "arguments" must be a string, got {type(arguments).__name__}')
        item["arguments"] = arguments
        tool = item["formatted"].get("tool")
        if isinstance(tool, dict):
            tool["arguments"] = arguments
        return item, None

    def _transcription_segment(self, event: Dict[str, Any]) -> Result:
        """A diarized segment of a user item's input transcription: appended to ``formatted["segments"]``.

        The delta is ``{"segment": {"id", "speaker", "start", "end", "text",
        "content_index"}}`` (times in seconds).  Segments of an item not known
        yet are kept for it, as transcripts are.
        """
        item_id = self._transcription_item_id(event)
        segment = {key: event.get(key) for key in ("id", "speaker", "start", "end", "text", "content_index")}
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None, None
        item = self.item_lookup.get(item_id)
        if item is None:
            queued = self.queued_segments.get(item_id)
            if queued is None:
                self._remember(self.queued_segments, item_id, {"segments": [segment]})
            else:
                queued["segments"].append(segment)
            return None, None
        segments = item["formatted"].get("segments")
        if not isinstance(segments, list):
            segments = item["formatted"]["segments"] = []
        segments.append(segment)
        return item, {"segment": segment}

    def mark_completed(self, item: Item) -> bool:
        """True the first time it is called for a completed ``item`` (its ``conversation.item.completed`` is due), else False.

        An item can be reported complete by several events (GA sends
        ``conversation.item.done`` and then ``response.output_item.done``);
        the client dispatches ``conversation.item.completed`` once.
        """
        if item.get("status") != "completed":
            return False
        item_id = item.get("id")
        if item_id in self._completed_ids:
            return False
        self._completed_ids.add(item_id)
        return True

    def _speech_started(self, event: Dict[str, Any]) -> Result:
        self._remember(self.queued_speech_items, event.get("item_id"), {"audio_start_ms": event.get("audio_start_ms")})
        return None, None

    def _speech_stopped(self, event: Dict[str, Any], input_audio_buffer: Any = None, input_start_ms: int = 0) -> Result:
        item_id = event.get("item_id")
        speech = self.queued_speech_items.get(item_id)
        if speech is None:
            raise ConversationError(f'input_audio_buffer.speech_stopped: no speech_started for item "{item_id}"')
        audio_end_ms = event.get("audio_end_ms")
        speech["audio_end_ms"] = audio_end_ms
        start_ms = speech.get("audio_start_ms")
        if input_audio_buffer is not None and isinstance(start_ms, int) and isinstance(audio_end_ms, int):
            speech["audio"] = self._cut(as_audio_buffer(input_audio_buffer), start_ms - input_start_ms, audio_end_ms - input_start_ms)
        return None, None

    def _cut(self, buffer: AudioBuffer, start_ms: int, end_ms: int) -> AudioBuffer:
        """Copy of the samples between ``start_ms`` and ``end_ms`` (from the buffer's sample 0) still held by ``buffer``."""
        rate = buffer.rate
        held = len(buffer)
        start = min(max(start_ms * rate // 1000 - buffer.offset, 0), held)
        end = min(max(end_ms * rate // 1000 - buffer.offset, start), held)
        return buffer.slice(start, end)

    def _response_created(self, event: Dict[str, Any]) -> Result:
        response = event.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            raise ConversationError('response.created: Missing "response" with an "id"')
        response_id = response["id"]
        if response_id not in self.response_lookup:
            stored = dict(response)
            output = response.get("output")
            stored["output"] = [o.get("id") if isinstance(o, dict) else o for o in output] if isinstance(output, list) else []
            self.response_lookup[response_id] = stored
            self.responses.append(stored)
            if "conversation_id" in response and response["conversation_id"] is None:
                self._out_of_band.add(response_id)
            self._prune()
        return None, None

    def _response_done(self, event: Dict[str, Any]) -> Result:
        response = event.get("response")
        if isinstance(response, dict):
            stored = self.response_lookup.get(response.get("id"))
            if stored is not None:
                stored["status"] = response.get("status")
                stored["status_details"] = response.get("status_details")
                stored["usage"] = response.get("usage")
        return None, None

    def _output_item_added(self, event: Dict[str, Any]) -> Result:
        response_id = event.get("response_id")
        response = self.response_lookup.get(response_id)
        if response is None:
            raise ConversationError(f'response.output_item.added: Response "{response_id}" not found')
        item = event.get("item")
        if not isinstance(item, dict):
            raise ConversationError('response.output_item.added: Missing "item"')
        response["output"].append(item.get("id"))
        return None, None

    def _output_item_done(self, event: Dict[str, Any]) -> Result:
        item = event.get("item")
        if not isinstance(item, dict):
            raise ConversationError('response.output_item.done: Missing "item"')
        found = self._find(event, item.get("id"))
        if found is None:
            return None, None
        if found.get("type") in MCP_ITEM_TYPES:  # MCP items carry no status: their final form settles it
            self._mcp_final(found, item)
            return found, None
        found["status"] = item.get("status")
        tool = found["formatted"].get("tool")
        if tool is not None and not tool["arguments"] and isinstance(item.get("arguments"), str):
            # No argument deltas arrived (some servers only send the final item): use its arguments.
            tool["arguments"] = item["arguments"]
            found["arguments"] = item["arguments"]
        return found, None

    def _content_part_added(self, event: Dict[str, Any]) -> Result:
        item = self._find(event, event.get("item_id"))
        if item is None:
            return None, None
        part = event.get("part")
        if not isinstance(part, dict):
            raise ConversationError('response.content_part.added: Missing "part"')
        content = item.get("content")
        if not isinstance(content, list):
            content = item["content"] = []
        content.append(dict(part))
        return item, None

    # The delta processors run once per streamed delta: the common case (a known
    # item, a valid content index) is inlined, anything else takes _find / _part.

    def _transcript_delta(self, event: Dict[str, Any]) -> Result:
        return self._content_delta("transcript", event)

    def _text_delta(self, event: Dict[str, Any]) -> Result:
        return self._content_delta("text", event)

    def _content_delta(self, field: str, event: Dict[str, Any]) -> Result:
        """A text or transcript delta (``field``): :meth:`apply_text`, or why it does not apply."""
        item_id = event.get("item_id")
        delta = event.get("delta") or ""
        if not isinstance(delta, str):
            raise ConversationError(f'{event.get("type")}: "delta" must be a string, got {type(delta).__name__}')
        item = self.apply_text(field, item_id, event.get("content_index", 0), delta)
        if item is not None:
            return item, {field: delta}
        item = self._find(event, item_id)
        if item is None:
            return None, None  # out-of-band response, or a duplicated id: ignored
        part = self._part(event, item)
        raise ConversationError(f'{event.get("type")}: content part {event.get("content_index", 0)} of item "{item_id}" is not an object: {part!r}')

    def _audio_delta(self, event: Dict[str, Any]) -> Result:
        item = self._find(event, event.get("item_id"))
        if item is None:
            return None, None
        delta = event.get("delta")
        if not isinstance(delta, str):
            raise ConversationError(f'{event.get("type")}: Missing "delta" on audio event for item "{item["id"]}"')
        buffer = item["formatted"]["audio"]
        start = len(buffer)
        try:
            buffer.append_base64(delta)
        except BufferError:
            buffer = self._unshare_audio(item)
            buffer.append_base64(delta)
        return item, {"audio": tail_bytes(buffer, start)}

    def _arguments_delta(self, event: Dict[str, Any]) -> Result:
        """A function call arguments delta: :meth:`apply_text`, or why it does not apply."""
        item_id = event.get("item_id")
        delta = event.get("delta") or ""
        if not isinstance(delta, str):
            raise ConversationError(f'{event.get("type")}: "delta" must be a string, got {type(delta).__name__}')
        item = self.apply_text("arguments", item_id, None, delta)
        if item is not None:
            return item, {"arguments": delta}
        item = self._find(event, item_id)
        if item is None:
            return None, None  # out-of-band response, or a duplicated id: ignored
        raise ConversationError(f'{event.get("type")}: Item "{item.get("id")}" is not a function call')


def _mcp_call_status(item: Dict[str, Any]) -> Optional[str]:
    """An MCP call's status from its fields: ``incomplete`` with an error, ``completed`` with an output, else None."""
    if item.get("error") is not None:
        return "incomplete"
    if item.get("output") is not None:
        return "completed"
    return None


def _shown_text(item: Dict[str, Any]) -> Optional[str]:
    """The text a message showed (see :meth:`RealtimeConversation.text_history`), or None when it showed none."""
    formatted = item.get("formatted")
    if not isinstance(formatted, dict):
        return None
    text, transcript = formatted.get("text"), formatted.get("transcript")
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    # Items that arrived whole (not streamed) have their transcripts in their content only.
    said = "".join(p["transcript"] for p in parts if isinstance(p, dict) and isinstance(p.get("transcript"), str))
    candidates = (transcript, said, text) if item.get("role") == "assistant" else (text, transcript, said)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _retrieved_audio(event: Dict[str, Any], item: Dict[str, Any], fmt: str) -> Optional[AudioBuffer]:
    """A new AudioBuffer (format ``fmt``) with the audio of every base64 ``audio`` in ``item``'s audio parts, in order (None when none)."""
    content = item.get("content")
    if not isinstance(content, list):
        return None
    audio: Optional[AudioBuffer] = None
    for index, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") in _RETRIEVED_AUDIO_PARTS and isinstance(part.get("audio"), str):
            if audio is None:
                audio = AudioBuffer(None, fmt)
            try:
                audio.append_base64(part["audio"])
            except ValueError as exc:
                raise ConversationError(
                    f'{event.get("type")}: content part {index} of item "{item.get("id")}" has audio that is not base64 {fmt}: {exc}'
                ) from exc
    return audio


#: Event type -> name of the RealtimeConversation method that processes it (beta names;
#: the GA names are added from SERVER_EVENT_ALIASES).
_PROCESSOR_NAMES: Dict[str, str] = {
    "conversation.item.created": "_item_created",
    "conversation.item.truncated": "_item_truncated",
    "conversation.item.deleted": "_item_deleted",
    "conversation.item.retrieved": "_item_retrieved",
    "conversation.item.done": "_item_done",
    "conversation.item.input_audio_transcription.delta": "_transcription_delta",
    "conversation.item.input_audio_transcription.completed": "_transcription_completed",
    "conversation.item.input_audio_transcription.failed": "_transcription_failed",
    "input_audio_buffer.speech_started": "_speech_started",
    "input_audio_buffer.speech_stopped": "_speech_stopped",
    "response.created": "_response_created",
    "response.done": "_response_done",
    "response.output_item.added": "_output_item_added",
    "response.output_item.done": "_output_item_done",
    "response.content_part.added": "_content_part_added",
    "response.audio_transcript.delta": "_transcript_delta",
    "response.audio.delta": "_audio_delta",
    "response.text.delta": "_text_delta",
    "response.function_call_arguments.delta": "_arguments_delta",
    TRANSCRIPTION_SEGMENT: "_transcription_segment",
    "mcp_list_tools.in_progress": "_mcp_progress",
    "mcp_list_tools.completed": "_mcp_progress",
    "mcp_list_tools.failed": "_mcp_progress",
    "response.mcp_call_arguments.delta": "_arguments_delta",
    "response.mcp_call_arguments.done": "_mcp_arguments_done",
    "response.mcp_call.in_progress": "_mcp_progress",
    "response.mcp_call.completed": "_mcp_progress",
    "response.mcp_call.failed": "_mcp_progress",
}
for _alias, _canonical in SERVER_EVENT_ALIASES.items():
    if _canonical in _PROCESSOR_NAMES:
        _PROCESSOR_NAMES[_alias] = _PROCESSOR_NAMES[_canonical]


def _processor_table(cls: type) -> Dict[str, Callable[..., Result]]:
    """The processors of ``cls`` (a subclass's overrides included) as plain functions, built once per class.

    Functions rather than bound methods: a table per class instead of about
    fifteen method objects per conversation for the garbage collector to walk.
    """
    table = cls.__dict__.get("_processor_table_cache")
    if table is None:
        table = {kind: getattr(cls, name) for kind, name in _PROCESSOR_NAMES.items()}
        cls._processor_table_cache = table  # type: ignore[attr-defined]
    return table
