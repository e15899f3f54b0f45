"""``realtime-fast bench load``: N concurrent real-time voice sessions on one client core.

Method (what one run does):

1. Pin this process to one CPU (``os.sched_setaffinity``, where available) and
   start :class:`~realtime_fast.mock.load.LoadServer` in a child process pinned
   to another one.
2. Open ``--sessions`` sessions at ``--connect-rate`` per second (a steady
   ramp, not a storm).  Each is a :class:`~realtime_fast.RealtimeClient` with
   server VAD, ``raw_audio_deltas=False`` and two handlers: the application's
   ``conversation.updated`` handler (counts the decoded audio and transcript it
   is given) and a raw ``server.*`` handler that counts every event and takes
   its lag: the time the handler ran minus the server's send time carried in
   the event (``mock_sent_at_us``).  The raw handler runs after the
   ``conversation.updated`` dispatch of the same event, so the lag includes it.
3. One ticker task appends 20 ms of PCM16 to *every* session per 20 ms tick
   with ``client.append_input_audio`` (real time; a late tick sends the chunks
   it owes, so each session's audio clock stays real time).  Each session
   speaks for ``SPEECH_S`` seconds then is silent for the rest of a
   ``CYCLE_S`` cycle; session *i* starts its cycle ``i/N`` of a cycle later,
   so turns are spread evenly.  The server's VAD ends each turn after 200 ms
   of silence and answers with a ``RESPONSE_S``-second response: audio deltas
   of 100 ms plus a transcript delta every second audio delta, at real-time pace.
4. Once every session is connected and one more turn cycle has passed (warm-up), measure for ``--duration`` seconds:
   event lag p50/p99/max, events handled, client CPU (``time.process_time``),
   the server's CPU and its own send lag (how late its ticker sent due
   deltas).  Then stop the audio, wait until every response has finished,
   and compare, session by session, the events the server sent with the
   events the client handled (``lost_events``, must be 0).

``--tls`` runs the same workload over ``wss://``: a self-signed certificate
for 127.0.0.1 is made at run time (ECDSA P-256, with ``cryptography``, the
``bench`` extra), the load server serves it, and every client trusts exactly
it through its own TLS option (``RealtimeClient(ssl=...)`` for this package).
The result records the negotiated TLS version and cipher.

``--format g711_ulaw`` (or ``g711_alaw``) runs the sessions of a phone
line: each client sets G.711 for input and output
(``update_session(input_audio_format=..., output_audio_format=...)``),
appends 20 ms of G.711 at 8 kHz (160 bytes) per tick, and the load server
hears and answers in that format (8 kHz, one byte per sample).  The default
is ``pcm16`` (24 kHz, 960 bytes per 20 ms).

``--send-only`` appends silence only, so the server's VAD never starts a
turn and nothing but ``session.created``/``session.updated`` comes back: the
run measures the send path alone (client CPU per session-second of appending
in real time).  ``--append-ms`` changes the audio per append (default 20 ms;
fewer, larger frames for the same audio).

The harness measures this package's client.  The project's benchmarks
compare it with other clients of the same workload, registered with
:func:`register_client` (``bench/load_rivals.py`` in the source tree: the bare
picows client, a plain websockets client, the ``openai`` package).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import math
import os
import platform
import shutil
import ssl
import sys
import tempfile
import time
from array import array
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["AUDIO_FORMATS", "CYCLE_S", "RESPONSE_S", "SESSION_TYPES", "SPEECH_S", "LoadConfig", "RealtimeFastSession", "register_client", "run_load"]

RATE = 24000
#: Wire audio formats of ``--format`` -> (samples per second, bytes per sample).
AUDIO_FORMATS: Dict[str, Tuple[int, int]] = {"pcm16": (24000, 2), "g711_ulaw": (8000, 1), "g711_alaw": (8000, 1)}
CHUNK_MS = 20
CHUNK_SAMPLES = RATE * CHUNK_MS // 1000
#: Seconds of speech at the start of each session cycle.
SPEECH_S = 1.5
#: Seconds of one turn cycle (speech, then silence while the answer plays).
CYCLE_S = 6.0
#: Seconds of audio in each answer of the load server.
RESPONSE_S = 3.0
TS_FIELD = "mock_sent_at_us"
API_KEY = "sk-load-test-0123456789abcdef"
_NEEDS_CRYPTOGRAPHY = "--tls makes its certificate with the cryptography package: pip install 'realtime-fast[bench]' (or cryptography)."


def _speech_chunks(chunk_ms: int = CHUNK_MS, audio_format: str = "pcm16") -> List[bytes]:
    """One second of a voiced test signal (220 Hz with two harmonics, peak about -12 dBFS) as ``chunk_ms`` chunks of ``audio_format``.

    PCM16 at 24 kHz, or G.711 codes at 8 kHz (one byte per sample).
    """
    import numpy as np

    rate, width = AUDIO_FORMATS[audio_format]
    t = np.arange(rate) / rate
    signal = 0.16 * np.sin(2 * np.pi * 220 * t) + 0.06 * np.sin(2 * np.pi * 440 * t) + 0.03 * np.sin(2 * np.pi * 660 * t)
    pcm = (signal * 32767).astype("<i2").tobytes()
    if audio_format != "pcm16":
        from realtime_fast.audio import pcm16_to_alaw, pcm16_to_ulaw

        pcm = bytes((pcm16_to_ulaw if audio_format == "g711_ulaw" else pcm16_to_alaw)(pcm))
    step = rate * chunk_ms // 1000 * width
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _silence(chunk_ms: int = CHUNK_MS, audio_format: str = "pcm16") -> bytes:
    """``chunk_ms`` of digital silence in ``audio_format`` (G.711's code for 0 is 0xFF in mu-law, 0xD5 in A-law)."""
    rate, width = AUDIO_FORMATS[audio_format]
    fill = {"pcm16": 0, "g711_ulaw": 0xFF, "g711_alaw": 0xD5}[audio_format]
    return bytes([fill]) * (rate * chunk_ms // 1000 * width)


SPEECH = _speech_chunks()
SILENCE = _silence()


def rss_mb() -> Dict[str, float]:
    """Resident memory of this process, MB: ``{"rss": current, "peak": high-water mark}`` (Linux /proc; else peak only)."""
    out = {"rss": float("nan"), "peak": float("nan")}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["peak"] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak"] = peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
        out["rss"] = out["peak"]
    return out


def percentile(sorted_values: Any, q: float) -> float:
    """The ``q``-quantile (0..1, nearest rank) of an ascending sequence; NaN when empty."""
    n = len(sorted_values)
    if not n:
        return float("nan")
    return float(sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))])


