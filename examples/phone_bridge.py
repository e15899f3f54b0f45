"""A phone bridge: each call of a Twilio Media Streams WebSocket talks to its own Realtime session.

    python examples/phone_bridge.py                       # listen on ws://127.0.0.1:8765
    python examples/phone_bridge.py --host 0.0.0.0 --port 8080
    python examples/phone_bridge.py --url ws://127.0.0.1:9000/v1/realtime
    python examples/phone_bridge.py --demo                # one simulated call, a summary, then exit

The carrier connects to this server once per call and speaks Media Streams'
JSON text frames: ``connected``, ``start`` (the stream and call ids and the
media format, μ-law at 8 kHz), ``media`` (base64 μ-law, 20 ms per frame),
``mark`` (the echo of a mark the bridge sent, once the audio before it has
been played) and ``stop``.  The bridge answers with ``media`` frames of the
assistant's voice, a ``mark`` after each of them, and ``clear`` when the
caller interrupts.

The Realtime session is G.711 μ-law both ways, so nothing is resampled: the
caller's bytes go to the model as they came, and the model's samples go to
the phone as they came, in μ-law cut into 20 ms frames;
``keep_item_audio=False`` because a bridge forwards audio and never reads it
back.  On an interruption (server VAD hears the caller while the assistant
speaks) the bridge tells the phone to drop what it has buffered (``clear``)
and cancels the response, truncating the assistant's item to what the phone
confirmed it played (the marks it echoed): the model's memory of the
conversation then ends where the caller stopped listening, and the
truncation can never ask for audio the service did not send.  The session's
``interrupt_response`` is off: the bridge cancels the response itself, so
its ``response.cancel`` always finds the response running.

With OPENAI_API_KEY set it connects to OpenAI; without it (and without
``--url``) it starts the package's mock Realtime server in the process.
Behind a real carrier, put it behind a TLS terminator and point the call's
``<Connect><Stream url="wss://...">`` at it.  Ctrl-C closes every call's
session and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import os
import signal
from typing import Any, AsyncIterator, Dict, Optional

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from realtime_fast import RealtimeClient
from realtime_fast.audio import PlaybackTracker, pcm16_to_ulaw
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport.loops import run

log = logging.getLogger("phone_bridge")

#: Bytes of μ-law in one 20 ms frame at 8 kHz (one byte per sample): the size of the media frames sent to the phone.
FRAME_BYTES = 160
#: The largest frame accepted from the phone, bytes (a 20 ms media frame is about 300).
MAX_FRAME_BYTES = 64 * 1024
INSTRUCTIONS = "You answer phone calls. Be brief and friendly; speak in short sentences."


class BadFrame(ValueError):
    """A frame from the phone that the bridge cannot use (it is logged and skipped; the call goes on)."""


def parse_frame(raw: Any) -> Dict[str, Any]:
    """One Media Streams frame as a dict with a string ``event``; raises :class:`BadFrame` saying what is wrong."""
    if not isinstance(raw, str):
        raise BadFrame(f"a binary frame of {len(raw)} bytes: Media Streams sends JSON text frames only.")
    try:
        message = json.loads(raw)
    except ValueError:
        raise BadFrame(f"not JSON: {raw[:60]!r}.") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise BadFrame(f"a JSON {type(message).__name__} without a string 'event' field: {raw[:60]!r}.")
    return message


def media_payload(message: Dict[str, Any]) -> bytes:
    """The μ-law bytes of a ``media`` frame; raises :class:`BadFrame` when ``media.payload`` is not base64 text."""
    media = message["media"] if isinstance(message.get("media"), dict) else {}
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise BadFrame("a media frame without a 'media.payload' string.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadFrame("a media frame whose payload is not base64.") from None


def check_media_format(message: Dict[str, Any]) -> str:
    """The stream id of a ``start`` frame; raises :class:`BadFrame` unless it announces mono μ-law at 8 kHz."""
    start = message.get("start")
    if not isinstance(start, dict):
        raise BadFrame("a start frame without a 'start' object.")
    stream_sid = message.get("streamSid") or start.get("streamSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise BadFrame("a start frame without a streamSid.")
    fmt = start.get("mediaFormat")
    if not isinstance(fmt, dict):
        fmt = {}
    encoding, rate, channels = fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels", 1)
    if (encoding, rate, channels) != ("audio/x-mulaw", 8000, 1):
        raise BadFrame(
            f"media format {encoding!r} at {rate!r} Hz, {channels!r} channel(s): this bridge carries mono audio/x-mulaw at 8000 Hz."
        )
    return stream_sid


class PhoneCall:
    """One call: the phone's WebSocket, its Realtime session, and what the phone has played.

    ``pending`` maps the name of each mark sent to the phone and not echoed
    yet to ``(item_id, samples)``: the audio sent just before it.  An echoed
    mark moves its samples to :attr:`tracker`, which therefore counts only
    audio the phone confirmed it played.
    """

    def __init__(self, bridge: PhoneBridge, ws: ServerConnection) -> None:
        self.bridge = bridge
        self.ws = ws
        self.stream_sid: Optional[str] = None
        self.call_sid: Optional[str] = None
        self.client: Optional[RealtimeClient] = None
        self.tracker = PlaybackTracker("g711_ulaw")
        self.pending: Dict[str, tuple[str, int]] = {}
        self.cut: set[str] = set()  # assistant items interrupted: their late deltas are not sent
        self.last_item: Optional[str] = None  # the assistant item whose audio went to the phone last
        self.active_response: Optional[str] = None
        self.outbox: asyncio.Queue[Optional[Dict[str, Any]]] = asyncio.Queue()
        self._marks = itertools.count(1)
        #: Counters of this call: frames in, audio in and out (bytes of μ-law), marks, interruptions, bad frames.
        self.stats = {"media_in": 0, "bytes_in": 0, "media_out": 0, "bytes_out": 0, "marks_confirmed": 0, "clears": 0, "bad_frames": 0}

    @property
    def name(self) -> str:
        return self.call_sid or self.stream_sid or f"connection {id(self.ws):x}"

    # -- the phone's side ------------------------------------------------------------

    async def run(self) -> None:
        """Serve the call until the phone sends ``stop`` or hangs up; the Realtime session is closed in any case."""
        writer = asyncio.create_task(self._write())
        try:
            async for raw in self.ws:
                try:
                    if await self.on_frame(parse_frame(raw)):
                        break
                except BadFrame as exc:
                    self.stats["bad_frames"] += 1
                    log.warning("call %s: frame skipped: %s", self.name, exc)
        except ConnectionClosed:
            pass
        finally:
            await self.close()
            self.outbox.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)

    async def on_frame(self, message: Dict[str, Any]) -> bool:
        """Act on one frame; returns True when the call is over (``stop``)."""
        event = message["event"]
        if event == "media":
            if self.client is None:
                raise BadFrame("a media frame before the start frame.")
            payload = media_payload(message)
            if message["media"].get("track", "inbound") != "inbound":
                return False  # the bridge's own audio, echoed by a carrier streaming both tracks
            self.stats["media_in"] += 1
            self.stats["bytes_in"] += len(payload)
            if payload:
                self.client.append_input_audio(payload)  # μ-law as the phone sent it
        elif event == "mark":
            mark = message.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str):
                raise BadFrame("a mark frame without a 'mark.name' string.")
            played = self.pending.pop(name, None)
            if played is not None:  # unknown names: marks of audio a clear dropped
                self.tracker.played(*played)
                self.stats["marks_confirmed"] += 1
        elif event == "start":
            if self.client is not None:
                raise BadFrame("a second start frame on the same call.")
            try:
                stream_sid = check_media_format(message)
            except BadFrame as exc:
                log.error("call refused: %s", exc)
                await self.ws.close(1003, "unsupported media format")
                return True
            self.stream_sid = stream_sid
            start = message["start"]
            self.call_sid = start.get("callSid") if isinstance(start.get("callSid"), str) else None
            await self.open_session()
        elif event == "stop":
            log.info("call %s: stopped by the phone (%s)", self.name, self._summary())
            return True
        elif event != "connected":
            log.debug("call %s: %s frame ignored", self.name, event)
        return False

    async def _write(self) -> None:
        """Send the outbox to the phone, in order (handlers of the Realtime session only queue)."""
        while True:
            message = await self.outbox.get()
            if message is None:
                return
            try:
                await self.ws.send(json.dumps(message, separators=(",", ":")))
            except ConnectionClosed:
                return

    def _send(self, message: Dict[str, Any]) -> None:
        message["streamSid"] = self.stream_sid
        self.outbox.put_nowait(message)

    # -- the Realtime side -----------------------------------------------------------

    async def open_session(self) -> None:
        """Connect this call's Realtime session: G.711 μ-law both ways, server VAD, items without audio."""
        bridge = self.bridge
        client = RealtimeClient(bridge.upstream_url, bridge.api_key, transport=bridge.transport, keep_item_audio=False)
        client.on("conversation.updated", self._on_updated)
        client.on("conversation.interrupted", self._on_interrupted)
        client.on("error", lambda event: log.warning("call %s: realtime error: %s", self.name, event.get("message")))
        client.realtime.on("server.response.created", self._on_response_created)
        client.realtime.on("server.response.done", self._on_response_done)
        try:
            await client.connect()
        except Exception as exc:  # the caller hears nothing; the operator reads why
            log.error("call %s: the Realtime session could not connect: %s", self.name, exc)
            await self.ws.close(1011, "assistant unavailable")
            return
        client.update_session(
            input_audio_format="g711_ulaw",
            output_audio_format="g711_ulaw",
            modalities=["audio"],
            instructions=bridge.instructions,
            turn_detection={"type": "server_vad", "interrupt_response": False},
        )
        self.client = client
        log.info("call %s: connected to the assistant", self.name)

    async def close(self) -> None:
        """Close the Realtime session (idempotent)."""
        client, self.client = self.client, None
        if client is not None:
            await client.disconnect()

    def _on_response_created(self, event: Dict[str, Any]) -> None:
        self.active_response = event["response"]["id"]

    def _on_response_done(self, event: Dict[str, Any]) -> None:
        if self.active_response == event["response"]["id"]:
            self.active_response = None

    def _on_updated(self, event: Dict[str, Any]) -> None:
        """Forward new assistant audio to the phone as μ-law: 20 ms media frames, each followed by a mark."""
        delta = event["delta"]
        item = event["item"]
        if not delta or "audio" not in delta or item.get("role") != "assistant" or item["id"] in self.cut:
            return
        # The client hands out the μ-law it received as 8 kHz PCM16; encoding it again gives the model's
        # samples exactly (μ-law's two codes of silence, 0x7F and 0xFF, both come back as 0xFF).
        ulaw = pcm16_to_ulaw(delta["audio"])
        item_id = item["id"]
        self.last_item = item_id
        for start in range(0, len(ulaw), FRAME_BYTES):
            frame = ulaw[start : start + FRAME_BYTES]
            name = f"m{next(self._marks)}"
            self.pending[name] = (item_id, len(frame))  # one byte per sample
            self._send({"event": "media", "media": {"payload": base64.b64encode(frame).decode("ascii")}})
            self._send({"event": "mark", "mark": {"name": name}})
            self.stats["media_out"] += 1
            self.stats["bytes_out"] += len(frame)

    def _on_interrupted(self, event: Dict[str, Any]) -> None:
        """The caller speaks: drop the phone's buffered audio, cancel the answer, truncate it to what was heard."""
        client = self.client
        if client is None:
            return
        unplayed = bool(self.pending)
        if unplayed:
            self._send({"event": "clear"})
            self.pending.clear()  # their marks may still come back: they no longer count
            self.stats["clears"] += 1
        item_id = self.last_item
        running = self.active_response
        self.active_response = None  # cancelled below; a second speech_started must not cancel again
        if item_id is not None and item_id not in self.cut:
            response = client.conversation.response_of_item(item_id)
            item_running = running is not None and response is not None and response.get("id") == running
            if unplayed or item_running:
                self.cut.add(item_id)
                try:
                    # Cancels the response when it still runs, and truncates at the samples the phone confirmed
                    # (none confirmed: a cancel only, since a truncation at 0 ms is refused).
                    client.cancel_response(item_id, self.tracker.samples_played(item_id))
                except ValueError as exc:  # the item left the conversation already
                    log.warning("call %s: could not truncate item %s: %s", self.name, item_id, exc)
                if item_running:
                    running = None
        if running is not None:  # a response with no audio at the phone yet
            client.cancel_response()
        self.tracker.reset()

    def _summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.stats.items())


