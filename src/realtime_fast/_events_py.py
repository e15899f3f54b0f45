"""Wire-event codec, pure Python: the specification of ``realtime_fast._events``.

Both twins have the same names, signatures, exception types and messages; the
compiled one also reuses the error builders below so the messages cannot
drift.  Import through :mod:`realtime_fast.events`, not from here.

Frames are UTF-8 JSON text.  A ``memoryview`` frame may point into a
transport's receive buffer and is only valid during the call: nothing these
functions return refers to it.

Memory: parsing a frame costs about its size once more, whatever its size.
Frames under ``LARGE_FRAME`` bytes (every message the service sends but an
item retrieved with its audio) are parsed by orjson; larger ones by
:func:`_loads_large`, because orjson reserves about 13 times a document's
size before parsing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Union

import binascii
import codecs
import os
import re

import orjson

from ._audio_py import _pcm_view
from .errors import EventParseError, MessageTooLarge
from .names import AUDIO_DELTA_TYPES, TEXT_DELTA_FIELDS

if TYPE_CHECKING:
    from .audio import AudioBuffer

__all__ = ["AUDIO_DELTA_TYPES", "FrameReceiver", "dumps_append_audio", "dumps_event", "parse_audio_delta", "parse_event", "parse_frame"]

Frame = Union[bytes, bytearray, memoryview, str]

#: Event types whose ``delta`` is base64 PCM16 audio (GA name, then beta name).

_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
_JSONEncodeError = orjson.JSONEncodeError


# -- error builders (shared with the compiled twin) ---------------------------------------------


def _json_kind(value: object) -> str:
    """Name a decoded JSON value's kind the way a reader of the wire would ("an array", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _check_frame(frame: object) -> None:
    """Raise TypeError unless ``frame`` is a type of frame the parser reads."""
    if isinstance(frame, memoryview):
        if not frame.c_contiguous:
            raise TypeError("Event frame memoryview is not C-contiguous; pass bytes or a contiguous memoryview.")
    elif not isinstance(frame, (bytes, bytearray, str)):
        raise TypeError(f"Event frame must be bytes, bytearray, memoryview or str, not {type(frame).__name__}.")


def _invalid_json_error(exc: Exception) -> EventParseError:
    return EventParseError(f"Event frame is not valid JSON ({exc}).")


def _event_shape_error(value: object) -> EventParseError:
    """The error for decoded JSON that is not an object with a string ``type``."""
    if not isinstance(value, dict):
        return EventParseError(f"Event frame is {_json_kind(value)}, not a JSON object; every Realtime event is an object.")
    if "type" not in value:
        return EventParseError("Event has no 'type' field; every Realtime event needs a string 'type'.")
    return EventParseError(f"Event 'type' is {_json_kind(value['type'])}, not a string.")


def _missing_delta_error(item_id: str) -> EventParseError:
    return EventParseError(f"Audio delta event for item {item_id!r} has no string 'delta' field.")


def _audio_delta_too_large_error(item_id: object, size: int, limit: int) -> MessageTooLarge:
    return MessageTooLarge(
        f"The server sent an audio delta of {size} bytes of base64 for item {item_id!r}, over max_audio_delta_size "
        f"({limit} bytes); it was dropped: raise max_audio_delta_size if the server sends such deltas.",
        size=size,
        limit=limit,
    )


def _event_id_type_error(event_id: object) -> TypeError:
    return TypeError(f"event_id must be a str, not {type(event_id).__name__}.")


def _event_id_surrogate_error() -> ValueError:
    return ValueError("event_id contains a lone surrogate, which is not valid UTF-8; pass plain Unicode text.")


def _event_not_mapping_error(event: object) -> TypeError:
    return TypeError(f"dumps_event() takes the event as a Mapping, not {type(event).__name__}.")


class _Unserialisable(TypeError):
    """Raised by the ``default`` hook; dumps_event re-raises its message as a plain TypeError."""


