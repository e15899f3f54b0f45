"""Recording of every frame the mock server sends and receives.

Frames are kept as the raw bytes/text that crossed the socket and parsed on
first access, so recording costs one list append per frame.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import orjson

__all__ = ["Frame", "Recorder"]


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
    """The frames of a server, in the order they crossed the sockets, with search helpers."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.frames: list[Frame] = []
        self._waiters: list[tuple[Callable[[Frame], bool], asyncio.Future[Frame]]] = []

    def add(self, frame: Frame) -> None:
        """Record ``frame`` (no-op when recording is off) and wake matching waiters."""
        if self.enabled:
            self.frames.append(frame)
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
        return list(_filter(self.frames, type, direction, connection))

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
            for frame in _filter(self.frames, type, direction, connection):
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
        self.frames.clear()


def _filter(frames: list[Frame], type: str | None, direction: str | None, connection: int | None) -> Iterator[Frame]:
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
