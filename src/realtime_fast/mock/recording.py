"""Recording of the frames the mock server sends and receives.

Frames are kept as the raw bytes/text that crossed the socket and parsed on
first access, so recording costs one append per frame.  By default the
recording is a ring: the newest frames up to :data:`DEFAULT_RECORD_BYTES`
(64 MiB), so a long-running mock server (a demo, a load test, a soak run)
does not grow without bound; ``record=True`` keeps every frame, ``record=False``
none.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import Any, Callable, Iterable, Iterator

import orjson

__all__ = ["DEFAULT_RECORD_BYTES", "FRAME_OVERHEAD", "Frame", "Recorder"]

#: How much of the newest traffic the mock keeps by default, in bytes (64 MiB: about
#: 45,000 frames of 20 ms input audio, or a few long tests' worth of everything).
DEFAULT_RECORD_BYTES: int = 64 * 1024 * 1024
#: Bytes each frame is counted for besides its text (``sys.getsizeof``): the Frame
#: and its fields, the ring's entry and its share of the ring (about 200 bytes on
#: CPython 3.11, measured with tracemalloc; counted with a margin so that the ring
#: stays under its bound).  A frame whose ``data`` you read also keeps the parsed
#: event, which is not counted.
FRAME_OVERHEAD: int = 224


class Frame:
    """One WebSocket message.

    ``time`` is :func:`time.monotonic` when the frame was received or sent;
    ``direction`` is ``"client"`` (client -> server) or ``"server"``;
    ``connection`` the server's id of the connection (1, 2, ...);
    ``raw`` the text/bytes as on the wire; ``type`` the event type when known.
    """

    __slots__ = ("time", "direction", "connection", "raw", "type", "_data")

    def __init__(self, time: float, direction: str, connection: int, raw: str | bytes, type: str | None) -> None:
        self.time = time
        self.direction = direction
        self.connection = connection
        self.raw = raw
        self.type = type
        self._data: Any = _UNPARSED

    @property
    def data(self) -> Any:
        """The parsed JSON event (a dict), or ``raw`` when the frame is not JSON."""
        if self._data is _UNPARSED:
            try:
                self._data = orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                self._data = self.raw
        return self._data

    @property
    def is_binary(self) -> bool:
        """True for a binary WebSocket frame (only clients send those, and get an error)."""
        return self.direction == "client" and isinstance(self.raw, (bytes, bytearray))

    def __repr__(self) -> str:
        return f"<Frame #{self.connection} {self.direction} {self.type or '?'} at {self.time:.6f}>"


_UNPARSED = object()


class Recorder:
    """The frames of a server, in the order they crossed the sockets, with search helpers.

    ``enabled=False`` keeps nothing (waiters still see every frame).  Otherwise
    ``max_bytes`` bounds what is kept: the oldest frames are dropped once the
    frames' text plus :data:`FRAME_OVERHEAD` each passes it (a single frame
    larger than that is not kept at all); ``None`` keeps everything.
    """

    def __init__(self, enabled: bool = True, max_bytes: int | None = DEFAULT_RECORD_BYTES) -> None:
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
            raise ValueError(f"max_bytes must be a positive number of bytes or None, got {max_bytes!r}.")
        self.enabled = enabled
        #: The bound of the recording in bytes (None: every frame is kept).
        self.max_bytes = max_bytes
        #: Bytes the kept frames count for (see ``max_bytes``).
        self.size = 0
        #: Frames dropped to stay within ``max_bytes`` since the last :meth:`clear`.
        self.dropped = 0
        self._frames: deque[tuple[Frame, int]] = deque()
        self._waiters: list[tuple[Callable[[Frame], bool], asyncio.Future[Frame]]] = []

    @property
    def frames(self) -> list[Frame]:
        """The kept frames, oldest first (a new list)."""
        return [frame for frame, _ in self._frames]

    def add(self, frame: Frame) -> None:
        """Record ``frame`` (dropping the oldest ones past ``max_bytes``; no-op when off) and wake matching waiters."""
        if self.enabled:
            size = sys.getsizeof(frame.raw) + FRAME_OVERHEAD
            self._frames.append((frame, size))
            self.size += size
            limit = self.max_bytes
            if limit is not None and self.size > limit:
                frames = self._frames
                while self.size > limit:
                    self.size -= frames.popleft()[1]
                    self.dropped += 1
        if self._waiters:
            keep = []
            for predicate, fut in self._waiters:
                if fut.done():
                    continue
                if predicate(frame):
                    fut.set_result(frame)
                else:
                    keep.append((predicate, fut))
            self._waiters = keep

    def select(
        self,
        type: str | None = None,
        *,
        direction: str | None = None,
        connection: int | None = None,
    ) -> list[Frame]:
        """Frames matching every given filter (``type`` may end in ``*`` for a prefix)."""
        return list(_filter(self._kept(), type, direction, connection))

    async def wait_for(
        self,
        type: str,
        *,
        direction: str = "server",
        connection: int | None = None,
        timeout: float = 5.0,
        already: bool = True,
    ) -> Frame:
        """The first frame of ``type`` (from now on; with ``already`` also one recorded before).

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        if already:
            for frame in _filter(self._kept(), type, direction, connection):
                return frame
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Frame] = loop.create_future()

        def predicate(frame: Frame) -> bool:
            return next(_filter([frame], type, direction, connection), None) is not None

        self._waiters.append((predicate, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"No {direction} frame of type {type!r} within {timeout} s.") from None

    def clear(self) -> None:
        """Forget every recorded frame."""
        self._frames.clear()
        self.size = 0
        self.dropped = 0

    def _kept(self) -> Iterator[Frame]:
        return (frame for frame, _ in self._frames)


def _filter(frames: Iterable[Frame], type: str | None, direction: str | None, connection: int | None) -> Iterator[Frame]:
    prefix = type[:-1] if type is not None and type.endswith("*") else None
    for frame in frames:
        if direction is not None and frame.direction != direction:
            continue
        if connection is not None and frame.connection != connection:
            continue
        if type is not None:
            if prefix is not None:
                if frame.type is None or not frame.type.startswith(prefix):
                    continue
            elif frame.type != type:
                continue
        yield frame