class PhoneBridge:
    """The WebSocket server's handler: one :class:`PhoneCall` (and one Realtime session) per connection.

    Args:
        upstream_url: the Realtime server (None: OpenAI).
        api_key: its key.
        transport: the RealtimeClient transport (``"auto"``, ``"picows"`` or ``"websockets"``).
        instructions: the assistant's instructions for every call.
    """

    def __init__(
        self, upstream_url: Optional[str], api_key: Optional[str], *, transport: str = "auto", instructions: str = INSTRUCTIONS
    ) -> None:
        self.upstream_url = upstream_url
        self.api_key = api_key
        self.transport = transport
        self.instructions = instructions
        #: Calls in progress, by connection.
        self.calls: Dict[int, PhoneCall] = {}
        self.calls_total = 0

    async def handle(self, ws: ServerConnection) -> None:
        """Serve one phone connection (the handler given to ``websockets.serve``)."""
        call = PhoneCall(self, ws)
        self.calls[id(call)] = call
        self.calls_total += 1
        try:
            await call.run()
        except Exception:  # one call's failure is logged and never reaches the other calls
            log.exception("call %s failed", call.name)
        finally:
            del self.calls[id(call)]

    def serve(self, host: str = "127.0.0.1", port: int = 8765) -> Any:
        """``websockets.serve`` for this bridge: an async context manager yielding the listening :class:`Server`."""
        return serve(self.handle, host, port, max_size=MAX_FRAME_BYTES, compression=None)


