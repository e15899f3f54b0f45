"""Compiled audio core: the fast translation of ``_audio_py`` (same API and messages).

Base64 runs through table-driven C loops (``_b64.h``) with AVX2/SSSE3 bulk loops
picked at import on x86-64.  G.711 runs through tables filled at import from the
same rules as the pure twin; the resampler uses the pure twin's fixed-point
filters.  Error messages come from ``_audio_py`` so the two implementations
cannot drift.  Import the public names from :mod:`realtime_fast.audio`.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_FORMAT,
    PyBUF_ND,
    PyBUF_RECORDS_RO,
    PyBUF_SIMPLE,
    PyBUF_STRIDES,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int16_t, int32_t, int64_t, uint16_t
from cpython.unicode cimport PyUnicode_Check, PyUnicode_CheckExact
from libc.string cimport memcmp, memcpy, memmove, memset, strcmp

from realtime_fast import _audio_py as _py

__all__ = [
    "RESAMPLE_RATES",
    "AudioBuffer",
    "Resampler",
    "alaw_to_pcm16",
    "b64decode_pcm16",
    "b64encode_pcm16",
    "float_to_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "resample_pcm16",
    "ulaw_to_pcm16",
]


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)


cdef extern from "_b64.h" nogil:
    int RTF_BIG_ENDIAN
    int RTF_B64_OK
    void rtf_b64_init(int simd)
    const char* rtf_b64_kernel_name()
    Py_ssize_t rtf_b64_decoded_size(const unsigned char* src, Py_ssize_t n)
    int rtf_b64_decode(const unsigned char* src, Py_ssize_t n, unsigned char* dst)
    int rtf_b64_scan(const unsigned char* src, Py_ssize_t n, Py_ssize_t* offset, Py_ssize_t* pad_at)
    Py_ssize_t rtf_b64_encoded_size(Py_ssize_t n)
    Py_ssize_t rtf_b64_encode(const unsigned char* src, Py_ssize_t n, unsigned char* dst)
    void rtf_float32_to_pcm16(const float* src, Py_ssize_t n, unsigned char* dst)
    void rtf_float64_to_pcm16(const double* src, Py_ssize_t n, unsigned char* dst)


rtf_b64_init(1)

# Inputs at least this large are converted with the GIL released (smaller ones
# finish faster than a GIL round trip).
cdef Py_ssize_t _NOGIL_BYTES = 1 << 18
cdef unsigned char _EMPTY[1]
cdef const char* _FORMAT_B = "B"

cdef object _VIEWS_EXIST = _py.VIEWS_EXIST_MESSAGE
cdef object _ODD_PCM = _py.ODD_PCM_MESSAGE
cdef object _NOT_FLOAT = _py.NOT_FLOAT_MESSAGE
cdef object _MAX_SAMPLES = _py.MAX_SAMPLES_MESSAGE
cdef object _b64_error_message = _py.b64_error_message
cdef object _find_b64_error = _py.find_b64_error
cdef object _pcm_view = _py._pcm_view
cdef object _base64_bytes = _py._base64_bytes
cdef object _py_float_to_pcm16 = _py.float_to_pcm16
cdef object _index = _py._index


def _b64_kernel():
    """Name of the base64 bulk loop in use: ``"avx2"``, ``"ssse3"`` or ``"scalar"``."""
    return rtf_b64_kernel_name().decode("ascii")


def _append_b64_raw(AudioBuffer buf, const unsigned char[::1] data not None):
    """Call the C-level ``buf.append_b64_raw`` on ``data`` (tests the cimport contract)."""
    if data.shape[0] == 0:
        buf.append_b64_raw(_EMPTY, 0)
    else:
        buf.append_b64_raw(&data[0], data.shape[0])


def _encode_b64_into(const unsigned char[::1] data not None):
    """Call the C-level ``encode_b64_into`` on ``data`` and return the text as bytes (tests)."""
    cdef Py_ssize_t n = data.shape[0]
    out = PyBytes_FromStringAndSize(NULL, rtf_b64_encoded_size(n))
    cdef Py_ssize_t written = encode_b64_into(&data[0] if n else _EMPTY, n, <unsigned char*>PyBytes_AS_STRING(out))
    assert written == PyBytes_GET_SIZE(out)
    return out


def _use_simd(bint enabled):
    """Switch the SIMD bulk loops on (best the CPU has) or off (scalar); for tests and benchmarks."""
    rtf_b64_init(1 if enabled else 0)


# ---------------------------------------------------------------------------
# Errors (messages built by _audio_py)
# ---------------------------------------------------------------------------

cdef object _AS_UTF8 = object()  # _b64_error: describe the bytes as the str they encode


cdef object _b64_error(const unsigned char* src, Py_ssize_t n, object text):
    """ValueError for invalid base64 src[0:n].

    ``text`` is the original str (ASCII), None to describe the input as bytes, or
    _AS_UTF8 to describe it as the str its UTF-8 bytes spell (bytes if they are not UTF-8).
    """
    cdef Py_ssize_t offset = -1, pad_at = -1
    cdef int kind
    if text is _AS_UTF8:
        raw = PyBytes_FromStringAndSize(<const char*>src, n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        else:
            if not text.isascii():
                return _non_ascii_error(text)  # offsets count characters, not bytes
    kind = rtf_b64_scan(src, n, &offset, &pad_at)
    if text is None:
        text = PyBytes_FromStringAndSize(<const char*>src, n)
    return ValueError(_b64_error_message(text, kind, offset, pad_at))


cdef object _non_ascii_error(object text):
    kind, offset, pad_at = _find_b64_error(text)
    return ValueError(_b64_error_message(text, kind, offset, pad_at))


# ---------------------------------------------------------------------------
# Input acquisition
# ---------------------------------------------------------------------------

cdef inline bint _is_pcm_format(const Py_buffer* view) noexcept:
    cdef const char* fmt = view.format
    if view.itemsize == 1:
        return True
    if fmt == NULL or view.itemsize != 2:
        return False
    if RTF_BIG_ENDIAN:
        return strcmp(fmt, "<h") == 0
    return strcmp(fmt, "h") == 0 or strcmp(fmt, "<h") == 0 or strcmp(fmt, "=h") == 0 or strcmp(fmt, "@h") == 0


cdef int _get_pcm(object data, Py_buffer* view, str where) except -1:
    """Fill ``view`` with the contiguous bytes of PCM16 ``data`` (caller releases it)."""
    cdef bint usable = False
    if PyObject_CheckBuffer(data):
        PyObject_GetBuffer(data, view, PyBUF_RECORDS_RO)
        usable = _is_pcm_format(view) and PyBuffer_IsContiguous(view, b'C')
        if not usable:
            PyBuffer_Release(view)
    if not usable:
        # Strided input is copied; anything else gets the pure twin's TypeError.
        PyObject_GetBuffer(_pcm_view(data, where), view, PyBUF_SIMPLE)
    if view.len & 1:
        n = view.len
        PyBuffer_Release(view)
        raise ValueError(_ODD_PCM.format(where=where, n=n))
    return 0


cdef object _get_text(object text, Py_buffer* view, bint* acquired, const unsigned char** src, Py_ssize_t* n):
    """Point src/n at base64 ``text``; returns the object that owns the memory.

    When ``acquired`` is set afterwards the caller releases ``view``.
    """
    acquired[0] = False
    if PyBytes_CheckExact(text):
        src[0] = <const unsigned char*>PyBytes_AS_STRING(text)
        n[0] = PyBytes_GET_SIZE(text)
        return text
    if PyUnicode_CheckExact(text) and PyUnicode_IS_COMPACT_ASCII(text):
        src[0] = <const unsigned char*>PyUnicode_DATA(text)
        n[0] = PyUnicode_GET_LENGTH(text)
        return text
    if PyUnicode_Check(text):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise _non_ascii_error(text) from None
        src[0] = <const unsigned char*>PyBytes_AS_STRING(raw)
        n[0] = PyBytes_GET_SIZE(raw)
        return raw
    if PyObject_CheckBuffer(text):
        PyObject_GetBuffer(text, view, PyBUF_RECORDS_RO)
        if view.itemsize == 1 and PyBuffer_IsContiguous(view, b'C'):
            src[0] = <const unsigned char*>view.buf
            n[0] = view.len
            acquired[0] = True
            return None
        PyBuffer_Release(view)
    raw = _base64_bytes(text)  # the pure twin's TypeError, or a copy of a strided view
    src[0] = <const unsigned char*>PyBytes_AS_STRING(raw)
    n[0] = PyBytes_GET_SIZE(raw)
    return raw


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------

cdef Py_ssize_t encode_b64_into(const unsigned char* src, Py_ssize_t n, unsigned char* dst) noexcept nogil:
    return rtf_b64_encode(src, n, dst)


cdef str _encode_to_str(const unsigned char* src, Py_ssize_t n):
    """Base64 of n bytes at src as a new ASCII str (one allocation, filled in place)."""
    cdef str out = PyUnicode_New(rtf_b64_encoded_size(n), 127)
    cdef unsigned char* dst = <unsigned char*>PyUnicode_DATA(out)
    if n >= _NOGIL_BYTES:
        with nogil:
            rtf_b64_encode(src, n, dst)
    else:
        rtf_b64_encode(src, n, dst)
    return out


def b64encode_pcm16(data) -> str:
    """Encode PCM16 audio as standard base64 (RFC 4648, ``'='`` padded) text.

    ``data`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16 array,
    contiguous or strided; its byte count must be even (whole samples).  Raises
    ValueError for an odd byte count and TypeError for anything else.
    """
    cdef Py_buffer view
    cdef Py_ssize_t n
    if PyBytes_CheckExact(data):
        n = PyBytes_GET_SIZE(data)
        if n & 1:
            raise ValueError(_ODD_PCM.format(where="b64encode_pcm16", n=n))
        return _encode_to_str(<const unsigned char*>PyBytes_AS_STRING(data), n)
    _get_pcm(data, &view, "b64encode_pcm16")
    try:
        return _encode_to_str(<const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


def b64decode_pcm16(text) -> bytes:
    """Decode standard base64 PCM16 audio text into bytes (2 bytes per sample).

    Strict RFC 4648: alphabet ``A-Z a-z 0-9 + /``, ``'='`` padding only at the end
    and a length that is a multiple of 4, no whitespace.  Raises ValueError naming
    the problem and its character offset, also when the audio would have an odd
    number of bytes.
    """
    cdef Py_buffer view
    cdef const unsigned char* src = NULL
    cdef Py_ssize_t n = 0, size
    cdef unsigned char* dst
    cdef int rc
    cdef bint acquired = False
    owner = _get_text(text, &view, &acquired, &src, &n)
    try:
        size = rtf_b64_decoded_size(src, n)
        if size < 0 or size & 1:
            raise _b64_error(src, n, text if PyUnicode_Check(text) else None)
        out = PyBytes_FromStringAndSize(NULL, size)
        dst = <unsigned char*>PyBytes_AS_STRING(out)
        if n >= _NOGIL_BYTES:
            with nogil:
                rc = rtf_b64_decode(src, n, dst)
        else:
            rc = rtf_b64_decode(src, n, dst)
        if rc:
            raise _b64_error(src, n, text if PyUnicode_Check(text) else None)
        return out
    finally:
        if acquired:
            PyBuffer_Release(&view)


cdef inline bint _is_native_float(const Py_buffer* view, char code) noexcept:
    cdef const char* fmt = view.format
    if fmt == NULL:
        return False
    if fmt[0] == b'@' or fmt[0] == b'=' or (fmt[0] == b'<' and not RTF_BIG_ENDIAN):
        fmt += 1
    return fmt[0] == code and fmt[1] == 0


def float_to_pcm16(samples) -> bytes:
    """Convert float samples in [-1, 1] to PCM16 little-endian bytes, like the reference client.

    ``samples`` is a float32/float64 numpy array, ``array('f')``/``array('d')``, any
    buffer of floats, or a sequence of numbers.  Each sample is taken as float32,
    clamped to [-1, 1], multiplied by 32768 when negative and 32767 otherwise, and
    truncated toward zero; NaN becomes 0, +inf 32767 and -inf -32768.
    """
    cdef Py_buffer view
    cdef Py_ssize_t count
    cdef int kind = 0
    cdef bint acquired = False
    cdef unsigned char* dst
    if samples is None or isinstance(samples, (str, bytes, bytearray)) or not PyObject_CheckBuffer(samples):
        return _py_float_to_pcm16(samples)  # sequences (and the TypeErrors) go through numpy
    PyObject_GetBuffer(samples, &view, PyBUF_RECORDS_RO)
    acquired = True
    try:
        if PyBuffer_IsContiguous(&view, b'C'):
            if view.itemsize == 4 and _is_native_float(&view, b'f'):
                kind = 4
            elif view.itemsize == 8 and _is_native_float(&view, b'd'):
                kind = 8
        if kind == 0:
            acquired = False
            PyBuffer_Release(&view)
            return _py_float_to_pcm16(samples)  # other float formats, strided, or not floats
        count = view.len // kind
        out = PyBytes_FromStringAndSize(NULL, 2 * count)
        dst = <unsigned char*>PyBytes_AS_STRING(out)
        with nogil:
            if kind == 4:
                rtf_float32_to_pcm16(<const float*>view.buf, count, dst)
            else:
                rtf_float64_to_pcm16(<const double*>view.buf, count, dst)
        PyBuffer_Release(&view)
        return out
    except BaseException:
        if acquired:
            PyBuffer_Release(&view)
        raise


# ---------------------------------------------------------------------------
# AudioBuffer
# ---------------------------------------------------------------------------

def _rebuild(data, max_samples, offset):
    """Unpickle an AudioBuffer (see ``AudioBuffer.__reduce__``)."""
    cdef AudioBuffer buf = AudioBuffer(max_samples)
    buf.append(data)
    buf._offset = offset
    return buf


@cython.final
cdef class AudioBuffer:
    """A growable buffer of PCM16 samples (amortised O(1) appends, no quadratic copying).

    ``len(buf)`` is in samples.  With ``max_samples`` the buffer keeps only the
    newest samples: when an append goes past the cap the oldest ones are dropped
    (amortised O(1), no memmove per append) and :attr:`offset` advances.
    :attr:`offset` is the absolute index of the first sample held: the number of
    samples ever dropped from the front by :meth:`discard` or by the cap.

    The buffer exports its bytes without copying: ``memoryview(buf)`` (format
    ``'B'``, one item per byte) and ``numpy.frombuffer(buf, numpy.int16)`` see the
    live samples.  Such a view stays valid as long as it exists, because while
    any view exists the buffer refuses to change size: ``append``,
    ``append_base64``, ``truncate``, ``discard`` and ``clear`` raise BufferError
    (as ``bytearray`` does), leaving the buffer unchanged.  Release views when
    done (``with memoryview(buf) as m: ...``) or copy with :meth:`to_bytes`.
    """

    def __init__(self, max_samples=None):
        if max_samples is not None:
            if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples <= 0:
                raise ValueError(_MAX_SAMPLES.format(value=max_samples))
            self._max_bytes = 2 * max_samples
        else:
            self._max_bytes = -1

    def __dealloc__(self):
        PyMem_Free(self._data)
        self._data = NULL

    # -- storage -------------------------------------------------------------

    cdef int _check_resizable(self) except -1:
        if self._exports > 0:
            raise BufferError(_VIEWS_EXIST)
        return 0

    cdef unsigned char* _reserve_tail(self, Py_ssize_t nbytes) except NULL:
        """Room for nbytes after the live samples (not yet counted as live)."""
        cdef Py_ssize_t need = self._nbytes + nbytes
        cdef Py_ssize_t capacity
        cdef unsigned char* grown
        if self._start + need <= self._capacity:
            return self._data + self._start + self._nbytes
        if self._start >= self._nbytes and need <= self._capacity:
            # The dead space in front is at least as large as what moves, so each
            # byte moved was paid for by a byte dropped before: amortised O(1).
            memmove(self._data, self._data + self._start, self._nbytes)
            self._start = 0
            return self._data + self._nbytes
        if self._start:
            memmove(self._data, self._data + self._start, self._nbytes)
            self._start = 0
        # Over-allocate by 1/8 like bytearray: realloc can then usually grow in
        # place (or by mremap) instead of copying into fresh pages.
        capacity = need + (need >> 3) + 64
        if self._max_bytes >= 0 and capacity > self._max_bytes:
            # A capped buffer settles at twice its window, so the compaction above
            # runs at most once per window's worth of appended bytes.
            capacity = 2 * (self._max_bytes + nbytes) + 64
        grown = <unsigned char*>PyMem_Realloc(self._data, capacity)
        if grown == NULL:
            raise MemoryError("AudioBuffer could not grow to %d bytes; bound it with max_samples." % capacity)
        self._data = grown
        self._capacity = capacity
        return self._data + self._nbytes

    cdef void _commit_tail(self, Py_ssize_t nbytes) noexcept:
        self._nbytes += nbytes
        if self._max_bytes >= 0 and self._nbytes > self._max_bytes:
            self._drop_front(self._nbytes - self._max_bytes)

    cdef void _drop_front(self, Py_ssize_t nbytes) noexcept:
        self._start += nbytes
        self._nbytes -= nbytes
        self._offset += nbytes >> 1
        if self._nbytes == 0:
            self._start = 0

    # -- appending -----------------------------------------------------------

    cdef int append_raw(self, const unsigned char* src, Py_ssize_t nbytes) except -1:
        cdef unsigned char* dst
        self._check_resizable()
        if nbytes & 1:
            raise ValueError(_ODD_PCM.format(where="AudioBuffer.append", n=nbytes))
        if nbytes:
            dst = self._reserve_tail(nbytes)
            memcpy(dst, src, nbytes)
            self._commit_tail(nbytes)
        return 0

    cdef int _append_b64(self, const unsigned char* src, Py_ssize_t n, object text) except -1:
        cdef Py_ssize_t size
        cdef unsigned char* dst
        self._check_resizable()
        size = rtf_b64_decoded_size(src, n)
        if size < 0 or size & 1:
            raise _b64_error(src, n, text)
        if size:
            dst = self._reserve_tail(size)
            if rtf_b64_decode(src, n, dst):
                raise _b64_error(src, n, text)  # nothing committed: the buffer is unchanged
            self._commit_tail(size)
        return 0

    cdef int append_b64_raw(self, const unsigned char* src, Py_ssize_t n) except -1:
        return self._append_b64(src, n, _AS_UTF8)

    def append(self, pcm):
        """Append PCM16 audio (bytes-like or int16 array with an even byte count) at the end."""
        cdef Py_buffer view
        self._check_resizable()
        if PyBytes_CheckExact(pcm):
            self.append_raw(<const unsigned char*>PyBytes_AS_STRING(pcm), PyBytes_GET_SIZE(pcm))
            return
        _get_pcm(pcm, &view, "AudioBuffer.append")
        try:
            self.append_raw(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def append_base64(self, text):
        """Decode base64 PCM16 text (str or bytes-like) and append the samples.

        Raises ValueError like :func:`b64decode_pcm16` and leaves the buffer unchanged.
        """
        cdef Py_buffer view
        cdef const unsigned char* src = NULL
        cdef Py_ssize_t n = 0
        cdef bint acquired = False
        self._check_resizable()
        owner = _get_text(text, &view, &acquired, &src, &n)
        try:
            self._append_b64(src, n, text if PyUnicode_Check(text) else None)
        finally:
            if acquired:
                PyBuffer_Release(&view)

    # -- size ----------------------------------------------------------------

    def __len__(self):
        """Number of samples held."""
        return self._nbytes >> 1

    def duration_ms(self, rate=24000):
        """Duration of the held samples in milliseconds at ``rate`` samples per second."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ValueError(_py.RATE_MESSAGE.format(value=rate))
        return (self._nbytes >> 1) * 1000.0 / rate

    @property
    def offset(self):
        """Absolute sample index of the first held sample (samples dropped from the front so far)."""
        return self._offset

    @property
    def max_samples(self):
        """Cap in samples (oldest samples are dropped past it), or None for unbounded."""
        return None if self._max_bytes < 0 else self._max_bytes >> 1

    @property
    def resizable(self):
        """False while a view (``memoryview``, numpy array) uses the buffer's memory: it cannot grow or shrink then."""
        return self._exports == 0

    cdef Py_ssize_t append_b64_new(self, const unsigned char* src, Py_ssize_t n) except -2:
        cdef Py_ssize_t before = self._nbytes >> 1, start
        cdef long long offset = self._offset
        self.append_b64_raw(src, n)
        start = before - <Py_ssize_t>(self._offset - offset)
        return start if start > 0 else 0

    cdef bint can_resize(self) noexcept:
        return self._exports == 0

    cdef bytes tail_bytes(self, Py_ssize_t start):
        if start < 0:
            start = 0
        elif start > (self._nbytes >> 1):
            start = self._nbytes >> 1
        return PyBytes_FromStringAndSize(<const char*>(self._data + self._start + 2 * start), self._nbytes - 2 * start)

    # -- shrinking -----------------------------------------------------------

    def truncate(self, n_samples):
        """Keep only the first ``n_samples`` samples (no-op if there are fewer)."""
        cdef object keep = _index(n_samples, "n_samples")
        self._check_resizable()
        if keep < (self._nbytes >> 1):
            self._nbytes = 2 * <Py_ssize_t>keep
            if self._nbytes == 0:
                self._start = 0

    def discard(self, n_samples):
        """Drop the ``n_samples`` oldest samples (all if there are fewer); :attr:`offset` advances."""
        cdef object count = _index(n_samples, "n_samples")
        self._check_resizable()
        if count >= (self._nbytes >> 1):
            self._drop_front(self._nbytes)
        elif count:
            self._drop_front(2 * <Py_ssize_t>count)

    def clear(self):
        """Drop every sample, release the memory and reset :attr:`offset` to 0."""
        self._check_resizable()
        PyMem_Free(self._data)
        self._data = NULL
        self._capacity = 0
        self._start = 0
        self._nbytes = 0
        self._offset = 0

    # -- copies --------------------------------------------------------------

    def slice(self, start, stop=None):
        """A new, unbounded buffer holding a copy of samples ``[start:stop]``.

        Indices are in samples relative to the first held sample and follow
        Python slicing (negative counts from the end, out of range is clipped).
        The copy's :attr:`offset` is ``self.offset`` plus the resolved ``start``.
        """
        cdef Py_ssize_t first, last
        cdef AudioBuffer out = AudioBuffer()
        first, last, _ = slice(start, stop).indices(self._nbytes >> 1)
        if last > first:
            out.append_raw(self._data + self._start + 2 * first, 2 * (last - first))
        out._offset = self._offset + first
        return out

    def to_bytes(self, start=0, stop=None):
        """A copy of samples ``[start:stop]`` (all of them by default) as PCM16 little-endian bytes.

        Indices are in samples and follow :meth:`slice` (negative counts from
        the end, out of range is clipped).  Nothing refers to the buffer
        afterwards, so it can keep growing.
        """
        cdef Py_ssize_t first, last, n = self._nbytes >> 1
        if stop is None and type(start) is int and 0 <= start <= n:
            first = start  # the hot path: the samples a delta just added
            last = n
        else:
            first, last, _ = slice(start, stop).indices(n)
        if last <= first:
            return b""
        return PyBytes_FromStringAndSize(<const char*>(self._data + self._start + 2 * first), 2 * (last - first))

    def __eq__(self, other):
        """True when ``other`` is bytes-like with the same PCM16 bytes."""
        cdef Py_buffer view
        cdef bint same
        if not PyObject_CheckBuffer(other):
            return NotImplemented
        try:
            PyObject_GetBuffer(other, &view, PyBUF_SIMPLE)
        except (BufferError, TypeError, ValueError):
            return NotImplemented
        same = view.len == self._nbytes and (
            self._nbytes == 0 or memcmp(view.buf, self._data + self._start, self._nbytes) == 0
        )
        PyBuffer_Release(&view)
        return same

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    def __reduce__(self):
        return _rebuild, (self.to_bytes(), self.max_samples, self._offset)

    def __repr__(self):
        n = self._nbytes >> 1
        return (
            f"AudioBuffer(samples={n}, duration_ms={n / 24.0:.1f}, offset={self._offset}, "
            f"max_samples={self.max_samples})"
        )

    # -- buffer protocol -----------------------------------------------------

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        self._view_shape = self._nbytes
        self._view_stride = 1
        buffer.buf = <void*>(self._data + self._start) if self._data != NULL else <void*>_EMPTY
        buffer.obj = self
        buffer.len = self._nbytes
        buffer.readonly = 0
        buffer.itemsize = 1
        buffer.format = <char*>_FORMAT_B if (flags & PyBUF_FORMAT) else NULL
        buffer.ndim = 1
        buffer.shape = &self._view_shape if (flags & PyBUF_ND) == PyBUF_ND else NULL
        buffer.strides = &self._view_stride if (flags & PyBUF_STRIDES) == PyBUF_STRIDES else NULL
        buffer.suboffsets = NULL
        buffer.internal = NULL
        self._exports += 1

    def __releasebuffer__(self, Py_buffer* buffer):
        self._exports -= 1


# ---------------------------------------------------------------------------
# G.711 (the rules are _audio_py's ulaw/alaw_*_sample, translated)
# ---------------------------------------------------------------------------

cdef int16_t _ULAW_DECODE[256]
cdef int16_t _ALAW_DECODE[256]
# Codes by (sample + 32768) >> 2 (mu-law) and >> 3 (A-law): the code depends only
# on the 14-bit / 13-bit linear value, and the index needs no signed shift.
cdef unsigned char _ULAW_ENCODE[16384]
cdef unsigned char _ALAW_ENCODE[8192]
cdef object _NOT_G711_BUFFER = _py.NOT_G711_BUFFER_MESSAGE
cdef object _g711_view = _py._g711_view


cdef int _ulaw_decode_sample(int code) noexcept nogil:
    code ^= 0xFF
    cdef int segment = (code >> 4) & 7
    cdef int magnitude = ((((2 * (code & 0x0F) + 33) << segment) - 33) * 4)
    return -magnitude if code & 0x80 else magnitude


cdef int _alaw_decode_sample(int code) noexcept nogil:
    code ^= 0x55
    cdef int segment = (code >> 4) & 7
    cdef int step = code & 0x0F
    cdef int magnitude = (2 * step + 1) * 8 if segment == 0 else (2 * step + 33) << (segment + 2)
    return magnitude if code & 0x80 else -magnitude


cdef int _bit_length(int value) noexcept nogil:
    cdef int bits = 0
    while value:
        value >>= 1
        bits += 1
    return bits


cdef unsigned char _ulaw_encode_value(int value) noexcept nogil:
    """The mu-law code of 14-bit linear ``value`` (sample >> 2)."""
    cdef int magnitude, inversion, biased, segment
    if value < 0:
        magnitude = -value
        inversion = 0x7F
    else:
        magnitude = value
        inversion = 0xFF
    biased = magnitude + 33 if magnitude + 33 < 0x1FFF else 0x1FFF
    segment = _bit_length(biased) - 6
    return <unsigned char>(((segment << 4) | ((biased >> (segment + 1)) - 16)) ^ inversion)


cdef unsigned char _alaw_encode_value(int value) noexcept nogil:
    """The A-law code of 13-bit linear ``value`` (sample >> 3)."""
    cdef int magnitude, inversion, segment
    if value >= 0:
        magnitude = value
        inversion = 0xD5
    else:
        magnitude = -value - 1
        inversion = 0x55
    segment = _bit_length(magnitude) - 5
    if segment < 0:
        segment = 0
    return <unsigned char>(((segment << 4) | ((magnitude >> (segment if segment > 1 else 1)) & 0x0F)) ^ inversion)


cdef void _init_g711() noexcept nogil:
    cdef int i
    for i in range(256):
        _ULAW_DECODE[i] = <int16_t>_ulaw_decode_sample(i)
        _ALAW_DECODE[i] = <int16_t>_alaw_decode_sample(i)
    for i in range(16384):
        _ULAW_ENCODE[i] = _ulaw_encode_value(i - 8192)
    for i in range(8192):
        _ALAW_ENCODE[i] = _alaw_encode_value(i - 4096)


_init_g711()


cdef int _get_g711(object data, Py_buffer* view, str where) except -1:
    """Fill ``view`` with the contiguous bytes of G.711 ``data`` (caller releases it)."""
    cdef bint usable = False
    if PyObject_CheckBuffer(data):
        PyObject_GetBuffer(data, view, PyBUF_RECORDS_RO)
        usable = view.itemsize == 1 and PyBuffer_IsContiguous(view, b'C')
        if not usable:
            PyBuffer_Release(view)
    if not usable:
        # Strided input is copied; anything else gets the pure twin's TypeError.
        PyObject_GetBuffer(_g711_view(data, where), view, PyBUF_SIMPLE)
    return 0


cdef void _g711_decode_loop(const unsigned char* src, Py_ssize_t n, const int16_t* table, unsigned char* dst) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint16_t value
    for i in range(n):
        value = <uint16_t>table[src[i]]
        dst[2 * i] = <unsigned char>(value & 0xFF)  # little-endian on every platform
        dst[2 * i + 1] = <unsigned char>(value >> 8)


cdef void _g711_encode_loop(
    const unsigned char* src, Py_ssize_t n, const unsigned char* table, int dropped, unsigned char* dst
) noexcept nogil:
    cdef Py_ssize_t i
    cdef unsigned int biased
    for i in range(n):
        biased = (src[2 * i] | (<unsigned int>src[2 * i + 1] << 8)) ^ 0x8000  # sample + 32768
        dst[i] = table[biased >> dropped]


cdef bytes _g711_to_pcm16(object data, str where, const int16_t* table):
    cdef Py_buffer view
    cdef const unsigned char* src
    cdef unsigned char* dst
    cdef Py_ssize_t n
    cdef bint acquired = False
    if PyBytes_CheckExact(data):
        src = <const unsigned char*>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    else:
        _get_g711(data, &view, where)
        acquired = True
        src = <const unsigned char*>view.buf
        n = view.len
    try:
        out = PyBytes_FromStringAndSize(NULL, 2 * n)
        dst = <unsigned char*>PyBytes_AS_STRING(out)
        if n >= _NOGIL_BYTES:
            with nogil:
                _g711_decode_loop(src, n, table, dst)
        else:
            _g711_decode_loop(src, n, table, dst)
        return out
    finally:
        if acquired:
            PyBuffer_Release(&view)


cdef bytes _pcm16_to_g711(object pcm, str where, const unsigned char* table, int dropped):
    cdef Py_buffer view
    cdef const unsigned char* src
    cdef unsigned char* dst
    cdef Py_ssize_t n
    cdef bint acquired = False
    if PyBytes_CheckExact(pcm):
        n = PyBytes_GET_SIZE(pcm)
        if n & 1:
            raise ValueError(_ODD_PCM.format(where=where, n=n))
        src = <const unsigned char*>PyBytes_AS_STRING(pcm)
    else:
        _get_pcm(pcm, &view, where)
        acquired = True
        src = <const unsigned char*>view.buf
        n = view.len
    try:
        out = PyBytes_FromStringAndSize(NULL, n >> 1)
        dst = <unsigned char*>PyBytes_AS_STRING(out)
        if n >= _NOGIL_BYTES:
            with nogil:
                _g711_encode_loop(src, n >> 1, table, dropped, dst)
        else:
            _g711_encode_loop(src, n >> 1, table, dropped, dst)
        return out
    finally:
        if acquired:
            PyBuffer_Release(&view)


def ulaw_to_pcm16(data) -> bytes:
    """Decode G.711 mu-law audio (one byte per sample) into PCM16 little-endian bytes (2 per sample).

    ``data`` is any bytes-like object of bytes (bytes, bytearray, memoryview,
    ``array('B')``, a numpy uint8 array).  The rate does not change: G.711 is
    8 kHz, so the result is 8 kHz PCM16 (see :func:`resample_pcm16`).  Codes
    0x7F and 0xFF both decode to 0.  Raises TypeError for anything else.
    """
    return _g711_to_pcm16(data, "ulaw_to_pcm16", _ULAW_DECODE)


def alaw_to_pcm16(data) -> bytes:
    """Decode G.711 A-law audio (one byte per sample) into PCM16 little-endian bytes (2 per sample).

    ``data`` is any bytes-like object of bytes, as for :func:`ulaw_to_pcm16`;
    the rate does not change (8 kHz).  Raises TypeError for anything else.
    """
    return _g711_to_pcm16(data, "alaw_to_pcm16", _ALAW_DECODE)


def pcm16_to_ulaw(pcm) -> bytes:
    """Encode PCM16 audio as G.711 mu-law, one byte per sample, byte for byte like ``audioop.lin2ulaw(pcm, 2)``.

    ``pcm`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16
    array, with an even byte count.  It should already be 8 kHz (G.711's rate;
    see :func:`resample_pcm16`): the rate does not change.  Raises ValueError
    for an odd byte count and TypeError for anything else.
    """
    return _pcm16_to_g711(pcm, "pcm16_to_ulaw", _ULAW_ENCODE, 2)


def pcm16_to_alaw(pcm) -> bytes:
    """Encode PCM16 audio as G.711 A-law, one byte per sample, byte for byte like ``audioop.lin2alaw(pcm, 2)``.

    ``pcm`` is as for :func:`pcm16_to_ulaw` (8 kHz PCM16, even byte count).
    Raises ValueError for an odd byte count and TypeError for anything else.
    """
    return _pcm16_to_g711(pcm, "pcm16_to_alaw", _ALAW_ENCODE, 3)


# ---------------------------------------------------------------------------
# Resampling (the filters come from _audio_py.resampler_kernel)
# ---------------------------------------------------------------------------

RESAMPLE_RATES = _py.RESAMPLE_RATES
cdef object _check_rate = _py._check_rate
cdef object _resampler_kernel = _py.resampler_kernel
cdef dict _KERNELS = {}  # (from_rate, to_rate), both exact ints -> _Kernel


cdef struct _Filter:
    int up
    int down
    int taps
    int shift
    int16_t* coefficients  # up * taps, phase by phase


@cython.final
cdef class _Kernel:
    """One pair of rates' fixed-point filter (_audio_py.ResamplerKernel) as a C array."""

    cdef _Filter f

    def __cinit__(self, kernel):
        cdef const unsigned char[::1] raw = kernel.coefficients
        cdef Py_ssize_t i
        self.f.up = kernel.up
        self.f.down = kernel.down
        self.f.taps = kernel.taps
        self.f.shift = kernel.shift
        self.f.coefficients = <int16_t*>PyMem_Malloc(self.f.up * self.f.taps * sizeof(int16_t))
        if self.f.coefficients == NULL:
            raise MemoryError()
        for i in range(self.f.up * self.f.taps):
            self.f.coefficients[i] = <int16_t>(raw[2 * i] | (raw[2 * i + 1] << 8))

    def __dealloc__(self):
        PyMem_Free(self.f.coefficients)


