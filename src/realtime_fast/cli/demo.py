"""Run a short scripted voice conversation that shows what the client does.

Four turns against the embedded mock server (no key needed), OpenAI (when
OPENAI_API_KEY is set) or any Realtime server or relay (--url):

1. a text turn: a user message, the assistant's answer streamed back;
2. a spoken turn: a WAV file (--input-wav) or a generated speech-like
   signal streamed in 20 ms chunks at real-time pace, with the server's voice
   activity detection deciding when the user stopped speaking;
3. a tool call: the model calls get_weather, answered locally;
4. an interruption: the listener cuts the assistant off after one second of
   audio with cancel_response, which also truncates the item.

The transcript is printed as it streams; on a terminal a status line shows the
audio received (seconds, real-time factor).  At the end a summary table is
printed and every sample of assistant audio received is written to
--output-wav (PCM16, 24 kHz, mono).  Exit status: 0 success, 1 connection or
protocol failure (one line on stderr says why), 2 usage error, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._version import __version__
from ..wav import SAMPLE_RATE, read_wav, speech_like_signal, write_wav
from ._output import Console, format_ms, format_seconds
from ._session import CliFailure, JsonEventLog, SessionRunner, Target, add_connection_arguments, choose_target, get

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, upbeat voice assistant in a short demo. Answer in one or two short sentences, "
    "except when asked for a story. Use the get_weather tool for weather questions."
)
TEXT_PROMPT = "Hi! In one sentence, what can you do?"
TOOL_PROMPT = "What's the weather like in Paris right now?"
STORY_PROMPT = "Tell me a long story about a lighthouse keeper who befriends a lost whale."
CHUNK_MS = 20
INTERRUPT_AFTER_SECONDS = 1.0

# What the embedded mock says (a real model improvises its own answers).  The mock speaks
# 60 ms of audio per character at real-time pace, so these stay short.
MOCK_TEXT_REPLY = "Hi! I can talk, listen, call your tools, and stop when you interrupt."
MOCK_SPOKEN_TRANSCRIPT = "Can you hear me? I'm speaking in real time."
MOCK_SPOKEN_REPLY = "Loud and clear, twenty milliseconds at a time!"
MOCK_STORY_REPLY = (
    "Once upon a time, on a rocky island at the edge of the northern sea, there lived a lighthouse keeper "
    "named Ada. Every night she climbed the hundred and twelve steps of her tower to light the great lamp, "
    "and every morning she wrote down the ships she had seen. One foggy autumn, a young whale lost its way "
    "between the reefs, and its long, sad song drifted up to the lantern room."
)

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
        "required": ["city"],
    },
}


def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    """The demo's tool: a made-up but stable weather report for ``args["city"]``."""
    city = str(args.get("city") or "Paris")
    seed = sum(city.lower().encode())
    conditions = ("sunny", "partly cloudy", "overcast", "rainy", "windy")[seed % 5]
    return {"city": city, "temperature_c": 12 + seed % 15, "conditions": conditions, "wind_kph": 5 + seed % 20}


# --------------------------------------------------------------------------- arguments


def _input_wav(value: str) -> tuple[str, np.ndarray]:
    """argparse type for ``--input-wav``: the file read and converted to PCM16 24 kHz mono."""
    if not os.path.isfile(value):
        raise argparse.ArgumentTypeError(f"{value!r} does not exist or is not a file")
    try:
        samples = read_wav(value)
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(samples) < SAMPLE_RATE // 10:
        raise argparse.ArgumentTypeError(f"{value!r} holds less than 100 ms of audio; record at least a second of speech")
    return value, samples


def _output_wav(value: str) -> str:
    """argparse type for ``--output-wav``: a path whose folder exists."""
    folder = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist; create it or choose another path")
    if os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; give a file name such as demo-output.wav")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``demo`` options on ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    audio = parser.add_argument_group("audio")
    audio.add_argument(
        "--input-wav",
        type=_input_wav,
        metavar="PATH",
        help="WAV file to speak in the spoken turn (any PCM WAV; converted to 24 kHz mono). "
        "Default: a generated speech-like signal",
    )
    audio.add_argument(
        "--output-wav",
        type=_output_wav,
        default="demo-output.wav",
        metavar="PATH",
        help="where to write the assistant's audio (default: %(default)s)",
    )
    audio.add_argument(
        "--fast",
        action="store_true",
        help="stream the spoken turn as fast as possible and run the embedded mock 20 times faster (for tests and CI)",
    )
    add_connection_arguments(parser)