def _json_default(value: object) -> Any:
    """orjson ``default`` hook: accept any Mapping, explain everything else."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _Unserialisable(
            f"Event holds a {type(value).__name__} value, but bytes are not JSON; base64-encode audio first."
        )
    raise _Unserialisable(
        f"Event holds a value of type {type(value).__name__}, which is not JSON; "
        "use str, int, float, bool, None, list or dict."
    )


def _encode_error(exc: Exception) -> TypeError:
    """Turn orjson's JSONEncodeError into a plain TypeError with one clear sentence."""
    cause = exc.__cause__
    if isinstance(cause, _Unserialisable):
        return TypeError(str(cause))
    return TypeError(f"Event cannot be serialised to JSON ({exc}).")



# -- large frames -------------------------------------------------------------------------------

#: Frames of at least this many bytes are parsed by :func:`_loads_large` (1 MiB).
LARGE_FRAME = 1 << 20
#: Strings of at least this many bytes are cut out of a large frame and built from it directly (64 KiB).
LARGE_STRING = 1 << 16
#: A large frame with more string tokens than this is left to orjson (it is made of small
#: values, which cost more as Python objects than orjson's reserve anyway).
_MAX_TOKENS = 10_000

_QUOTE = re.compile(rb'"')
#: A whole JSON string token without escapes or control characters (cut out when long) ...
_PLAIN_STRING = re.compile(rb'"[^"\\\x00-\x1f]*"')
#: ... and any other one (skipped: it stays in the skeleton).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_COLON_NEXT = re.compile(rb"[ \t\r\n]*:")


def _orjson_or_error(frame: Any) -> Any:
    try:
        return _loads(frame)
    except _JSONDecodeError as exc:
        raise _invalid_json_error(exc) from exc


def _loads_large(frame: Frame) -> Any:
    """Decode a large ``frame`` (JSON text) as orjson does, building its long strings straight from it.

    Large frames are large because of a few long strings (base64 audio, text).
    Each plain string of at least ``LARGE_STRING`` bytes in a value position is
    decoded from the frame into its ``str`` (validated as UTF-8 without control
    characters, as JSON requires), and replaced by a short marker string in a
    skeleton of the frame that orjson parses; the markers are then swapped for
    the strings.  So the frame is read twice, but only the strings and a
    skeleton of a few KB are allocated.  The result is orjson's, exactly: a
    marker holds a random nonce, so no string of the frame can pass for one.
    Raises :class:`EventParseError` for text that is not JSON.
    """
    if isinstance(frame, str):
        frame = frame.encode("utf-8", "surrogatepass")  # a lone surrogate then fails as invalid UTF-8, as in orjson
    view = memoryview(frame)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    mark = f"\x00{os.urandom(8).hex()}:"
    mark_json = ("\\u0000" + mark[1:]).encode()
    with view:
        pieces: list[Any] = []
        strings: list[str] = []
        copied = position = tokens = 0
        while tokens < _MAX_TOKENS:
            quote = _QUOTE.search(view, position)
            if quote is None:
                break
            start = quote.start()
            tokens += 1
            token = _PLAIN_STRING.match(view, start)
            if token is None:
                token = _STRING.match(view, start)
                if token is None:
                    break  # an unterminated string: orjson reports it
                position = token.end()
                continue
            position = end = token.end()
            if end - start - 2 < LARGE_STRING or _COLON_NEXT.match(view, end) is not None:
                continue  # short, or a key
            with view[start + 1 : end - 1] as text:
                try:
                    value = codecs.ascii_decode(text)[0]
                except UnicodeDecodeError:
                    try:
                        value = codecs.utf_8_decode(text, "strict", True)[0]
                    except UnicodeDecodeError as exc:
                        raise _invalid_json_error(exc) from None
            pieces.append(view[copied:start])
            pieces.append(b'"' + mark_json + str(len(strings)).encode() + b'"')
            strings.append(value)
            copied = end
        else:
            return _orjson_or_error(view)  # made of small values
        if not strings:
            return _orjson_or_error(view)
        pieces.append(view[copied:])
        skeleton = b"".join(pieces)
        for piece in pieces:
            if isinstance(piece, memoryview):
                piece.release()
    return _put_back(_orjson_or_error(skeleton), mark, strings)