cdef _Kernel _kernel_for(object from_rate, object to_rate, str where):
    """The filter for a pair of rates, validated (ValueError naming the rates) and cached."""
    cdef _Kernel kernel
    if type(from_rate) is int and type(to_rate) is int:
        found = _KERNELS.get((from_rate, to_rate))
        if found is not None:
            return <_Kernel>found
    rates = (_check_rate(where, "from_rate", from_rate), _check_rate(where, "to_rate", to_rate))
    found = _KERNELS.get(rates)
    if found is None:
        found = _Kernel(_resampler_kernel(rates[0], rates[1]))
        _KERNELS[rates] = found
    return <_Kernel>found


cdef inline int64_t _floor_shift(int64_t value, int shift) noexcept nogil:
    """value / 2**shift rounded down, without relying on how C shifts negative numbers."""
    return value >> shift if value >= 0 else ~((~value) >> shift)


cdef Py_ssize_t _resample_run(
    const int16_t* inputs, Py_ssize_t first, Py_ssize_t phase, Py_ssize_t count, const _Filter* kernel, unsigned char* dst
) noexcept nogil:
    """Write ``count`` output samples (little-endian) to dst; returns the index of the first input of the next one.

    inputs[first] is the first input of the first output, which has ``phase``;
    the caller updates the phase.  The sums fit in 32 bits: see _audio_py.
    """
    cdef const int16_t* weights
    cdef const int16_t* window
    cdef Py_ssize_t k, j
    cdef int taps = kernel.taps, up = kernel.up, down = kernel.down, shift = kernel.shift
    cdef int64_t rounding = (<int64_t>1) << (shift - 1)
    cdef int32_t acc
    cdef int64_t value
    cdef uint16_t bits
    for k in range(count):
        weights = kernel.coefficients + phase * taps
        window = inputs + first
        acc = 0
        for j in range(taps):
            acc += <int32_t>window[j] * <int32_t>weights[j]
        value = _floor_shift(acc + rounding, shift)
        if value > 32767:
            value = 32767
        elif value < -32768:
            value = -32768
        bits = <uint16_t><int16_t>value
        dst[2 * k] = <unsigned char>(bits & 0xFF)
        dst[2 * k + 1] = <unsigned char>(bits >> 8)
        phase += down
        first += phase // up
        phase %= up
    return first


