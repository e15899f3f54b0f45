"""Give the model a tool: it calls ``get_weather``, your Python code answers.

    python examples/tools.py
    python examples/tools.py "Is it raining in Lisbon?"
    python examples/tools.py --url ws://127.0.0.1:8765/v1/realtime

``add_tool`` registers the definition (sent to the server with the session)
and a handler, sync or async, that receives the parsed arguments.  When the
model calls the tool, the client runs the handler, sends the result back as a
``function_call_output`` item and asks for the next response by itself.
Without OPENAI_API_KEY (and without --url) a mock server runs in the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any, AsyncIterator

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name, e.g. Lisbon"}},
        "required": ["city"],
    },
}


async def get_weather(arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool: a real app would call a weather service here (handlers may be async)."""
    await asyncio.sleep(0.05)
    return {"city": arguments.get("city", "?"), "temperature_c": 21, "conditions": "sunny"}


@contextlib.asynccontextmanager
async def realtime_server(url: str | None) -> AsyncIterator[tuple[str | None, str | None]]:
    """Yield ``(url, api_key)``: ``--url`` if given, OpenAI if OPENAI_API_KEY is set, else a mock server."""
    api_key = os.environ.get("OPENAI_API_KEY")
    if url or api_key:
        yield url, api_key
        return
    async with MockRealtimeServer(profile="realistic", record=False) as mock:
        # The mock has no model: tell it when to call the tool, and what to say with the result.
        mock.script.add_tool_call("lisbon", "get_weather", {"city": "Lisbon"})
        mock.script.tool_output_reply = "Here is the weather: {output}"
        yield mock.url, "sk-mock-key-for-the-example"


async def main(url: str | None, question: str) -> None:
    async with realtime_server(url) as (server_url, api_key):
        async with RealtimeClient(url=server_url, api_key=api_key) as client:
            client.update_session(modalities=["text"], instructions="Use get_weather for weather questions.")
            client.add_tool(WEATHER_TOOL, get_weather)

            answer: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

            @client.on("conversation.item.completed")
            def show(event: dict) -> None:  # user message, function call, function output, then the answer
                item = event["item"]
                if item.get("type") == "function_call":
                    tool = item["formatted"]["tool"]
                    print(f"model calls {tool['name']}({tool['arguments']})")
                elif item.get("type") == "function_call_output":
                    print(f"tool returns {item['formatted']['output']}")
                elif item.get("role") == "assistant" and not answer.done():
                    answer.set_result(item)

            await client.wait_for_session_created()
            print(f"you: {question}")
            client.send_user_message_content([{"type": "input_text", "text": question}])
            try:
                item = await asyncio.wait_for(answer, timeout=30)
            except asyncio.TimeoutError:
                raise SystemExit("no answer within 30 s") from None
            print(f"assistant: {item['formatted']['text'] or item['formatted']['transcript']}")
            print("conversation:", " -> ".join(i["type"] for i in client.conversation.get_items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What's the weather like in Lisbon?")
    parser.add_argument("--url", help="a Realtime server or relay (default: OpenAI or the embedded mock)")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.question))