def _put_back(value: Any, mark: str, strings: list[str]) -> Any:
    """``value`` with each ``mark<n>`` string replaced by ``strings[n]`` (containers are changed in place)."""
    if type(value) is str:
        return strings[int(value[len(mark) :])] if value.startswith(mark) else value
    stack = [value]
    while stack:
        container = stack.pop()
        items = list(container.items()) if type(container) is dict else list(enumerate(container))
        for key, item in items:
            kind = type(item)
            if kind is str:
                if item.startswith(mark):
                    container[key] = strings[int(item[len(mark) :])]
            elif kind is dict or kind is list:
                stack.append(item)
    return value


# -- parsing ------------------------------------------------------------------------------------


def parse_event(frame: Frame) -> dict[str, Any]:
    """Decode one server frame (UTF-8 JSON text) into an event dict.

    ``frame`` is ``bytes``, ``bytearray``, a C-contiguous ``memoryview`` (only
    read during the call) or ``str``.  Raises :class:`EventParseError` when the
    frame is not JSON, not a JSON object, or has no string ``type``.
    """
    _check_frame(frame)
    if len(frame) < LARGE_FRAME:  # orjson, but for large frames (see the module docstring)
        try:
            event = _loads(frame)
        except _JSONDecodeError as exc:
            raise _invalid_json_error(exc) from exc
    else:
        event = _loads_large(frame)
    if type(event) is dict and type(event.get("type")) is str:
        return event
    raise _event_shape_error(event)


def parse_audio_delta(
    frame: Frame, buffers: Mapping[str, AudioBuffer]
) -> tuple[dict[str, Any], AudioBuffer, int] | None:
    """Parse an audio delta frame and decode its audio straight onto its item's buffer.

    When ``frame`` is a ``response.output_audio.delta`` (GA) or
    ``response.audio.delta`` (beta) event whose ``item_id`` is a key of
    ``buffers``, the base64 ``delta`` is decoded and appended to
    ``buffers[item_id]`` and ``(event, buffer, start)`` is returned: ``event``
    holds every field except ``delta``, and the new samples are
    ``buffer[start:len(buffer)]`` (``start`` in samples).  Returns ``None`` for
    any other valid event (then call :func:`parse_event`, or use
    :func:`parse_frame`, which never parses a frame twice).

    Raises :class:`EventParseError` like :func:`parse_event` for a frame that is
    not an event, and for an audio delta of a known item without a string
    ``delta``; ``ValueError`` when the delta is not valid base64 PCM16 (the
    buffer is unchanged); ``BufferError`` from a buffer that has live views (the
    buffer is unchanged: swap in a copy and retry).
    """
    result = _audio_of(parse_event(frame), buffers)
    return None if result[1] is None else result


def parse_frame(
    frame: Frame, buffers: Mapping[str, AudioBuffer]
) -> tuple[dict[str, Any], AudioBuffer | None, int]:
    """Parse one server frame, decoding an audio delta straight onto its item's buffer.

    The one-call form of :func:`parse_audio_delta` and :func:`parse_event`
    (the frame is parsed once).  For a ``response.output_audio.delta`` (GA) or
    ``response.audio.delta`` (beta) event whose ``item_id`` is a key of
    ``buffers``, returns ``(event, buffer, start)`` exactly as
    :func:`parse_audio_delta` does (``event`` without ``delta``, the new samples
    are ``buffer[start:]``, ``start`` in samples).  For every other event,
    returns ``(event, None, 0)`` with ``event`` exactly as :func:`parse_event`
    gives it.  Raises what :func:`parse_audio_delta` raises.
    """
    return _audio_of(parse_event(frame), buffers)


