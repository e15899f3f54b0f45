"""``wait_for_next`` in a loop sees every event, even a burst dispatched in one callback.

A transport hands every frame of one socket read to the client in one
synchronous callback, so several dispatches of one name can happen before a
task that waits for it runs again.  The reference client's loop
(``while (true) { await client.waitForNextItem() }``) sees every one of them;
these tests check that ours does too, on asyncio and on uvloop, and that the
backlog this needs stays invisible otherwise: no event from before a call,
nothing kept once the loop has moved on, nothing lost to a timeout or a
cancellation.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import weakref
from typing import Any, Awaitable, Callable, Dict, List

import pytest

from realtime_fast import RealtimeClient, RealtimeEventHandler
from realtime_fast.event_handler import BACKLOG_LOOP_PASSES
from realtime_fast.transport import loops

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test-realtime-fast-0123456789"
LOOPS = ["asyncio", "uvloop"]
#: How long a test waits for something that must happen at once (seconds); only reached on failure.
PATIENCE = 5.0


def run_on(kind: str, scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``scenario()`` on a new loop of ``kind`` (skipping when that loop is not installed)."""
    if kind not in loops.available_loops():
        pytest.skip(f"{kind} is not installed here")

    async def checked() -> Any:
        assert loops.loop_kind() == kind
        return await scenario()

    return loops.run(checked(), loop=kind)


async def settle(passes: int = BACKLOG_LOOP_PASSES + 2) -> None:
    """Let the loop run a few passes (woken tasks run, backlogs close)."""
    for _ in range(passes):
        await asyncio.sleep(0)


def burst(handler: RealtimeEventHandler, name: str, events: List[Any]) -> None:
    """Dispatch ``events`` under ``name`` from one loop callback, as a transport does with one read."""
    asyncio.get_running_loop().call_soon(lambda: [handler.dispatch(name, event) for event in events])


def collector(handler: RealtimeEventHandler, name: str, count: int, seen: List[Any], timeout: Any = None) -> "asyncio.Task[None]":
    """A task looping on ``handler.wait_for_next(name)`` until it has ``count`` events in ``seen``."""

    async def loop() -> None:
        while len(seen) < count:
            seen.append(await handler.wait_for_next(name, timeout))

    return asyncio.ensure_future(loop())


# -- one handler ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOOPS)
def test_a_loop_sees_every_event_of_a_burst_in_order(kind: str) -> None:
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        seen: List[Any] = []
        task = collector(handler, "x", 50, seen)
        await settle()
        burst(handler, "x", [{"n": n} for n in range(50)])
        await asyncio.wait_for(task, PATIENCE)
        await settle()
        return {"seen": seen, "listening": handler.has_listeners("x")}

    result = run_on(kind, scenario)
    assert result["seen"] == [{"n": n} for n in range(50)]
    assert result["listening"] is False  # the backlog closed once the loop moved on


@pytest.mark.parametrize("kind", LOOPS)
def test_bursts_interleaved_with_other_names_reach_the_loop(kind: str) -> None:
    async def scenario() -> List[Any]:
        handler = RealtimeEventHandler()
        handler.on("y", lambda event: None)
        seen: List[Any] = []
        task = collector(handler, "x", 9, seen)
        await settle()
        for start in (0, 3, 6):  # three reads of three frames, each with another event between
            asyncio.get_running_loop().call_soon(
                lambda start=start: [
                    (handler.dispatch("x", start + n), handler.dispatch("y", "other")) for n in range(3)
                ]
            )
            await settle()
        await asyncio.wait_for(task, PATIENCE)
        return seen

    assert run_on(kind, scenario) == list(range(9))


@pytest.mark.parametrize("kind", LOOPS)
def test_the_backlog_is_gone_once_the_loop_has_moved_on(kind: str) -> None:
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        moved_on = asyncio.Event()

        async def consumer() -> List[Any]:
            first = await handler.wait_for_next("x")
            await moved_on.wait()  # not straight back to waiting: the rest of the burst passed it by
            second = await handler.wait_for_next("x")
            return [first, second]

        task = asyncio.ensure_future(consumer())
        await settle()
        burst(handler, "x", ["a", "b", "c"])
        await settle()
        moved_on.set()
        await settle()
        waiting = not task.done() and handler.has_listeners("x")
        handler.dispatch("x", "later")
        return {"waiting": waiting, "got": await asyncio.wait_for(task, PATIENCE)}

    result = run_on(kind, scenario)
    assert result["waiting"] is True
    assert result["got"] == ["a", "later"]


