"""RealtimeUtils: the reference client's audio and id helpers, with Python names.

These mirror the JavaScript reference one for one.  ``merge_int16_arrays`` copies
both inputs every time, so merging chunk after chunk costs quadratic time: to
accumulate audio use :class:`realtime_fast.audio.AudioBuffer`, whose appends are
amortised O(1) (``buf.append(pcm)`` / ``buf.append_base64(delta)``).

Audio is PCM16: signed 16-bit little-endian mono samples at 24 kHz.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
import sys
from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where arrays are built, not on import
    import numpy as np

from . import _audio_py
from . import audio as _audio

__all__ = ["BASE58_ALPHABET", "MAX_IMAGE_BYTES", "RealtimeUtils", "image_data_url"]

#: Characters of generated ids (base58: no 0, O, I or l).
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# generate_id: byte values 0..231 map evenly onto the 58 characters; 232..255 are dropped.
_ID_TABLE = bytes(BASE58_ALPHABET.encode("ascii")[i % 58] for i in range(232)) + bytes(24)
_ID_DROP = bytes(range(232, 256))
_getrandbits = random.getrandbits

_FLOAT_FORMATS = frozenset(("f", "d", "e"))

#: Largest image :func:`image_data_url` takes, bytes (10 MiB).  The service documents no
#: image limit, but one client event carries at most 15 MiB of text (the figure it gives for
#: input audio) and a data URL is 4/3 of the image: 10 MiB is 13.3 MiB of base64.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Image formats the Realtime API takes (PNG and JPEG), by their first bytes.
_IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def image_data_url(image: Any, *, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """The ``data:image/...;base64,...`` URL of an image, for an ``input_image`` part's ``image_url``.

    ``image`` is the image's bytes (``bytes``, ``bytearray``, ``memoryview``)
    or the path of an image file (``str`` or ``os.PathLike``, read here).  The
    format is read from the data, not the file name: PNG and JPEG, the two the
    service takes.  Raises ValueError for another format, an empty image, or
    one over ``max_bytes`` (default :data:`MAX_IMAGE_BYTES`, 10 MiB);
    TypeError for anything else; OSError when the file cannot be read.
    """
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as file:
            data = file.read(max_bytes + 1)
        where = f"The image file {os.fspath(image)!r}"
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        where = "The image"
    else:
        raise TypeError(f"An image must be bytes or the path of a PNG or JPEG file, not {type(image).__name__}.")
    if len(data) > max_bytes:
        raise ValueError(
            f"{where} is over {max_bytes} bytes, more than one Realtime event can carry; "
            "scale it down or compress it (JPEG) before sending."
        )
    for signature, mime_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return f"data:{mime_type};base64," + base64.b64encode(data).decode("ascii")
    what = "empty" if not data else "neither PNG nor JPEG"
    raise ValueError(f"{where} is {what}: the Realtime API takes PNG and JPEG images.")


def _ndarray_type() -> Any:
    """numpy.ndarray once numpy is loaded, else a type nothing is an instance of."""
    numpy = sys.modules.get("numpy")
    return numpy.ndarray if numpy is not None else ()


def _is_float_array(data: Any) -> bool:
    if isinstance(data, _ndarray_type()):
        return data.dtype.kind == "f"
    if isinstance(data, (bytes, bytearray, str)) or data is None:
        return False
    try:
        with memoryview(data) as view:
            return view.format.lstrip("@=<>!") in _FLOAT_FORMATS
    except TypeError:
        return False


def _is_int16_array(item: Any) -> bool:
    if isinstance(item, _ndarray_type()):
        return item.dtype == "int16"
    if isinstance(item, array):
        return item.typecode == "h"
    return isinstance(item, (_audio.AudioBuffer, _audio_py.AudioBuffer))


def _as_int16(item: Any) -> np.ndarray:
    import numpy as np

    if isinstance(item, np.ndarray):
        return item.ravel()
    if isinstance(item, array):
        return np.frombuffer(item, dtype=np.int16)
    return np.frombuffer(item.to_bytes(), dtype="<i2")


class RealtimeUtils:
    """Static helpers of the reference client (``RealtimeUtils`` in JavaScript)."""

    @staticmethod
    def float_to_16bit_pcm(float32: Any) -> bytes:
        """Float samples in [-1, 1] to PCM16 little-endian bytes (2 bytes per sample).

        Clamps to [-1, 1], scales negatives by 32768 and others by 32767 and
        truncates toward zero, exactly like the reference; NaN becomes 0.
        """
        return _audio.float_to_pcm16(float32)

    @staticmethod
    def base64_to_array_buffer(b64: str | bytes | bytearray | memoryview) -> bytes:
        """Decode standard base64 text (RFC 4648, padded, no whitespace) to bytes.

        PCM16 audio takes the fast path; other data may have an odd byte count.
        Raises ValueError naming the problem and its offset for invalid text.
        """
        try:
            return _audio.b64decode_pcm16(b64)
        except ValueError as exc:
            error = exc
        # Valid base64 of an odd number of bytes is fine here (not necessarily audio).
        text = b64 if isinstance(b64, str) else bytes(b64)
        kind, _, _ = _audio_py.find_b64_error(text)
        if kind != _audio_py.B64_ODD_BYTES:
            raise error
        return binascii.a2b_base64(text)

    @staticmethod
    def array_buffer_to_base64(data: Any) -> str:
        """Standard base64 text of ``data``: float samples (converted to PCM16 first),
        int16 samples, or raw bytes of any length."""
        if _is_float_array(data):
            return _audio.b64encode_pcm16(_audio.float_to_pcm16(data))
        try:
            return _audio.b64encode_pcm16(data)
        except ValueError:
            # An odd number of raw bytes: not audio, but the reference encodes it anyway.
            with memoryview(data) as view:
                return binascii.b2a_base64(view.tobytes(), newline=False).decode("ascii")

    @staticmethod
    def merge_int16_arrays(left: Any, right: Any) -> np.ndarray:
        """A new numpy int16 array holding ``left``'s samples then ``right``'s.

        Each side is a numpy int16 array, ``array('h')`` or an AudioBuffer.  This
        copies both sides; to accumulate many chunks use AudioBuffer instead.
        """
        if not (_is_int16_array(left) and _is_int16_array(right)):
            raise TypeError(
                "Both items must be Int16Array: pass numpy int16 arrays, array('h') or AudioBuffer objects "
                f"(got {type(left).__name__} and {type(right).__name__})."
            )
        import numpy as np

        return np.concatenate((_as_int16(left), _as_int16(right))).astype(np.int16, copy=False)

    @staticmethod
    def generate_id(prefix: str, length: int = 21) -> str:
        """``prefix`` followed by random base58 characters, ``length`` characters in all.

        Not cryptographically secure (fast ids for events and items, like the reference).
        """
        count = length - len(prefix)
        if count < 0:
            raise ValueError(
                f"generate_id length {length} is shorter than the prefix {prefix!r}; pass a larger length."
            )
        # Random bytes mapped onto the alphabet in one translate() (every audio append and
        # every event sent needs an id): bytes 232..255 are dropped so that each of the 58
        # characters stays equally likely (232 = 4 x 58), and more are drawn if needed.
        chars = b""
        while len(chars) < count:
            need = count - len(chars) + 8
            chars += _getrandbits(8 * need).to_bytes(need, "little").translate(_ID_TABLE, _ID_DROP)
        return prefix + chars[:count].decode("ascii")
