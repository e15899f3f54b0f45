"""Pure-Python PCM16 audio core: the specification of ``realtime_fast._audio``.

The compiled module ``_audio.pyx`` is a fast translation of this one with the same
names, signatures, exception types and messages (it imports the message helpers
below, so the two cannot drift).  Import the public names from
:mod:`realtime_fast.audio`, which picks the implementation.

Audio is PCM16: signed 16-bit little-endian mono samples.  Lengths are in samples
unless a name says bytes or ms.
"""

from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # numpy is imported where floats are converted, not on import
    import numpy as np


__all__ = ["AudioBuffer", "b64decode_pcm16", "b64encode_pcm16", "float_to_pcm16"]

BytesLike = Union[bytes, bytearray, memoryview]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: Valid base64 text is decoded into an AudioBuffer in pieces of this many characters
#: (a multiple of 4), so a long text (an item retrieved with its audio) costs its audio
#: once, not once more for a decoded copy.
_B64_PIECE = 1 << 20
_B64_TEXT = re.compile(r"[A-Za-z0-9+/]*")
_INT16_FORMATS = frozenset(("h", "<h", "=h", "@h"))
_FLOAT_FORMATS = frozenset(("f", "d", "e"))
_NOT_BASE64_CHAR_STR = re.compile(r"[^A-Za-z0-9+/=]")
_NOT_BASE64_CHAR_BYTES = re.compile(rb"[^A-Za-z0-9+/=]")
_BASE64_DATA_STR = re.compile(r"[A-Za-z0-9+/]")
_BASE64_DATA_BYTES = re.compile(rb"[A-Za-z0-9+/]")

# ---------------------------------------------------------------------------
# Error messages, shared with the compiled module (it imports these).
# ---------------------------------------------------------------------------

# Kinds of base64 problems, reported for the first problem from the left.
B64_INVALID_CHAR = 1  # a character outside A-Z a-z 0-9 + / =
B64_DATA_AFTER_PADDING = 2  # an alphabet character after the first '='
B64_TOO_MUCH_PADDING = 3  # more than two '=' at the end
B64_BAD_LENGTH = 4  # length not a multiple of 4
B64_ODD_BYTES = 5  # valid base64, but an odd number of decoded bytes

VIEWS_EXIST_MESSAGE = (
    "AudioBuffer cannot be resized while a memoryview or numpy array still uses its memory: "
    "release the view first (e.g. `with memoryview(buf) as m: ...`) or work on a copy (buf.to_bytes())."
)
ODD_PCM_MESSAGE = (
    "{where} got {n} bytes, an odd count: PCM16 audio is made of whole 2-byte samples, "
    "so pass an even number of bytes."
)
NOT_BUFFER_MESSAGE = "{where} expects PCM16 audio as a bytes-like object or an int16 array, not {type}."
NOT_PCM_FORMAT_MESSAGE = (
    "{where} expects PCM16 audio as bytes or an int16 array, got a buffer of format {fmt!r}; "
    "convert float samples with float_to_pcm16() first."
)
NOT_TEXT_MESSAGE = "b64decode_pcm16 expects base64 text as str or a bytes-like object, not {type}."
NOT_FLOAT_MESSAGE = (
    "float_to_pcm16 expects float samples (a float array or buffer, or a sequence of floats), "
    "got {what}; PCM16 bytes need no conversion."
)
NEGATIVE_MESSAGE = "{what} must be a non-negative number of samples, got {value}."
MAX_SAMPLES_MESSAGE = "max_samples must be a positive number of samples or None, got {value!r}."
RATE_MESSAGE = "rate must be a positive number of samples per second, got {value!r}."