# --------------------------------------------------------------------------- the run


@dataclass
class Turn:
    """What happened in one turn (times from time.monotonic(), audio in samples)."""

    name: str
    started: float
    reply_requested: float | None = None  # when the reply was asked for (response.create or end of speech)
    first_audio: float | None = None
    last_audio: float | None = None
    audio_samples: int = 0
    status: str = ""
    interrupt_after: int = 0  # samples of assistant audio after which to cancel (0: never)
    cancel_sent: bool = False
    cancelled_item: str = ""
    cancel_samples: int = 0

    @property
    def time_to_first_audio(self) -> float | None:
        if self.first_audio is None or self.reply_requested is None:
            return None
        return max(0.0, self.first_audio - self.reply_requested)


def _int16(samples: Any) -> np.ndarray:
    """The int16 samples of a delta (numpy array, AudioBuffer, array('h') or PCM16 bytes), as a copy."""
    if isinstance(samples, np.ndarray):
        return samples.astype(np.int16, copy=True)
    view = memoryview(samples)
    if view.itemsize == 1:
        return np.frombuffer(view.tobytes(), dtype="<i2").astype(np.int16)
    return np.array(view, dtype=np.int16)


class Demo(SessionRunner):
    """One run of the demo: four turns, the console output and the statistics."""

    command = "demo"

    def __init__(self, args: argparse.Namespace, console: Console, log: JsonEventLog | None, target: Target) -> None:
        super().__init__(args, console, log, target)
        self.fast_mock = bool(args.fast)
        self.started = time.monotonic()
        self.finished: float | None = None
        self.audio_in_samples = 0
        self.audio_out_samples = 0
        self.turns: list[Turn] = []
        self.audio_chunks: list[np.ndarray] = []
        self.turn: Turn | None = None
        self.responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.streaming_item: str | None = None
        self.deferred_lines: list[str] = []
        self.speech_marks: dict[str, int] = {}
        self.truncated: asyncio.Future[dict[str, Any]] | None = None
        self.tool_calls = 0

    # ------------------------------------------------------------ helpers

    def configure_mock(self, server: Any) -> None:
        configure_mock(server)

    def _end_stream(self) -> None:
        if self.streaming_item is not None:
            self.console.stream_end()
            self.streaming_item = None
        for line in self.deferred_lines:
            self.console.line(line)
        self.deferred_lines.clear()

    def _progress(self) -> None:
        turn = self.turn
        if turn is None or turn.first_audio is None:
            return
        seconds = turn.audio_samples / SAMPLE_RATE
        elapsed = time.monotonic() - turn.first_audio
        total = self.audio_out_samples / SAMPLE_RATE
        pace = f"{seconds / elapsed:5.1f}x real time" if elapsed > 0.2 else "  ...x real time"
        self.console.status(f"  audio received: {seconds:5.2f} s this turn, {total:5.2f} s in all | {pace}")

    # ------------------------------------------------------------ event handlers

    def on_server_event(self, event_type: str, event: dict[str, Any]) -> None:
        if event_type == "response.done":
            self.responses.put_nowait(event)
        elif event_type == "input_audio_buffer.speech_started":
            self.speech_marks["start"] = int(event.get("audio_start_ms", 0))
        elif event_type == "input_audio_buffer.speech_stopped":
            self.speech_marks["stop"] = int(event.get("audio_end_ms", 0))
            if self.turn is not None and self.turn.reply_requested is None:
                self.turn.reply_requested = time.monotonic()
        elif event_type == "conversation.item.truncated":
            if self.truncated is not None and not self.truncated.done():
                self.truncated.set_result(event)

    def on_session_error(self, message: str) -> None:
        if "response_cancel_not_active" in message or "no active response" in message:
            return  # the response finished before our cancel arrived: nothing to cancel, not a failure
        # Anything else means the server refused part of the script (say, an unknown --voice):
        # stop here with its message rather than wait for a reply that will not come.
        self.server_errors.append(message)
        self.fail(f"the server refused a request: {message}")

    def on_conversation_updated(self, payload: Any) -> None:
        item = get(payload, "item") or {}
        delta = get(payload, "delta") or {}
        if not delta:
            return
        audio = get(delta, "audio")
        if audio is not None and len(audio):
            self._on_audio(item, audio)
        text = get(delta, "transcript") or get(delta, "text")
        if not text:
            return
        role = get(item, "role")
        item_id = str(get(item, "id", ""))
        if role == "user":
            line = f"you (transcribed): {text.strip()}"
            if self.streaming_item is not None:
                self.deferred_lines.append(line)
            else:
                self.console.line(line, "dim")
            return
        if self.streaming_item != item_id:
            self._end_stream()
            self.console.stream_begin("assistant", "cyan", "bold")
            self.streaming_item = item_id
        self.console.stream(text)

    def _on_audio(self, item: Any, audio: Any) -> None:
        samples = _int16(audio)
        now = time.monotonic()
        self.audio_chunks.append(samples)
        self.audio_out_samples += len(samples)
        turn = self.turn
        if turn is None:
            return
        if turn.first_audio is None:
            turn.first_audio = now
        turn.last_audio = now
        turn.audio_samples += len(samples)
        self._progress()
        if turn.interrupt_after and not turn.cancel_sent and turn.audio_samples >= turn.interrupt_after:
            self._interrupt(item, turn)

    def _interrupt(self, item: Any, turn: Turn) -> None:
        """The listener stops the assistant: cancel the response and truncate the item at what was heard."""
        turn.cancel_sent = True
        item_id = str(get(item, "id", ""))
        turn.cancelled_item = item_id
        turn.cancel_samples = turn.audio_samples
        try:
            self.client.cancel_response(item_id, turn.audio_samples)
        except Exception as exc:  # the client refused: report it as the failure it is
            self.fail(f"cancel_response({item_id!r}) failed: {exc}")

    # ------------------------------------------------------------ the script

    def header_lines(self) -> list[str]:
        from .. import IS_ACCELERATED

        if self.target.mock:
            why = "no OPENAI_API_KEY set" if not os.environ.get("OPENAI_API_KEY") else "--mock"
            where = [f"  server    embedded mock server, {self.target.url}", f"            ({why}: nothing leaves this machine)"]
        else:
            where = [f"  server    {self.target.describe()}"]
        return [
            self.console.style(f"realtime-fast {__version__} demo", "bold"),
            *where,
            f"  session   {'beta' if self.args.beta else 'GA'} protocol, model {self.args.model}, voice {self.args.voice}, "
            f"{'compiled' if IS_ACCELERATED else 'pure-Python'} core",
        ]

    async def converse(self) -> int:
        """Play the four turns, print the summary and write the WAV file."""
        args = self.args
        self.client.on("conversation.updated", self.on_conversation_updated)
        self.client.update_session(
            instructions=args.instructions or DEFAULT_INSTRUCTIONS,
            voice=args.voice,
            input_audio_transcription={"model": "whisper-1"},
            turn_detection=None,
        )
        await self.text_turn()
        await self.spoken_turn()
        await self.tool_turn()
        await self.interruption_turn()
        self.finished = time.monotonic()
        self._end_stream()
        self.console.clear_status()
        return self._finish()

    def _begin_turn(self, number: int, title: str, name: str) -> Turn:
        self._end_stream()
        self.console.clear_status()
        self.console.line()
        self.console.line(f"[{number}/4] {title}", "bold")
        turn = Turn(name=name, started=time.monotonic())
        self.turn = turn
        self.turns.append(turn)
        return turn

    def _end_turn(self, turn: Turn, response: dict[str, Any]) -> None:
        self._end_stream()
        self.console.clear_status()
        turn.status = str((response.get("response") or {}).get("status", ""))
        if turn.audio_samples:
            seconds = turn.audio_samples / SAMPLE_RATE
            span = (turn.last_audio or 0.0) - (turn.first_audio or 0.0)
            pace = f", {seconds / span:.1f}x real time" if span > 0.05 else ""
            ttfa = f", first audio after {format_ms(turn.time_to_first_audio)}" if turn.time_to_first_audio is not None else ""
            self.console.line(f"  audio: {seconds:.2f} s received in {span:.2f} s{pace}{ttfa}", "dim")

    def _say(self, text: str) -> None:
        self.console.line(f"{self.console.style('you:', 'green', 'bold')} {text}")

    async def _next_response(self, what: str) -> dict[str, Any]:
        return await self.wait(self.responses.get(), what)

    async def text_turn(self) -> None:
        turn = self._begin_turn(1, "A text turn", "text")
        self._say(TEXT_PROMPT)
        turn.reply_requested = time.monotonic()
        self.client.send_user_message_content([{"type": "input_text", "text": TEXT_PROMPT}])
        self._end_turn(turn, await self._next_response("reply to the text turn"))

    async def spoken_turn(self) -> None:
        if self.args.input_wav:
            source, samples = self.args.input_wav
            what = f"{os.path.basename(source)} ({len(samples) / SAMPLE_RATE:.1f} s)"
            samples = np.concatenate([samples, np.zeros(SAMPLE_RATE, dtype=np.int16)])  # let VAD hear the end
        else:
            samples = speech_like_signal()
            what = f"{len(samples) / SAMPLE_RATE:.1f} s of generated speech-like audio"
        pace = "as fast as possible" if self.args.fast else "real-time pace"
        turn = self._begin_turn(2, "A spoken turn (server voice activity detection)", "spoken")
        self.client.update_session(turn_detection={"type": "server_vad"})
        self.speech_marks.clear()
        self.console.line(f"{self.console.style('you:', 'green', 'bold')} <{what}, in {CHUNK_MS} ms chunks, {pace}>")
        chunk = SAMPLE_RATE * CHUNK_MS // 1000
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(samples), chunk)):
            piece = samples[offset : offset + chunk]
            self.client.append_input_audio(piece)
            self.audio_in_samples += len(piece)
            if self.args.fast:
                if index % 25 == 24:
                    await self.client.drain()
            else:
                self.console.status(f"  sending audio: {(offset + len(piece)) / SAMPLE_RATE:5.2f} s")
                delay = start + (index + 1) * CHUNK_MS / 1000 - time.monotonic()
                await asyncio.sleep(max(delay, 0.0))
            self.check()
        self.console.clear_status()
        response = await self._next_response(
            "reply to the spoken turn (the server's voice activity detection may not have heard speech in the audio)"
        )
        if "start" in self.speech_marks and "stop" in self.speech_marks:
            self.deferred_lines.insert(
                0,
                self.console.style(
                    f"  server VAD: speech from {self.speech_marks['start']} ms to {self.speech_marks['stop']} ms", "dim"
                ),
            )
        # Server VAD stays on: typed messages still work, and switching it off would make the next
        # create_response() commit the silence streamed after the speech as a user turn of its own.
        self._end_turn(turn, response)

    async def tool_turn(self) -> None:
        turn = self._begin_turn(3, "A tool call (get_weather, answered locally)", "tool")

        def handler(arguments: dict[str, Any]) -> dict[str, Any]:
            result = get_weather(arguments)
            self.tool_calls += 1
            self._end_stream()
            self.console.line(f"  {self.console.style('tool call:', 'magenta', 'bold')}   get_weather({json.dumps(arguments)})")
            self.console.line(f"  {self.console.style('tool result:', 'magenta', 'bold')} {json.dumps(result)}")
            return result

        self.client.add_tool(WEATHER_TOOL, handler)
        self._say(TOOL_PROMPT)
        turn.reply_requested = time.monotonic()
        self.client.send_user_message_content([{"type": "input_text", "text": TOOL_PROMPT}])
        response = await self._next_response("reply to the tool turn")
        output = (response.get("response") or {}).get("output") or []
        if any(get(o, "type") == "function_call" for o in output):
            # the client answers the call and asks for the next response by itself
            turn.reply_requested = time.monotonic()
            response = await self._next_response("answer after the tool result")
        self._end_turn(turn, response)

    async def interruption_turn(self) -> None:
        turn = self._begin_turn(4, f"An interruption (cancel_response after {INTERRUPT_AFTER_SECONDS:g} s of audio)", "interrupted")
        turn.interrupt_after = int(INTERRUPT_AFTER_SECONDS * SAMPLE_RATE)
        self.truncated = asyncio.get_running_loop().create_future()
        self._say(STORY_PROMPT)
        turn.reply_requested = time.monotonic()
        self.client.send_user_message_content([{"type": "input_text", "text": STORY_PROMPT}])
        response = await self._next_response("reply to the story request")
        self._end_turn(turn, response)
        if not turn.cancel_sent:
            self.console.line("  (the reply ended before one second of audio: nothing to interrupt)", "dim")
            return
        ms = turn.cancel_samples * 1000 // SAMPLE_RATE
        try:
            truncated = await self.wait(asyncio.shield(self.truncated), "conversation.item.truncated", timeout=min(5.0, self.args.timeout))
            end_ms = truncated.get("audio_end_ms", ms)
        except CliFailure:
            self.check()  # a lost connection is a failure; a missing truncation event only goes unreported
            end_ms = None
        status = turn.status or "?"
        self.console.line(
            f"  {self.console.style('interrupted:', 'yellow', 'bold')} cancel_response(\"{turn.cancelled_item}\", {turn.cancel_samples})"
        )
        self.console.line(
            f"               -> response {status}" + (f", item truncated at {end_ms} ms" if end_ms is not None else "")
        )

    # ------------------------------------------------------------ the end

    def _finish(self) -> int:
        wall = (self.finished or time.monotonic()) - self.started
        ttfas = [t.time_to_first_audio for t in self.turns if t.time_to_first_audio is not None]
        events = self.events_sent + self.events_received
        audio = np.concatenate(self.audio_chunks) if self.audio_chunks else np.zeros(0, dtype=np.int16)
        try:
            written = write_wav(self.args.output_wav, audio)
        except OSError as exc:
            raise CliFailure(f"could not write {self.args.output_wav}: {exc.strerror or exc}") from None
        ttfa_text = "-"
        if ttfas:
            ttfa_text = format_ms(ttfas[0]) + (f" (median {format_ms(statistics.median(ttfas))})" if len(ttfas) > 1 else "")
        rows = [
            ("turns", str(len(self.turns))),
            ("events sent", str(self.events_sent)),
            ("events received", str(self.events_received)),
            ("audio in", format_seconds(self.audio_in_samples / SAMPLE_RATE)),
            ("audio out", format_seconds(self.audio_out_samples / SAMPLE_RATE)),
            ("time to first audio", ttfa_text),
            ("events per second", f"{events / wall:.1f}" if wall > 0 else "-"),
            ("wall time", format_seconds(wall, 1)),
        ]
        self.console.line()
        self.console.table(rows, title="Summary")
        self.console.line(f"Assistant audio written to {self.args.output_wav} ({written / SAMPLE_RATE:.2f} s, PCM16 24 kHz mono).")
        if self.log is not None:
            self.log.write(
                {
                    "type": "demo.summary",
                    "server": self.target.url or "wss://api.openai.com/v1/realtime",
                    "mock": self.target.mock,
                    "protocol": "beta" if self.args.beta else "ga",
                    "turns": len(self.turns),
                    "events_sent": self.events_sent,
                    "events_received": self.events_received,
                    "audio_in_samples": self.audio_in_samples,
                    "audio_out_samples": self.audio_out_samples,
                    "audio_in_seconds": round(self.audio_in_samples / SAMPLE_RATE, 3),
                    "audio_out_seconds": round(self.audio_out_samples / SAMPLE_RATE, 3),
                    "time_to_first_audio_ms": [round(t * 1000, 1) for t in ttfas],
                    "events_per_second": round(events / wall, 1) if wall > 0 else None,
                    "wall_seconds": round(wall, 3),
                    "tool_calls": self.tool_calls,
                    "server_errors": self.server_errors,
                    "output_wav": os.path.abspath(self.args.output_wav),
                    "output_wav_samples": written,
                    "turn_details": [
                        {
                            "name": t.name,
                            "status": t.status,
                            "audio_samples": t.audio_samples,
                            "time_to_first_audio_ms": None if t.time_to_first_audio is None else round(t.time_to_first_audio * 1000, 1),
                            "cancelled_after_samples": t.cancel_samples if t.cancel_sent else None,
                        }
                        for t in self.turns
                    ],
                }
            )
        return 0


def configure_mock(server: Any) -> None:
    """Script the embedded mock server's side of the demo conversation (rules keyed on the user's words)."""
    script = server.script
    script.add_rule("what can you do", MOCK_TEXT_REPLY)
    script.set_transcript(MOCK_SPOKEN_TRANSCRIPT)
    script.add_rule("hear me", MOCK_SPOKEN_REPLY)
    script.add_tool_call("weather", "get_weather", {"city": "Paris"})
    report = get_weather({"city": "Paris"})
    script.tool_output_reply = f"It's {report['temperature_c']} degrees and {report['conditions']} in {report['city']} right now."
    script.add_rule("story", MOCK_STORY_REPLY)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status (0 success, 1 failure, 130 interrupted)."""
    console = Console(sys.stderr if args.json else sys.stdout)
    log = JsonEventLog(sys.stdout) if args.json else None
    return Demo(args, console, log, choose_target(args)).run()
