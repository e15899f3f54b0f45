"""Other clients of the load harness's workload, for comparison with realtime_fast.

``realtime-fast bench load`` measures this package's client.  These sessions
run the same workload (see :mod:`realtime_fast.bench.load`) for comparison:

* ``picows-bare``: the thinnest client of the workload (a picows listener,
  orjson, the compiled base64 and ``dumps_append_audio``; no conversation, no
  handler layer): the transport's own ceiling;
* ``websockets-plain``: a minimal client written for the comparison (the
  ``websockets`` library, stdlib ``json`` and ``base64``, a dict of items
  updated per event, one handler call);
* ``openai``: the official ``openai`` package's realtime client
  (``AsyncOpenAI().realtime.connect()``) pointed at the load server.

Importing this module registers them (``register_client``).  Run it as the
harness's command line with them available::

    python bench/load_rivals.py --client picows-bare --sessions 1000 --json out.json

(the options of ``realtime-fast bench load``).  They are benchmarks, not part
of the installed package.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import time
from typing import Any, Dict, Optional

from realtime_fast.bench.load import API_KEY, TS_FIELD, LagRecorder, register_client


class PlainWebsocketsSession:
    """A minimal client written for the comparison: ``websockets`` + stdlib ``json``/``base64`` + dict updates."""

    sync_append = False

    def __init__(
        self, url: str, transport: str, recorder: LagRecorder, history: Optional[int], tls: Optional[ssl.SSLContext] = None
    ) -> None:
        self.url = url + "?model=gpt-realtime"
        self.tls = tls
        self.recorder = recorder
        self.received = 0
        self.sid: Optional[str] = None
        self.items: Dict[str, Dict[str, Any]] = {}
        self.audio_bytes = 0
        self.ws: Any = None
        self.reader: Optional[asyncio.Task[None]] = None
        self._n = 0

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
            max_size=None,
            compression=None,
            open_timeout=60,
            **({"ssl": self.tls} if self.tls is not None else {}),
        )
        await self.ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["audio"],
                        "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
                    },
                }
            )
        )
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                self._on_event(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    def _on_event(self, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "response.output_audio.delta":
            item = self.items.get(event["item_id"])
            if item is not None:
                pcm = base64.b64decode(event["delta"])
                item["audio"] += pcm
                self.audio_bytes += len(pcm)
        elif kind == "response.output_audio_transcript.delta":
            item = self.items.get(event["item_id"])
            if item is not None:
                item["transcript"] += event["delta"]
        elif kind in ("conversation.item.added", "conversation.item.done"):
            raw = event["item"]
            item = self.items.setdefault(raw["id"], {"audio": bytearray(), "transcript": ""})
            item["status"] = raw.get("status")
            if len(self.items) > 50:
                self.items.pop(next(iter(self.items)))
        elif kind == "session.created":
            self.sid = event["session"]["id"]
        self._handler(event)

    def _handler(self, event: Dict[str, Any]) -> None:
        now = time.time_ns() // 1000
        self.received += 1
        sent = event.get(TS_FIELD)
        if sent is not None:
            self.recorder.window.append(now - sent)

    async def append(self, pcm: bytes) -> None:
        self._n += 1
        await self.ws.send(
            json.dumps(
                {"event_id": f"evt_{id(self):x}{self._n}", "type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}
            )
        )

    @property
    def is_open(self) -> bool:
        from websockets.protocol import State

        return self.ws is not None and self.ws.state is State.OPEN

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


class PicowsBareSession:
    """The thinnest client of this workload: the transport's own ceiling (``--client picows-bare``).

    A picows ``WSListener`` per session; ``orjson`` parses each frame; audio
    deltas are decoded by :func:`realtime_fast.audio.b64decode_pcm16` (compiled
    base64) into one ``bytearray`` per item; appends are built by
    :func:`realtime_fast.events.dumps_append_audio` with event ids from a
    counter and written with one ``WSTransport.send`` each.  No conversation,
    no event handler layer, no input-audio copy: what is left is picows, the
    kernel and the few calls any client of this protocol must make.
    """

    sync_append = True

    def __init__(
        self, url: str, transport: str, recorder: LagRecorder, history: Optional[int], tls: Optional[ssl.SSLContext] = None
    ) -> None:
        import itertools

        import orjson
        from picows import WSListener, WSMsgType

        from realtime_fast.audio import b64decode_pcm16
        from realtime_fast.events import dumps_append_audio

        self.url = url + "?model=gpt-realtime"
        self.tls = tls
        self.recorder = recorder
        self.received = 0
        self.audio_bytes = 0
        self.transcript_chars = 0
        self.sid: Optional[str] = None
        self.items: Dict[str, bytearray] = {}
        self.ws: Any = None
        self._dumps_append = dumps_append_audio
        ids = itertools.count(1)
        prefix = f"evt_{id(self):x}_"
        self._next_id = lambda: prefix + str(next(ids))
        session = self
        text, close = WSMsgType.TEXT, WSMsgType.CLOSE
        loads = orjson.loads
        window_of = recorder  # the recorder's window list is swapped each second: look it up per event
        time_ns = time.time_ns
        items = self.items

        class Listener(WSListener):  # one per session
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                kind = frame.msg_type
                if kind == text:
                    event = loads(frame.get_payload_as_memoryview())
                    etype = event["type"]
                    if etype == "response.output_audio.delta":
                        buf = items.get(event["item_id"])
                        if buf is not None:
                            pcm = b64decode_pcm16(event["delta"])
                            buf += pcm
                            session.audio_bytes += len(pcm)
                    elif etype == "response.output_audio_transcript.delta":
                        session.transcript_chars += len(event["delta"])
                    elif etype == "conversation.item.added":
                        items[event["item"]["id"]] = bytearray()
                        if len(items) > 20:
                            del items[next(iter(items))]
                    elif etype == "session.created":
                        session.sid = event["session"]["id"]
                    session.received += 1
                    sent = event.get(TS_FIELD)
                    if sent is not None:
                        window_of.window.append(time_ns() // 1000 - sent)
                elif kind == close:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()

        self._listener = Listener

    async def connect(self) -> None:
        import orjson
        from picows import WSMsgType, ws_connect

        self.ws, _ = await ws_connect(
            self._listener,
            self.url,
            extra_headers=[("Authorization", f"Bearer {API_KEY}")],
            websocket_handshake_timeout=60,
            enable_auto_pong=True,
            ssl_context=self.tls,
        )
        self._send = self.ws.send
        self._text = WSMsgType.TEXT
        update = {
            "event_id": self._next_id(),
            "type": "session.update",
            "session": {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}},
        }
        self._send(self._text, orjson.dumps(update))

    def append(self, pcm: bytes) -> None:
        self._send(self._text, self._dumps_append(pcm, self._next_id()))

    @property
    def is_open(self) -> bool:
        return self.ws is not None and not self.ws.is_disconnected

    async def close(self) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected:
            return
        ws.send_close()
        try:
            await asyncio.wait_for(ws.wait_disconnected(), 5.0)
        except asyncio.TimeoutError:
            ws.disconnect()
            await ws.wait_disconnected()


class OpenAISession:
    """The official ``openai`` package's realtime client, pointed at the load server."""

    sync_append = False

    def __init__(
        self, url: str, transport: str, recorder: LagRecorder, history: Optional[int], tls: Optional[ssl.SSLContext] = None
    ) -> None:
        from openai import AsyncOpenAI

        base = url.rsplit("/realtime", 1)[0]  # ws://host:port/v1 or wss://...
        http_base = base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        self.openai = AsyncOpenAI(api_key=API_KEY, websocket_base_url=base, base_url=http_base)
        self.tls = tls
        self.recorder = recorder
        self.received = 0
        self.sid: Optional[str] = None
        self.audio_bytes = 0
        self.items: Dict[str, Dict[str, Any]] = {}
        self.manager: Any = None
        self.conn: Any = None
        self.reader: Optional[asyncio.Task[None]] = None
        self._open = False

    async def connect(self) -> None:
        options: Dict[str, Any] = {"ssl": self.tls} if self.tls is not None else {}
        self.manager = self.openai.realtime.connect(model="gpt-realtime", websocket_connection_options=options)  # type: ignore[arg-type]
        self.conn = await self.manager.__aenter__()
        self._open = True
        await self.conn.session.update(
            session={"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
        )
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.conn:
                kind = event.type
                if kind == "response.output_audio.delta":
                    item = self.items.get(event.item_id)
                    if item is not None:
                        pcm = base64.b64decode(event.delta)
                        item["audio"] += pcm
                        self.audio_bytes += len(pcm)
                elif kind == "response.output_audio_transcript.delta":
                    item = self.items.get(event.item_id)
                    if item is not None:
                        item["transcript"] += event.delta
                elif kind in ("conversation.item.added", "conversation.item.done"):
                    self.items.setdefault(event.item.id, {"audio": bytearray(), "transcript": ""})
                    if len(self.items) > 50:
                        self.items.pop(next(iter(self.items)))
                elif kind == "session.created":
                    self.sid = event.session.id
                now = time.time_ns() // 1000
                self.received += 1
                extra = event.model_extra or {}
                sent = extra.get(TS_FIELD)
                if sent is not None:
                    self.recorder.window.append(now - sent)
        except Exception:  # the connection closed (the package raises its own error types)
            pass
        finally:
            self._open = False

    async def append(self, pcm: bytes) -> None:
        await self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

    @property
    def is_open(self) -> bool:
        return self._open

    async def close(self) -> None:
        if self.manager is not None:
            try:
                await self.manager.__aexit__(None, None, None)
            except Exception:
                pass
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.openai.close()


register_client("picows-bare", PicowsBareSession, "picows")
register_client("websockets-plain", PlainWebsocketsSession, "websockets")
register_client("openai", OpenAISession, "websockets")


def main(argv: Optional[list] = None) -> int:
    """``realtime-fast bench load`` with the comparison clients registered (same options)."""
    from realtime_fast.cli import main as cli_main

    return cli_main(["bench", "load", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
