"""A relay written the plain way, for comparison only: ``websockets`` on both sides, ``json`` in between.

Each message from either side is parsed with ``json.loads`` and sent on with ``json.dumps``,
as a relay that handles events as objects does (LiteLLM's realtime proxy, OpenAI's console
relay).  Auth is a bearer-token check; no limits, metrics or policies.  Not part of the
package.

    python bench/relay/plain_relay.py --port 8090 --upstream ws://127.0.0.1:8765/v1/realtime
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys


async def serve(host: str, port: int, upstream: str, key: str, tokens: set) -> None:
    import websockets
    from websockets.asyncio.server import serve as ws_serve

    async def handler(client) -> None:
        auth = client.request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in tokens:
            await client.close(1008, "unauthorized")
            return
        query = client.request.path.partition("?")[2]
        async with websockets.connect(f"{upstream}?{query}", additional_headers={"Authorization": f"Bearer {key}"},
                                      max_size=None, compression=None, open_timeout=60) as server:

            async def pump(source, sink) -> None:
                async for message in source:
                    event = json.loads(message)
                    await sink.send(json.dumps(event))

            tasks = [asyncio.ensure_future(pump(client, server)), asyncio.ensure_future(pump(server, client))]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with ws_serve(handler, host, port, max_size=None, compression=None, backlog=4096) as server:
        print(f"plain relay listening on ws://{host}:{server.sockets[0].getsockname()[1]}/v1/realtime", flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    tokens = {t.partition(":")[2] or t for t in os.environ.get("REALTIME_RELAY_TOKENS", "").split(",") if t}
    key = os.environ.get("OPENAI_API_KEY", "")
    coro = serve(args.host, args.port, args.upstream, key, tokens)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
