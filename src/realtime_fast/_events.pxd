# C-level interface of realtime_fast._events, for other compiled modules
# (``from realtime_fast._events cimport FrameReceiver, DeltaSink``).  Keep the
# signature of ``feed``: the picows listener (transport/_picows_listener.pyx)
# calls it.


# The flat scanner's record of one frame (filled by _scan_flat).
cdef enum:
    MAX_FIELDS = 24

cdef enum ValueKind:
    KIND_STRING
    KIND_INT
    KIND_TRUE
    KIND_FALSE
    KIND_NULL


cdef struct Field:
    Py_ssize_t key          # offset of the key's first character
    Py_ssize_t key_len
    Py_ssize_t value        # offset of a string value's first character
    Py_ssize_t value_len
    long long number        # the value of a KIND_INT
    ValueKind kind


cdef struct FlatObject:
    Py_ssize_t count
    Py_ssize_t type_at      # index in fields of "type", "item_id", "delta"; -1 when absent
    Py_ssize_t item_id_at
    Py_ssize_t delta_at
    Field fields[MAX_FIELDS]


cdef class DeltaSink:
    # Takes plain streamed deltas from a FrameReceiver without their event dict
    # (the client's fast path subclasses it).  Each method returns 1 when it did
    # what the receiver's callbacks would have done with the event, 0 to leave
    # the frame to them.

    cdef bint engaged(self) except -1
    # True: the receiver may hand deltas over now (checked at every frame).

    cdef int audio(self, str item_id, object buffer, Py_ssize_t start) except -1
    # An audio delta of item_id, already decoded onto buffer (an AudioBuffer)
    # from sample start on.  On 0 the receiver calls on_audio(event, buffer, start).

    cdef int text(self, str type_name, str item_id, long long content_index, str delta) except -1
    # A text, transcript or arguments delta (type_name: the event's type),
    # whose event_id is true; content_index is 0 when absent, -1 when not an
    # int.  On 0 the receiver builds the event and calls on_event.


cdef class FrameReceiver:
    cdef public object buffers
    cdef public object on_event
    cdef public object on_audio
    cdef public object on_error
    cdef object _sink                     # what ``sink`` was set to
    cdef DeltaSink _csink                 # the same when it is a DeltaSink (compiled), else None
    cdef Py_ssize_t _delta_limit          # max_audio_delta_size, PY_SSIZE_T_MAX for none
    cdef object _delta_limit_object       # the same as a Python int, or None

    cdef int feed(self, const unsigned char* p, Py_ssize_t n) except -1
    # Handles the frame whose UTF-8 text is p[0:n] exactly as calling the receiver
    # with those bytes does.  p is only read during the call (a transport's
    # receive buffer): nothing passed to the callbacks refers to it.

    cdef int _receive(self, const unsigned char* p, Py_ssize_t n, object frame) except -1
    cdef int _to_sink(self, const unsigned char* p, FlatObject* flat) except -1
    cdef int _deliver(self, tuple result) except -1
