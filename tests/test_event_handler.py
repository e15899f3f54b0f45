"""RealtimeEventHandler: registration, dispatch order, one-shot handlers, waits, coroutine and failing handlers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from realtime_fast import RealtimeEventHandler
from realtime_fast.event_handler import BACKLOG_LOOP_PASSES


class Recorder(RealtimeEventHandler):
    """An event handler that records handler failures instead of only logging them."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[tuple[str, object, BaseException]] = []

    def handler_failed(self, event_name, event, exc):
        self.failures.append((event_name, event, exc))


def test_on_calls_handlers_in_order_and_returns_the_handler():
    handler = RealtimeEventHandler()
    calls = []
    first = lambda e: calls.append(("first", e))  # noqa: E731
    assert handler.on("x", first) is first
    handler.on("x", lambda e: calls.append(("second", e)))
    handler.on("y", lambda e: calls.append(("other", e)))
    assert handler.dispatch("x", {"n": 1}) is True
    handler.dispatch("x", {"n": 2})
    assert calls == [("first", {"n": 1}), ("second", {"n": 1}), ("first", {"n": 2}), ("second", {"n": 2})]


def test_on_and_on_next_work_as_decorators():
    handler = RealtimeEventHandler()
    seen = []

    @handler.on("x")
    def persistent(event):
        seen.append(("on", event))

    @handler.on_next("x")
    def once(event):
        seen.append(("next", event))

    assert callable(persistent) and callable(once)
    handler.dispatch("x", 1)
    handler.dispatch("x", 2)
    assert seen == [("on", 1), ("next", 1), ("on", 2)]


def test_persistent_handlers_run_before_one_shot_handlers():
    handler = RealtimeEventHandler()
    order = []
    handler.on_next("x", lambda e: order.append("next"))
    handler.on("x", lambda e: order.append("on"))
    handler.dispatch("x")
    assert order == ["on", "next"]


def test_one_shot_handler_added_during_dispatch_waits_for_the_next_dispatch():
    # The reference forgets it (it clears the whole one-shot list after the loop).
    handler = RealtimeEventHandler()
    seen = []

    def register(event):
        seen.append(("first", event))
        handler.on_next("x", lambda e: seen.append(("late", e)))

    handler.on_next("x", register)
    handler.dispatch("x", 1)
    assert seen == [("first", 1)]
    handler.dispatch("x", 2)
    assert seen == [("first", 1), ("late", 2)]
    handler.dispatch("x", 3)
    assert seen == [("first", 1), ("late", 2)]


def test_off_removes_one_handler_or_all():
    handler = RealtimeEventHandler()
    seen = []
    a = handler.on("x", lambda e: seen.append("a"))
    handler.on("x", lambda e: seen.append("b"))
    handler.off("x", a)
    handler.dispatch("x")
    assert seen == ["b"]
    handler.off("x")
    handler.dispatch("x")
    assert seen == ["b"]
    assert not handler.has_listeners("x")


def test_off_unknown_handler_raises_the_reference_message():
    handler = RealtimeEventHandler()
    with pytest.raises(ValueError, match=r'^Could not turn off specified event listener for "x": not found as a listener$'):
        handler.off("x", print)
    handler.on("x", len)
    with pytest.raises(ValueError, match="not found as a listener"):
        handler.off("x", print)


def test_off_next_removes_one_shot_handlers():
    handler = RealtimeEventHandler()
    seen = []
    a = handler.on_next("x", lambda e: seen.append("a"))
    handler.on_next("x", lambda e: seen.append("b"))
    handler.off_next("x", a)
    handler.dispatch("x")
    assert seen == ["b"]
    handler.on_next("x", lambda e: seen.append("c"))
    handler.off_next("x")
    handler.dispatch("x")
    assert seen == ["b"]
    with pytest.raises(ValueError, match=r'^Could not turn off specified next event listener for "x": not found as a listener$'):
        handler.off_next("x", a)


def test_clear_event_handlers_forgets_everything():
    handler = RealtimeEventHandler()
    seen = []
    handler.on("x", seen.append)
    handler.on_next("y", seen.append)
    assert handler.clear_event_handlers() is True
    handler.dispatch("x", 1)
    handler.dispatch("y", 2)
    assert seen == []


