"""The client's per-delta and per-chunk paths, compiled: the fast twin of ``_client_fast_py``.

:class:`ClientFastPath` sits between the API's
:class:`~realtime_fast.events.FrameReceiver` and the client.  For the events
that make up almost all of a response (audio deltas already decoded onto their
item's buffer, text, transcript and function-argument deltas) it does what the
Python path does (``RealtimeAPI.receive`` -> ``RealtimeClient._api_server_event``
-> the conversation's processor -> ``dispatch("conversation.updated")``) in one
compiled call, when the only listeners are persistent ``conversation.updated``
handlers and the API's raw ``server.*`` listeners (no debug logging, no
``realtime.event`` listeners; audio deltas with raw listeners only when
``raw_audio_deltas`` is off, since otherwise the delta is re-encoded for
them).  Anything else, and any event whose shape is not the plain one (unknown
item, a non-string delta, a content index out of range ...), takes the Python
path unchanged, which is the specification: same state, same payloads, same
errors.  ``append_input_audio`` does the same for the other direction: one
20 ms chunk of ``bytes`` sent and kept in one call.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.string cimport memcpy

from realtime_fast._audio cimport AudioBuffer
from realtime_fast._events cimport DeltaSink, FrameReceiver

import inspect
import os

from realtime_fast.events import dumps_append_audio

__all__ = ["ClientFastPath"]

cdef extern from "Python.h":
    void PyUnicode_Append(PyObject** pleft, PyObject* right)
    bytes PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)

cdef str _UPDATED = "conversation.updated"
cdef str _REALTIME_EVENT = "realtime.event"
cdef str _K_TYPE = "type"
cdef str _K_EVENT_ID = "event_id"
cdef str _K_ITEM_ID = "item_id"
cdef str _K_DELTA = "delta"
cdef str _K_CONTENT = "content"
cdef str _K_CONTENT_INDEX = "content_index"
cdef str _K_FORMATTED = "formatted"
cdef str _K_TOOL = "tool"
cdef str _K_ITEM = "item"
cdef str _K_AUDIO = "audio"
cdef str _K_ARGUMENTS = "arguments"

cdef str _K_TEXT = "text"
cdef str _K_TRANSCRIPT = "transcript"

#: Streamed text events -> the field their delta extends (GA and beta names).
cdef dict _DELTA_FIELDS = {
    "response.output_text.delta": _K_TEXT,
    "response.text.delta": _K_TEXT,
    "response.output_audio_transcript.delta": _K_TRANSCRIPT,
    "response.audio_transcript.delta": _K_TRANSCRIPT,
    "response.function_call_arguments.delta": _K_ARGUMENTS,
}

cdef object _isawaitable = inspect.isawaitable

cdef object _dumps_append_audio = dumps_append_audio
cdef str _CLIENT_APPEND = "client.input_audio_buffer.append"
cdef str _CLIENT_ANY = "client.*"

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


cdef str _SERVER_ANY = "server.*"
#: Event type -> "server.<type>", the API's dispatch name (built once per type).
cdef dict _SERVER_NAMES = {}

cdef enum:
    _LAYERED = 0      # others listen (debug, realtime.event, one-shot updates ...): the Python path
    _CLIENT_ONLY = 1  # only persistent conversation.updated handlers
    _WITH_RAW = 2     # those, plus raw server.* listeners on the API, dispatched after them as receive() does


cdef inline bint _is_str_at(dict holder, str key):
    cdef PyObject* value = PyDict_GetItem(holder, key)
    return value != NULL and type(<object>value) is str


cdef int _append(dict holder, str key, str delta) except -1:
    """``holder[key] += delta`` for a str value, extended in place when nothing else holds it.

    The conversation's ``_append`` rule: the dict's reference is dropped while the
    string grows, so CPython can resize it instead of copying the whole text.
    """
    cdef PyObject* text = PyDict_GetItem(holder, key)
    Py_INCREF(<object>text)
    PyDict_SetItem(holder, key, None)
    PyUnicode_Append(&text, <PyObject*>delta)
    if text == NULL:
        return -1  # the error PyUnicode_Append set (MemoryError); holder[key] is None, as in Python
    try:
        PyDict_SetItem(holder, key, <object>text)
    finally:
        Py_DECREF(<object>text)
    return 0


@cython.final
cdef class ClientFastPath(DeltaSink):
    """The receive callbacks of one RealtimeClient (``on_event``, ``on_audio`` of its API's FrameReceiver).

    Installed on a compiled FrameReceiver, it is also the receiver's
    ``DeltaSink``: while only the client listens (``_CLIENT_ONLY``), plain
    streamed deltas come to ``audio`` / ``text`` straight from the frame, and
    no event dict is built for them.
    """

    cdef object client
    cdef object api
    # The listener dicts and the item index, which their owners never replace
    # (they clear them in place), read here without an attribute lookup.
    cdef dict api_handlers, api_nexts, api_waiters
    cdef dict handlers, nexts, waiters
    cdef dict item_lookup
    cdef set duplicate_ids

    def __init__(self, client):
        self.client = client
        self.api = api = client.realtime
        self.api_handlers = api._handlers
        self.api_nexts = api._next_handlers
        self.api_waiters = api._waiters
        self.handlers = client._handlers
        self.nexts = client._next_handlers
        self.waiters = client._waiters
        self.item_lookup = client.conversation.item_lookup
        self.duplicate_ids = client.conversation.duplicate_ids

    cdef int _mode(self) except -1:
        """Who else can see the streamed deltas: _LAYERED, _CLIENT_ONLY or _WITH_RAW (see the constants)."""
        if self.api.debug:
            return _LAYERED
        if _REALTIME_EVENT in self.handlers:
            return _LAYERED
        if self.nexts and (_UPDATED in self.nexts or _REALTIME_EVENT in self.nexts):
            return _LAYERED
        if self.waiters and (_UPDATED in self.waiters or _REALTIME_EVENT in self.waiters):
            return _LAYERED
        if self.api_handlers or self.api_nexts or self.api_waiters:
            return _WITH_RAW
        return _CLIENT_ONLY

    cdef int _emit(self, emitter, dict handlers, dict nexts, dict waiters, str name, payload) except -1:
        """``emitter.dispatch(name, payload)``, with its most common case (one persistent handler) done here."""
        found = handlers.get(name)
        if (nexts and name in nexts) or (waiters and name in waiters) or (found is not None and len(<list>found) != 1):
            emitter.dispatch(name, payload)
            return 0
        if found is None:
            return 0
        try:
            result = (<list>found)[0](payload)
        except Exception as exc:  # a user's handler must not break the receive path
            emitter._handler_failed(name, payload, exc)
        else:
            if result is not None and _isawaitable(result):
                emitter._schedule(result, name, payload)
        return 0

    cdef int _dispatch_updated(self, dict payload) except -1:
        """``client.dispatch("conversation.updated", payload)``."""
        return self._emit(self.client, self.handlers, self.nexts, self.waiters, _UPDATED, payload)

    cdef int _dispatch_raw(self, dict event) except -1:
        """What RealtimeAPI.receive does after the client's processing: ``server.<type>``, then ``server.*``."""
        kind = event[_K_TYPE]
        name = _SERVER_NAMES.get(kind)
        if name is None:
            name = _SERVER_NAMES[kind] = "server." + kind
        self._emit(self.api, self.api_handlers, self.api_nexts, self.api_waiters, <str>name, event)
        self._emit(self.api, self.api_handlers, self.api_nexts, self.api_waiters, _SERVER_ANY, event)
        return 0

    def append_input_audio(self, bytes pcm):
        """RealtimeClient.append_input_audio for PCM16 ``bytes``, when nothing else needs the event dict.

        Nobody listening to ``client.input_audio_buffer.append``, ``client.*`` or
        ``realtime.event``, no debug logging, connected, an even and non-zero
        size: build the frame, send it, keep the samples.  Anything else is the
        Python method's job (``client._append_input_audio``), with its errors.
        """
        cdef Py_ssize_t n = len(pcm)
        cdef AudioBuffer local
        client = self.client
        api = self.api
        transport = api._transport
        if (n == 0 or n & 1 or transport is None or api.debug
                or (self.api_handlers and (_CLIENT_APPEND in self.api_handlers or _CLIENT_ANY in self.api_handlers))
                or (self.api_nexts and (_CLIENT_APPEND in self.api_nexts or _CLIENT_ANY in self.api_nexts))
                or (self.api_waiters and (_CLIENT_APPEND in self.api_waiters or _CLIENT_ANY in self.api_waiters))
                or _REALTIME_EVENT in self.handlers
                or (self.nexts and _REALTIME_EVENT in self.nexts)
                or (self.waiters and _REALTIME_EVENT in self.waiters)
                or not transport.is_open):
            return client._append_input_audio(pcm)
        transport.send_text(_dumps_append_audio(pcm, _event_id()))
        buffer = client.input_audio_buffer
        if type(buffer) is AudioBuffer:
            local = <AudioBuffer>buffer
            if local._exports == 0:
                local.append_raw(<const unsigned char*>pcm, n)
                return True
        client._keep_input_audio(pcm)
        return True

    def install(self, receiver):
        """Become ``receiver``'s ``on_event`` / ``on_audio`` (and its sink when it is the compiled FrameReceiver)."""
        receiver.on_event = self.on_event
        receiver.on_audio = self.on_audio
        if isinstance(receiver, FrameReceiver):
            (<FrameReceiver>receiver).sink = self

    # -- the DeltaSink side ----------------------------------------------------------

    cdef bint engaged(self) except -1:
        return self._mode() == _CLIENT_ONLY

    cdef int audio(self, str item_id, object buffer, Py_ssize_t start) except -1:
        return self._audio_delta(item_id, buffer, start, _CLIENT_ONLY, None)

    cdef int text(self, str type_name, str item_id, long long content_index, str delta) except -1:
        field = _DELTA_FIELDS.get(type_name)
        if field is None:
            return 0
        item = self._text_delta(<str>field, item_id, content_index, delta)
        if item is None:
            return 0
        self._dispatch_updated({_K_ITEM: item, _K_DELTA: {field: delta}})
        return 1

    # -- the callbacks -------------------------------------------------------------

    def on_event(self, dict event):
        """Every server event except audio decoded onto a buffer."""
        field = _DELTA_FIELDS.get(event[_K_TYPE])
        if field is None or not self._streamed_delta(event, <str>field):
            self.api._on_event(event)

    def on_audio(self, dict event, buffer, Py_ssize_t start):
        """An audio delta decoded onto ``buffer`` from sample ``start`` on."""
        cdef int mode = self._mode()
        if mode == _WITH_RAW and self.api.raw_audio_deltas:
            mode = _LAYERED  # raw listeners get the delta back: the layered path re-encodes it
        if mode == _LAYERED or not self._audio_delta(event[_K_ITEM_ID], buffer, start, mode, event):
            self.api._on_audio(event, buffer, start)

    cdef int _audio_delta(self, item_id, buffer, Py_ssize_t start, int mode, dict event) except -1:
        """The conversation.updated dispatch (and the raw one) of a decoded audio delta; 0: the layered path must take it."""
        cdef AudioBuffer audio
        if _UPDATED not in self.handlers:
            if mode == _WITH_RAW:
                self._dispatch_raw(event)
            return 1
        item = self.item_lookup.get(item_id)
        if item is None:
            return 0
        if type(buffer) is AudioBuffer:
            audio = <AudioBuffer>buffer
            if start > (audio._nbytes >> 1):
                start = audio._nbytes >> 1
            pcm = PyBytes_FromStringAndSize(<const char*>(audio._data + audio._start + 2 * start), audio._nbytes - 2 * start)
        else:
            pcm = buffer.to_bytes(start)
        self._dispatch_updated({_K_ITEM: item, _K_DELTA: {_K_AUDIO: pcm}})
        if mode == _WITH_RAW:
            self._dispatch_raw(event)
        return 1

    cdef bint _streamed_delta(self, dict event, str field) except -1:
        """A text, transcript or arguments delta of a known item; False: the Python path must take it."""
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
        if type(index) is int and 0 <= index < 1 << 62:
            position = index
        item = self._text_delta(field, event.get(_K_ITEM_ID), position, <str>delta)
        if item is None:
            return False
        self._dispatch_updated({_K_ITEM: item, _K_DELTA: {field: delta}})
        if mode == _WITH_RAW:
            self._dispatch_raw(event)
        return True

    cdef object _text_delta(self, str field, item_id, long long position, str delta):
        """Grow the item's copies of ``field`` by ``delta``; the item, or None when the Python path must take it.

        Both copies of the text grow, as the conversation's processors do: a content
        part's ``text``/``transcript`` and ``formatted``'s (``_content_delta``), or the
        item's ``arguments`` and ``formatted["tool"]``'s (``_arguments_delta``).
        ``position`` is the content index (-1: not a usable int); arguments have none.
        """
        if type(item_id) is not str:
            return None  # the Python path reports it (an unhashable id must not raise here)
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None  # the Python path ignores it
        item = self.item_lookup.get(item_id)
        if type(item) is not dict:
            return None
        formatted = (<dict>item).get(_K_FORMATTED)
        if type(formatted) is not dict:
            return None
        if field is _K_ARGUMENTS:
            first = item
            second = (<dict>formatted).get(_K_TOOL)
        else:
            content = (<dict>item).get(_K_CONTENT)
            if type(content) is not list or not 0 <= position < len(<list>content):
                return None
            first = (<list>content)[<Py_ssize_t>position]
            second = formatted
        if type(first) is not dict or type(second) is not dict:
            return None
        if not _is_str_at(<dict>first, field) or not _is_str_at(<dict>second, field):
            return None
        _append(<dict>first, field, delta)
        _append(<dict>second, field, delta)
        return item