@contextlib.asynccontextmanager
async def upstream_server(url: Optional[str]) -> AsyncIterator[tuple[Optional[str], Optional[str]]]:
    """Yield ``(url, api_key)`` of the Realtime server: ``--url``, OpenAI with OPENAI_API_KEY, else an embedded mock."""
    api_key = os.environ.get("OPENAI_API_KEY")
    if url or api_key:
        yield url, api_key
        return
    async with MockRealtimeServer(profile="fast", record=False) as mock:
        mock.pacing.audio_realtime_factor = 1.0  # the answer streams at the pace a phone plays it
        yield mock.url, "sk-mock-key-for-the-phone-bridge"


async def demo_call(bridge_url: str) -> str:
    """Call the bridge like a carrier would: say something, play the answer (echoing its marks), hang up; returns a summary."""
    from realtime_fast.audio import pcm16_to_ulaw as encode
    from realtime_fast.mock.synth import speech_pcm16

    speech = encode(speech_pcm16("hello, is anyone there?", 40.0, 8000)) + b"\xff" * 8000  # then 1 s of silence
    sid = "MZdemo"
    received = marks = 0
    async with ws_connect(bridge_url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {"streamSid": sid, "callSid": "CAdemo", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        for i in range(0, len(speech), FRAME_BYTES):
            payload = base64.b64encode(speech[i : i + FRAME_BYTES]).decode()
            await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {"track": "inbound", "payload": payload}}))
        while True:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 1.5))
            except asyncio.TimeoutError:  # the answer has ended
                break
            if message["event"] == "media":
                received += len(base64.b64decode(message["media"]["payload"]))
            elif message["event"] == "mark":  # "played" at once
                marks += 1
                await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": message["mark"]}))
        await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": "CAdemo"}}))
    return f"demo call: said {len(speech) // 8} ms, heard {received // 8} ms of μ-law answer in {marks} marked frames"