def test_non_callable_handler_is_refused():
    handler = RealtimeEventHandler()
    with pytest.raises(TypeError, match='Handler for "x" must be callable'):
        handler.on("x", "not a function")  # type: ignore[arg-type]


def test_a_raising_handler_is_reported_and_the_others_still_run():
    handler = Recorder()
    seen = []

    def bad(event):
        raise RuntimeError("boom")

    handler.on("x", bad)
    handler.on("x", seen.append)
    handler.on_next("x", seen.append)
    handler.dispatch("x", 7)
    assert seen == [7, 7]
    [(name, event, exc)] = handler.failures
    assert (name, event, str(exc)) == ("x", 7, "boom")


def test_base_class_logs_a_raising_handler(caplog):
    handler = RealtimeEventHandler()
    handler.on("x", lambda e: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="realtime_fast"):
        handler.dispatch("x")
    assert any("ZeroDivisionError" in r.getMessage() and '"x"' in r.getMessage() for r in caplog.records)


async def test_coroutine_handlers_are_scheduled_and_tracked():
    handler = Recorder()
    done = []

    async def slow(event):
        await asyncio.sleep(0)
        done.append(event)

    handler.on("x", slow)
    handler.dispatch("x", "a")
    assert done == []  # scheduled, not run inline
    assert await handler.wait_for_handlers(timeout=5) is True
    assert done == ["a"]
    assert handler.failures == []


async def test_a_failing_coroutine_handler_is_reported():
    handler = Recorder()

    async def bad(event):
        raise ValueError(f"bad {event}")

    handler.on("x", bad)
    handler.dispatch("x", 1)
    await handler.wait_for_handlers(timeout=5)
    [(name, event, exc)] = handler.failures
    assert name == "x" and event == 1 and isinstance(exc, ValueError)


def test_a_coroutine_handler_without_a_running_loop_is_reported_not_leaked():
    handler = Recorder()

    async def never(event):  # pragma: no cover - must not run
        raise AssertionError

    handler.on("x", never)
    handler.dispatch("x")  # no loop here: closed, reported, no "never awaited" warning
    [(name, _, exc)] = handler.failures
    assert name == "x" and "running event loop" in str(exc)


async def test_wait_for_next_returns_the_next_event():
    handler = RealtimeEventHandler()
    waiter = asyncio.ensure_future(handler.wait_for_next("x"))
    await asyncio.sleep(0)
    assert handler.has_listeners("x")
    handler.dispatch("y", "other")
    handler.dispatch("x", {"n": 1})
    handler.dispatch("x", {"n": 2})
    assert await waiter == {"n": 1}
    for _ in range(BACKLOG_LOOP_PASSES):  # the backlog of the woken task closes
        await asyncio.sleep(0)
    assert not handler.has_listeners("x")


async def test_wait_for_next_is_registered_when_called():
    # As the reference's waitForNext: an event dispatched after the call and before the
    # first await (or before a wrapper task first runs) is the one it returns.
    handler = RealtimeEventHandler()
    direct = handler.wait_for_next("x")
    wrapped = asyncio.ensure_future(handler.wait_for_next("x"))
    assert handler.has_listeners("x")
    handler.dispatch("x", "right after the call")
    assert await direct == "right after the call"
    assert await wrapped == "right after the call"


async def test_wait_for_next_times_out_with_none():
    handler = RealtimeEventHandler()
    assert await handler.wait_for_next("x", timeout=0.01) is None
    assert not handler.has_listeners("x")


async def test_cancelled_wait_is_forgotten():
    handler = RealtimeEventHandler()
    waiter = asyncio.ensure_future(handler.wait_for_next("x"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not handler.has_listeners("x")
    handler.dispatch("x", 1)  # resolving nothing, raising nothing


async def test_several_waiters_all_get_the_event():
    handler = RealtimeEventHandler()
    waiters = [asyncio.ensure_future(handler.wait_for_next("x")) for _ in range(3)]
    await asyncio.sleep(0)
    handler.dispatch("x", 5)
    assert await asyncio.gather(*waiters) == [5, 5, 5]
