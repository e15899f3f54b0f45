"""The client's receive and per-chunk paths, compiled: the twin of ``_client_fast_py``.

Same class, methods and decisions as the pure module, which is the
specification (read its module docstring).  Here the per-delta work is C: the
receiver hands plain deltas straight from the frame (``DeltaSink``), the
conversation's compiled core applies them (``ConversationCore.apply_text_c`` /
``apply_audio_c``), and a single persistent ``conversation.updated`` handler
is called directly.  Who listens is cached until the client or the API says
it changed (``watch_listeners``), so each delta costs no listener lookups.
"""

cimport cython
from libc.string cimport memcpy

from realtime_fast._audio cimport AudioBuffer
from realtime_fast._conversation_core cimport ConversationCore
from realtime_fast._events cimport DeltaSink, FrameReceiver

import inspect
import os

from realtime_fast._client_fast_py import CLIENT_ONLY as _PY_CLIENT_ONLY, LAYERED as _PY_LAYERED, WITH_RAW as _PY_WITH_RAW
from realtime_fast.events import dumps_append_audio
from realtime_fast.names import (
    CLIENT_ANY,
    CONVERSATION_UPDATED,
    INPUT_AUDIO_APPEND,
    REALTIME_EVENT,
    SERVER_ANY,
    TEXT_DELTA_FIELDS,
)

__all__ = ["CLIENT_ONLY", "LAYERED", "WITH_RAW", "ClientFastPath"]

CLIENT_ONLY = _PY_CLIENT_ONLY
LAYERED = _PY_LAYERED
WITH_RAW = _PY_WITH_RAW

cdef enum:
    _LAYERED = 0
    _CLIENT_ONLY = 1
    _WITH_RAW = 2

assert (_LAYERED, _CLIENT_ONLY, _WITH_RAW) == (LAYERED, CLIENT_ONLY, WITH_RAW)

cdef str _UPDATED = CONVERSATION_UPDATED
cdef str _REALTIME_EVENT = REALTIME_EVENT
cdef str _SERVER_ANY = SERVER_ANY
cdef str _CLIENT_ANY = CLIENT_ANY
cdef str _CLIENT_APPEND = "client." + INPUT_AUDIO_APPEND
cdef str _K_TYPE = "type"
cdef str _K_EVENT_ID = "event_id"
cdef str _K_ITEM_ID = "item_id"
cdef str _K_DELTA = "delta"
cdef str _K_CONTENT_INDEX = "content_index"
cdef str _K_ITEM = "item"

#: Streamed text events -> the field their delta extends (GA and beta names).
cdef dict _DELTA_FIELDS = dict(TEXT_DELTA_FIELDS)

cdef object _isawaitable = inspect.isawaitable
cdef object _dumps_append_audio = dumps_append_audio

# -- event ids: "evt_" + 17 base58 characters, as RealtimeUtils.generate_id("evt_") gives them,
# from a xorshift64* generator seeded from os.urandom (and re-seeded in a forked child).
cdef const char* _BASE58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
cdef unsigned long long _state = 0


def _seed():
    global _state
    _state = int.from_bytes(os.urandom(8), "little") | 1


_seed()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_seed)


cdef inline unsigned long long _next_random() noexcept:
    global _state
    _state ^= _state >> 12
    _state ^= _state << 25
    _state ^= _state >> 27
    return _state * 2685821657736338717ULL


cdef str _event_id():
    """A new ``evt_`` id of 21 characters (17 base58 digits; 58**10 < 2**64, so each draw gives 10 nearly unbiased digits)."""
    cdef char text[21]
    cdef unsigned long long r
    cdef int i
    memcpy(text, b"evt_", 4)
    r = _next_random()
    for i in range(4, 14):
        text[i] = _BASE58[r % 58]
        r //= 58
    r = _next_random()
    for i in range(14, 21):
        text[i] = _BASE58[r % 58]
        r //= 58
    return text[:21].decode("ascii")


