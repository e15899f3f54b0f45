"""What the ``demo`` and ``chat`` subcommands share: options, the server to talk to, failures, the JSON log.

Server selection (the same rule everywhere): ``--url`` when given (a relay or
another Realtime server; the key in ``OPENAI_API_KEY``, if any, is sent to
it); otherwise OpenAI when ``OPENAI_API_KEY`` is set; otherwise (or with
``--mock``) a mock server started inside the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import IO, Any, AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import orjson

from .._version import __version__

#: Where the real service lives (what the client uses when ``url`` is None).
OPENAI_URL = "wss://api.openai.com/v1/realtime"

#: The key sent to the embedded mock server (it refuses a missing key, as the service does).
MOCK_API_KEY = "sk-mock-realtime-fast-demo"

#: Fields that carry base64 audio, per event type; the JSON log replaces them by their decoded size.
_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.audio.delta": "delta",
    "response.output_audio.delta": "delta",
}


class CliFailure(Exception):
    """A connection or protocol failure: the CLI prints the message as one line and exits with 1."""


def ws_url(value: str) -> str:
    """argparse type for ``--url``: a ``ws://`` or ``wss://`` address (``http(s)://`` is mapped to ``ws(s)://``)."""
    parts = urlsplit(value)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not a WebSocket address; use ws://host:port/path or wss://host/path")
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def positive_float(value: str) -> float:
    """argparse type: a number of seconds greater than zero."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than zero")
    return number


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every talking subcommand has: where to connect, protocol, model, voice, output modes."""
    where = parser.add_argument_group("server")
    where.add_argument(
        "--url",
        type=ws_url,
        metavar="URL",
        help="Realtime endpoint or relay to use (ws:// or wss://); OPENAI_API_KEY, if set, is sent to it. "
        "Default: OpenAI when OPENAI_API_KEY is set, otherwise an embedded mock server",
    )
    where.add_argument("--mock", action="store_true", help="use the embedded mock server even when OPENAI_API_KEY is set")
    where.add_argument("--beta", action="store_true", help="speak the 2024 beta protocol instead of GA")
    where.add_argument("--model", default="gpt-realtime", help="model name (default: %(default)s)")
    where.add_argument(
        "--transport",
        choices=("auto", "websockets", "picows"),
        default="auto",
        help="WebSocket backend (default: %(default)s, picows when installed)",
    )
    where.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop (default: %(default)s, uvloop when installed)",
    )
    where.add_argument(
        "--timeout", type=positive_float, default=30.0, metavar="SECONDS", help="how long to wait for the server at each step (default: %(default)s)"
    )
    session = parser.add_argument_group("session")
    session.add_argument("--voice", default="verse", help="assistant voice (default: %(default)s)")
    session.add_argument("--instructions", default=None, metavar="TEXT", help="system instructions for the model")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="write a machine-readable event log (JSON lines) on stdout; the conversation goes to stderr")
    out.add_argument("--debug", action="store_true", help="log every event sent and received")
    parser.add_argument("--version", action="version", version=f"realtime-fast {__version__}")


@dataclass
class Target:
    """The server a subcommand talks to."""

    url: str | None  # None: OpenAI (the client's default address)
    api_key: str | None
    mock: bool  # start an embedded mock server (url is filled in once it runs)

    def describe(self) -> str:
        if self.mock:
            return f"embedded mock server at {self.url}" if self.url else "embedded mock server"
        return self.url or OPENAI_URL


def choose_target(args: argparse.Namespace) -> Target:
    """Pick the server from ``--url``, ``--mock`` and ``OPENAI_API_KEY`` (see the module docstring)."""
    key = os.environ.get("OPENAI_API_KEY") or None
    if args.url:
        return Target(url=args.url, api_key=key, mock=False)
    if key and not args.mock:
        return Target(url=None, api_key=key, mock=False)
    return Target(url=None, api_key=MOCK_API_KEY, mock=True)


def describe_exception(exc: BaseException, target: str) -> str:
    """One line saying why talking to ``target`` failed (the package's errors already name the address)."""
    from ..errors import RealtimeError

    text = " ".join(str(exc).split())
    if isinstance(exc, RealtimeError) and text:
        return text
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not text:
        return f"{target} did not answer in time"
    return f"could not talk to {target}: {text or type(exc).__name__}"