@pytest.mark.parametrize("kind", LOOPS)
def test_a_new_wait_ignores_events_from_before_it(kind: str) -> None:
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        handler.dispatch("x", "nobody waited")
        handler.dispatch("x", "nobody waited either")
        unwanted = await handler.wait_for_next("x", timeout=0.01)

        # A task that did not wait for "x" when the burst woke another waiter, and
        # comes to it while that waiter's backlog is still open, waits for a new event.
        latecomer_go = asyncio.Event()
        woken: List[Any] = []
        waiter = collector(handler, "x", 1, woken)

        async def latecomer() -> Any:
            await latecomer_go.wait()
            return await handler.wait_for_next("x")

        late = asyncio.ensure_future(latecomer())
        await settle()

        def read() -> None:
            handler.dispatch("x", "first")
            handler.dispatch("x", "second")
            latecomer_go.set()  # the latecomer runs in the same pass as the woken waiter

        asyncio.get_running_loop().call_soon(read)
        await settle()
        late_waiting = not late.done()
        handler.dispatch("x", "new")
        await asyncio.wait_for(waiter, PATIENCE)
        late_got = await asyncio.wait_for(late, PATIENCE)
        return {"unwanted": unwanted, "woken": woken, "late_waiting": late_waiting, "late": late_got}

    result = run_on(kind, scenario)
    assert result["unwanted"] is None
    assert result["woken"] == ["first"]
    assert result["late_waiting"] is True
    assert result["late"] == "new"


@pytest.mark.parametrize("kind", LOOPS)
def test_events_nobody_takes_are_not_kept(kind: str) -> None:
    class Event:
        pass

    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        task = asyncio.ensure_future(handler.wait_for_next("x"))  # takes the first event, then stops
        await settle()
        events = [Event() for _ in range(200)]
        refs = [weakref.ref(event) for event in events]
        burst(handler, "x", events)
        del events
        first = await asyncio.wait_for(task, PATIENCE)
        await settle()
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        return {"first_is_first": first is refs[0](), "alive": alive, "listening": handler.has_listeners("x")}

    result = run_on(kind, scenario)
    assert result["first_is_first"] is True
    assert result["alive"] == 1  # only the one the test still holds
    assert result["listening"] is False


# -- timeouts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOOPS)
def test_timeouts_return_none_and_lose_nothing(kind: str) -> None:
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        expired = await handler.wait_for_next("x", timeout=0.01)
        listening_after_timeout = handler.has_listeners("x")
        seen: List[Any] = []
        task = collector(handler, "x", 4, seen, timeout=PATIENCE)  # a loop with a timeout on every call
        await settle()
        burst(handler, "x", [1, 2, 3, 4])
        await asyncio.wait_for(task, PATIENCE)

        # A woken task can take what the backlog holds even with a zero timeout, then gets None.
        async def poller() -> List[Any]:
            got = [await handler.wait_for_next("x")]
            got.append(await handler.wait_for_next("x", timeout=0))
            got.append(await handler.wait_for_next("x", timeout=0))
            return got

        polling = asyncio.ensure_future(poller())
        await settle()
        burst(handler, "x", ["p", "q"])
        polled = await asyncio.wait_for(polling, PATIENCE)
        return {"expired": expired, "listening": listening_after_timeout, "seen": seen, "polled": polled}

    result = run_on(kind, scenario)
    assert result["expired"] is None
    assert result["listening"] is False
    assert result["seen"] == [1, 2, 3, 4]
    assert result["polled"] == ["p", "q", None]