class LagRecorder:
    """Event counts and lags (microseconds) of all sessions, by one-second window."""

    def __init__(self) -> None:
        self.window: List[int] = []
        self.measured = array("q")
        self.measuring = False
        self.events = 0
        self.events_measured = 0

    def take_window(self) -> List[int]:
        window, self.window = self.window, []
        if self.measuring:
            self.measured.extend(window)
            self.events_measured += len(window)
        return window


# --------------------------------------------------------------------------- sessions


class RealtimeFastSession:
    """One session of this package's :class:`~realtime_fast.RealtimeClient` (the client under test)."""

    sync_append = True

    def __init__(
        self,
        url: str,
        transport: str,
        recorder: LagRecorder,
        history: Optional[int],
        tls: Optional[ssl.SSLContext] = None,
        *,
        keep_item_audio: bool = True,
        audio_format: str = "pcm16",
    ) -> None:
        from realtime_fast import RealtimeClient

        self.recorder = recorder
        self.received = 0
        self.audio_bytes = 0
        self.transcript_chars = 0
        self.sid: Optional[str] = None
        client = RealtimeClient(
            url,
            api_key=API_KEY,
            transport=transport,
            raw_audio_deltas=False,
            max_history_items=history,
            connect_timeout=60.0,
            ssl=tls,
            keep_item_audio=keep_item_audio,
        )
        if audio_format == "pcm16":
            client.update_session(turn_detection={"type": "server_vad"}, modalities=["audio"])
        else:  # a phone line's session: G.711 both ways
            client.update_session(
                turn_detection={"type": "server_vad"},
                modalities=["audio"],
                input_audio_format=audio_format,
                output_audio_format=audio_format,
            )
        client.on("conversation.updated", self._on_updated)
        client.realtime.on("server.*", self._on_event)
        client.realtime.on("server.session.created", self._on_created)
        self.client = client

    def _on_updated(self, event: Dict[str, Any]) -> None:
        # What an application does with each update: take the new audio and text.
        delta = event["delta"]
        if delta:
            audio = delta.get("audio")
            if audio is not None:
                self.audio_bytes += len(audio)
            text = delta.get("transcript")
            if text is not None:
                self.transcript_chars += len(text)

    def _on_event(self, event: Dict[str, Any]) -> None:
        now = time.time_ns() // 1000
        self.received += 1
        sent = event.get(TS_FIELD)
        if sent is not None:
            self.recorder.window.append(now - sent)

    def _on_created(self, event: Dict[str, Any]) -> None:
        self.sid = event["session"]["id"]

    async def connect(self) -> None:
        await self.client.connect()

    def append(self, pcm: bytes) -> None:
        self.client.append_input_audio(pcm)

    @property
    def is_open(self) -> bool:
        return self.client.is_connected()

    async def close(self) -> None:
        await self.client.disconnect()


