"""Many sessions in one process: a relay server giving each user its own Realtime session.

    python examples/many_sessions.py                    # relay + 20 simulated users, embedded mock upstream
    python examples/many_sessions.py --users 200 --messages 3
    python examples/many_sessions.py --serve --port 8080  # only the relay, for your own front end
    python examples/many_sessions.py --url wss://my-upstream.example/v1/realtime

Browsers and phones must never hold your OpenAI key.  They talk to this
server instead, with a tiny app-level protocol (``{"text": ...}`` in;
``{"type": "delta", "text": ...}`` ... ``{"type": "done"}`` out), and the
server opens one ``RealtimeClient`` per user with the key it keeps to itself.
Because the front end can only send text, it cannot change the session's
instructions, tools or model: the relay decides those.

All sessions share one event loop (uvloop when installed): a session costs a
socket pair and a few small objects, not a thread.  Without OPENAI_API_KEY
(and without --url) the upstream is a mock server started in the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from typing import Any, AsyncIterator

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport.loops import run

MAX_TEXT = 4000  # characters accepted from a user per message


@contextlib.asynccontextmanager
async def upstream_server(url: str | None, fast: bool) -> AsyncIterator[tuple[str | None, str | None]]:
    """Yield ``(url, api_key)`` of the upstream: ``--url``, OpenAI with OPENAI_API_KEY, else a mock server."""
    api_key = os.environ.get("OPENAI_API_KEY")
    if url or api_key:
        yield url, api_key
        return
    async with MockRealtimeServer(profile="fast" if fast else "realistic", record=False) as mock:
        yield mock.url, "sk-mock-key-for-the-example"


async def relay_session(ws: ServerConnection, upstream_url: str | None, api_key: str | None) -> None:
    """One user: forward their text to a Realtime session of their own and stream the replies back."""
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    try:
        client = RealtimeClient(url=upstream_url, api_key=api_key)
        await client.connect()
    except Exception as exc:  # never show upstream details the user should not see; log them here
        print(f"upstream connection failed: {exc}")
        await ws.close(1011, "upstream unavailable")
        return
    try:
        client.update_session(modalities=["text"], instructions="You are a helpful assistant. Be brief.")

        @client.on("conversation.updated")
        def forward_text(event: dict[str, Any]) -> None:
            delta = event["delta"]
            if delta and "text" in delta and event["item"].get("role") == "assistant":
                outbox.put_nowait({"type": "delta", "text": delta["text"]})

        client.realtime.on("server.response.done", lambda event: outbox.put_nowait({"type": "done"}))
        client.on("error", lambda event: outbox.put_nowait({"type": "error", "message": "the assistant hit an error"}))

        async def pump() -> None:
            while True:
                await ws.send(json.dumps(await outbox.get()))

        pump_task = asyncio.create_task(pump())
        try:
            async for raw in ws:
                try:
                    text = str(json.loads(raw).get("text", ""))[:MAX_TEXT]
                except (ValueError, AttributeError):
                    outbox.put_nowait({"type": "error", "message": 'send {"text": "..."}'})
                    continue
                if text.strip():
                    client.send_user_message_content([{"type": "input_text", "text": text}])
        except ConnectionClosed:
            pass
        finally:
            pump_task.cancel()
            await asyncio.gather(pump_task, return_exceptions=True)
    finally:
        await client.disconnect()


async def simulated_user(relay_url: str, user: int, messages: int, first_delta_s: list[float]) -> int:
    """Connect to the relay like a front end would, send ``messages`` messages, wait for each reply."""
    replies = 0
    async with ws_connect(relay_url) as ws:
        for n in range(messages):
            sent = time.monotonic()
            await ws.send(json.dumps({"text": f"Hello from user {user}, message {n}"}))
            first = None
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "delta" and first is None:
                    first = time.monotonic() - sent
                elif msg["type"] == "error":
                    raise RuntimeError(f"user {user}: {msg['message']}")
                elif msg["type"] == "done":
                    break
            if first is not None:
                first_delta_s.append(first)
            replies += 1
    return replies


async def main(args: argparse.Namespace) -> None:
    async with upstream_server(args.url, args.fast) as (upstream_url, api_key):

        async def handler(ws: ServerConnection) -> None:
            await relay_session(ws, upstream_url, api_key)

        async with serve(handler, "127.0.0.1", args.port) as relay:
            port = relay.sockets[0].getsockname()[1]
            relay_url = f"ws://127.0.0.1:{port}"
            print(f"relay listening on {relay_url} (upstream: {upstream_url or 'OpenAI'})", flush=True)
            if args.serve:
                await asyncio.Future()  # serve until Ctrl-C
            started = time.monotonic()
            first_delta_s: list[float] = []
            replies = await asyncio.gather(
                *(simulated_user(relay_url, u, args.messages, first_delta_s) for u in range(args.users))
            )
            wall = time.monotonic() - started
            total = sum(replies)
            print(f"{args.users} concurrent sessions, {total} replies in {wall:.2f} s ({total / wall:.1f} replies/s)")
            if first_delta_s:
                ordered = sorted(first_delta_s)
                p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
                print(f"time to first text: median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="simulated users (default: 20)")
    parser.add_argument("--messages", type=int, default=2, help="messages per user (default: 2)")
    parser.add_argument("--serve", action="store_true", help="only run the relay (until Ctrl-C)")
    parser.add_argument("--port", type=int, default=0, help="relay port (default: a free one)")
    parser.add_argument("--url", help="upstream Realtime server (default: OpenAI or the embedded mock)")
    parser.add_argument("--fast", action="store_true", help="mock upstream without realistic delays")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run(main(args), loop="auto")
