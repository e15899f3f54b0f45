"""How one mock session talks to its client: event envelopes, sending, acknowledgement pauses, tasks.

Every part of a session (its conversation, input audio and responses) sends
through the session's :class:`Outbox`, so each server event gets its id, the
optional timestamp field, its place in the recording and its debug log line
in one place.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Coroutine

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .._redact import package_logger
from ._errors import ClientEventError
from .recording import Frame
from .settings import SessionSettings

if TYPE_CHECKING:  # pragma: no cover
    from websockets.asyncio.server import ServerConnection

__all__ = ["Outbox"]

log = package_logger("realtime_fast.mock")


class Outbox:
    """Sends the server events of one connection, now or from a background task.

    Every background task of a session exists to send something later (a
    streamed response, a delayed transcription, the expiry error), so the
    outbox runs them too: :meth:`spawn` starts one, :meth:`cancel_tasks` ends
    them once the connection is gone.
    """

    __slots__ = ("ws", "connection_id", "new_id", "_settings", "_rng", "_tasks")

    def __init__(self, ws: ServerConnection, connection_id: int, settings: SessionSettings) -> None:
        self.ws = ws
        self.connection_id = connection_id
        #: ``new_id("item_")``: a fresh server-side id with that prefix.
        self.new_id = settings.ids.new
        self._settings = settings
        self._rng = random.Random(connection_id)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def send(self, type: str, **fields: Any) -> None:
        """Send server event ``type`` with a new ``event_id`` and ``fields``; ConnectionClosed once closed."""
        event: dict[str, Any] = {"type": type, "event_id": self.new_id("event_")}
        event.update(fields)
        ws = self.ws
        if ws.state is not State.OPEN:
            raise ConnectionClosed(None, None)
        ts = self._settings.timestamp_field
        if ts:
            event[ts] = time.time()
        raw = orjson.dumps(event)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("#%s server -> %s", self.connection_id, raw[:300].decode("utf-8", "replace"))
        self._settings.record(Frame(time.monotonic(), "server", self.connection_id, raw, type))
        await ws.send(raw, text=True)

    async def send_error(self, err: ClientEventError, event_id: str | None) -> None:
        """Send ``err`` as an ``error`` event answering the client event ``event_id``."""
        await self.send("error", error=err.payload(event_id))

    async def ack_pause(self) -> None:
        """Wait as the service does before acknowledging a client event (``Pacing.ack_delay_*``)."""
        pacing = self._settings.pacing
        if pacing.ack_delay_max > 0:
            await asyncio.sleep(self._rng.uniform(pacing.ack_delay_min, pacing.ack_delay_max))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background until it ends or :meth:`cancel_tasks` stops it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mock session %s: background task failed", self.connection_id, exc_info=task.exception())

    async def cancel_tasks(self, spare: asyncio.Task[Any] | None = None) -> None:
        """Cancel the background tasks except ``spare`` (and the calling one), then wait for all of them."""
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            if task is not spare:
                task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