def _parse_frame_limited(
    frame: Frame, buffers: Mapping[str, AudioBuffer], limit: int | None
) -> tuple[dict[str, Any], AudioBuffer | None, int]:
    """:func:`parse_frame` with the receiver's audio delta limit (see :func:`_audio_of`)."""
    return _audio_of(parse_event(frame), buffers, limit)


def _audio_of(
    event: dict[str, Any], buffers: Mapping[str, AudioBuffer], limit: int | None = None
) -> tuple[dict[str, Any], AudioBuffer | None, int]:
    """:func:`parse_frame` on an event already parsed (the compiled twin's general path too).

    With ``limit`` (bytes), an audio delta whose base64 text is longer raises
    :class:`MessageTooLarge`, whether or not its item has a buffer.
    """
    if event["type"] not in AUDIO_DELTA_TYPES:
        return event, None, 0
    if limit is not None:
        delta = event.get("delta")
        if type(delta) is str and len(delta) > limit:
            raise _audio_delta_too_large_error(event.get("item_id"), len(delta), limit)
    item_id = event.get("item_id")
    if type(item_id) is not str or item_id not in buffers:
        return event, None, 0
    buffer = buffers[item_id]
    delta = event.get("delta")
    if type(delta) is not str:
        raise _missing_delta_error(item_id)
    before = len(buffer)
    offset = buffer.offset
    buffer.append_base64(delta)
    # A capped buffer drops its oldest samples to make room: the new ones then start earlier.
    start = before - (buffer.offset - offset)
    del event["delta"]
    return event, buffer, start if start > 0 else 0


class FrameReceiver:
    """Turns each server frame into one callback: the receive path of a connection.

    Calling the receiver with a frame (``bytes``, ``str``, ``bytearray`` or a
    ``memoryview``, the types :func:`parse_frame` takes) parses it once with
    ``buffers`` (item id -> :class:`~realtime_fast.audio.AudioBuffer`, read at
    every frame, so items can be added and removed at any time) and calls:

    * ``on_audio(event, buffer, start)`` for an audio delta decoded onto a
      registered item's buffer (as :func:`parse_frame` returns it);
    * ``on_event(event)`` for every other event, including an audio delta that
      could not be decoded onto its buffer (one with live views, or a ``delta``
      that is not base64 PCM16): that event keeps its ``delta``, as
      :func:`parse_event` gives it, for the layer above to handle or report;
    * ``on_error(message, exc)`` for a frame that is not an event (``exc`` is the
      :class:`~realtime_fast.errors.EventParseError`, or what else reading the
      frame raised), and for an audio delta over ``max_audio_delta_size``
      (``exc`` is a :class:`~realtime_fast.errors.MessageTooLarge`; the delta
      is dropped).

    ``max_audio_delta_size`` (bytes of base64 text, None for no limit) bounds
    the audio one delta may carry; settable at any time.

    The frame is not kept: a ``memoryview`` may be released as soon as the call
    returns.  Exceptions raised by the callbacks propagate to the caller.  The
    compiled twin also reads frames straight from a transport's receive buffer
    (its C-level ``feed``), which the picows transport uses.
    """

    __slots__ = ("buffers", "on_event", "on_audio", "on_error", "max_audio_delta_size", "sink")

    def __init__(
        self,
        buffers: Mapping[str, AudioBuffer],
        on_event: Callable[[dict[str, Any]], Any],
        on_audio: Callable[[dict[str, Any], AudioBuffer, int], Any],
        on_error: Callable[[str, BaseException], Any],
        max_audio_delta_size: int | None = None,
    ) -> None:
        self.buffers = buffers
        self.on_event = on_event
        self.on_audio = on_audio
        self.on_error = on_error
        self.max_audio_delta_size = max_audio_delta_size
        #: The delta sink: takes plain streamed deltas (``engaged()``, ``audio(item_id, buffer,
        #: start)``, ``text(type, item_id, content_index, delta)``; each returns True when it
        #: handled the delta) before the callbacks; None for none.
        self.sink: Any = None

    def __call__(self, frame: Frame) -> None:
        try:
            event, buffer, start = _parse_frame_limited(frame, self.buffers, self.max_audio_delta_size)
        except Exception as exc:  # never let one frame break the connection
            _frame_failed(self, frame, exc)
            return
        sink = self.sink
        if buffer is None:
            if sink is None or not _to_sink(sink, event):
                self.on_event(event)
        elif sink is None or type(event.get("item_id")) is not str or not sink.engaged() or not sink.audio(event["item_id"], buffer, start):
            self.on_audio(event, buffer, start)