def _new_event_id():
    """An ``evt_`` id from the generator above (for tests)."""
    return _event_id()


#: Event type -> "server.<type>", the API's dispatch name (built once per type).
cdef dict _SERVER_NAMES = {}


@cython.final
cdef class ClientFastPath(DeltaSink):
    """The receive callbacks, delta sink and append path of one RealtimeClient (see ``_client_fast_py``)."""

    cdef readonly object client
    cdef readonly object api
    cdef readonly ConversationCore conversation
    cdef public bint stale
    cdef readonly int mode
    cdef readonly object updated        # list of handlers, or None (dispatch)
    cdef readonly dict raw              # API event name -> list of handlers or None
    cdef readonly bint append_plain

    def __init__(self, client):
        self.client = client
        self.api = client.realtime
        self.conversation = client.conversation
        self.stale = True
        self.mode = _LAYERED
        self.updated = None
        self.raw = {}
        self.append_plain = False
        client.watch_listeners(self.invalidate)
        self.api.watch_listeners(self.invalidate)

    # -- what is listened to ----------------------------------------------------------

    def invalidate(self):
        """The client's or the API's listeners changed: recompute the mode before the next event."""
        self.stale = True

    def refresh(self):
        """Read the listeners of the client and the API (after :meth:`invalidate`)."""
        client, api = self.client, self.api
        self.stale = False
        self.raw = {}
        realtime = client.has_listeners(_REALTIME_EVENT)
        self.append_plain = not (realtime or api.has_listeners(_CLIENT_APPEND) or api.has_listeners(_CLIENT_ANY))
        self.updated = client.direct_handlers(_UPDATED)
        if realtime or self.updated is None:
            self.mode = _LAYERED
        elif any((<str>name).startswith("server.") for name in api.listened_names()):
            self.mode = _WITH_RAW
        else:
            self.mode = _CLIENT_ONLY

    def current_mode(self):
        """The listener mode now (debug logging is read at every call: it can be switched at any time)."""
        return self._mode()

    cdef int _mode(self) except -1:
        if self.api.debug:
            return _LAYERED
        if self.stale:
            self.refresh()
        return self.mode

    # -- dispatching --------------------------------------------------------------------

    cdef int _emit(self, emitter, object handlers, str name, payload) except -1:
        """``emitter.dispatch(name, payload)``, with its most common case (one persistent handler) done here."""
        if handlers is None or len(<list>handlers) > 1:
            emitter.dispatch(name, payload)
            return 0
        if not handlers:
            return 0
        try:
            result = (<list>handlers)[0](payload)
        except Exception as exc:  # a user's handler must not break the receive path
            emitter.handler_failed(name, payload, exc)
        else:
            if result is not None and _isawaitable(result):
                emitter.track(result, name, payload)
        return 0

    cdef object _raw_handlers(self, str name):
        cdef dict raw = self.raw
        if name in raw:
            return raw[name]
        handlers = raw[name] = self.api.direct_handlers(name)
        return handlers

    cdef int _dispatch_raw(self, dict event) except -1:
        """What ``RealtimeAPI.receive`` does after the client's processing: ``server.<type>``, then ``server.*``."""
        kind = event[_K_TYPE]
        name = _SERVER_NAMES.get(kind)
        if name is None:
            name = _SERVER_NAMES[kind] = "server." + kind
        self._emit(self.api, self._raw_handlers(<str>name), <str>name, event)
        self._emit(self.api, self._raw_handlers(_SERVER_ANY), _SERVER_ANY, event)
        return 0

    # -- the FrameReceiver callbacks -------------------------------------------------------

    def on_event(self, dict event):
        """Every server event except audio decoded onto a buffer."""
        field = _DELTA_FIELDS.get(event[_K_TYPE])
        if field is None or not self._streamed_delta(event, <str>field):
            self.api.receive(event[_K_TYPE], event)

    def on_audio(self, dict event, buffer, Py_ssize_t start):
        """An audio delta decoded onto ``buffer`` from sample ``start`` on."""
        cdef int mode = self._mode()
        if mode == _WITH_RAW and self.api.raw_audio_deltas:
            mode = _LAYERED  # raw listeners get the delta back: the layered path re-encodes it
        if mode == _LAYERED or not self._audio_delta(event[_K_ITEM_ID], buffer, start, mode, event):
            self.api.receive_audio(event, buffer, start)

    cdef bint _audio_delta(self, item_id, buffer, Py_ssize_t start, int mode, dict event) except -1:
        """The conversation.updated dispatch (and the raw one) of a decoded audio delta; False: the layered path must take it."""
        updated = self.updated
        if not updated:  # nobody listens to conversation.updated (mode is not LAYERED here)
            if mode == _WITH_RAW:
                self._dispatch_raw(event)
            return True
        applied = self.conversation.apply_audio_c(item_id, buffer, start)
        if applied is None:
            return False
        self._emit(self.client, updated, _UPDATED, {_K_ITEM: (<tuple>applied)[0], _K_DELTA: (<tuple>applied)[1]})
        if mode == _WITH_RAW:
            self._dispatch_raw(event)
        return True

    cdef bint _streamed_delta(self, dict event, str field) except -1:
        """A text, transcript or arguments delta of a known item; False: the layered path must take it."""
        cdef int mode
        cdef long long position = -1
        if not event.get(_K_EVENT_ID):
            return False
        mode = self._mode()
        if mode == _LAYERED:
            return False
        delta = event.get(_K_DELTA)
        if type(delta) is not str:
            return False
        index = event.get(_K_CONTENT_INDEX, 0)
        if type(index) is int and 0 <= index < (1 << 62):
            position = index
        item = self.conversation.apply_text_c(field, event.get(_K_ITEM_ID), position, <str>delta)
        if item is None:
            return False
        self._emit(self.client, self.updated, _UPDATED, {_K_ITEM: item, _K_DELTA: {field: delta}})
        if mode == _WITH_RAW:
            self._dispatch_raw(event)
        return True

    # -- the delta sink -----------------------------------------------------------------------

    cdef bint engaged(self) except -1:
        return self._mode() == _CLIENT_ONLY

    cdef int audio(self, str item_id, object buffer, Py_ssize_t start) except -1:
        return self._audio_delta(item_id, buffer, start, _CLIENT_ONLY, None)

    cdef int text(self, str type_name, str item_id, long long content_index, str delta) except -1:
        field = _DELTA_FIELDS.get(type_name)
        if field is None:
            return 0
        item = self.conversation.apply_text_c(<str>field, item_id, content_index, delta)
        if item is None:
            return 0
        self._emit(self.client, self.updated, _UPDATED, {_K_ITEM: item, _K_DELTA: {field: delta}})
        return 1

    def install(self, receiver):
        """Become ``receiver``'s ``on_event`` / ``on_audio`` and its delta sink."""
        receiver.on_event = self.on_event
        receiver.on_audio = self.on_audio
        receiver.sink = self

    # -- input audio --------------------------------------------------------------------------

    def append_input_audio(self, bytes pcm):
        """Send one chunk of PCM16 ``bytes`` and keep it locally, when nothing else needs its event dict (see the pure twin)."""
        cdef Py_ssize_t n = len(pcm)
        cdef AudioBuffer local
        api = self.api
        transport = api.transport
        if n == 0 or n & 1 or transport is None or api.debug or not transport.is_open:
            return False
        if self.stale:
            self.refresh()
        if not self.append_plain:
            return False
        buffer = self.client.input_audio_buffer
        if type(buffer) is AudioBuffer:
            local = <AudioBuffer>buffer
            if not local.can_resize():
                return False
            transport.send_text(_dumps_append_audio(pcm, _event_id()))
            local.append_raw(<const unsigned char*>pcm, n)
            return True
        if not buffer.resizable:
            return False
        transport.send_text(_dumps_append_audio(pcm, _event_id()))
        buffer.append(pcm)
        return True