def b64_error_message(text: str | bytes, kind: int, offset: int, pad_at: int) -> str:
    """Describe base64 problem ``kind`` found at character ``offset`` of ``text``.

    ``pad_at`` is the offset of the first ``'='`` (or -1).  ``text`` is the str or
    the bytes that were decoded.
    """
    n = len(text)
    if kind == B64_INVALID_CHAR:
        char = repr(text[offset]) if isinstance(text, str) else repr(bytes(text[offset : offset + 1]))
        return (
            f"Invalid base64 character {char} at offset {offset}: PCM16 audio must be standard base64 "
            "(A-Z, a-z, 0-9, '+', '/', then '=' padding) with no whitespace."
        )
    if kind == B64_DATA_AFTER_PADDING:
        return (
            f"Base64 data continues at offset {offset} after '=' padding at offset {pad_at}: "
            "padding may only end the text, so decode each chunk separately."
        )
    if kind == B64_TOO_MUCH_PADDING:
        return f"Base64 text has {n - pad_at} '=' padding characters from offset {pad_at}; at most 2 may end the text."
    if kind == B64_BAD_LENGTH:
        return (
            f"Base64 text ends mid-group at offset {n}: its length ({n}) must be a multiple of 4, "
            "so add the missing '=' padding or pass the whole text."
        )
    if kind == B64_ODD_BYTES:
        decoded = n // 4 * 3 - (n - pad_at if pad_at >= 0 else 0)
        return (
            f"Base64 text decodes to an odd number of bytes ({decoded}) at offset {n}: "
            "PCM16 audio is made of whole 2-byte samples."
        )
    raise AssertionError(f"unknown base64 problem kind {kind}")  # pragma: no cover