def _to_sink(sink: Any, event: dict[str, Any]) -> bool:
    """Give a plain streamed text delta to the engaged ``sink``; True when it was handled.

    Plain: a text, transcript or arguments delta with a true ``event_id``, a
    str ``item_id`` and a str ``delta``; ``content_index`` is passed as given
    when an int in range, 0 when absent, -1 otherwise.
    """
    type_name = event["type"]
    if type_name not in TEXT_DELTA_FIELDS or not event.get("event_id"):
        return False
    item_id, delta = event.get("item_id"), event.get("delta")
    if type(item_id) is not str or type(delta) is not str or not sink.engaged():
        return False
    index = event.get("content_index", 0)
    position = index if type(index) is int and 0 <= index < 1 << 62 else -1
    return bool(sink.text(type_name, item_id, position, delta))


def _frame_failed(receiver: Any, frame: Frame, exc: Exception) -> None:
    """FrameReceiver's answer to a frame that :func:`parse_frame` raised on (both twins use it).

    A buffer with live views, or a delta that is not base64 PCM16: the event goes
    up with its delta (the conversation copies the buffer or reports the delta).
    An audio delta over the limit: ``on_error`` with its own message (``frame``
    is not read, and may be None).  A frame that is not an event, or anything
    else: ``on_error``.
    """
    if isinstance(exc, MessageTooLarge):
        receiver.on_error(str(exc), exc)
        return
    if isinstance(exc, (BufferError, ValueError)) and not isinstance(exc, EventParseError):
        try:
            event = parse_event(frame)
        except Exception as again:  # pragma: no cover - the frame parsed a moment ago
            exc = again
        else:
            receiver.on_event(event)
            return
    what = "parse" if isinstance(exc, EventParseError) else "read"
    receiver.on_error(f"Could not {what} a server frame: {exc}", exc)


# -- serialising --------------------------------------------------------------------------------


def dumps_event(event: Mapping[str, Any]) -> bytes:
    """Serialise a client event to the UTF-8 JSON bytes sent on the wire (key order kept).

    Nested Mappings are accepted.  Raises ``TypeError`` naming the value type
    that is not JSON (``bytes`` included: base64-encode audio first).
    """
    if not isinstance(event, Mapping):
        raise _event_not_mapping_error(event)
    try:
        return _dumps(event, default=_json_default)
    except _JSONEncodeError as exc:
        raise _encode_error(exc) from None


def dumps_append_audio(pcm: Any, event_id: str) -> bytes:
    """Build the ``input_audio_buffer.append`` frame for ``pcm`` in one go.

    Returns the bytes of ``{"event_id": event_id, "type":
    "input_audio_buffer.append", "audio": "<base64 of pcm>"}`` exactly as
    :func:`dumps_event` would.  ``pcm`` is PCM16 as accepted by
    ``b64encode_pcm16`` (bytes, bytearray, memoryview, ``array('h')``, numpy
    int16; an odd byte length is a ``ValueError``).  ``event_id`` is JSON-escaped
    as needed; a lone surrogate in it is a ``ValueError``.
    """
    if not isinstance(event_id, str):
        raise _event_id_type_error(event_id)
    with _pcm_view(pcm, "dumps_append_audio") as view:
        audio = binascii.b2a_base64(view, newline=False).decode("ascii")
    try:
        return _dumps({"event_id": event_id, "type": "input_audio_buffer.append", "audio": audio})
    except _JSONEncodeError:
        raise _event_id_surrogate_error() from None
