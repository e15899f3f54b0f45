"""A minimal text client: send one message and print the reply as it streams.

    python examples/text_client.py                       # mock server, or OpenAI if OPENAI_API_KEY is set
    python examples/text_client.py "Tell me a joke"
    python examples/text_client.py --url ws://127.0.0.1:8765/v1/realtime

Without OPENAI_API_KEY (and without --url) the example starts the package's
mock Realtime server inside the process, so it runs anywhere, offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import AsyncIterator

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer


@contextlib.asynccontextmanager
async def realtime_server(url: str | None) -> AsyncIterator[tuple[str | None, str | None]]:
    """Yield ``(url, api_key)``: ``--url`` if given, OpenAI if OPENAI_API_KEY is set, else a mock server."""
    api_key = os.environ.get("OPENAI_API_KEY")
    if url or api_key:
        yield url, api_key  # url None means OpenAI
        return
    async with MockRealtimeServer(profile="realistic", record=False) as mock:
        mock.script.add_rule("joke", "Why did the WebSocket cross the road? To get to the other frame.")
        yield mock.url, "sk-mock-key-for-the-example"


async def main(url: str | None, message: str) -> None:
    async with realtime_server(url) as (server_url, api_key):
        async with RealtimeClient(url=server_url, api_key=api_key) as client:  # connects
            client.update_session(modalities=["text"], instructions="Answer in one short sentence.")

            @client.on("conversation.updated")
            def print_text(event: dict) -> None:
                delta = event["delta"]
                if delta and "text" in delta and event["item"].get("role") == "assistant":
                    print(delta["text"], end="", flush=True)

            @client.on("error")
            def print_error(event: dict) -> None:
                print(f"\nerror: {event['message']}")

            # The user's message completes first, then the assistant's: resolve a future on the latter.
            reply: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

            @client.on("conversation.item.completed")
            def on_completed(event: dict) -> None:
                if event["item"].get("role") == "assistant" and not reply.done():
                    reply.set_result(event["item"])

            await client.wait_for_session_created()
            print(f"you: {message}\nassistant: ", end="", flush=True)
            client.send_user_message_content([{"type": "input_text", "text": message}])
            try:
                await asyncio.wait_for(reply, timeout=30)
            except asyncio.TimeoutError:
                raise SystemExit("no reply within 30 s") from None
            print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", default="Tell me a joke about WebSockets.")
    parser.add_argument("--url", help="a Realtime server or relay (default: OpenAI or the embedded mock)")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.message))
