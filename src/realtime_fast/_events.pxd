# C-level interface of realtime_fast._events, for other compiled modules
# (``from realtime_fast._events cimport FrameReceiver``).  Keep the signature of
# ``feed``: the picows listener (transport/_picows_listener.pyx) calls it.


cdef class FrameReceiver:
    cdef public object buffers
    cdef public object on_event
    cdef public object on_audio
    cdef public object on_error

    cdef int feed(self, const unsigned char* p, Py_ssize_t n) except -1
    # Handles the frame whose UTF-8 text is p[0:n] exactly as calling the receiver
    # with those bytes does.  p is only read during the call (a transport's
    # receive buffer): nothing passed to the callbacks refers to it.

    cdef int _deliver(self, tuple result) except -1
