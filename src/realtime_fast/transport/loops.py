"""Event loops: plain asyncio, or uvloop when it is installed and asked for.

uvloop is an optional extra (``pip install realtime-fast[uvloop]``, not on
Windows).  The CLI and the benchmarks pick a loop by name:

* ``"asyncio"``: the standard library's default loop;
* ``"uvloop"``: uvloop, or :class:`RuntimeError` when it is not installed;
* ``"auto"``: uvloop when it is installed, else asyncio.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import Any, Coroutine, TypeVar

__all__ = ["LOOP_KINDS", "available_loops", "loop_kind", "new_event_loop", "run"]

T = TypeVar("T")

#: The names accepted by :func:`new_event_loop` and :func:`run`.
LOOP_KINDS = ("auto", "asyncio", "uvloop")


def _uvloop() -> Any | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def available_loops() -> list[str]:
    """Names of the loops usable here (``"asyncio"`` always, ``"uvloop"`` when installed)."""
    return ["asyncio", "uvloop"] if _uvloop() is not None else ["asyncio"]


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """Return a new event loop of ``kind`` (``"auto"``, ``"asyncio"`` or ``"uvloop"``), not set as current."""
    if kind not in LOOP_KINDS:
        raise ValueError(f"Unknown event loop kind {kind!r}: use 'auto', 'asyncio' or 'uvloop'.")
    if kind == "asyncio":
        return asyncio.new_event_loop()
    uvloop = _uvloop()
    if uvloop is None:
        if kind == "uvloop":
            raise RuntimeError("uvloop is not installed: install it with `pip install realtime-fast[uvloop]` (not available on Windows), or use the asyncio loop.")
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def loop_kind(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: which kind ``loop`` (default: the running loop) is."""
    if loop is None:
        loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], *, loop: str = "auto", debug: bool | None = None) -> T:
    """Run coroutine ``main`` to completion on a new loop of kind ``loop`` and return its result (like :func:`asyncio.run`).

    Ctrl-C (SIGINT, in the main thread) cancels ``main`` so its cleanup runs
    (``async with`` blocks close their sessions), then raises
    :class:`KeyboardInterrupt`; a second Ctrl-C interrupts at once.  This is
    :class:`asyncio.Runner`'s behaviour, given to Python 3.10 as well.
    """
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(loop)) as runner:
            return runner.run(main)
    return _run_310(main, new_event_loop(loop), debug)  # pragma: no cover - Python 3.10


def _run_310(main: Coroutine[Any, Any, T], event_loop: asyncio.AbstractEventLoop, debug: bool | None) -> T:
    """:func:`run` for Python 3.10, which has no :class:`asyncio.Runner`."""
    interrupts = 0
    task: asyncio.Task[T] | None = None

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1 and task is not None and not task.done():
            task.cancel()
            event_loop.call_soon_threadsafe(lambda: None)  # wake a loop blocked in select()
            return
        raise KeyboardInterrupt()

    previous = None
    try:
        asyncio.set_event_loop(event_loop)
        if debug is not None:
            event_loop.set_debug(debug)
        task = event_loop.create_task(main)
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return event_loop.run_until_complete(task)
        except asyncio.CancelledError:
            if interrupts:
                raise KeyboardInterrupt() from None
            raise
    finally:
        if previous is not None and signal.getsignal(signal.SIGINT) is on_sigint:
            signal.signal(signal.SIGINT, previous)
        try:
            pending = asyncio.all_tasks(event_loop)
            for pending_task in pending:
                pending_task.cancel()
            if pending:
                event_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
            event_loop.run_until_complete(event_loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            event_loop.close()