#: Client name -> (session factory, the transport its results name): the client under test.
#: Other clients, for comparison, are registered by the project's benchmarks
#: (``bench/load_rivals.py``) with :func:`register_client`.
SESSION_TYPES: Dict[str, Callable[..., Any]] = {"realtime_fast": RealtimeFastSession}
_WIRES: Dict[str, str] = {}


def register_client(name: str, factory: Callable[..., Any], transport: str) -> None:
    """Make ``factory`` the session of ``--client name`` (for comparisons; ``transport`` names its wire in results).

    ``factory(url, transport, recorder, history, tls)`` returns an object with
    ``connect()``, ``append(pcm)`` (a coroutine unless ``sync_append`` is
    True), ``is_open``, ``close()``, ``received``, ``sid`` and ``audio_bytes``,
    as :class:`RealtimeFastSession` has.
    """
    SESSION_TYPES[name] = factory
    _WIRES[name] = transport


# --------------------------------------------------------------------------- the run


class LoadConfig:
    """Options of one load run (see ``realtime-fast bench load --help``)."""

    def __init__(
        self,
        sessions: int = 100,
        duration: float = 20.0,
        transport: str = "picows",
        loop: str = "asyncio",
        client: str = "realtime_fast",
        connect_rate: float = 100.0,
        client_cpu: Optional[int] = 0,
        server_cpu: Optional[int] = 1,
        history: Optional[int] = 20,
        quiet: bool = False,
        warmup: float = CYCLE_S,
        send_only: bool = False,
        append_ms: int = CHUNK_MS,
        tls: bool = False,
        keep_item_audio: bool = True,
        audio_format: str = "pcm16",
    ) -> None:
        if sessions < 1:
            raise ValueError(f"sessions must be at least 1, got {sessions}.")
        if duration <= 0:
            raise ValueError(f"duration must be a positive number of seconds, got {duration}.")
        if connect_rate <= 0:
            raise ValueError(f"connect_rate must be a positive number of sessions per second, got {connect_rate}.")
        if append_ms not in (10, 20, 40, 50, 100, 200):
            raise ValueError(f"append_ms must be one of 10, 20, 40, 50, 100 or 200 ms, got {append_ms}.")
        if client not in SESSION_TYPES:
            raise ValueError(f"Unknown client {client!r}: use one of {', '.join(SESSION_TYPES)}.")
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}.")
        if audio_format != "pcm16" and client != "realtime_fast":
            raise ValueError(f"audio_format {audio_format} is for the realtime_fast client only; run {client} with pcm16.")
        if tls and importlib.util.find_spec("cryptography") is None:
            raise ValueError(_NEEDS_CRYPTOGRAPHY)
        self.sessions = sessions
        self.duration = duration
        self.transport = transport
        self.loop = loop
        self.client = client
        self.connect_rate = connect_rate
        self.client_cpu = client_cpu
        self.server_cpu = server_cpu
        self.history = history
        #: RealtimeClient(keep_item_audio=...) of the sessions (this package's client only).
        self.keep_item_audio = keep_item_audio
        self.quiet = quiet
        self.warmup = warmup
        #: Only silence is appended: the server's VAD never starts a turn, so nothing is received (the send path alone).
        self.send_only = send_only
        #: Milliseconds of audio per append (one append per session every ``append_ms``).
        self.append_ms = append_ms
        #: Run over ``wss://`` with a self-signed certificate made for the run.
        self.tls = tls
        #: Wire audio of the sessions, both ways: ``pcm16`` (24 kHz), ``g711_ulaw`` or ``g711_alaw`` (8 kHz).
        self.audio_format = audio_format


