"""A playback clock: which assistant item is playing and how much of it has been heard.

Pure Python (it runs once per played frame, not per sample).  Import it from
:mod:`realtime_fast.audio`.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

__all__ = ["PLAYBACK_FORMATS", "PlaybackTracker"]

#: Output audio formats (the session's ``output_audio_format``) -> (samples per second, bytes per sample).
PLAYBACK_FORMATS: Dict[str, Tuple[int, int]] = {"pcm16": (24000, 2), "g711_ulaw": (8000, 1), "g711_alaw": (8000, 1)}


class PlaybackTracker:
    """Counts the audio an app has actually played, per item, to answer an interruption in one call.

    Tell it what went to the speaker or the phone line, as it goes::

        tracker = PlaybackTracker()              # pcm16: 24 kHz, 2 bytes per sample
        tracker.played(item["id"], chunk)        # in the audio callback, after writing chunk
        ...
        client.cancel_response(*tracker.position())   # on conversation.interrupted

    :meth:`position` is ``(item_id, samples)``: the last item with audio
    played and how many of its samples were played, which is what
    ``RealtimeClient.cancel_response(id, sample_count)`` takes; it is
    ``(None, 0)`` before any audio and after :meth:`reset`, and then
    ``cancel_response`` only cancels the response.

    Samples are counted at the format's rate: 24 kHz for ``"pcm16"``, 8 kHz
    (one byte per sample) for ``"g711_ulaw"`` and ``"g711_alaw"``; ``rate``
    overrides it.  :meth:`played_ms` converts to milliseconds, the unit of the
    ``audio_end_ms`` field of ``conversation.item.truncate``.  Counts of the
    :attr:`MAX_ITEMS` most recently played items are kept.  ``played`` may be
    called from an audio thread while another thread asks for the position.
    """

    #: How many items' counts are kept (the oldest is forgotten first).
    MAX_ITEMS = 64

    __slots__ = ("_bytes", "_bytes_per_sample", "_current", "_format", "_lock", "_rate")

    def __init__(self, format: str = "pcm16", *, rate: Optional[int] = None) -> None:
        if format not in PLAYBACK_FORMATS:
            raise ValueError(f"format must be one of {', '.join(map(repr, PLAYBACK_FORMATS))}, got {format!r}.")
        default_rate, self._bytes_per_sample = PLAYBACK_FORMATS[format]
        if rate is None:
            rate = default_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"rate must be a positive whole number of samples per second, got {rate!r}.")
        self._format = format
        self._rate = rate
        self._lock = threading.Lock()
        self._bytes: Dict[str, int] = {}  # item id -> bytes played (samples * bytes per sample for counts)
        self._current: Optional[str] = None

    @property
    def format(self) -> str:
        """The output audio format: ``"pcm16"``, ``"g711_ulaw"`` or ``"g711_alaw"``."""
        return self._format

    @property
    def rate(self) -> int:
        """Samples per second the counts are in."""
        return self._rate

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of one sample of :attr:`format` (2 for PCM16, 1 for G.711)."""
        return self._bytes_per_sample

    def played(self, item_id: str, audio: Any) -> int:
        """Record that ``audio`` of item ``item_id`` was played; returns the item's samples played so far.

        ``audio`` is a number of samples, or the audio itself: bytes in the
        tracker's format (:attr:`bytes_per_sample` bytes per sample; a sample
        split across two calls is counted once whole), or a mono numpy / array
        buffer of samples (one sample per item: int16 or float32, say).  Audio
        of length 0 changes nothing.
        """
        if not isinstance(item_id, str) or not item_id:
            raise TypeError(f"item_id must be the played item's id (a non-empty str), not {item_id!r}.")
        size = self._size_in_bytes(audio)
        with self._lock:
            total = self._bytes.get(item_id, 0)
            if size:
                total += size
                if item_id in self._bytes:
                    del self._bytes[item_id]  # re-inserted last: the dict stays in order of last play
                elif len(self._bytes) >= self.MAX_ITEMS:
                    del self._bytes[next(iter(self._bytes))]
                self._bytes[item_id] = total
                self._current = item_id
        return total // self._bytes_per_sample

    def _size_in_bytes(self, audio: Any) -> int:
        if isinstance(audio, int) and not isinstance(audio, bool):
            if audio < 0:
                raise ValueError(f"played() got {audio} samples: a count of samples played cannot be negative.")
            return audio * self._bytes_per_sample
        try:
            view = memoryview(audio)
        except TypeError:
            raise TypeError(
                "played() expects the audio played (bytes or an array of samples) or a number of samples, "
                f"not {type(audio).__name__}."
            ) from None
        with view:
            if view.itemsize == 1:
                return view.nbytes
            return view.nbytes // view.itemsize * self._bytes_per_sample

    def position(self) -> Tuple[Optional[str], int]:
        """``(item_id, samples)`` of the audio playing now: the last item played and its samples played so far.

        ``(None, 0)`` when nothing was played since the start or :meth:`reset`.
        Pass it to ``RealtimeClient.cancel_response(*tracker.position())``.
        """
        with self._lock:
            current = self._current
            if current is None:
                return None, 0
            return current, self._bytes[current] // self._bytes_per_sample

    def samples_played(self, item_id: str) -> int:
        """Samples of item ``item_id`` played so far (0 for an item never played or forgotten)."""
        with self._lock:
            return self._bytes.get(item_id, 0) // self._bytes_per_sample

    def played_ms(self, item_id: Optional[str] = None) -> int:
        """Milliseconds of item ``item_id`` played so far (default: the item playing now), rounded down.

        This is ``audio_end_ms`` for ``conversation.item.truncate``; 0 when
        nothing of the item was played.
        """
        with self._lock:
            key = self._current if item_id is None else item_id
            played = self._bytes.get(key, 0) // self._bytes_per_sample if key is not None else 0
        return played * 1000 // self._rate

    def reset(self) -> None:
        """Forget everything played (after a cancelled response was flushed from the output, say)."""
        with self._lock:
            self._bytes.clear()
            self._current = None

    def __repr__(self) -> str:
        item, samples = self.position()
        return f"PlaybackTracker(format={self._format!r}, rate={self._rate}, item_id={item!r}, samples={samples})"
