"""RealtimeEventHandler: the small event emitter every other class builds on.

Handlers are called synchronously, in the dispatching call, in the order they
were added (persistent handlers first, then one-shot ones).  A handler may be a
plain function or a coroutine function: a coroutine it returns is scheduled as
a task on the running loop and tracked until it finishes, so none is lost or
left unawaited.  A handler that raises (or whose task fails) never stops the
dispatch: the failure is logged on the ``realtime_fast`` logger and handed to
:meth:`RealtimeEventHandler.handler_failed`, which the client turns into an
``error`` event.

Handlers run on the event loop, inside the receive path: while one runs, no
frame is read and nothing else on the loop (other sessions, keepalive pings,
your own tasks) moves.  A handler that blocks (file or database I/O, a slow
computation) should run elsewhere: :func:`in_thread` wraps it so that it runs
in a worker thread, one event after another, tracked like a coroutine handler.

Waiting (:meth:`RealtimeEventHandler.wait_for_next`) uses futures resolved by
:meth:`RealtimeEventHandler.dispatch`; nothing polls.  A short-lived backlog
lets a task that loops on ``wait_for_next`` see every event of a burst
dispatched in one callback (one socket read), as the reference client's loop
does; :meth:`RealtimeEventHandler.wait_for_next` gives the rule.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import threading
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Set, TypeVar, overload

from ._redact import RedactingLogger

__all__ = ["BACKLOG_LOOP_PASSES", "Handler", "RealtimeEventHandler", "in_thread"]

logger = logging.getLogger("realtime_fast")

_isawaitable = inspect.isawaitable

#: An event handler: called with one argument, the event payload; may return a coroutine.
Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)


_TIMED_OUT: Any = object()  # what a wait's future holds when its timeout passed first

#: How many passes of the event loop a backlog window stays open after a dispatch
#: woke waits (see :meth:`RealtimeEventHandler.wait_for_next`): a task awaiting the
#: wait directly runs again in the first pass; each wrapper between the wait and the
#: task (``asyncio.wait_for`` before Python 3.12, ``gather``, a task) adds one or two
#: passes, so ``wait_for(gather(...))`` resumes its caller in the fourth.
BACKLOG_LOOP_PASSES = 10


class _Wait:
    """One pending :meth:`RealtimeEventHandler.wait_for_next` call: its future, the task that made it, its timer."""

    __slots__ = ("future", "task", "timer")

    def __init__(self, future: asyncio.Future, task: Optional[asyncio.Task]) -> None:
        self.future = future
        self.task = task
        self.timer: Optional[asyncio.TimerHandle] = None


def _expire(future: asyncio.Future) -> None:
    """The timer of a wait: resolve it as timed out (unless a dispatch came first)."""
    if not future.done():
        future.set_result(_TIMED_OUT)


async def _ready(value: Any) -> Any:
    """An awaitable of ``value`` (what :meth:`RealtimeEventHandler.wait_for_next` returns when it needs no wait)."""
    return value


def in_thread(
    handler: Callable[[Any], Any], *, executor: Optional[concurrent.futures.Executor] = None
) -> Callable[[Any], Awaitable[Any]]:
    """Wrap a plain (blocking) ``handler`` so that it runs in a worker thread instead of on the event loop.

    ``client.on("conversation.item.completed", in_thread(save_to_database))``:
    the dispatch returns at once and the receive path goes on while the
    handler runs.  The wrapper is a coroutine function, so the dispatcher
    tracks each call as a task (:meth:`RealtimeEventHandler.wait_for_handlers`
    waits for them; a failure becomes an ``error`` event, ``source:
    "handler"``).  Without ``executor``, the wrapper has its own thread and
    runs the calls one after another, in dispatch order; with one, they run as
    that executor schedules them.  Events a slow handler has not reached yet
    wait in memory, so keep per-delta events (``conversation.updated``) on
    the loop.  The handler sees the live item dicts, which the conversation
    keeps changing: copy what it needs first if that matters.
    """
    if not callable(handler):
        raise TypeError(f"in_thread() takes a callable handler, got {type(handler).__name__}.")
    if inspect.iscoroutinefunction(handler):
        raise TypeError("in_thread() is for plain functions; a coroutine handler already runs as a task.")
    own: List[concurrent.futures.Executor] = []
    lock = threading.Lock()

    def pool() -> concurrent.futures.Executor:
        if executor is not None:
            return executor
        with lock:
            if not own:
                own.append(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="realtime_fast-handler"))
            return own[0]

    @functools.wraps(handler)
    async def run_in_thread(event: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool(), handler, event)

    return run_in_thread


class _Window:
    """The events of one name dispatched after one wake of its waits, while the window is open.

    ``events[0]`` is the event that woke them; ``events`` becomes None once
    the window is closed.
    """

    __slots__ = ("events",)

    def __init__(self, events: List[Any]) -> None:
        self.events: Optional[List[Any]] = events


class _Backlog:
    """The open windows of one event name, and where each woken task is in them."""

    __slots__ = ("windows", "cursors")

    def __init__(self) -> None:
        self.windows: List[_Window] = []
        # task -> [window, index in window.events of the next event that task's wait_for_next returns]
        self.cursors: Dict[Any, List[Any]] = {}


class RealtimeEventHandler:
    """A map of event names to handlers, with one-shot handlers and awaitable waits.

    Event names are plain strings; ``"server.*"`` and ``"client.*"`` are just
    names too (the API dispatches every event under its own name and then under
    the wildcard name).

    ``event_handlers`` and ``next_event_handlers`` (name -> list of handlers,
    as in the reference client) may be read; change them only through
    :meth:`on`, :meth:`off`, :meth:`on_next` and :meth:`off_next`, which tell
    the watchers of :meth:`watch_listeners`.  A fast path that caches what it
    learnt from them (who listens to what) registers a watcher and drops its
    cache when called: the cheap way to ask "does anyone listen" per event.
    """

    #: Where handler failures are logged (the client and the API replace it with
    #: one that also knows their API key).
    _logger: RedactingLogger = RedactingLogger(logger)

    def __init__(self) -> None:
        #: Event name -> persistent handlers, in the order they were added (read only: see the class docstring).
        self.event_handlers: Dict[str, List[Handler]] = {}
        #: Event name -> one-shot handlers, in the order they were added (read only).
        self.next_event_handlers: Dict[str, List[Handler]] = {}
        # A name is in ``_waiters`` while a wait_for_next call waits for it or while it
        # has a backlog (its list may then be empty): either way its dispatches must
        # reach ``dispatch``, so it counts as listened to.
        self._waiters: Dict[str, List[_Wait]] = {}
        self._backlogs: Dict[str, _Backlog] = {}
        self._handler_tasks: Set[asyncio.Task] = set()
        self._listener_watchers: List[Callable[[], Any]] = []

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
        self.event_handlers.setdefault(event_name, []).append(handler)
        self._listeners_changed()
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
        self.next_event_handlers.setdefault(event_name, []).append(handler)
        self._listeners_changed()
        return handler

    def off(self, event_name: str, handler: Optional[Handler] = None) -> bool:
        """Remove one persistent handler of ``event_name``, or all of them when ``handler`` is None.

        Raises ValueError when ``handler`` is given but is not registered.
        """
        handlers = self.event_handlers.get(event_name)
        if handler is None:
            if self.event_handlers.pop(event_name, None) is not None:
                self._listeners_changed()
            return True
        if not handlers or handler not in handlers:
            raise ValueError(f'Could not turn off specified event listener for "{event_name}": not found as a listener')
        handlers.remove(handler)
        if not handlers:
            del self.event_handlers[event_name]
        self._listeners_changed()
        return True

    def off_next(self, event_name: str, handler: Optional[Handler] = None) -> bool:
        """Remove one one-shot handler of ``event_name``, or all of them when ``handler`` is None.

        Raises ValueError when ``handler`` is given but is not registered.
        """
        handlers = self.next_event_handlers.get(event_name)
        if handler is None:
            if self.next_event_handlers.pop(event_name, None) is not None:
                self._listeners_changed()
            return True
        if not handlers or handler not in handlers:
            raise ValueError(
                f'Could not turn off specified next event listener for "{event_name}": not found as a listener'
            )
        handlers.remove(handler)
        if not handlers:
            del self.next_event_handlers[event_name]
        self._listeners_changed()
        return True

    def clear_event_handlers(self) -> bool:
        """Forget every persistent and one-shot handler (pending :meth:`wait_for_next` calls keep waiting)."""
        self.event_handlers.clear()
        self.next_event_handlers.clear()
        self._listeners_changed()
        return True

    def has_listeners(self, event_name: str) -> bool:
        """True when a handler, a one-shot handler or a :meth:`wait_for_next` waits for ``event_name``.

        Also True while ``event_name`` has a backlog (see :meth:`wait_for_next`):
        until the loop has run the tasks a dispatch woke, their next call may want
        the events that follow.
        """
        return event_name in self.event_handlers or event_name in self.next_event_handlers or event_name in self._waiters

    def direct_handlers(self, event_name: str) -> Optional[List[Handler]]:
        """The persistent handlers of ``event_name`` when they are all that listens to it, else None.

        None when a one-shot handler or a :meth:`wait_for_next` waits for
        ``event_name`` (then only :meth:`dispatch` does what is needed); an
        empty list when nothing listens.  The list is the live one of
        :attr:`event_handlers`: read it, do not change it.  For a fast path
        that calls the handlers itself (see :meth:`watch_listeners`).
        """
        if event_name in self.next_event_handlers or event_name in self._waiters:
            return None
        handlers = self.event_handlers.get(event_name)
        return handlers if handlers is not None else []

    def listened_names(self) -> Set[str]:
        """The names :meth:`has_listeners` is True for, as a new set."""
        return set(self.event_handlers) | set(self.next_event_handlers) | set(self._waiters)

    def watch_listeners(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` whenever who listens to what may have changed.

        That is: a handler or one-shot handler added or removed, one-shot
        handlers fired, a :meth:`wait_for_next` begun or ended, a backlog
        opened or closed.  For code that caches what :meth:`has_listeners`,
        :attr:`event_handlers` or :attr:`next_event_handlers` said (the
        client's compiled receive path does): drop the cache when called.
        The callback runs inside the change, so it must only take note.
        """
        self._listener_watchers.append(callback)

    def unwatch_listeners(self, callback: Callable[[], Any]) -> None:
        """Stop calling ``callback`` (see :meth:`watch_listeners`); ValueError when it is not watching."""
        self._listener_watchers.remove(callback)

    def _listeners_changed(self) -> None:
        for callback in self._listener_watchers:
            callback()

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
        handlers = self.event_handlers.get(event_name)
        if handlers is not None:
            if len(handlers) == 1:
                handler = handlers[0]
                try:
                    result = handler(event)
                except Exception as exc:  # a user's handler must not break the caller
                    self.handler_failed(event_name, event, exc)
                else:
                    if result is not None and _isawaitable(result):
                        self.track(result, event_name, event)
            else:
                for handler in tuple(handlers):
                    self._call(handler, event_name, event)
        if self.next_event_handlers:
            next_handlers = self.next_event_handlers.get(event_name)
            if next_handlers is not None:
                fired = tuple(next_handlers)
                for handler in fired:
                    try:
                        next_handlers.remove(handler)
                    except ValueError:  # removed by an earlier handler of this dispatch
                        continue
                    self._call(handler, event_name, event)
                if not next_handlers and self.next_event_handlers.get(event_name) is next_handlers:
                    del self.next_event_handlers[event_name]
                self._listeners_changed()
        if self._waiters:
            waiters = self._waiters.get(event_name)
            if waiters is not None:
                self._feed_waiters(event_name, event, waiters)
        return True

    def _feed_waiters(self, event_name: str, event: Any, waits: List[_Wait]) -> None:
        """Hand ``event`` to the open windows of ``event_name`` and wake its waits (a new window)."""
        backlog = self._backlogs.get(event_name)
        if backlog is not None:
            for window in backlog.windows:
                window.events.append(event)  # type: ignore[union-attr]  # open windows only
        if waits:
            woken = [wait for wait in waits if not wait.future.done()]
            waits.clear()  # the key stays while a backlog is open (see __init__)
            if woken:
                for wait in woken:
                    wait.future.set_result(event)
                self._open_window(event_name, event, woken)
                return
        if not waits and backlog is None:
            del self._waiters[event_name]
            self._listeners_changed()

    def _call(self, handler: Handler, event_name: str, event: Any) -> None:
        try:
            result = handler(event)
        except Exception as exc:  # a user's handler must not break the caller
            self.handler_failed(event_name, event, exc)
            return
        if result is not None and _isawaitable(result):
            self.track(result, event_name, event)

    def track(self, awaitable: Any, event_name: str, event: Any) -> None:
        """Run ``awaitable`` (what a handler of ``event_name`` returned for ``event``) as a tracked task.

        What :meth:`dispatch` does with a coroutine handler's result, for code
        that calls handlers itself: the task is awaited by
        :meth:`wait_for_handlers` and its failure reported through
        :meth:`handler_failed`.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            exc = RuntimeError(f'Coroutine handler for "{event_name}" needs a running event loop; dispatch from async code.')
            self.handler_failed(event_name, event, exc)
            return
        task = asyncio.ensure_future(awaitable, loop=loop)
        self._handler_tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._handler_tasks.discard(t)
            if not t.cancelled():
                exc = t.exception()
                if exc is not None:
                    self.handler_failed(event_name, event, exc)

        task.add_done_callback(done)

    def handler_failed(self, event_name: str, event: Any, exc: BaseException) -> None:
        """Report a handler of ``event_name`` that raised ``exc`` for ``event`` (logged; the client and API also dispatch ``error``)."""
        self._logger.error('Handler for "%s" raised %s: %s', event_name, type(exc).__name__, exc, exc_info=exc)

    # -- waiting ------------------------------------------------------------------

    def wait_for_next(self, event_name: str, timeout: Optional[float] = None) -> Coroutine[Any, Any, Any]:
        """Wait for the next dispatch of ``event_name``: returns an awaitable of its event.

        The wait is registered when this method is *called*, as in the
        reference client, not when the result is first awaited: wrapping it
        in :func:`asyncio.wait_for`, :func:`asyncio.gather` or a task loses
        no event dispatched in between.  Await the result (an unawaited one
        stays registered until its event or its timeout comes).

        ``timeout`` is in seconds; when it passes first, the result is None (a
        ``timeout`` of 0 or less gives None at once unless the backlog below
        has an event for the caller).

        A loop such as ``while True: handle(await h.wait_for_next(name))`` sees
        every event, even when several are dispatched in one synchronous call
        (a transport delivers all the frames of one socket read in one
        callback), as in the reference client, where promise continuations run
        between messages.  The rule: when a dispatch wakes the waits of
        ``event_name``, each task that made one of them gets a place in a
        backlog of the later dispatches of ``event_name``, kept for a few
        passes of the event loop (:data:`BACKLOG_LOOP_PASSES`): long enough
        for the woken task to run again even through a wrapper such as
        ``asyncio.wait_for`` or ``gather``.  A call made by that task while the
        backlog is open returns the next kept event at once, in dispatch order.
        Each woken task has its own place, so two loops on one name each see
        the whole stream, as two reference-client loops do.  A call from any
        other task, or made after the backlog closed, waits for a dispatch
        made after the call: nobody gets an event from before they waited.  A
        wait that times out consumes nothing and opens no backlog.  A task
        cancelled after a dispatch woke it but before it ran (say, by
        ``asyncio.timeout``) gets that event from its next call while the
        backlog is open.  While a backlog is open, :meth:`has_listeners` is
        True for its name.  The backlog is per name: waiting for another name
        right after a wake waits for that name's next dispatch.

        Raises RuntimeError when called with no running event loop.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if self._backlogs and task is not None:
            backlog = self._backlogs.get(event_name)
            if backlog is not None:
                cursor = backlog.cursors.get(task)
                if cursor is not None:
                    window, index = cursor
                    events = window.events
                    if events is not None and index < len(events):
                        cursor[1] = index + 1
                        return _ready(events[index])
        if timeout is not None and timeout <= 0:
            return _ready(None)
        wait = _Wait(loop.create_future(), task)
        if timeout is not None:
            wait.timer = loop.call_later(timeout, _expire, wait.future)
        waits = self._waiters.get(event_name)
        if waits is None:
            waits = self._waiters[event_name] = []
            self._listeners_changed()
        waits.append(wait)
        return self._wait(event_name, wait)

    async def _wait(self, event_name: str, wait: _Wait) -> Any:
        """Await ``wait`` (registered by :meth:`wait_for_next`) and forget it however it ends."""
        future = wait.future
        try:
            value = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result() is not _TIMED_OUT:
                self._step_back(event_name, wait.task)  # woken, then cancelled before it ran
            raise
        finally:
            if wait.timer is not None:
                wait.timer.cancel()
            waits = self._waiters.get(event_name)
            if waits is not None:
                try:
                    waits.remove(wait)
                except ValueError:  # a dispatch took it
                    pass
                if not waits and event_name not in self._backlogs:
                    del self._waiters[event_name]
                    self._listeners_changed()
        return None if value is _TIMED_OUT else value

    def _open_window(self, event_name: str, event: Any, woken: List[_Wait]) -> None:
        """Open a window of ``event_name``'s backlog at ``event`` and give each woken task its place after it."""
        backlog = self._backlogs.get(event_name)
        if backlog is None:
            backlog = self._backlogs[event_name] = _Backlog()
            if event_name not in self._waiters:
                self._waiters[event_name] = []
                self._listeners_changed()
        window = _Window([event])
        backlog.windows.append(window)
        for wait in woken:
            if wait.task is not None:
                backlog.cursors[wait.task] = [window, 1]
        woken[0].future.get_loop().call_soon(self._age_window, event_name, window, BACKLOG_LOOP_PASSES - 1)

    def _age_window(self, event_name: str, window: _Window, passes_left: int) -> None:
        """One loop pass of ``window``'s life: close it once no pass is left."""
        if passes_left > 0:
            asyncio.get_running_loop().call_soon(self._age_window, event_name, window, passes_left - 1)
        else:
            self._close_window(event_name, window)

    def _close_window(self, event_name: str, window: _Window) -> None:
        """Forget ``window`` and the places in it; the backlog goes with its last window."""
        backlog = self._backlogs.get(event_name)
        window.events = None
        if backlog is None:
            return
        windows = backlog.windows
        for position, open_window in enumerate(windows):
            if open_window is window:
                del windows[position]
                break
        else:
            return
        cursors = backlog.cursors
        for task in [task for task, cursor in cursors.items() if cursor[0] is window]:
            del cursors[task]
        if not windows:
            del self._backlogs[event_name]
            waits = self._waiters.get(event_name)
            if waits is not None and not waits:
                del self._waiters[event_name]
                self._listeners_changed()

    def _step_back(self, event_name: str, task: Any) -> None:
        """Let ``task``'s next wait for ``event_name`` return the event it was woken with but did not get."""
        backlog = self._backlogs.get(event_name)
        if backlog is not None and task is not None:
            cursor = backlog.cursors.get(task)
            if cursor is not None and cursor[1] > 0:
                cursor[1] -= 1

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

    async def cancel_handler_tasks(self) -> None:
        """Cancel the handler tasks still running (except the caller's own) and wait for them."""
        current = asyncio.current_task()
        pending = [t for t in self._handler_tasks if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