class _Server:
    """The load server: a child process (default) or, for tests, any running URL with a ``stats`` callable.

    With ``config.tls`` it serves a self-signed certificate made for the run;
    :attr:`client_tls` is the client context that trusts exactly it (else None).
    """

    def __init__(self, config: LoadConfig) -> None:
        from realtime_fast.mock.load import spawn_load_server

        self.client_tls: Optional[ssl.SSLContext] = None
        self._folder: Optional[str] = None
        certfile = keyfile = None
        if config.tls:
            self._folder = tempfile.mkdtemp(prefix="realtime-fast-load-tls-")
            certfile, keyfile = make_self_signed_certificate(self._folder)
            self.client_tls = ssl.create_default_context(cafile=certfile)
        try:
            self.proc = spawn_load_server(
                cpu=config.server_cpu, loop="uvloop" if _has_uvloop() else "asyncio", certfile=certfile, keyfile=keyfile
            )
        except BaseException:
            self._remove_folder()
            raise
        self.url = self.proc.url

    def stats(self, per_session: bool = False) -> Dict[str, Any]:
        return self.proc.stats(per_session=per_session)

    def stop(self) -> None:
        try:
            self.proc.stop()
        finally:
            self._remove_folder()

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def make_self_signed_certificate(folder: str, host: str = "127.0.0.1") -> Tuple[str, str]:
    """A self-signed ECDSA P-256 certificate for IP address ``host``, valid for two days: ``(cert, key)`` PEM paths in ``folder``.

    It is its own CA (a client trusts it with ``ssl.create_default_context(cafile=cert)``).
    Needs the ``cryptography`` package (the ``bench`` extra).
    """
    try:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise RuntimeError(_NEEDS_CRYPTOGRAPHY) from None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"realtime-fast load server {host}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(folder, "load-server.pem")
    key_path = os.path.join(folder, "load-server.key")
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


