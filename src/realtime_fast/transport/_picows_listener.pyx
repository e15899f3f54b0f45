"""The picows transport's frame listener, compiled: the fast twin of ``_picows_listener_py``.

picows calls ``on_ws_frame`` through its C vtable, so no Python frame is made
per message.  When ``on_message`` is a compiled
:class:`~realtime_fast.events.FrameReceiver`, a single-frame text message is
parsed straight from picows' receive buffer (``FrameReceiver.feed``): no
``memoryview``, ``bytes`` or ``str`` is made of it, and an audio delta is
decoded from that buffer onto its item's AudioBuffer.  Everything else (other
handlers, binary frames, fragments, messages held back during connect) takes
the pure twin's functions, so both twins behave the same.

This module is built against one picows release (its C layout is compiled
in) and refuses to import with any other: the transport then uses the pure
listener.
"""

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

from realtime_fast._events cimport FrameReceiver

import picows

from realtime_fast.transport import _picows_listener_py as _py

__all__ = ["BUILT_WITH_PICOWS", "Listener"]

# setup.py passes the version as character codes (RF_PICOWS_BUILD_VERSION_CHARS=50,46,...):
# a string literal in a -D option does not survive every compiler's command line.
cdef extern from *:
    """
    #ifdef RF_PICOWS_BUILD_VERSION_CHARS
    static const char rf_picows_build_version[] = {RF_PICOWS_BUILD_VERSION_CHARS, 0};
    #else
    static const char rf_picows_build_version[] = "unknown";
    #endif
    """
    const char* rf_picows_build_version

#: The picows release this module was compiled against.
BUILT_WITH_PICOWS = rf_picows_build_version.decode()
if picows.__version__ != BUILT_WITH_PICOWS:
    raise ImportError(
        f"realtime_fast's compiled picows listener was built for picows {BUILT_WITH_PICOWS}, "
        f"but picows {picows.__version__} is installed; the pure listener is used instead "
        f"(reinstall realtime-fast from source, or install picows=={BUILT_WITH_PICOWS}, to compile it)."
    )

cdef object _handler_failed = _py.handler_failed
cdef object _reserved_bits_error = _py.reserved_bits_error
cdef object _unfinished_message_error = _py.unfinished_message_error
cdef object _deliver_view = _py.deliver_view
cdef object _start_message = _py.start_message
cdef object _continue_message = _py.continue_message


cdef class Listener(WSListener):
    """Receives picows' callbacks for one connection and forwards them to the transport's handlers.

    Same constructor, attributes and behaviour as the pure twin's ``Listener``.
    """

    cdef public object owner
    cdef public object on_message
    cdef public object on_binary
    cdef public Py_ssize_t max_message_size
    cdef public object fragments
    cdef public bint fragments_text
    cdef public object early
    cdef FrameReceiver _receiver

    def __init__(self, owner, on_message, on_binary, Py_ssize_t max_message_size):
        self.owner = owner
        self.on_message = on_message
        self.on_binary = on_binary
        self.max_message_size = max_message_size
        self.fragments = None
        self.fragments_text = True
        self.early = []
        self._receiver = on_message if type(on_message) is FrameReceiver else None

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            if transport.is_close_frame_sent and not self.owner.close_requested:
                # The connection failed: picows may go on parsing after a
                # protocol error (an oversized frame, say); deliver nothing more.
                return
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                raise _reserved_bits_error()
            if self.fragments is not None:
                raise _unfinished_message_error()
            if frame.fin:
                if self._receiver is not None and msg_type == WSMsgType.TEXT and self.early is None:
                    try:
                        self._receiver.feed(<const unsigned char*>frame.payload_ptr, frame.payload_size)
                    except Exception:  # the layer above reports its own failures; never break the connection
                        _handler_failed(self)
                    return
                _deliver_view(self, msg_type == WSMsgType.TEXT, frame.get_payload_as_memoryview())
            else:
                _start_message(self, msg_type == WSMsgType.TEXT, frame)
        elif msg_type == WSMsgType.CONTINUATION:
            if not transport.is_close_frame_sent or self.owner.close_requested:
                _continue_message(self, frame)
        elif msg_type == WSMsgType.CLOSE:
            self.owner.close_frame_received(transport)
        # PING frames are answered by picows (enable_auto_pong); PONG frames
        # that answer the keepalive ping are consumed by picows, others are ignored.

    cpdef pause_writing(self):
        self.owner.pause_writing()

    cpdef resume_writing(self):
        self.owner.resume_writing()