def find_b64_error(text: str | bytes) -> tuple[int, int, int]:
    """Return ``(kind, offset, pad_at)`` of the first problem in ``text``, or ``(0, -1, pad_at)``.

    Characters are checked left to right (an invalid character, or data after the
    first ``'='``), then the amount of padding, the length and the decoded size.
    """
    is_str = isinstance(text, str)
    n = len(text)
    pad_at = text.find("=" if is_str else b"=")
    bad = (_NOT_BASE64_CHAR_STR if is_str else _NOT_BASE64_CHAR_BYTES).search(text)
    bad_at = bad.start() if bad is not None else -1
    data_after = -1
    if pad_at >= 0:
        found = (_BASE64_DATA_STR if is_str else _BASE64_DATA_BYTES).search(text, pad_at)
        data_after = found.start() if found is not None else -1
    if bad_at >= 0 and (data_after < 0 or bad_at < data_after):
        return B64_INVALID_CHAR, bad_at, pad_at
    if data_after >= 0:
        return B64_DATA_AFTER_PADDING, data_after, pad_at
    if pad_at >= 0 and n - pad_at > 2:
        return B64_TOO_MUCH_PADDING, pad_at, pad_at
    if n % 4:
        return B64_BAD_LENGTH, n, pad_at
    if (n // 4 * 3 - (n - pad_at if pad_at >= 0 else 0)) % 2:
        return B64_ODD_BYTES, n, pad_at
    return 0, -1, pad_at


def _b64_error(text: str | bytes) -> ValueError:
    kind, offset, pad_at = find_b64_error(text)
    if not kind:  # pragma: no cover - only called on text that failed to decode
        raise AssertionError("base64 text reported invalid but no problem found")
    return ValueError(b64_error_message(text, kind, offset, pad_at))


# ---------------------------------------------------------------------------
# Input normalisation
# ---------------------------------------------------------------------------


def _pcm_view(data: Any, where: str) -> memoryview:
    """A flat, C-contiguous byte memoryview of PCM16 ``data`` (copied only if strided)."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(NOT_BUFFER_MESSAGE.format(where=where, type=type(data).__name__)) from None
    if view.itemsize != 1 and view.format not in _INT16_FORMATS:
        fmt = view.format
        view.release()
        raise TypeError(NOT_PCM_FORMAT_MESSAGE.format(where=where, fmt=fmt))
    if view.c_contiguous:
        flat = view.cast("B") if (view.format != "B" or view.ndim != 1) else view
    else:
        flat = memoryview(view.tobytes())
    if flat is not view:
        view.release()
    if flat.nbytes % 2:
        n = flat.nbytes
        flat.release()
        raise ValueError(ODD_PCM_MESSAGE.format(where=where, n=n))
    return flat


def _base64_bytes(text: Any) -> str | bytes:
    """``text`` as an ASCII str or as bytes (non-ASCII str is returned as is and fails later)."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text
    try:
        with memoryview(text) as view:
            if view.itemsize != 1:
                raise TypeError(NOT_TEXT_MESSAGE.format(type=type(text).__name__))
            return view.tobytes()
    except TypeError:
        raise TypeError(NOT_TEXT_MESSAGE.format(type=type(text).__name__)) from None


def _decode(text: Any) -> bytes:
    data = _base64_bytes(text)
    n = len(data)
    if n % 4 == 0:
        if isinstance(data, str):
            raw = data.encode("ascii") if data.isascii() else None
        else:
            raw = data
        if raw is not None:
            pad = 0
            if n and raw[n - 1] == 0x3D:  # '='
                pad = 2 if raw[n - 2] == 0x3D else 1
            if not raw[: n - pad].translate(None, _ALPHABET) and (n // 4 * 3 - pad) % 2 == 0:
                # Validated above, so the lenient stdlib decoder is exact here (and on 3.10,
                # which has no strict_mode).
                return binascii.a2b_base64(raw)
    raise _b64_error(data)


def _valid_base64_text(text: str) -> bool:
    """True when ``text`` is what :func:`_decode` accepts (read in place: no copy of a long text)."""
    n = len(text)
    if n % 4 or not text.isascii():
        return False
    pad = 0
    if n and text[n - 1] == "=":
        pad = 2 if text[n - 2] == "=" else 1
    return _B64_TEXT.fullmatch(text, 0, n - pad) is not None and (n // 4 * 3 - pad) % 2 == 0


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def b64encode_pcm16(data: Any) -> str:
    """Encode PCM16 audio as standard base64 (RFC 4648, ``'='`` padded) text.

    ``data`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16 array,
    contiguous or strided; its byte count must be even (whole samples).  Raises
    ValueError for an odd byte count and TypeError for anything else.
    """
    with _pcm_view(data, "b64encode_pcm16") as view:
        return binascii.b2a_base64(view, newline=False).decode("ascii")


def b64decode_pcm16(text: str | BytesLike) -> bytes:
    """Decode standard base64 PCM16 audio text into bytes (2 bytes per sample).

    Strict RFC 4648: alphabet ``A-Z a-z 0-9 + /``, ``'='`` padding only at the end
    and a length that is a multiple of 4, no whitespace.  Raises ValueError naming
    the problem and its character offset, also when the audio would have an odd
    number of bytes.
    """
    return _decode(text)


def _float_samples(samples: Any) -> np.ndarray:
    """``samples`` as a flat float64 array (float buffers and sequences of numbers)."""
    if isinstance(samples, (str, bytes, bytearray)) or samples is None:
        raise TypeError(NOT_FLOAT_MESSAGE.format(what=type(samples).__name__))
    try:
        view = memoryview(samples)
    except TypeError:
        view = None
    if view is not None:
        fmt = view.format
        view.release()
        if fmt.lstrip("@=<>!") not in _FLOAT_FORMATS:
            raise TypeError(NOT_FLOAT_MESSAGE.format(what=f"a buffer of format {fmt!r}"))
    import numpy as np

    return np.asarray(samples, dtype=np.float64).ravel()


def float_to_pcm16(samples: Any) -> bytes:
    """Convert float samples in [-1, 1] to PCM16 little-endian bytes, like the reference client.

    ``samples`` is a float32/float64 numpy array, ``array('f')``/``array('d')``, any
    buffer of floats, or a sequence of numbers.  Each sample is taken as float32,
    clamped to [-1, 1], multiplied by 32768 when negative and 32767 otherwise, and
    truncated toward zero; NaN becomes 0, +inf 32767 and -inf -32768.
    """
    import numpy as np

    values = _float_samples(samples)
    with np.errstate(invalid="ignore", over="ignore"):
        values = np.clip(values, -1.0, 1.0).astype(np.float32).astype(np.float64)
        scaled = np.where(values < 0, values * 32768.0, values * 32767.0)
        scaled[np.isnan(scaled)] = 0.0
    return scaled.astype("<i2").tobytes()


# ---------------------------------------------------------------------------
# AudioBuffer
# ---------------------------------------------------------------------------


class AudioBuffer(bytearray):
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

    This pure-Python twin is a ``bytearray`` subclass so it can export buffers
    on every Python version; only the methods documented here are its API.
    """

    __slots__ = ("_max_samples", "_offset")

    def __init__(self, max_samples: int | None = None) -> None:
        if max_samples is not None:
            if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples <= 0:
                raise ValueError(MAX_SAMPLES_MESSAGE.format(value=max_samples))
        self._max_samples: int | None = max_samples
        self._offset: int = 0

    # -- guards --------------------------------------------------------------

    def _check_no_views(self) -> None:
        """Raise BufferError if a view exists (a resize probe: bytearray refuses it then)."""
        try:
            bytearray.append(self, 0)
        except BufferError:
            raise BufferError(VIEWS_EXIST_MESSAGE) from None
        bytearray.pop(self)

    def _extend(self, view: memoryview) -> None:
        if not view.nbytes:
            self._check_no_views()
            return
        try:
            bytearray.extend(self, view)
        except BufferError:
            raise BufferError(VIEWS_EXIST_MESSAGE) from None
        cap = self._max_samples
        if cap is not None:
            excess = bytearray.__len__(self) - 2 * cap
            if excess > 0:
                bytearray.__delitem__(self, slice(0, excess))  # O(1): bytearray moves its start
                self._offset += excess >> 1

    # -- appending -----------------------------------------------------------

    def append(self, pcm: Any) -> None:  # type: ignore[override]
        """Append PCM16 audio (bytes-like or int16 array with an even byte count) at the end."""
        try:
            view = _pcm_view(pcm, "AudioBuffer.append")
        except (TypeError, ValueError):
            self._check_no_views()
            raise
        with view:
            self._extend(view)

    def append_base64(self, text: str | BytesLike) -> None:
        """Decode base64 PCM16 text (str or bytes-like) and append the samples.

        Raises ValueError like :func:`b64decode_pcm16` and leaves the buffer unchanged.
        """
        if type(text) is str and len(text) > _B64_PIECE and _valid_base64_text(text):
            for start in range(0, len(text), _B64_PIECE):  # the first piece fails alone if views exist
                with memoryview(binascii.a2b_base64(text[start : start + _B64_PIECE])) as view:
                    self._extend(view)
            return
        try:
            data = _decode(text)
        except (TypeError, ValueError):
            self._check_no_views()
            raise
        with memoryview(data) as view:
            self._extend(view)

    # -- size ----------------------------------------------------------------

    def __len__(self) -> int:
        """Number of samples held."""
        return bytearray.__len__(self) >> 1

    def duration_ms(self, rate: int = 24000) -> float:
        """Duration of the held samples in milliseconds at ``rate`` samples per second."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ValueError(RATE_MESSAGE.format(value=rate))
        return (bytearray.__len__(self) >> 1) * 1000.0 / rate

    @property
    def offset(self) -> int:
        """Absolute sample index of the first held sample (samples dropped from the front so far)."""
        return self._offset

    @property
    def max_samples(self) -> int | None:
        """Cap in samples (oldest samples are dropped past it), or None for unbounded."""
        return self._max_samples

    @property
    def resizable(self) -> bool:
        """False while a view (``memoryview``, numpy array) uses the buffer's memory: it cannot grow or shrink then."""
        try:
            self._check_no_views()
        except BufferError:
            return False
        return True

    # -- shrinking -----------------------------------------------------------

    def truncate(self, n_samples: int) -> None:
        """Keep only the first ``n_samples`` samples (no-op if there are fewer)."""
        n_samples = _index(n_samples, "n_samples")
        nbytes = 2 * n_samples
        if nbytes >= bytearray.__len__(self):
            self._check_no_views()
            return
        try:
            bytearray.__delitem__(self, slice(nbytes, None))
        except BufferError:
            raise BufferError(VIEWS_EXIST_MESSAGE) from None

    def discard(self, n_samples: int) -> None:
        """Drop the ``n_samples`` oldest samples (all if there are fewer); :attr:`offset` advances."""
        n_samples = _index(n_samples, "n_samples")
        nbytes = min(2 * n_samples, bytearray.__len__(self))
        if not nbytes:
            self._check_no_views()
            return
        try:
            bytearray.__delitem__(self, slice(0, nbytes))
        except BufferError:
            raise BufferError(VIEWS_EXIST_MESSAGE) from None
        self._offset += nbytes >> 1

    def clear(self) -> None:
        """Drop every sample, release the memory and reset :attr:`offset` to 0."""
        self._check_no_views()
        bytearray.clear(self)
        self._offset = 0

    # -- copies --------------------------------------------------------------

    def slice(self, start: int, stop: int | None = None) -> AudioBuffer:
        """A new, unbounded buffer holding a copy of samples ``[start:stop]``.

        Indices are in samples relative to the first held sample and follow
        Python slicing (negative counts from the end, out of range is clipped).
        The copy's :attr:`offset` is ``self.offset`` plus the resolved ``start``.
        """
        first, last, _ = slice(start, stop).indices(bytearray.__len__(self) >> 1)
        out = AudioBuffer()
        if last > first:
            bytearray.extend(out, memoryview(self)[2 * first : 2 * last])
        out._offset = self._offset + first
        return out

    def to_bytes(self, start: int = 0, stop: int | None = None) -> bytes:
        """A copy of samples ``[start:stop]`` (all of them by default) as PCM16 little-endian bytes.

        Indices are in samples and follow :meth:`slice` (negative counts from
        the end, out of range is clipped).  Nothing refers to the buffer
        afterwards, so it can keep growing.
        """
        if start == 0 and stop is None and type(start) is int:
            return bytes(self)
        first, last, _ = slice(start, stop).indices(bytearray.__len__(self) >> 1)
        if last <= first:
            return b""
        with memoryview(self) as view, view[2 * first : 2 * last] as part:
            return part.tobytes()

    def __eq__(self, other: object) -> bool:
        """True when ``other`` is bytes-like with the same PCM16 bytes."""
        return bytearray.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return bytearray.__ne__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return _rebuild, (self.to_bytes(), self._max_samples, self._offset)

    def __reduce_ex__(self, protocol: int) -> tuple:  # bytearray defines its own; ours wins
        return self.__reduce__()

    def __repr__(self) -> str:
        n = bytearray.__len__(self) >> 1
        return (
            f"AudioBuffer(samples={n}, duration_ms={n / 24.0:.1f}, offset={self._offset}, "
            f"max_samples={self._max_samples})"
        )

    __str__ = __repr__


def _rebuild(data: bytes, max_samples: int | None, offset: int) -> AudioBuffer:
    """Unpickle an AudioBuffer (see ``AudioBuffer.__reduce__``)."""
    buf = AudioBuffer(max_samples)
    buf.append(data)
    buf._offset = offset
    return buf


def _index(value: Any, what: str) -> int:
    try:
        value = value.__index__()
    except AttributeError:
        raise TypeError(f"{what} must be an integer number of samples, not {type(value).__name__}.") from None
    if value < 0:
        raise ValueError(NEGATIVE_MESSAGE.format(what=what, value=value))
    return value
