"""Pure-Python audio core: the specification of ``realtime_fast._audio``.

The compiled module ``_audio.pyx`` is a fast translation of this one with the same
names, signatures, exception types and messages (it imports the message helpers
below, so the two cannot drift).  Import the public names from
:mod:`realtime_fast.audio`, which picks the implementation.

Audio is PCM16: signed 16-bit little-endian mono samples, or G.711 (one byte per
sample, 8 kHz) where a name says ulaw or alaw.  Lengths are in samples unless a
name says bytes or ms.
"""

from __future__ import annotations

import binascii
import functools
import math
import operator
import re
import sys
from array import array
from typing import TYPE_CHECKING, Any, NamedTuple, Union

if TYPE_CHECKING:  # numpy is imported where floats are converted, not on import
    import numpy as np


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
NOT_G711_BUFFER_MESSAGE = "{where} expects G.711 audio as a bytes-like object (one byte per sample), not {type}."
NOT_G711_FORMAT_MESSAGE = (
    "{where} expects G.711 audio as bytes (one byte per sample), got a buffer of format {fmt!r}; "
    "PCM16 audio needs no decoding."
)
RESAMPLE_RATE_MESSAGE = "{where} supports sample rates of 8000, 16000, 24000 and 48000 Hz, got {name}={value!r}."


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


# ---------------------------------------------------------------------------
# G.711 (ITU-T G.711: mu-law and A-law, one byte per sample, 8 kHz)
# ---------------------------------------------------------------------------
#
# Decoding follows the standard's reconstruction values, scaled from the 14-bit
# (mu-law) or 13-bit (A-law) linear range to 16 bits.  Encoding picks the code
# whose decision interval holds the sample after dropping the bits below that
# range, exactly like the stdlib's former ``audioop.lin2ulaw`` / ``lin2alaw``.
# (The ITU-T G.191 reference software takes the magnitude of a negative 14-bit
# mu-law value as its ones' complement, one step lower; it sends some negative
# samples one code away from audioop.  A-law takes the ones' complement in both.)


def ulaw_decode_sample(code: int) -> int:
    """The PCM16 value of mu-law ``code`` (0..255): one of 255 levels in -32124..32124."""
    code ^= 0xFF  # every bit is inverted on the line
    segment = (code >> 4) & 7
    step = code & 0x0F
    magnitude = (((2 * step + 33) << segment) - 33) << 2
    return -magnitude if code & 0x80 else magnitude


def alaw_decode_sample(code: int) -> int:
    """The PCM16 value of A-law ``code`` (0..255): one of 256 levels in -32256..32256, never 0."""
    code ^= 0x55  # the even bits are inverted on the line
    segment = (code >> 4) & 7
    step = code & 0x0F
    magnitude = (2 * step + 1) << 3 if segment == 0 else (2 * step + 33) << (segment + 2)
    return magnitude if code & 0x80 else -magnitude


def ulaw_encode_sample(sample: int) -> int:
    """The mu-law code of PCM16 ``sample`` (-32768..32767)."""
    value = sample >> 2  # the 14-bit linear value (floor)
    if value < 0:
        magnitude, inversion = -value, 0x7F  # sign bit set, the other bits inverted
    else:
        magnitude, inversion = value, 0xFF
    # With the bias, segment s holds [32 << s, 64 << s); past the last decision value
    # (8159 + 33) every sample gets the loudest code.
    biased = min(magnitude + 33, 0x1FFF)
    segment = biased.bit_length() - 6
    step = (biased >> (segment + 1)) - 16
    return ((segment << 4) | step) ^ inversion


def alaw_encode_sample(sample: int) -> int:
    """The A-law code of PCM16 ``sample`` (-32768..32767)."""
    value = sample >> 3  # the 13-bit linear value (floor)
    if value >= 0:
        magnitude, inversion = value, 0xD5  # sign bit set, the even bits inverted
    else:
        magnitude, inversion = -value - 1, 0x55  # ones' complement: -1 has magnitude 0
    # Segment 0 holds 0..31 in steps of 2; segment s >= 1 holds [16 << s, 32 << s).
    segment = max(magnitude.bit_length() - 5, 0)
    step = (magnitude >> max(segment, 1)) & 0x0F
    return ((segment << 4) | step) ^ inversion


