"""RealtimeEventHandler: the small event emitter every other class builds on.

Handlers are called synchronously, in the dispatching call, in the order they
were added (persistent handlers first, then one-shot ones).  A handler may be a
plain function or a coroutine function: a coroutine it returns is scheduled as
a task on the running loop and tracked until it finishes, so none is lost or
left unawaited.  A handler that raises (or whose task fails) never stops the
dispatch: the failure is logged on the ``realtime_fast`` logger and handed to
:meth:`RealtimeEventHandler._handler_failed`, which the client turns into an
``error`` event.

Waiting (:meth:`RealtimeEventHandler.wait_for_next`) uses futures resolved by
:meth:`RealtimeEventHandler.dispatch`; nothing polls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable, Dict, List, Optional, Set, TypeVar, overload

__all__ = ["Handler", "RealtimeEventHandler"]

logger = logging.getLogger("realtime_fast")

_isawaitable = inspect.isawaitable

#: An event handler: called with one argument, the event payload; may return a coroutine.
Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)


class RealtimeEventHandler:
    """A map of event names to handlers, with one-shot handlers and awaitable waits.

    Event names are plain strings; ``"server.*"`` and ``"client.*"`` are just
    names too (the API dispatches every event under its own name and then under
    the wildcard name).
    """

    def __init__(self) -> None:
        # These three dicts live as long as the object (cleared in place, never
        # replaced): the client's compiled receive path holds them.
        self._handlers: Dict[str, List[Handler]] = {}
        self._next_handlers: Dict[str, List[Handler]] = {}
        self._waiters: Dict[str, List[asyncio.Future]] = {}
        self._handler_tasks: Set[asyncio.Task] = set()

    # -- registration -------------------------------------------------------------

    @overload
    def on(self, event_name: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event_name: str, handler: H) -> H: ...

    def on(self, event_name: str, handler: Optional[Handler] = None) -> Any:
        """Call ``handler(event)`` every time ``event_name`` is dispatched; returns ``handler``.

        Without ``handler`` it returns a decorator::

            @client.on("conversation.updated")
            def show(event): ...
        """
        if handler is None:

            def decorator(func: H) -> H:
                self.on(event_name, func)
                return func

            return decorator
        if not callable(handler):
            raise TypeError(f'Handler for "{event_name}" must be callable, got {type(handler).__name__}.')
        self._handlers.setdefault(event_name, []).append(handler)
        return handler

    @overload
    def on_next(self, event_name: str) -> Callable[[H], H]: ...

    @overload
    def on_next(self, event_name: str, handler: H) -> H: ...

    def on_next(self, event_name: str, handler: Optional[Handler] = None) -> Any:
        """Call ``handler(event)`` once, the next time ``event_name`` is dispatched; returns ``handler``.

        Works as a decorator too, like :meth:`on`.
        """
        if handler is None:

            def decorator(func: H) -> H:
                self.on_next(event_name, func)
                return func

            return decorator
        if not callable(handler):
            raise TypeError(f'Handler for "{event_name}" must be callable, got {type(handler).__name__}.')
        self._next_handlers.setdefault(event_name, []).append(handler)
        return handler

    def off(self, event_name: str, handler: Optional[Handler] = None) -> bool:
        """Remove one persistent handler of ``event_name``, or all of them when ``handler`` is None.

        Raises ValueError when ``handler`` is given but is not registered.
        """
        handlers = self._handlers.get(event_name)
        if handler is None:
            self._handlers.pop(event_name, None)
            return True
        if not handlers or handler not in handlers:
            raise ValueError(f'Could not turn off specified event listener for "{event_name}": not found as a listener')
        handlers.remove(handler)
        if not handlers:
            del self._handlers[event_name]
        return True

    def off_next(self, event_name: str, handler: Optional[Handler] = None) -> bool:
        """Remove one one-shot handler of ``event_name``, or all of them when ``handler`` is None.

        Raises ValueError when ``handler`` is given but is not registered.
        """
        handlers = self._next_handlers.get(event_name)
        if handler is None:
            self._next_handlers.pop(event_name, None)
            return True
        if not handlers or handler not in handlers:
            raise ValueError(
                f'Could not turn off specified next event listener for "{event_name}": not found as a listener'
            )
        handlers.remove(handler)
        if not handlers:
            del self._next_handlers[event_name]
        return True

    def clear_event_handlers(self) -> bool:
        """Forget every persistent and one-shot handler (pending :meth:`wait_for_next` calls keep waiting)."""
        self._handlers.clear()
        self._next_handlers.clear()
        return True

    def has_listeners(self, event_name: str) -> bool:
        """True when a handler, a one-shot handler or a :meth:`wait_for_next` waits for ``event_name``."""
        return event_name in self._handlers or event_name in self._next_handlers or event_name in self._waiters

    # -- dispatch -----------------------------------------------------------------

    def dispatch(self, event_name: str, event: Any = None) -> bool:
        """Call every handler of ``event_name`` with ``event``, then resolve its waiters.

        Persistent handlers run first, in the order they were added, then the
        one-shot handlers that were registered before this call started (those
        are forgotten; one-shot handlers added while it runs wait for the next
        dispatch).  Returns True.
        """
        # The hot path (every event the client dispatches): one handler, no one-shot
        # handlers and no waiters costs one dict lookup and the handler call.
        handlers = self._handlers.get(event_name)
        if handlers is not None:
            if len(handlers) == 1:
                handler = handlers[0]
                try:
                    result = handler(event)
                except Exception as exc:  # a user's handler must not break the caller
                    self._handler_failed(event_name, event, exc)
                else:
                    if result is not None and _isawaitable(result):
                        self._schedule(result, event_name, event)
            else:
                for handler in tuple(handlers):
                    self._call(handler, event_name, event)
        if self._next_handlers:
            next_handlers = self._next_handlers.get(event_name)
            if next_handlers is not None:
                fired = tuple(next_handlers)
                for handler in fired:
                    try:
                        next_handlers.remove(handler)
                    except ValueError:  # removed by an earlier handler of this dispatch
                        continue
                    self._call(handler, event_name, event)
                if not next_handlers and self._next_handlers.get(event_name) is next_handlers:
                    del self._next_handlers[event_name]
        if self._waiters:
            waiters = self._waiters.pop(event_name, None)
            if waiters is not None:
                for future in waiters:
                    if not future.done():
                        future.set_result(event)
        return True

    def _call(self, handler: Handler, event_name: str, event: Any) -> None:
        try:
            result = handler(event)
        except Exception as exc:  # a user's handler must not break the caller
            self._handler_failed(event_name, event, exc)
            return
        if result is not None and _isawaitable(result):
            self._schedule(result, event_name, event)

    def _schedule(self, awaitable: Any, event_name: str, event: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            exc = RuntimeError(f'Coroutine handler for "{event_name}" needs a running event loop; dispatch from async code.')
            self._handler_failed(event_name, event, exc)
            return
        task = asyncio.ensure_future(awaitable, loop=loop)
        self._handler_tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._handler_tasks.discard(t)
            if not t.cancelled():
                exc = t.exception()
                if exc is not None:
                    self._handler_failed(event_name, event, exc)

        task.add_done_callback(done)

    def _handler_failed(self, event_name: str, event: Any, exc: BaseException) -> None:
        """Report a handler that raised.  Subclasses dispatch an ``error`` event as well."""
        logger.error('Handler for "%s" raised %s: %s', event_name, type(exc).__name__, exc, exc_info=exc)

    # -- waiting ------------------------------------------------------------------

    async def wait_for_next(self, event_name: str, timeout: Optional[float] = None) -> Any:
        """Wait for the next dispatch of ``event_name`` and return its event.

        ``timeout`` is in seconds; when it passes first, return None.
        """
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(event_name, [])
        waiters.append(future)
        try:
            if timeout is None:
                return await future
            try:
                return await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                return None
        finally:
            current = self._waiters.get(event_name)
            if current is not None and future in current:
                current.remove(future)
                if not current:
                    del self._waiters[event_name]

    async def wait_for_handlers(self, timeout: Optional[float] = None) -> bool:
        """Wait until the tasks of coroutine handlers started so far have finished.

        ``timeout`` is in seconds; returns False when it passed with tasks still running.
        The task calling this method is never waited for.
        """
        current = asyncio.current_task()
        pending = {t for t in self._handler_tasks if t is not current}
        if not pending:
            return True
        done, still = await asyncio.wait(pending, timeout=timeout)
        return not still

    async def _cancel_handler_tasks(self) -> None:
        """Cancel the handler tasks still running (except the caller's own) and wait for them."""
        current = asyncio.current_task()
        pending = [t for t in self._handler_tasks if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
