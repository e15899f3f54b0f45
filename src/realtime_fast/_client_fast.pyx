"""The client's receive fast path, compiled: the fast twin of ``_client_fast_py``.

:class:`ClientFastPath` sits between the API's
:class:`~realtime_fast.events.FrameReceiver` and the client.  For the events
that make up almost all of a response (audio deltas already decoded onto their
item's buffer, text, transcript and function-argument deltas) it does what the
Python path does (``RealtimeAPI.receive`` -> ``RealtimeClient._api_server_event``
-> the conversation's processor -> ``dispatch("conversation.updated")``) in one
compiled call, when nothing else is listening: no raw ``server.*`` listeners or
debug logging on the API, no ``realtime.event`` listeners, and only persistent
``conversation.updated`` handlers.  Anything else, and any event whose shape is
not the plain one (unknown item, a non-string delta, a content index out of
range ...), takes the Python path unchanged, which is the specification: same
state, same payloads, same errors.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF

from realtime_fast._audio cimport AudioBuffer

import inspect

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

#: Streamed text events -> the field their delta extends (GA and beta names).
cdef dict _TEXT_FIELDS = {
    "response.output_text.delta": "text",
    "response.text.delta": "text",
    "response.output_audio_transcript.delta": "transcript",
    "response.audio_transcript.delta": "transcript",
}
cdef str _ARGUMENTS_DELTA = "response.function_call_arguments.delta"

cdef object _isawaitable = inspect.isawaitable


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
cdef class ClientFastPath:
    """The receive callbacks of one RealtimeClient (``on_event``, ``on_audio`` of its API's FrameReceiver)."""

    cdef object client
    cdef object api
    # The listener dicts and the item index, which their owners never replace
    # (they clear them in place), read here without an attribute lookup.
    cdef dict api_handlers, api_nexts, api_waiters
    cdef dict handlers, nexts, waiters
    cdef dict item_lookup

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

    cdef bint _plain(self) except -1:
        """True when nothing but persistent ``conversation.updated`` handlers can see these events."""
        if self.api_handlers or self.api_nexts or self.api_waiters or self.api.debug:
            return False
        if _REALTIME_EVENT in self.handlers:
            return False
        if self.nexts and (_UPDATED in self.nexts or _REALTIME_EVENT in self.nexts):
            return False
        if self.waiters and (_UPDATED in self.waiters or _REALTIME_EVENT in self.waiters):
            return False
        return True

    cdef int _dispatch_updated(self, dict payload) except -1:
        """``client.dispatch("conversation.updated", payload)`` when it has no one-shot handlers or waiters."""
        client = self.client
        handlers = self.handlers.get(_UPDATED)
        if handlers is None:
            return 0
        if len(handlers) != 1:
            for handler in tuple(handlers):
                client._call(handler, _UPDATED, payload)
            return 0
        try:
            result = (<list>handlers)[0](payload)
        except Exception as exc:  # a user's handler must not break the receive path
            client._handler_failed(_UPDATED, payload, exc)
        else:
            if result is not None and _isawaitable(result):
                client._schedule(result, _UPDATED, payload)
        return 0

    def on_event(self, dict event):
        """Every server event except audio decoded onto a buffer."""
        kind = event[_K_TYPE]
        field = _TEXT_FIELDS.get(kind)
        if field is not None:
            if self._text_delta(event, <str>field):
                return
        elif kind == _ARGUMENTS_DELTA:
            if self._arguments_delta(event):
                return
        self.api._on_event(event)

    def on_audio(self, dict event, buffer, Py_ssize_t start):
        """An audio delta decoded onto ``buffer`` from sample ``start`` on."""
        cdef AudioBuffer audio
        if self._plain():
            if _UPDATED not in self.handlers:
                return
            item = self.item_lookup.get(event[_K_ITEM_ID])
            if item is not None:
                if type(buffer) is AudioBuffer:
                    audio = <AudioBuffer>buffer
                    if start > (audio._nbytes >> 1):
                        start = audio._nbytes >> 1
                    pcm = PyBytes_FromStringAndSize(<const char*>(audio._data + audio._start + 2 * start), audio._nbytes - 2 * start)
                else:
                    pcm = buffer.to_bytes(start)
                self._dispatch_updated({_K_ITEM: item, _K_DELTA: {_K_AUDIO: pcm}})
                return
        self.api._on_audio(event, buffer, start)

    cdef bint _text_delta(self, dict event, str field) except -1:
        """A text or transcript delta of a known item's content part; False: the Python path must take it."""
        if not event.get(_K_EVENT_ID) or not self._plain():
            return False
        item = self.item_lookup.get(event.get(_K_ITEM_ID))
        delta = event.get(_K_DELTA)
        if type(item) is not dict or type(delta) is not str:
            return False
        content = (<dict>item).get(_K_CONTENT)
        position = event.get(_K_CONTENT_INDEX, 0)
        if type(content) is not list or type(position) is not int or not 0 <= position < len(<list>content):
            return False
        part = (<list>content)[<Py_ssize_t>position]
        formatted = (<dict>item).get(_K_FORMATTED)
        if type(part) is not dict or type(formatted) is not dict:
            return False
        if not _is_str_at(<dict>part, field) or not _is_str_at(<dict>formatted, field):
            return False
        _append(<dict>part, field, <str>delta)
        _append(<dict>formatted, field, <str>delta)
        self._dispatch_updated({_K_ITEM: item, _K_DELTA: {field: delta}})
        return True

    cdef bint _arguments_delta(self, dict event) except -1:
        """A function-call arguments delta of a known item; False: the Python path must take it."""
        if not event.get(_K_EVENT_ID) or not self._plain():
            return False
        item = self.item_lookup.get(event.get(_K_ITEM_ID))
        delta = event.get(_K_DELTA)
        if type(item) is not dict or type(delta) is not str:
            return False
        formatted = (<dict>item).get(_K_FORMATTED)
        if type(formatted) is not dict:
            return False
        tool = (<dict>formatted).get(_K_TOOL)
        if type(tool) is not dict:
            return False
        if not _is_str_at(<dict>item, _K_ARGUMENTS) or not _is_str_at(<dict>tool, _K_ARGUMENTS):
            return False
        _append(<dict>item, _K_ARGUMENTS, <str>delta)
        _append(<dict>tool, _K_ARGUMENTS, <str>delta)
        self._dispatch_updated({_K_ITEM: item, _K_DELTA: {_K_ARGUMENTS: delta}})
        return True