def server_error_text(payload: Any) -> str:
    """One line for an ``error`` payload: the client's ``{source, message, error}`` or a raw server ``error`` event."""
    if isinstance(payload, BaseException):
        return " ".join(str(payload).split()) or type(payload).__name__
    if not isinstance(payload, dict):
        return " ".join(str(payload).split())
    err = payload.get("error")
    message = payload.get("message")
    if not message and isinstance(err, dict):
        message = err.get("message") or err.get("type")
    message = " ".join(str(message or "unknown error").split())
    code = err.get("code") if isinstance(err, dict) else None
    return f"{message} ({code})" if code and str(code) not in message else message


class JsonEventLog:
    """Writes one JSON object per line: every event sent or received, then a summary.

    Audio payloads are replaced by their decoded size (``"<field>_bytes"``) so
    the log stays readable; everything else is the event as it went over the wire.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.start = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as a JSON line."""
        try:
            self.stream.write(orjson.dumps(record, default=str).decode() + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def event(self, source: str, event: dict[str, Any]) -> None:
        """Log one wire ``event`` sent (``source="client"``) or received (``"server"``)."""
        field = _AUDIO_FIELDS.get(str(event.get("type")))
        if field and isinstance(event.get(field), str):
            event = dict(event)
            payload = event.pop(field)
            event[f"{field}_bytes"] = len(payload) * 3 // 4 - payload[-2:].count("=")
        self.write({"t": round(time.monotonic() - self.start, 6), "source": source, "type": event.get("type"), "event": event})


@contextlib.asynccontextmanager
async def embedded_mock(*, fast: bool, configure: Callable[[Any], None] | None = None) -> AsyncIterator[Any]:
    """Run a :class:`~realtime_fast.mock.MockRealtimeServer` on loopback for the duration of the block."""
    from ..mock import MockRealtimeServer, Pacing

    # "fast" keeps the realistic event timing but runs it 20 times faster, so a
    # cancel still lands while a long reply is streaming.
    profile = Pacing.realistic().scaled(1 / 20) if fast else "realistic"
    async with MockRealtimeServer(profile=profile, record=False, compression=False if fast else None) as server:
        if configure is not None:
            configure(server)
        yield server


def get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for other objects."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def quiet_library_logs(*, debug: bool) -> None:
    """Keep the package's warnings (which repeat ``error`` events the CLI reports itself) off stderr unless ``--debug``."""
    logger = logging.getLogger("realtime_fast")
    if not debug and not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class SessionRunner:
    """One CLI session: the mock (when needed), the client, failure handling, counters and the JSON log.

    Subclasses implement :meth:`converse` and may override :meth:`on_server_event`
    and :meth:`configure_mock`.  Every wait goes through :meth:`wait`, which turns
    a lost connection, a rejected session or a timeout into :class:`CliFailure`.
    """

    command = "session"

    def __init__(self, args: argparse.Namespace, console: Any, log: JsonEventLog | None, target: Target) -> None:
        self.args = args
        self.console = console
        self.log = log
        self.target = target
        self.client: Any = None
        self.fatal: asyncio.Future[str] | None = None
        self.session_ready = False
        self.closing = False
        self.events_sent = 0
        self.events_received = 0
        self.server_errors: list[str] = []

    # ------------------------------------------------------------ hooks

    fast_mock = False

    def configure_mock(self, server: Any) -> None:
        """Script the embedded mock server before the client connects (nothing by default)."""

    def on_server_event(self, event_type: str, event: dict[str, Any]) -> None:
        """Called for every server event, after counting and logging."""

    def on_session_error(self, message: str) -> None:
        """A server error during the session (after ``session.created``): recorded and printed on stderr."""
        self.server_errors.append(message)
        self.console.error(f"server error: {message}")

    async def converse(self) -> int:
        """The conversation itself; returns the exit status."""
        raise NotImplementedError

    def header_lines(self) -> list[str]:
        """Lines printed before connecting."""
        return []

    # ------------------------------------------------------------ plumbing

    def fail(self, message: str) -> None:
        """End the session with a failure (the next :meth:`wait` raises ``CliFailure(message)``)."""
        if self.fatal is not None and not self.fatal.done():
            self.fatal.set_result(message)

    def check(self) -> None:
        """Raise the pending failure, if any."""
        if self.fatal is not None and self.fatal.done():
            raise CliFailure(self.fatal.result())

    async def wait(self, awaitable: Any, what: str, timeout: float | None = None) -> Any:
        """Await ``awaitable``; a failure or ``timeout`` seconds (default ``--timeout``) without it raise CliFailure."""
        assert self.fatal is not None
        task = asyncio.ensure_future(awaitable)
        timeout = self.args.timeout if timeout is None else timeout
        try:
            done, _ = await asyncio.wait({task, self.fatal}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if task in done:
            if task.exception() is None:
                return task.result()
            self.check()  # the failure already reported (say, the server's error before its close) explains it best
            raise CliFailure(describe_exception(task.exception(), self.target.describe()))  # type: ignore[arg-type]
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        self.check()
        raise CliFailure(f"no {what} from {self.target.describe()} within {timeout:g} s (raise --timeout if the server is slow)")

    def _on_realtime_event(self, payload: Any) -> None:
        source = get(payload, "source")
        event = get(payload, "event") or {}
        if source == "client":
            self.events_sent += 1
        else:
            self.events_received += 1
        if self.log is not None:
            self.log.event(str(source), event)
        if source == "server":
            self.on_server_event(str(event.get("type", "")), event)

    def _on_error(self, payload: Any) -> None:
        message = server_error_text(payload)
        if not self.session_ready:
            if not self.target.api_key and get(payload, "source") == "server":
                message += " (no key was sent: set OPENAI_API_KEY)"
            self.fail(message)
            return
        if get(payload, "source") == "transport":
            self.fail(message)
            return
        self.on_session_error(message)

    def _on_close(self, payload: Any) -> None:
        if self.closing:
            return
        code = get(payload, "code")
        reason = get(payload, "reason") or ""
        detail = f" (close code {code}{': ' + reason if reason else ''})" if code else ""
        self.fail(f"{self.target.describe()} closed the connection{detail}")

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Start the mock if needed, connect the client and wait for ``session.created``."""
        from ..client import RealtimeClient

        self.fatal = asyncio.get_running_loop().create_future()
        args = self.args
        if self.target.mock:
            server = await stack.enter_async_context(embedded_mock(fast=self.fast_mock, configure=self.configure_mock))
            self.target.url = server.url
        for line in self.header_lines():
            self.console.line(line)
        client = RealtimeClient(
            url=self.target.url,
            api_key=self.target.api_key,
            model=args.model,
            protocol="beta" if args.beta else "ga",
            transport=args.transport,
            debug=args.debug,
            connect_timeout=args.timeout,
        )
        self.client = client
        client.on("realtime.event", self._on_realtime_event)
        client.on("error", self._on_error)
        client.on("close", self._on_close)
        try:
            await self.wait(client.connect(), "WebSocket handshake")
        except CliFailure:
            raise
        except Exception as exc:
            raise CliFailure(describe_exception(exc, self.target.describe())) from None
        stack.push_async_callback(self._disconnect)
        await self.wait(client.wait_for_session_created(), "session.created")
        self.session_ready = True

    async def _disconnect(self) -> None:
        self.closing = True
        self.console.clear_status()
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def main(self) -> int:
        """Run the whole session; the client and the mock are closed however it ends."""
        async with contextlib.AsyncExitStack() as stack:
            await self.start(stack)
            status = await self.converse()
        return status

    def run(self) -> int:
        """Run :meth:`main` on a new event loop (uvloop when ``--loop`` says so); returns the exit status."""
        from ..transport.loops import run as run_loop

        prog = f"realtime-fast {self.command}"
        quiet_library_logs(debug=bool(self.args.debug))
        try:
            return run_loop(self.main(), loop=getattr(self.args, "loop", "auto"))
        except CliFailure as exc:
            self.console.error(f"{prog}: {exc}")
            return 1
        except KeyboardInterrupt:
            self.console.error(f"{prog}: interrupted; the session was closed.")
            return 130
