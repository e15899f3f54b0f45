"""A relay that owns the session and runs a tool itself; a client that only talks.

The relay (``RealtimeRelay``) holds the API key, sets the instructions and the
``get_weather`` tool on every session, locks them, and answers the model's
tool calls on the server; the client connects to the relay with a relay token
and sees the call and its result, but could not forge either.

    python examples/relay_tools.py "Is it sunny in Lisbon?"

With no OPENAI_API_KEY the relay talks to an embedded mock server (scripted to
call the tool); with it, to OpenAI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets

from realtime_fast import RealtimeClient
from realtime_fast.relay import RealtimeRelay, SessionPolicy

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def get_weather(args: dict) -> dict:
    """Runs on the relay: the browser never sees this code or what it calls."""
    return {"city": args.get("city"), "temperature_c": 21, "conditions": "sunny"}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Is it sunny in Lisbon?")
    args = parser.parse_args()
    key = os.environ.get("OPENAI_API_KEY")
    token = "tok_" + secrets.token_hex(8)  # what a browser would hold instead of the key
    policy = SessionPolicy({"instructions": "Answer weather questions with the get_weather tool."}, lock=True)
    relay = RealtimeRelay(
        "wss://api.openai.com/v1/realtime" if key else None, api_key=key, port=0,
        tokens={token: "example-user"}, session=policy, tools=[(WEATHER, get_weather)],
    )
    async with relay:
        if relay.mock is not None:
            relay.mock.script.add_tool_call(re.compile("weather|sunny|rain", re.I), "get_weather", {"city": "Lisbon"})
        # RealtimeClient sends its whole session config on connect; the locked relay refuses the
        # fields it owns (instructions, tools) with an error event, and the server's session stays.
        # It also answers every function call itself (with an error, for a tool it does not have):
        # the relay refuses that answer, and the client's response.create then meets the relay's
        # own response (conversation_already_has_active_response). All harmless.
        client = RealtimeClient(relay.url, api_key=token)
        done = asyncio.Event()
        responses = []

        def on_event(event: dict) -> None:
            if event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
                print(f"model calls {event['item']['name']}({event['item']['arguments']}) -- run by the relay")
            elif event["type"] in ("conversation.item.added", "conversation.item.created") and event["item"]["type"] == "function_call_output":
                print(f"the relay answers: {event['item']['output']}")
            elif event["type"] == "error":
                print(f"error event ({event['error']['code']}): {event['error']['message']}")
            elif event["type"] == "response.done":
                responses.append(event)
                if not any(o["type"] == "function_call" for o in event["response"]["output"]):
                    done.set()

        client.realtime.on("server.*", on_event)
        await client.connect()
        await client.wait_for_session_created()
        client.send_user_message_content([{"type": "input_text", "text": args.question}])
        await asyncio.wait_for(done.wait(), 30)
        answer = client.conversation.get_items()[-1]["formatted"]
        print(f"assistant: {answer['text'] or answer['transcript']}")
        await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