def _decode_bytes(decode: Any) -> tuple[bytes, bytes]:
    """Translation tables giving the low and the high byte of each code's PCM16 value."""
    values = [decode(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


_ULAW_LOW, _ULAW_HIGH = _decode_bytes(ulaw_decode_sample)
_ALAW_LOW, _ALAW_HIGH = _decode_bytes(alaw_decode_sample)


@functools.lru_cache(maxsize=None)
def _encode_table(law: str) -> bytes:
    """The code of every PCM16 sample, indexed by the sample's unsigned 16-bit pattern (64 KiB, built on first use)."""
    encode, dropped = (ulaw_encode_sample, 2) if law == "ulaw" else (alaw_encode_sample, 3)
    repeat = 1 << dropped  # the code depends only on sample >> dropped
    low = -(1 << (15 - dropped))
    by_value = bytes(code for v in range(low, -low) for code in (encode(v << dropped),) * repeat)
    return by_value[32768:] + by_value[:32768]  # 0..32767, then -32768..-1


def _g711_view(data: Any, where: str) -> memoryview:
    """A flat, C-contiguous byte memoryview of G.711 ``data`` (copied only if strided)."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(NOT_G711_BUFFER_MESSAGE.format(where=where, type=type(data).__name__)) from None
    if view.itemsize != 1:
        fmt = view.format
        view.release()
        raise TypeError(NOT_G711_FORMAT_MESSAGE.format(where=where, fmt=fmt))
    if view.c_contiguous:
        flat = view.cast("B") if (view.format != "B" or view.ndim != 1) else view
    else:
        flat = memoryview(view.tobytes())
    if flat is not view:
        view.release()
    return flat


def _g711_to_pcm16(data: Any, where: str, low: bytes, high: bytes) -> bytes:
    with _g711_view(data, where) as view:
        codes = view.tobytes()
    out = bytearray(2 * len(codes))
    out[0::2] = codes.translate(low)  # little-endian: low byte first
    out[1::2] = codes.translate(high)
    return bytes(out)


def _pcm16_to_g711(pcm: Any, where: str, law: str) -> bytes:
    samples = array("H")
    with _pcm_view(pcm, where) as view:
        samples.frombytes(view)
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(_encode_table(law).__getitem__, samples))


def ulaw_to_pcm16(data: Any) -> bytes:
    """Decode G.711 mu-law audio (one byte per sample) into PCM16 little-endian bytes (2 per sample).

    ``data`` is any bytes-like object of bytes (bytes, bytearray, memoryview,
    ``array('B')``, a numpy uint8 array).  The rate does not change: G.711 is
    8 kHz, so the result is 8 kHz PCM16 (see :func:`resample_pcm16`).  Codes
    0x7F and 0xFF both decode to 0.  Raises TypeError for anything else.
    """
    return _g711_to_pcm16(data, "ulaw_to_pcm16", _ULAW_LOW, _ULAW_HIGH)


def alaw_to_pcm16(data: Any) -> bytes:
    """Decode G.711 A-law audio (one byte per sample) into PCM16 little-endian bytes (2 per sample).

    ``data`` is any bytes-like object of bytes, as for :func:`ulaw_to_pcm16`;
    the rate does not change (8 kHz).  Raises TypeError for anything else.
    """
    return _g711_to_pcm16(data, "alaw_to_pcm16", _ALAW_LOW, _ALAW_HIGH)


def pcm16_to_ulaw(pcm: Any) -> bytes:
    """Encode PCM16 audio as G.711 mu-law, one byte per sample, byte for byte like ``audioop.lin2ulaw(pcm, 2)``.

    ``pcm`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16
    array, with an even byte count.  It should already be 8 kHz (G.711's rate;
    see :func:`resample_pcm16`): the rate does not change.  Raises ValueError
    for an odd byte count and TypeError for anything else.
    """
    return _pcm16_to_g711(pcm, "pcm16_to_ulaw", "ulaw")


def pcm16_to_alaw(pcm: Any) -> bytes:
    """Encode PCM16 audio as G.711 A-law, one byte per sample, byte for byte like ``audioop.lin2alaw(pcm, 2)``.

    ``pcm`` is as for :func:`pcm16_to_ulaw` (8 kHz PCM16, even byte count).
    Raises ValueError for an odd byte count and TypeError for anything else.
    """
    return _pcm16_to_g711(pcm, "pcm16_to_alaw", "alaw")


# ---------------------------------------------------------------------------
# Resampling between 8, 16, 24 and 48 kHz
# ---------------------------------------------------------------------------
#
# A polyphase windowed-sinc filter in fixed point.  For the rates from -> to,
# reduced to up / down (to / from in lowest terms), output sample k lies at
# input time k * down / up = center + phase / up, and is
#
#     sum over j < taps of coefficients[phase][j] * x[center - taps/2 + 1 + j],
#
# rounded from ``shift`` fractional bits and saturated to 16 bits, where x is
# the input with zeros before its start and after its end.  The filter is
# centred on each output's own time, so the output is not delayed; a stream
# waits for taps/2 input samples past an output before computing it.
#
# Integer coefficients make every implementation bit-exact, in any order of
# summation.  Each phase's sum of |coefficient| is at most 65535, so a sum of
# products with 16-bit samples fits in 32 bits: the compiled loop needs no more.

RESAMPLE_RATES = (8000, 16000, 24000, 48000)
#: Filter length in samples at the lower of the two rates: 40 (20 each side,
#: 2.5 ms at 8 kHz) gives a passband flat within 0.01 dB up to 85% of the
#: lower Nyquist frequency and 70-76 dB of attenuation from 115% of it (63 dB from 48 to 8 kHz).
_TAPS_AT_LOW_RATE = 40
#: Cutoff as a fraction of the lower Nyquist frequency (-12 dB at Nyquist).
_CUTOFF = 0.97
#: Kaiser window shape (about 80 dB side lobes; the 16-bit coefficients, whose
#: sums must stay within 32 bits, limit the stopband to 70-76 dB, 63 dB for the
#: 240 small coefficients from 48 to 8 kHz).
_KAISER_BETA = 8.0
#: Most outputs computed in one numpy block (bounds the memory of long inputs).
_BLOCK = 2048


class ResamplerKernel(NamedTuple):
    """The fixed-point filter for one pair of rates (shared with the compiled module)."""

    up: int  # to_rate / gcd
    down: int  # from_rate / gcd
    taps: int  # coefficients per output sample (even)
    shift: int  # fractional bits of the coefficients: each phase sums to 1 << shift
    coefficients: bytes  # up * taps int16, little-endian, phase by phase


def _check_rate(where: str, name: str, value: Any) -> int:
    try:
        rate = operator.index(value)
    except TypeError:
        rate = None
    if rate is None or isinstance(value, bool) or rate not in RESAMPLE_RATES:
        raise ValueError(RESAMPLE_RATE_MESSAGE.format(where=where, name=name, value=value))
    return rate


@functools.lru_cache(maxsize=None)
def resampler_kernel(from_rate: int, to_rate: int) -> ResamplerKernel:
    """Design the filter from ``from_rate`` to ``to_rate`` Hz (computed once per pair)."""
    import numpy as np

    common = math.gcd(from_rate, to_rate)
    up, down = to_rate // common, from_rate // common
    low = min(from_rate, to_rate)
    taps = -(-_TAPS_AT_LOW_RATE * from_rate // low)  # longer in input samples when decimating
    taps += taps & 1
    half = taps // 2
    cycles = _CUTOFF * low / 2 / from_rate  # cutoff in cycles per input sample
    # offsets[p, j]: output time minus input time, in input samples, for phase p, tap j
    offsets = np.arange(up)[:, None] / up + (half - 1) - np.arange(taps)[None, :]
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (offsets / half) ** 2, 0.0, 1.0))) / np.i0(_KAISER_BETA)
    ideal = 2 * cycles * np.sinc(2 * cycles * offsets) * window
    ideal /= ideal.sum(axis=1, keepdims=True)  # each phase passes DC unchanged
    for shift in range(16, 8, -1):  # the most fractional bits that keep every sum within 32 bits
        coefficients = np.rint(ideal * (1 << shift)).astype(np.int64)
        for row in coefficients:  # make each phase sum to exactly 1 << shift
            row[np.argmax(np.abs(row))] += (1 << shift) - row.sum()
        if np.abs(coefficients).max() <= 32767 and np.abs(coefficients).sum(axis=1).max() <= 65535:
            break
    return ResamplerKernel(up, down, taps, shift, coefficients.astype("<i2").tobytes())


class Resampler:
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

    __slots__ = (
        "_center",
        "_emitted",
        "_from_rate",
        "_history",
        "_history_start",
        "_kernel",
        "_phase",
        "_received",
        "_to_rate",
        "_weights",
    )

    def __init__(self, from_rate: int, to_rate: int) -> None:
        import numpy as np

        self._from_rate = _check_rate("Resampler", "from_rate", from_rate)
        self._to_rate = _check_rate("Resampler", "to_rate", to_rate)
        kernel = resampler_kernel(self._from_rate, self._to_rate)
        self._kernel = kernel
        self._weights = np.frombuffer(kernel.coefficients, "<i2").astype(np.int64).reshape(kernel.up, kernel.taps)
        self.reset()

    @property
    def from_rate(self) -> int:
        """Input rate in Hz."""
        return self._from_rate

    @property
    def to_rate(self) -> int:
        """Output rate in Hz."""
        return self._to_rate

    @property
    def lookahead(self) -> int:
        """Input samples needed after an output sample's time before it is returned (0 for equal rates)."""
        return 0 if self._from_rate == self._to_rate else self._kernel.taps // 2

    @property
    def latency_ms(self) -> float:
        """:attr:`lookahead` in milliseconds: how far the output lags the input while streaming."""
        return self.lookahead * 1000.0 / self._from_rate

    def reset(self) -> None:
        """Forget the stream: the next :meth:`process` starts a new one (after silence)."""
        import numpy as np

        half = self._kernel.taps // 2
        # Input samples from absolute index _history_start on; the zeros stand before the start.
        self._history = np.zeros(half - 1, dtype=np.int16)
        self._history_start = -(half - 1)
        self._center = 0  # the next output's time is _center + _phase / up input samples
        self._phase = 0
        self._received = 0  # input samples since the start
        self._emitted = 0  # output samples since the start

    def process(self, pcm: Any) -> bytes:
        """Resample the next frame of the stream; returns the PCM16 samples now complete (little-endian bytes).

        ``pcm`` is PCM16 as :func:`resample_pcm16` takes it.  Raises ValueError
        for an odd byte count and TypeError for anything else.
        """
        import numpy as np

        with _pcm_view(pcm, "Resampler.process") as view:
            if self._from_rate == self._to_rate:
                return view.tobytes()
            samples = np.frombuffer(view, dtype="<i2").astype(np.int16)
        self._history = np.concatenate((self._history, samples))
        self._received += len(samples)
        kernel = self._kernel
        ready = (self._received - kernel.taps // 2) * kernel.up  # output k is ready when k * down < ready
        return self._run(max(0, -(-ready // kernel.down) - self._emitted))

    def flush(self) -> bytes:
        """End the stream: return the samples kept back (as if silence followed) and :meth:`reset`."""
        import numpy as np

        kernel = self._kernel
        if self._from_rate == self._to_rate:
            return b""
        self._history = np.concatenate((self._history, np.zeros(kernel.taps // 2, dtype=np.int16)))
        total = -(-self._received * kernel.up // kernel.down)
        out = self._run(total - self._emitted)
        self.reset()
        return out

    def _run(self, count: int) -> bytes:
        """Compute the next ``count`` output samples from the history, then drop the input no longer needed."""
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        kernel = self._kernel
        up, down, taps = kernel.up, kernel.down, kernel.taps
        out = np.empty(count, dtype="<i2")
        if count:  # else the history may be shorter than one window
            windows = sliding_window_view(self._history, taps)  # windows[i]: x[_history_start + i :][:taps]
        for start in range(0, count, _BLOCK):
            times = self._phase + np.arange(start, min(start + _BLOCK, count), dtype=np.int64) * down
            centers = self._center + times // up
            first = centers - (taps // 2 - 1) - self._history_start
            sums = (windows[first].astype(np.int64) * self._weights[times % up]).sum(axis=1)
            rounded = (sums + (1 << (kernel.shift - 1))) >> kernel.shift
            out[start : start + len(times)] = np.clip(rounded, -32768, 32767)
        time = self._phase + count * down
        self._center += time // up
        self._phase = time % up
        self._emitted += count
        keep_from = self._center - (taps // 2 - 1)
        self._history = self._history[keep_from - self._history_start :]
        self._history_start = keep_from
        return out.tobytes()

    def __repr__(self) -> str:
        return f"Resampler(from_rate={self._from_rate}, to_rate={self._to_rate})"


def resample_pcm16(pcm: Any, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16 audio from ``from_rate`` to ``to_rate`` Hz (8000, 16000, 24000 or 48000, any pair).

    ``pcm`` is bytes, bytearray, memoryview, ``array('h')`` or a numpy int16
    array with an even byte count; the result is ``ceil(n * to_rate /
    from_rate)`` samples for n input samples, little-endian, aligned with the
    input (no delay), as if silence surrounded it.  For a stream of frames use
    :class:`Resampler`: resampling each frame on its own would click at frame
    edges.  Raises ValueError for an unsupported rate or an odd byte count and
    TypeError for anything else.
    """
    from_rate = _check_rate("resample_pcm16", "from_rate", from_rate)
    to_rate = _check_rate("resample_pcm16", "to_rate", to_rate)
    with _pcm_view(pcm, "resample_pcm16") as view:
        if from_rate == to_rate:
            return view.tobytes()
        resampler = Resampler(from_rate, to_rate)
        return resampler.process(view) + resampler.flush()