async def _tls_parameters(url: str, context: ssl.SSLContext) -> Dict[str, Any]:
    """The TLS version and cipher a client with ``context`` negotiates with the server at ``url`` (one probe connection)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=context)
    try:
        tls = writer.get_extra_info("ssl_object")
        cipher = tls.cipher() if tls is not None else None
        return {
            "version": tls.version() if tls is not None else None,
            "cipher": cipher[0] if cipher else None,
            "certificate": "self-signed ECDSA P-256",
            "openssl": ssl.OPENSSL_VERSION,
        }
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


async def _run(config: LoadConfig, server: _Server, log: Callable[[str], None]) -> Dict[str, Any]:
    loop = asyncio.get_running_loop()
    recorder = LagRecorder()
    make = SESSION_TYPES[config.client]
    if make is RealtimeFastSession:
        make = functools.partial(make, keep_item_audio=config.keep_item_audio, audio_format=config.audio_format)
    n = config.sessions
    tls = getattr(server, "client_tls", None)
    sessions: List[Any] = [make(server.url, config.transport, recorder, config.history, tls) for _ in range(n)]
    live: List[Any] = []  # connected, in the ticker
    phases: List[int] = []
    failures: List[str] = []
    append_ms = config.append_ms
    cycle_ticks = int(CYCLE_S * 1000 / append_ms)
    speech_ticks = 0 if config.send_only else int(SPEECH_S * 1000 / append_ms)
    period = append_ms / 1000.0
    audio_format = config.audio_format
    speech = SPEECH if append_ms == CHUNK_MS and audio_format == "pcm16" else _speech_chunks(append_ms, audio_format)
    silence = _silence(append_ms, audio_format)
    max_owed = max(1, 100 // append_ms)  # catch up at most 100 ms
    stop_audio = asyncio.Event()
    counters = {"appends": 0, "ticker_late_max": 0.0, "ticks": 0, "tick_busy_max": 0.0}

    async def open_one(index: int) -> None:
        session = sessions[index]
        try:
            await session.connect()
        except Exception as exc:  # counted and reported; the run goes on
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        phases.append(index * cycle_ticks // n)
        live.append(session)

    async def ramp() -> None:
        start = loop.time()
        tasks = []
        for i in range(n):
            delay = start + i / config.connect_rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(open_one(i)))
        await asyncio.gather(*tasks)

    async def ticker() -> None:
        t0 = loop.time()
        done_ticks = 0
        while not stop_audio.is_set():
            target = t0 + (done_ticks + 1) * period
            delay = target - loop.time()
            # Always yield once per tick: an overloaded client must still receive.
            await asyncio.sleep(delay if delay > 0 else 0)
            now = loop.time()
            if recorder.measuring:
                counters["ticker_late_max"] = max(counters["ticker_late_max"], now - target)
            owed = min(max_owed, int((now - t0) / period) - done_ticks)
            for _ in range(max(1, owed)):
                done_ticks += 1
                for session, phase in zip(live, phases):
                    position = (done_ticks + phase) % cycle_ticks
                    pcm = speech[position % len(speech)] if position < speech_ticks else silence
                    if session.sync_append:
                        try:
                            session.append(pcm)
                        except Exception:
                            continue
                    else:
                        try:
                            await session.append(pcm)
                        except Exception:
                            continue
                    counters["appends"] += 1
            done_ticks = max(done_ticks, int((loop.time() - t0) / period) - max_owed)  # give up what is too late
            counters["ticks"] += 1
            if recorder.measuring:
                counters["tick_busy_max"] = max(counters["tick_busy_max"], loop.time() - now)

    history: List[Dict[str, Any]] = []

    async def progress(phase: Callable[[], str]) -> None:
        last_cpu = time.process_time()
        last_wall = time.monotonic()
        last_server = await loop.run_in_executor(None, server.stats)
        while True:
            await asyncio.sleep(1.0)
            window = recorder.take_window()
            window.sort()
            now_cpu, now_wall = time.process_time(), time.monotonic()
            srv = await loop.run_in_executor(None, server.stats)
            wall = now_wall - last_wall
            line = {
                "t": round(now_wall - started, 1),
                "phase": phase(),
                "connected": len(live),
                "events_per_s": round(len(window) / wall),
                "p50_ms": round(percentile(window, 0.5) / 1000, 2),
                "p99_ms": round(percentile(window, 0.99) / 1000, 2),
                "client_cpu_pct": round(100 * (now_cpu - last_cpu) / wall, 1),
                "server_cpu_pct": round(100 * (srv["cpu_s"] - last_server["cpu_s"]) / (srv["time"] - last_server["time"]), 1),
                "server_send_lag_p99_ms": round(srv["send_lag_p99_ms"], 2),
            }
            history.append(line)
            log(
                f"[{line['t']:6.1f}s {line['phase']:>7}] sessions {line['connected']:5d}/{n}  "
                f"events/s {line['events_per_s']:6d}  lag p50 {line['p50_ms']:6.2f} ms  p99 {line['p99_ms']:7.2f} ms  "
                f"client CPU {line['client_cpu_pct']:5.1f}%  server CPU {line['server_cpu_pct']:5.1f}% "
                f"(send lag p99 {line['server_send_lag_p99_ms']:.2f} ms)"
            )
            last_cpu, last_wall, last_server = now_cpu, now_wall, srv

    tls_parameters = await _tls_parameters(server.url, tls) if tls is not None else None
    started = time.monotonic()
    state = {"phase": "ramp"}
    progress_task = loop.create_task(progress(lambda: state["phase"]))
    ticker_task = loop.create_task(ticker())
    await ramp()
    # Warm up for one turn cycle, so that every session is in its steady turn-taking.
    state["phase"] = "warmup"
    await asyncio.sleep(config.warmup)
    # Measure.
    state["phase"] = "measure"
    recorder.take_window()
    recorder.measuring = True
    server_before = await loop.run_in_executor(None, server.stats)
    getattr(server, "measure_started", lambda: None)()  # a relay benchmark samples the relay's CPU here
    cpu0, wall0 = time.process_time(), time.monotonic()
    times0 = os.times()
    cpus0 = _cpu_jiffies()
    faults0 = _minor_faults()
    history_start = len(history)
    await asyncio.sleep(config.duration)
    cpu1, wall1 = time.process_time(), time.monotonic()
    times1 = os.times()
    cpus1 = _cpu_jiffies()
    faults1 = _minor_faults()
    recorder.take_window()
    recorder.measuring = False
    server_after = await loop.run_in_executor(None, server.stats)
    getattr(server, "measure_ended", lambda: None)()
    memory = rss_mb()
    # Stop the audio, let the responses finish, count.
    state["phase"] = "drain"
    stop_audio.set()
    await ticker_task
    deadline = time.monotonic() + RESPONSE_S + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        srv = await loop.run_in_executor(None, server.stats)
        received = sum(s.received for s in live)
        if srv["active_responses"] == 0 and srv["sent"] - received <= 0:
            break
    await asyncio.sleep(0.3)
    final = await loop.run_in_executor(None, lambda: server.stats(per_session=True))
    progress_task.cancel()
    await asyncio.gather(progress_task, return_exceptions=True)
    sent_by = final["sent_by_session"]
    lost = 0
    unmatched = 0
    for session in live:
        if session.sid is None or session.sid not in sent_by:
            unmatched += 1
            continue
        lost += max(0, sent_by[session.sid] - session.received)
    disconnected = sum(1 for s in live if not s.is_open)
    # Close.
    state["phase"] = "close"
    for start in range(0, len(sessions), 200):
        await asyncio.gather(*(s.close() for s in sessions[start : start + 200]), return_exceptions=True)

    measured = recorder.measured
    lags = sorted(measured)
    duration = wall1 - wall0
    cpu = cpu1 - cpu0
    server_cpu = (server_after["cpu_s"] - server_before["cpu_s"]) / (server_after["time"] - server_before["time"])
    window_lines = history[history_start:]
    p99_lag = percentile(lags, 0.99) / 1000
    result = {
        "sessions": n,
        "connected": len(live),
        "connect_failures": len(failures),
        "connect_failure_examples": failures[:3],
        "client": config.client,
        "transport": _WIRES.get(config.client, config.transport),
        "loop": config.loop,
        "duration": round(duration, 3),
        "events": recorder.events_measured,
        "events_per_second": round(recorder.events_measured / duration, 1),
        "appends": counters["appends"],
        "send_only": config.send_only,
        "append_ms": append_ms,
        "audio_format": audio_format,
        "tls": tls_parameters,
        "p50_lag_ms": round(percentile(lags, 0.5) / 1000, 3),
        "p90_lag_ms": round(percentile(lags, 0.9) / 1000, 3),
        "p99_lag_ms": round(p99_lag, 3),
        "max_lag_ms": round((lags[-1] if lags else float("nan")) / 1000, 3),
        "lost_events": lost,
        "sessions_unmatched": unmatched,
        "sessions_disconnected": disconnected,
        "client_cpu_percent": round(100 * cpu / duration, 1),
        "client_cpu_per_session_second": cpu / (duration * max(1, len(live))),
        # User vs kernel (system) time of the client process over the window: the kernel share is
        # mostly the send()/recv() system calls, including loopback TCP delivery run in the sender's context.
        "client_user_cpu_percent": round(100 * (times1.user - times0.user) / duration, 1),
        "client_sys_cpu_percent": round(100 * (times1.system - times0.system) / duration, 1),
        "client_minor_page_faults_per_s": round((faults1 - faults0) / duration),
        # How busy each CPU of the machine was over the window (everything on it, this run included).
        "cpu_busy_during_window": {
            name: round((busy1 - cpus0[name][0]) / max(1, total1 - cpus0[name][1]), 3)
            for name, (busy1, total1) in cpus1.items()
            if name in cpus0
        },
        "audio_bytes_decoded": sum(getattr(s, "audio_bytes", 0) for s in live),
        "client_ticker_late_max_ms": round(1000 * counters["ticker_late_max"], 2),
        "client_tick_busy_max_ms": round(1000 * counters["tick_busy_max"], 2),
        "rss_mb": round(memory["rss"], 1),
        "rss_peak_mb": round(memory["peak"], 1),
        "server_cpu_percent": round(100 * server_cpu, 1),
        "server_send_lag_p99_ms": round(max((line["server_send_lag_p99_ms"] for line in window_lines), default=float("nan")), 3),
        "server_events_sent": final["sent"],
        "server_responses_done": final["responses_done"],
        "ok": bool(
            (config.send_only or p99_lag < 50) and lost == 0 and not failures and unmatched == 0 and disconnected == 0
        ),
        "progress": window_lines,
    }
    return result


def _cpu_jiffies() -> Dict[str, Tuple[int, int]]:
    """Busy and total time of each CPU so far (``{"cpu0": (busy, total)}``, Linux /proc/stat; empty elsewhere)."""
    times: Dict[str, Tuple[int, int]] = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, _, rest = line.partition(" ")
                if not (name.startswith("cpu") and name[3:].isdigit()):
                    continue
                fields = [int(v) for v in rest.split()]
                idle = fields[3] + fields[4]  # idle + iowait
                times[name] = (sum(fields) - idle, sum(fields))
    except (OSError, ValueError, IndexError):
        return {}
    return times


def _minor_faults() -> int:
    """Minor page faults of this process so far (0 where ``resource`` is unavailable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_load(config: LoadConfig, log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Run one load test (see the module docstring) and return its result (the JSON written by the CLI)."""
    from realtime_fast.mock.load import pin_to_cpu
    from realtime_fast.transport.loops import run as run_loop

    if log is None:
        log = (lambda line: None) if config.quiet else (lambda line: print(line, flush=True))
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    pinned = pin_to_cpu(config.client_cpu)
    server = _Server(config)
    try:
        log(f"load server: {server.proc.banner}")
        log(
            f"client: {config.client} transport={config.transport} loop={config.loop} pinned to {pinned}; "
            f"{config.sessions} sessions at {config.connect_rate:g}/s, {config.warmup:g} s warm-up, then {config.duration:g} s measured"
        )
        result = run_loop(_run(config, server, log), loop=config.loop)
    finally:
        server.stop()
        if affinity is not None and pinned is not None:  # the caller's process goes on: unpin it
            os.sched_setaffinity(0, affinity)
    result.update(
        {
            "client_cpus": pinned,
            # The share of the client's core that other programs took during the window (a shared
            # machine): its busy time minus this process's CPU.  Lag is only comparable near 0.
            "client_core_busy_by_others": _others_on(pinned, result),
            "server_cpu": config.server_cpu,
            "connect_rate": config.connect_rate,
            "warmup": config.warmup,
            "history_items": config.history,
            "keep_item_audio": config.keep_item_audio if config.client == "realtime_fast" else None,
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
            "implementation": _implementation(),
            "libraries": _library_versions(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "cycle": {"speech_s": 0.0 if config.send_only else SPEECH_S, "cycle_s": CYCLE_S, "response_s": RESPONSE_S, "append_ms": config.append_ms},
        }
    )
    return result


def _others_on(pinned: Optional[List[int]], result: Dict[str, Any]) -> Optional[float]:
    """Busy fraction of the (single) client CPU not used by the client over the window; None when not pinned to one CPU."""
    if not pinned or len(pinned) != 1:
        return None
    busy = result.get("cpu_busy_during_window", {}).get(f"cpu{pinned[0]}")
    if busy is None:
        return None
    return round(max(0.0, busy - result["client_cpu_percent"] / 100), 3)


def _library_versions() -> Dict[str, Optional[str]]:
    """Versions of the network libraries in play (None: not installed); picows uses aiofastnet when it is installed."""
    from importlib.metadata import PackageNotFoundError, version

    versions: Dict[str, Optional[str]] = {}
    for name in ("picows", "aiofastnet", "websockets", "uvloop"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _implementation() -> str:
    try:
        from realtime_fast.events import COMPILED
    except ImportError:  # pragma: no cover
        return "unknown"
    return "compiled" if COMPILED else "pure"