# -- several waiters, cancellation -------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOOPS)
def test_two_loops_on_one_name_each_see_every_event(kind: str) -> None:
    async def scenario() -> List[List[Any]]:
        handler = RealtimeEventHandler()
        first: List[Any] = []
        second: List[Any] = []
        tasks = [collector(handler, "x", 5, first), collector(handler, "x", 5, second)]
        await settle()
        burst(handler, "x", list("abcde"))
        await asyncio.wait_for(asyncio.gather(*tasks), PATIENCE)
        return [first, second]

    assert run_on(kind, scenario) == [list("abcde"), list("abcde")]


@pytest.mark.parametrize("kind", LOOPS)
def test_a_cancelled_waiter_takes_nothing_from_the_others(kind: str) -> None:
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        seen: List[Any] = []
        loop_task = collector(handler, "x", 3, seen)
        doomed = asyncio.ensure_future(handler.wait_for_next("x"))
        await settle()
        doomed.cancel()
        burst(handler, "x", [1, 2, 3])
        await asyncio.wait_for(loop_task, PATIENCE)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await settle()
        return {"seen": seen, "listening": handler.has_listeners("x")}

    result = run_on(kind, scenario)
    assert result["seen"] == [1, 2, 3]
    assert result["listening"] is False


@pytest.mark.parametrize("kind", LOOPS)
def test_a_waiter_cancelled_after_its_event_came_gets_it_on_the_next_call(kind: str) -> None:
    # As when asyncio.timeout() fires in the pass the event arrived in: the task sees
    # CancelledError instead of the event; a retry in the same step must not lose it.
    async def scenario() -> Dict[str, Any]:
        handler = RealtimeEventHandler()
        seen: List[Any] = []
        cancelled: List[bool] = []

        async def consumer() -> None:
            while len(seen) < 3:
                try:
                    seen.append(await handler.wait_for_next("x"))
                except asyncio.CancelledError:
                    if cancelled:  # only the test's own cancel is survived (a failing run must end)
                        raise
                    cancelled.append(True)
                    task = asyncio.current_task()
                    if hasattr(task, "uncancel"):  # Python 3.11+ counts cancellations
                        task.uncancel()  # type: ignore[union-attr]

        task = asyncio.ensure_future(consumer())
        await settle()

        def read() -> None:
            for event in (1, 2, 3):
                handler.dispatch("x", event)
            task.cancel()

        asyncio.get_running_loop().call_soon(read)
        await asyncio.wait_for(task, PATIENCE)
        return {"seen": seen, "cancelled": cancelled}

    result = run_on(kind, scenario)
    assert result["cancelled"] == [True]
    assert result["seen"] == [1, 2, 3]


# -- through a client -------------------------------------------------------------------------------