async def main(args: argparse.Namespace) -> None:
    # Ctrl-C is caught from here on, before "listening" is printed: a signal that comes right after that
    # line must still close the bridge in order, not interrupt it halfway.
    stop = _stop_on_signals()
    async with upstream_server(args.url) as (upstream_url, api_key):
        bridge = PhoneBridge(upstream_url, api_key, transport=args.transport)
        async with bridge.serve(args.host, args.port) as server:
            port = server.sockets[0].getsockname()[1] if server.sockets else args.port
            url = f"ws://{args.host}:{port}"
            print(f"phone bridge listening on {url} (assistant: {upstream_url or 'OpenAI'})", flush=True)
            if args.demo:
                print(await demo_call(url), flush=True)
                return
            await stop.wait()
            in_progress = len(bridge.calls)
        # Leaving ``serve`` closed every phone connection and waited for their calls to close their sessions.
        print(f"phone bridge stopped: {in_progress} call(s) in progress closed, {bridge.calls_total} served", flush=True)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM (Ctrl-C); the ``async with`` blocks then close every call."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
            loop.add_signal_handler(signum, stop.set)
    return stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0: a free one)")
    parser.add_argument("--url", help="Realtime server (default: OpenAI with OPENAI_API_KEY, else an embedded mock)")
    parser.add_argument("--transport", default="auto", choices=("auto", "picows", "websockets"), help="RealtimeClient transport")
    parser.add_argument("--demo", action="store_true", help="place one simulated call, print what it heard, and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every call's events")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        run(main(args), loop="auto")
