"""The conversation's item store and the rules of the streamed deltas, compiled: the twin of ``_conversation_core_py``.

Same class, methods, results and errors as the pure module, which is the
specification (read its docstrings).  The C-level methods (``*_c``, see
``_conversation_core.pxd``) are what the client's compiled receive path calls
for every streamed delta.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF

from realtime_fast._audio cimport AudioBuffer

__all__ = ["ConversationCore", "append_text"]

cdef extern from "Python.h":
    void PyUnicode_Append(PyObject** pleft, PyObject* right)

cdef str _K_FORMATTED = "formatted"
cdef str _K_CONTENT = "content"
cdef str _K_TOOL = "tool"
cdef str _K_AUDIO = "audio"
cdef str _K_ARGUMENTS = "arguments"


cdef int _append(dict holder, str key, str delta) except -1:
    """``holder[key] += delta``, the pure module's ``append_text`` rule.

    A str value grows in place when nothing else holds it: the dict's reference
    is dropped while it grows, so CPython can resize it instead of copying the
    whole text.  Anything else takes the plain ``(value or "") + delta``.
    """
    cdef PyObject* text = PyDict_GetItem(holder, key)
    if text == NULL or type(<object>text) is not str:
        holder[key] = ((<object>text if text != NULL else None) or "") + delta
        return 0
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


def append_text(dict holder, str key, str delta):
    """``holder[key] += delta`` for streamed text, in amortised O(len(delta)) (see the pure twin)."""
    _append(holder, key, delta)


cdef class ConversationCore:
    """Items by id, their audio buffers, and the streamed-delta rules (see ``_conversation_core_py``)."""

    def __cinit__(self, *args, **kwargs):
        self.item_lookup = {}
        self.audio_buffers = {}
        self.duplicate_ids = set()
        self.keep_audio = True

    def __init__(self):
        pass

    def streaming_item(self, item_id):
        """The item streamed deltas naming ``item_id`` go to; None for an unknown or duplicated id (or one that is not a str)."""
        return self.streaming_item_c(item_id)

    def apply_text(self, str field, item_id, content_index, str delta):
        """Grow the item's two copies of ``field`` by ``delta``; returns the item, or None when it is not a plain delta."""
        cdef long long position = -1
        if type(content_index) is int and 0 <= content_index < (1 << 62):
            position = content_index
        return self.apply_text_c(field, item_id, position, delta)

    def apply_audio(self, item_id, buffer, Py_ssize_t start):
        """An audio delta already decoded onto ``buffer`` from sample ``start`` on: ``(item, {"audio": bytes})``, or None."""
        return self.apply_audio_c(item_id, buffer, start)

    cdef object streaming_item_c(self, object item_id):
        if type(item_id) is not str:
            return None
        if self.duplicate_ids and item_id in self.duplicate_ids:
            return None
        return self.item_lookup.get(item_id)

    cdef object apply_text_c(self, str field, object item_id, long long content_index, str delta):
        item = self.streaming_item_c(item_id)
        if type(item) is not dict:
            return None
        formatted = (<dict>item).get(_K_FORMATTED)
        if type(formatted) is not dict:
            return None
        if field == _K_ARGUMENTS:
            first = item
            second = (<dict>formatted).get(_K_TOOL)
        else:
            content = (<dict>item).get(_K_CONTENT)
            if type(content) is not list or not 0 <= content_index < len(<list>content):
                return None
            first = (<list>content)[<Py_ssize_t>content_index]
            second = formatted
        if type(first) is not dict or type(second) is not dict:
            return None
        _append(<dict>first, field, delta)
        _append(<dict>second, field, delta)
        return item

    cdef object apply_audio_c(self, object item_id, object buffer, Py_ssize_t start):
        cdef AudioBuffer audio
        item = self.streaming_item_c(item_id)
        if item is None:
            return None
        if type(buffer) is AudioBuffer:
            audio = <AudioBuffer>buffer
            pcm = audio.tail_bytes(start)
            if not self.keep_audio and audio.can_resize():
                audio.discard(len(audio))
        else:
            pcm = buffer.to_bytes(start)
            if not self.keep_audio and buffer.resizable:
                buffer.discard(len(buffer))
        return item, {_K_AUDIO: pcm}