cdef inline void _load_pcm16(const unsigned char* src, Py_ssize_t n, int16_t* dst) noexcept nogil:
    cdef Py_ssize_t i
    if not RTF_BIG_ENDIAN:
        memcpy(dst, src, 2 * n)
        return
    for i in range(n):
        dst[i] = <int16_t>(src[2 * i] | (src[2 * i + 1] << 8))


@cython.final
cdef class Resampler:
    """Resample a stream of PCM16 frames between 8000, 16000, 24000 and 48000 Hz.

    Feed frames of any size with :meth:`process`; it keeps the filter's
    history between calls, so a stream resampled frame by frame has no clicks
    at frame edges.  Each output sample needs :attr:`lookahead` input samples
    after its own time, so :meth:`process` returns only the samples whose input
    has arrived and keeps back the last few (:attr:`latency_ms`, 2.5 ms or less);
    :meth:`flush` returns those at the end of the stream, as if silence
    followed.  Everything returned, concatenated, is exactly what
    :func:`resample_pcm16` gives for the whole input: after n input samples the
    stream has returned ``ceil((n - lookahead) * to_rate / from_rate)`` samples
    (0 at first), and after :meth:`flush` ``ceil(n * to_rate / from_rate)``.

    The filter is a polyphase windowed sinc in 16-bit fixed point: flat within
    0.01 dB up to 85% of the lower rate's Nyquist frequency (3.4 kHz at 8 kHz),
    at least 70 dB of attenuation from 115% of it (63 dB from 48 to 8 kHz), so
    what would alias lands above 85% of Nyquist, 70 dB down.  Equal rates pass
    the audio through.
    """

    cdef int _from_rate
    cdef int _to_rate
    cdef _Kernel _kernel
    cdef int16_t* _history       # input samples from absolute index _history_start on
    cdef Py_ssize_t _history_len
    cdef Py_ssize_t _history_capacity
    cdef int64_t _history_start
    cdef int64_t _center         # the next output's time is _center + _phase / up input samples
    cdef Py_ssize_t _phase
    cdef int64_t _received       # input samples since the start
    cdef int64_t _emitted        # output samples since the start

    def __cinit__(self, from_rate, to_rate):
        # In __cinit__, not __init__: no Resampler exists without its filter.
        self._kernel = _kernel_for(from_rate, to_rate, "Resampler")
        self._from_rate = from_rate
        self._to_rate = to_rate
        self.reset()

    def __dealloc__(self):
        PyMem_Free(self._history)
        self._history = NULL

    @property
    def from_rate(self):
        """Input rate in Hz."""
        return self._from_rate

    @property
    def to_rate(self):
        """Output rate in Hz."""
        return self._to_rate

    @property
    def lookahead(self):
        """Input samples needed after an output sample's time before it is returned (0 for equal rates)."""
        return 0 if self._from_rate == self._to_rate else self._kernel.f.taps // 2

    @property
    def latency_ms(self):
        """:attr:`lookahead` in milliseconds: how far the output lags the input while streaming."""
        return self.lookahead * 1000.0 / self._from_rate

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self._history_len + extra
        cdef int16_t* grown
        if need > self._history_capacity:
            need += need >> 1
            grown = <int16_t*>PyMem_Realloc(self._history, need * sizeof(int16_t))
            if grown == NULL:
                raise MemoryError()
            self._history = grown
            self._history_capacity = need
        return 0

    def reset(self):
        """Forget the stream: the next :meth:`process` starts a new one (after silence)."""
        cdef Py_ssize_t half = self._kernel.f.taps // 2
        self._history_len = 0
        self._reserve(half - 1)
        memset(self._history, 0, (half - 1) * sizeof(int16_t))
        self._history_len = half - 1
        self._history_start = -(half - 1)
        self._center = 0
        self._phase = 0
        self._received = 0
        self._emitted = 0

    def process(self, pcm) -> bytes:
        """Resample the next frame of the stream; returns the PCM16 samples now complete (little-endian bytes).

        ``pcm`` is PCM16 as :func:`resample_pcm16` takes it.  Raises ValueError
        for an odd byte count and TypeError for anything else.
        """
        cdef Py_buffer view
        cdef const unsigned char* src
        cdef Py_ssize_t n
        cdef int64_t ready
        cdef bint acquired = False
        if PyBytes_CheckExact(pcm):
            n = PyBytes_GET_SIZE(pcm)
            if n & 1:
                raise ValueError(_ODD_PCM.format(where="Resampler.process", n=n))
            if self._from_rate == self._to_rate:
                return pcm
            src = <const unsigned char*>PyBytes_AS_STRING(pcm)
        else:
            _get_pcm(pcm, &view, "Resampler.process")
            acquired = True
            src = <const unsigned char*>view.buf
            n = view.len
        try:
            if self._from_rate == self._to_rate:
                return PyBytes_FromStringAndSize(<const char*>src, n)
            n >>= 1
            self._reserve(n)
            _load_pcm16(src, n, self._history + self._history_len)
        finally:
            if acquired:
                PyBuffer_Release(&view)
        self._history_len += n
        self._received += n
        ready = (self._received - self._kernel.f.taps // 2) * self._kernel.f.up  # output k is ready when k * down < ready
        if ready <= 0:
            return self._run(0)
        return self._run((ready + self._kernel.f.down - 1) // self._kernel.f.down - self._emitted)

    def flush(self) -> bytes:
        """End the stream: return the samples kept back (as if silence followed) and :meth:`reset`."""
        cdef Py_ssize_t half = self._kernel.f.taps // 2
        if self._from_rate == self._to_rate:
            return b""
        self._reserve(half)
        memset(self._history + self._history_len, 0, half * sizeof(int16_t))
        self._history_len += half
        out = self._run((self._received * self._kernel.f.up + self._kernel.f.down - 1) // self._kernel.f.down - self._emitted)
        self.reset()
        return out

    cdef bytes _run(self, int64_t count):
        """Compute the next ``count`` output samples, then drop the input no longer needed."""
        cdef _Kernel kernel = self._kernel
        cdef Py_ssize_t half = kernel.f.taps // 2
        cdef Py_ssize_t first = <Py_ssize_t>(self._center - (half - 1) - self._history_start)
        cdef Py_ssize_t drop
        cdef int64_t time
        if count < 0:
            count = 0
        out = PyBytes_FromStringAndSize(NULL, 2 * count)
        cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(out)
        if 2 * count >= _NOGIL_BYTES:
            with nogil:
                _resample_run(self._history, first, self._phase, count, &kernel.f, dst)
        else:
            _resample_run(self._history, first, self._phase, count, &kernel.f, dst)
        time = self._phase + count * kernel.f.down
        self._center += time // kernel.f.up
        self._phase = time % kernel.f.up
        self._emitted += count
        drop = <Py_ssize_t>(self._center - (half - 1) - self._history_start)
        if drop > 0:
            memmove(self._history, self._history + drop, (self._history_len - drop) * sizeof(int16_t))
            self._history_len -= drop
            self._history_start += drop
        return out

    def __repr__(self):
        return f"Resampler(from_rate={self._from_rate}, to_rate={self._to_rate})"


def resample_pcm16(pcm, from_rate, to_rate) -> bytes:
    """Resample PCM16 audio from ``from_rate`` to ``to_rate`` Hz (8000, 16000, 24000 or 48000, any pair).

    ``pcm`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16
    array with an even byte count; the result is ``ceil(n * to_rate /
    from_rate)`` samples for n input samples, little-endian, aligned with the
    input (no delay), as if silence surrounded it.  For a stream of frames use
    :class:`Resampler`: resampling each frame on its own would click at frame
    edges.  Raises ValueError for an unsupported rate or an odd byte count and
    TypeError for anything else.
    """
    cdef _Kernel kernel = _kernel_for(from_rate, to_rate, "resample_pcm16")
    cdef Py_buffer view
    cdef const unsigned char* src
    cdef Py_ssize_t n, half, count
    cdef int16_t* padded
    cdef unsigned char* dst
    cdef bint acquired = False
    if PyBytes_CheckExact(pcm):
        n = PyBytes_GET_SIZE(pcm)
        if n & 1:
            raise ValueError(_ODD_PCM.format(where="resample_pcm16", n=n))
        if from_rate == to_rate:
            return pcm
        src = <const unsigned char*>PyBytes_AS_STRING(pcm)
    else:
        _get_pcm(pcm, &view, "resample_pcm16")
        acquired = True
        src = <const unsigned char*>view.buf
        n = view.len
    try:
        if from_rate == to_rate:
            return PyBytes_FromStringAndSize(<const char*>src, n)
        n >>= 1
        half = kernel.f.taps // 2
        count = (n * kernel.f.up + kernel.f.down - 1) // kernel.f.down
        out = PyBytes_FromStringAndSize(NULL, 2 * count)
        dst = <unsigned char*>PyBytes_AS_STRING(out)
        padded = <int16_t*>PyMem_Malloc((n + 2 * half) * sizeof(int16_t))
        if padded == NULL:
            raise MemoryError()
        memset(padded, 0, (half - 1) * sizeof(int16_t))
        memset(padded + half - 1 + n, 0, (half + 1) * sizeof(int16_t))
        if 2 * n >= _NOGIL_BYTES:
            with nogil:
                _load_pcm16(src, n, padded + half - 1)
                _resample_run(padded, 0, 0, count, &kernel.f, dst)
        else:
            _load_pcm16(src, n, padded + half - 1)
            _resample_run(padded, 0, 0, count, &kernel.f, dst)
        PyMem_Free(padded)
        return out
    finally:
        if acquired:
            PyBuffer_Release(&view)
