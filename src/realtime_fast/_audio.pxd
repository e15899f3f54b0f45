# C-level interface of realtime_fast._audio, for other compiled modules
# (``from realtime_fast._audio cimport AudioBuffer, encode_b64_into``).
# The two declarations below are a stable contract: keep their signatures.

cimport cython


cdef Py_ssize_t encode_b64_into(const unsigned char* src, Py_ssize_t n, unsigned char* dst) noexcept nogil
# Writes the standard base64 ('=' padded) of src[0:n] to dst, which must hold
# 4 * ceil(n / 3) bytes, and returns that count.  No NUL terminator.


@cython.final
cdef class AudioBuffer:
    # Live samples are _data[_start : _start + _nbytes] (PCM16 little-endian bytes).
    cdef unsigned char* _data
    cdef Py_ssize_t _start          # bytes: where the first live sample begins in _data
    cdef Py_ssize_t _nbytes         # bytes: live length (always even)
    cdef Py_ssize_t _capacity       # bytes allocated at _data
    cdef Py_ssize_t _max_bytes      # bytes: cap (2 * max_samples), or -1 for none
    cdef Py_ssize_t _offset         # samples dropped from the front since creation / clear()
    cdef Py_ssize_t _exports        # live buffer-protocol views; resizing is refused while > 0
    cdef Py_ssize_t _view_shape     # shape/strides handed to views (stable while views exist)
    cdef Py_ssize_t _view_stride

    cdef int append_b64_raw(self, const unsigned char* src, Py_ssize_t n) except -1
    # Decodes n base64 characters at src straight onto the tail.  Bad base64 raises
    # ValueError with the message append_base64 gives for the str these UTF-8 bytes
    # spell (offsets in characters), leaving the buffer unchanged; BufferError while
    # views exist.

    cdef int append_raw(self, const unsigned char* src, Py_ssize_t nbytes) except -1
    # Appends nbytes (must be even) of PCM16 bytes; BufferError while views exist.

    cdef Py_ssize_t append_b64_new(self, const unsigned char* src, Py_ssize_t n) except -2
    # append_b64_raw, returning the index (among the held samples) of the first
    # sample it added: where a delta's samples start, 0 when the cap dropped some.

    cdef bint can_resize(self) noexcept
    # The ``resizable`` property: no view holds the buffer's memory.

    cdef bytes tail_bytes(self, Py_ssize_t start)
    # ``to_bytes(start)``: the samples from start on (start clipped to 0..len) as a new bytes object.

    cdef int _check_resizable(self) except -1
    cdef int _append_b64(self, const unsigned char* src, Py_ssize_t n, object text) except -1
    cdef unsigned char* _reserve_tail(self, Py_ssize_t nbytes) except NULL
    cdef void _commit_tail(self, Py_ssize_t nbytes) noexcept
    cdef void _drop_front(self, Py_ssize_t nbytes) noexcept
