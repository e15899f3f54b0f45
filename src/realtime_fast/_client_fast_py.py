"""The client's receive and per-chunk paths, pure Python: the specification of ``_client_fast``.

:class:`ClientFastPath` sits between the API's
:class:`~realtime_fast.events.FrameReceiver` and the client.  For the events
that make up almost all of a response (audio deltas already decoded onto their
item's buffer; text, transcript and function-argument deltas) it applies the
delta through the conversation (:meth:`~realtime_fast.conversation.RealtimeConversation.apply_text`
/ ``apply_audio``, the one place those rules live) and dispatches
``conversation.updated``, when the only listeners are persistent
``conversation.updated`` handlers and the API's raw ``server.*`` listeners
(no debug logging, no ``realtime.event`` listeners, no one-shot handler or
wait on ``conversation.updated``; audio deltas with raw listeners only when
``raw_audio_deltas`` is off, since otherwise the delta is re-encoded for
them).  Anything else, and any delta that is not a plain one (unknown item,
a content index out of range ...), goes to the API's layered path
(:meth:`~realtime_fast.RealtimeAPI.receive` -> the client's processing ->
the conversation's event processors), which says what is wrong.

It is also the receiver's delta sink (``engaged`` / ``audio`` / ``text``),
which takes plain deltas before an event dict is needed, and the per-chunk
path of :meth:`~realtime_fast.RealtimeClient.append_input_audio` for
``bytes``.  Who listens to what is read from the client and the API through
their public listener queries, and cached until they say it changed
(:meth:`~realtime_fast.RealtimeEventHandler.watch_listeners`).  The compiled
twin makes the same decisions, at C level.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional

from .events import dumps_append_audio
from .names import CLIENT_ANY, CONVERSATION_UPDATED, INPUT_AUDIO_APPEND, REALTIME_EVENT, SERVER_ANY, TEXT_DELTA_FIELDS
from .utils import RealtimeUtils

__all__ = ["CLIENT_ONLY", "LAYERED", "WITH_RAW", "ClientFastPath"]

#: Listener modes.  LAYERED: others listen (debug logging, ``realtime.event``, one-shot
#: handlers or waits on ``conversation.updated``): every event takes the API's layered path.
LAYERED = 0
#: Only persistent ``conversation.updated`` handlers (or none) listen.
CLIENT_ONLY = 1
#: Those, plus raw ``server.*`` listeners on the API, dispatched after them as ``receive`` does.
WITH_RAW = 2

_CLIENT_APPEND = "client." + INPUT_AUDIO_APPEND
_generate_id = RealtimeUtils.generate_id
_isawaitable = inspect.isawaitable


class ClientFastPath:
    """The receive callbacks, delta sink and append path of one RealtimeClient (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.api = client.realtime
        self.conversation = client.conversation
        self.stale = True
        self.mode = LAYERED
        #: The persistent conversation.updated handlers when nothing else listens to it, else None (dispatch).
        self.updated: Optional[List[Any]] = None
        #: API event name -> its persistent handlers when nothing else listens to it, else None (cache).
        self.raw: Dict[str, Optional[List[Any]]] = {}
        #: True when no listener needs the event dict of input_audio_buffer.append.
        self.append_plain = False
        client.watch_listeners(self.invalidate)
        self.api.watch_listeners(self.invalidate)

    # -- what is listened to ----------------------------------------------------------

    def invalidate(self) -> None:
        """The client's or the API's listeners changed: recompute the mode before the next event."""
        self.stale = True

    def refresh(self) -> None:
        """Read the listeners of the client and the API (after :meth:`invalidate`)."""
        client, api = self.client, self.api
        self.stale = False
        self.raw = {}
        realtime = client.has_listeners(REALTIME_EVENT)
        self.append_plain = not (realtime or api.has_listeners(_CLIENT_APPEND) or api.has_listeners(CLIENT_ANY))
        self.updated = client.direct_handlers(CONVERSATION_UPDATED)
        if realtime or self.updated is None:
            self.mode = LAYERED
        elif any(name.startswith("server.") for name in api.listened_names()):
            self.mode = WITH_RAW
        else:
            self.mode = CLIENT_ONLY

    def current_mode(self) -> int:
        """The listener mode now (debug logging is read at every call: it can be switched at any time)."""
        if self.api.debug:
            return LAYERED
        if self.stale:
            self.refresh()
        return self.mode

    # -- dispatching --------------------------------------------------------------------

    def _emit(self, emitter: Any, handlers: Optional[List[Any]], name: str, payload: Any) -> None:
        """``emitter.dispatch(name, payload)``, with its most common case (one persistent handler) done here."""
        if handlers is None or len(handlers) > 1:
            emitter.dispatch(name, payload)
            return
        if not handlers:
            return
        try:
            result = handlers[0](payload)
        except Exception as exc:  # a user's handler must not break the receive path
            emitter.handler_failed(name, payload, exc)
        else:
            if result is not None and _isawaitable(result):
                emitter.track(result, name, payload)

    def _raw_handlers(self, name: str) -> Optional[List[Any]]:
        if name in self.raw:
            return self.raw[name]
        handlers = self.raw[name] = self.api.direct_handlers(name)
        return handlers

    def _dispatch_raw(self, event: Dict[str, Any]) -> None:
        """What ``RealtimeAPI.receive`` does after the client's processing: ``server.<type>``, then ``server.*``."""
        name = "server." + event["type"]
        self._emit(self.api, self._raw_handlers(name), name, event)
        self._emit(self.api, self._raw_handlers(SERVER_ANY), SERVER_ANY, event)

    # -- the FrameReceiver callbacks -------------------------------------------------------

    def on_event(self, event: Dict[str, Any]) -> None:
        """Every server event except audio decoded onto a buffer."""
        field = TEXT_DELTA_FIELDS.get(event["type"])
        if field is None or not self._streamed_delta(event, field):
            self.api.receive(event["type"], event)

    def on_audio(self, event: Dict[str, Any], buffer: Any, start: int) -> None:
        """An audio delta decoded onto ``buffer`` from sample ``start`` on."""
        mode = self.current_mode()
        if mode == WITH_RAW and self.api.raw_audio_deltas:
            mode = LAYERED  # raw listeners get the delta back: the layered path re-encodes it
        if mode == LAYERED or not self._audio_delta(event["item_id"], buffer, start, mode, event):
            self.api.receive_audio(event, buffer, start)

    def _audio_delta(self, item_id: Any, buffer: Any, start: int, mode: int, event: Optional[Dict[str, Any]]) -> bool:
        """The conversation.updated dispatch (and the raw one) of a decoded audio delta; False: the layered path must take it."""
        updated = self.updated
        if not updated:  # nobody listens to conversation.updated (mode is not LAYERED here)
            if mode == WITH_RAW:
                self._dispatch_raw(event)  # type: ignore[arg-type]
            return True
        applied = self.conversation.apply_audio(item_id, buffer, start)
        if applied is None:
            return False
        self._emit(self.client, updated, CONVERSATION_UPDATED, {"item": applied[0], "delta": applied[1]})
        if mode == WITH_RAW:
            self._dispatch_raw(event)  # type: ignore[arg-type]
        return True

    def _streamed_delta(self, event: Dict[str, Any], field: str) -> bool:
        """A text, transcript or arguments delta of a known item; False: the layered path must take it."""
        if not event.get("event_id"):
            return False
        mode = self.current_mode()
        if mode == LAYERED:
            return False
        delta = event.get("delta")
        if type(delta) is not str:
            return False
        index = event.get("content_index", 0)
        position = index if type(index) is int and 0 <= index < 1 << 62 else -1
        item = self.conversation.apply_text(field, event.get("item_id"), position, delta)
        if item is None:
            return False
        self._emit(self.client, self.updated, CONVERSATION_UPDATED, {"item": item, "delta": {field: delta}})
        if mode == WITH_RAW:
            self._dispatch_raw(event)
        return True

    # -- the delta sink -----------------------------------------------------------------------

    def engaged(self) -> bool:
        """True when the receiver may hand plain deltas over without their event dict (only the client listens)."""
        return self.current_mode() == CLIENT_ONLY

    def audio(self, item_id: str, buffer: Any, start: int) -> bool:
        """An audio delta of ``item_id`` decoded onto ``buffer`` from ``start`` on; False: the receiver calls ``on_audio``."""
        return self._audio_delta(item_id, buffer, start, CLIENT_ONLY, None)

    def text(self, type_name: str, item_id: str, content_index: int, delta: str) -> bool:
        """A text, transcript or arguments delta (``content_index`` -1: not an int); False: the receiver calls ``on_event``."""
        field = TEXT_DELTA_FIELDS.get(type_name)
        if field is None:
            return False
        item = self.conversation.apply_text(field, item_id, content_index, delta)
        if item is None:
            return False
        self._emit(self.client, self.updated, CONVERSATION_UPDATED, {"item": item, "delta": {field: delta}})
        return True

    def install(self, receiver: Any) -> None:
        """Become ``receiver``'s ``on_event`` / ``on_audio`` and its delta sink."""
        receiver.on_event = self.on_event
        receiver.on_audio = self.on_audio
        receiver.sink = self

    # -- input audio --------------------------------------------------------------------------

    def append_input_audio(self, pcm: bytes) -> bool:
        """Send one chunk of PCM16 ``bytes`` and keep it locally, when nothing else needs its event dict.

        Nobody listening to ``client.input_audio_buffer.append``, ``client.*``
        or ``realtime.event``, no debug logging, connected, an even and
        non-zero size, a local buffer that can grow: returns True once sent
        and kept.  False (nothing done): the client's general method must.
        """
        n = len(pcm)
        api = self.api
        transport = api.transport
        if n == 0 or n & 1 or transport is None or api.debug or not transport.is_open:
            return False
        if self.stale:
            self.refresh()
        buffer = self.client.input_audio_buffer
        if not self.append_plain or not buffer.resizable:
            return False
        transport.send_text(dumps_append_audio(pcm, _generate_id("evt_")))
        buffer.append(pcm)
        return True