def _frame(event: Dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def _item_added(item: Dict[str, Any], beta: bool) -> bytes:
    kind = "conversation.item.created" if beta else "conversation.item.added"
    return _frame({"type": kind, "event_id": "evt_" + item["id"], "previous_item_id": None, "item": item})


def _items() -> List[Dict[str, Any]]:
    """A committed user message (complete), then a response's function call and message."""
    return [
        {"id": "item_user", "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
         "content": [{"type": "input_text", "text": "What is the weather?"}]},
        {"id": "item_call", "object": "realtime.item", "type": "function_call", "status": "in_progress",
         "name": "get_weather", "call_id": "call_1", "arguments": ""},
        {"id": "item_reply", "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant",
         "content": [{"type": "output_audio", "transcript": ""}]},
    ]


@pytest.mark.parametrize("protocol", ["ga", "beta"])
@pytest.mark.parametrize("kind", LOOPS)
def test_wait_for_next_item_sees_every_item_of_one_read(kind: str, protocol: str) -> None:
    async def scenario() -> Dict[str, Any]:
        client = RealtimeClient(api_key=KEY, protocol=protocol, transport="websockets")
        appended: List[str] = []
        completed: List[str] = []

        async def items() -> None:
            while len(appended) < 3:
                appended.append((await client.wait_for_next_item())["item"]["id"])

        async def completed_items() -> None:
            while len(completed) < 1:
                completed.append((await client.wait_for_next_completed_item())["item"]["id"])

        tasks = [asyncio.ensure_future(items()), asyncio.ensure_future(completed_items())]
        await settle()
        frames = [_item_added(item, protocol == "beta") for item in _items()]
        receive = client.realtime.receive_frame
        asyncio.get_running_loop().call_soon(lambda: [receive(frame) for frame in frames])
        await asyncio.wait_for(asyncio.gather(*tasks), PATIENCE)
        return {"appended": appended, "completed": completed, "items": [i["id"] for i in client.conversation.get_items()]}

    result = run_on(kind, scenario)
    assert result["appended"] == ["item_user", "item_call", "item_reply"]
    assert result["completed"] == ["item_user"]
    assert result["items"] == ["item_user", "item_call", "item_reply"]


def _fast_paths() -> List[Any]:
    params = [pytest.param("realtime_fast._client_fast_py", id="pure")]
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") != "1":
        params.append(pytest.param("realtime_fast._client_fast", id="compiled"))
    return params


@pytest.mark.parametrize("fast_module", _fast_paths())
@pytest.mark.parametrize("kind", LOOPS)
def test_a_loop_on_conversation_updated_sees_every_delta_of_one_read(kind: str, fast_module: str) -> None:
    # The receive path skips conversation.updated when nobody listens; while the
    # woken loop has not run yet it must still count as listening.
    try:
        module = importlib.import_module(fast_module)
    except ImportError:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"{fast_module} not built")

    async def scenario() -> List[Any]:
        client = RealtimeClient(api_key=KEY, transport="websockets")
        receive = client.realtime.receive_frame
        module.ClientFastPath(client).install(receive)
        receive(_item_added(_items()[2], beta=False))
        deltas: List[Any] = []

        async def updates() -> None:
            while len(deltas) < 5:
                deltas.append((await client.wait_for_next("conversation.updated"))["delta"])

        task = asyncio.ensure_future(updates())
        await settle()
        frames = [
            _frame({"type": "response.output_audio_transcript.delta", "event_id": f"evt_{n}", "response_id": "resp_1",
                    "item_id": "item_reply", "output_index": 0, "content_index": 0, "delta": word})
            for n, word in enumerate(["One", " two", " three", " four", " five"])
        ]
        asyncio.get_running_loop().call_soon(lambda: [receive(frame) for frame in frames])
        await asyncio.wait_for(task, PATIENCE)
        await settle()
        assert not client.has_listeners("conversation.updated")
        return deltas

    assert run_on(kind, scenario) == [{"transcript": word} for word in ["One", " two", " three", " four", " five"]]


# -- wrapped waits, against the mock ------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["websockets", "picows"])
@pytest.mark.parametrize("kind", LOOPS)
def test_waits_wrapped_in_asyncio_wait_for_lose_nothing(kind: str, transport: str) -> None:
    # The fast mock answers a text message in one write: the user's item and the
    # assistant's item complete in the same read.  The natural idiom, each wait wrapped
    # in asyncio.wait_for (a task of its own before Python 3.12), must see both.
    from realtime_fast.mock import MockRealtimeServer

    async def scenario() -> List[str]:
        async with MockRealtimeServer(profile="fast") as server:
            async with RealtimeClient(url=server.url, api_key=KEY, transport=transport) as client:
                await asyncio.wait_for(client.wait_for_session_created(), PATIENCE)
                client.send_user_message_content([{"type": "input_text", "text": "Hello"}])
                roles = []
                for _ in range(2):
                    completed = await asyncio.wait_for(client.wait_for_next_completed_item(), PATIENCE)
                    roles.append(completed["item"]["role"])
                gathered = asyncio.gather(client.wait_for_next_completed_item(), client.wait_for_next_item())
                client.send_user_message_content([{"type": "input_text", "text": "Again"}])
                first_completed, first_appended = await asyncio.wait_for(gathered, PATIENCE)
                roles += [first_completed["item"]["role"], first_appended["item"]["role"]]
                later = asyncio.create_task(client.wait_for_next_completed_item(PATIENCE))
                roles.append((await later)["item"]["role"])
                return roles

    assert run_on(kind, scenario) == ["user", "assistant", "user", "user", "assistant"]
