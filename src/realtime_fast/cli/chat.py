"""Chat with the model (or the embedded mock server) by text, one line per message.

Type a message and press Enter; the reply streams back as it is generated.
Lines can also be piped in (echo hello | realtime-fast chat): each line is
one message, and the chat ends at the end of the input.  With --audio the
model answers with speech too (its transcript is printed); --save-audio DIR
writes every spoken reply to DIR/reply-001.wav, reply-002.wav, ...
(PCM16, 24 kHz, mono) and /save PATH writes the last one anywhere.

Commands: /save [PATH], /help, /quit (or end of input, Ctrl-D).
Exit status: 0 success, 1 connection or protocol failure, 2 usage error,
130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from typing import Any

from ..wav import SAMPLE_RATE, write_wav
from ._output import Console, stream_is_terminal
from ._session import JsonEventLog, SessionRunner, Target, add_connection_arguments, choose_target, get

HELP = "/save [PATH]: write the last spoken reply to a WAV file (default last-reply.wav); /help; /quit or Ctrl-D"


def _folder(value: str) -> str:
    """argparse type for ``--save-audio``: an existing folder, or one that can be created."""
    if os.path.exists(value) and not os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value!r} exists and is not a folder")
    parent = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(value) and not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot create {value!r}: folder {parent!r} does not exist")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``chat`` options on ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    audio = parser.add_argument_group("audio")
    audio.add_argument("--audio", action="store_true", help="ask for spoken replies too (their transcript is printed)")
    audio.add_argument(
        "--save-audio",
        type=_folder,
        metavar="DIR",
        help="write every spoken reply to DIR/reply-NNN.wav (implies --audio)",
    )
    audio.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)  # the mock's fast profile (tests)
    add_connection_arguments(parser)


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Feed stdin's lines into ``queue`` (None at the end); runs in a daemon thread so a blocked read never holds up exit."""

    def put(item: str | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop already closed: the chat is over
            pass

    try:
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            put(line)
    except (OSError, ValueError):
        pass
    put(None)


class Chat(SessionRunner):
    """The interactive text chat."""

    command = "chat"

    def __init__(self, args: argparse.Namespace, console: Console, log: JsonEventLog | None, target: Target) -> None:
        super().__init__(args, console, log, target)
        self.fast_mock = bool(args.fast)
        self.audio = bool(args.audio or args.save_audio)
        self.responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.streaming_item: str | None = None
        self.reply_audio: list[bytes] = []
        self.last_audio: bytes = b""
        self.saved = 0
        self.interactive = stream_is_terminal(sys.stdin) and console.terminal

    def header_lines(self) -> list[str]:
        protocol = "beta" if self.args.beta else "GA"
        lines = [
            f"realtime-fast chat: {self.target.describe()}",
            f"{protocol} protocol, model {self.args.model}, {'text and audio' if self.audio else 'text'} replies"
            + ("; /help for commands" if self.interactive else ""),
        ]
        return [self.console.style(line, "dim") for line in lines]

    def on_server_event(self, event_type: str, event: dict[str, Any]) -> None:
        if event_type == "response.done":
            self.responses.put_nowait(event)

    def on_session_error(self, message: str) -> None:
        self._end_stream()
        super().on_session_error(message)

    def _end_stream(self) -> None:
        if self.streaming_item is not None:
            self.console.stream_end()
            self.streaming_item = None

    def on_conversation_updated(self, payload: Any) -> None:
        item = get(payload, "item") or {}
        delta = get(payload, "delta") or {}
        if not delta or get(item, "role") != "assistant":
            return
        audio = get(delta, "audio")
        if audio is not None and len(audio):
            self.reply_audio.append(bytes(audio))
        text = get(delta, "text") or get(delta, "transcript")
        if text:
            item_id = str(get(item, "id", ""))
            if self.streaming_item != item_id:
                self._end_stream()
                self.console.stream_begin("assistant", "cyan", "bold")
                self.streaming_item = item_id
            self.console.stream(text)

    def _save(self, path: str) -> None:
        if not self.last_audio:
            self.console.line("(no spoken reply yet: start the chat with --audio to get one)", "dim")
            return
        try:
            written = write_wav(path, self.last_audio)
        except OSError as exc:
            self.console.error(f"could not write {path}: {exc.strerror or exc}")
            return
        self.console.line(f"(saved {written / SAMPLE_RATE:.2f} s of audio to {path})", "dim")

    async def converse(self) -> int:
        client = self.client
        client.on("conversation.updated", self.on_conversation_updated)
        config: dict[str, Any] = {"modalities": ["text", "audio"] if self.audio else ["text"], "voice": self.args.voice}
        if self.args.instructions:
            config["instructions"] = self.args.instructions
        client.update_session(**config)
        if self.args.save_audio:
            os.makedirs(self.args.save_audio, exist_ok=True)

        lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_stdin_lines, args=(asyncio.get_running_loop(), lines), daemon=True, name="chat-stdin").start()
        while True:
            if self.interactive:
                self.console.prompt(self.console.style("you> ", "green", "bold"))
            line = await self.wait(lines.get(), "input", timeout=365 * 24 * 3600.0)
            self.console.prompt_answered()
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                command, _, rest = text.partition(" ")
                if command in ("/quit", "/exit"):
                    break
                if command == "/help":
                    self.console.line(HELP, "dim")
                elif command == "/save":
                    self._save(rest.strip() or "last-reply.wav")
                else:
                    self.console.line(f"unknown command {command!r}; {HELP}", "dim")
                continue
            if not self.interactive:
                self.console.line(f"{self.console.style('you:', 'green', 'bold')} {text}")
            self.reply_audio = []
            client.send_user_message_content([{"type": "input_text", "text": text}])
            response = await self.wait(self.responses.get(), "reply")
            self._end_stream()
            status = str((response.get("response") or {}).get("status", ""))
            if status and status != "completed":
                self.console.line(f"(reply {status})", "dim")
            if self.reply_audio:
                self.last_audio = b"".join(self.reply_audio)
                if self.args.save_audio:
                    self.saved += 1
                    self._save(os.path.join(self.args.save_audio, f"reply-{self.saved:03d}.wav"))
        self._end_stream()
        return 0


def run(args: argparse.Namespace) -> int:
    """Run the chat; returns the exit status (0 success, 1 failure, 130 interrupted)."""
    console = Console(sys.stderr if args.json else sys.stdout)
    log = JsonEventLog(sys.stdout) if args.json else None
    return Chat(args, console, log, choose_target(args)).run()
