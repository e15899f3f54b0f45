"""``realtime-fast bench soak``: one long server-VAD voice session, fed faster than real time.

A :class:`~realtime_fast.RealtimeClient` (with ``max_history_items`` and
``max_input_audio_seconds`` set) talks to the load server
(:class:`~realtime_fast.mock.load.LoadServer`, in a child process, its
response pacing sped up by the same factor) for ``minutes`` of session audio:
the same turn cycle as ``bench load`` (speech, silence, a spoken answer)
repeated, with the 20 ms chunks sent ``speed`` times faster than real time.
Every session-minute it samples the process RSS, the number of items kept, the
audio buffers kept and the input audio held locally.  At the end it compares
the events the server sent with those the client handled.

The bar: no event lost, the conversation and the input buffer within their
caps, and RSS flat after warm-up (growth below ``max_growth_mb``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, List, Optional

from .load import API_KEY, CHUNK_MS, CYCLE_S, RESPONSE_S, SILENCE, SPEECH, SPEECH_S, rss_mb

__all__ = ["SoakConfig", "run_soak"]


class SoakConfig:
    """Options of one soak (see ``realtime-fast bench soak --help``)."""

    def __init__(
        self,
        minutes: float = 60.0,
        speed: float = 20.0,
        transport: str = "picows",
        history: int = 20,
        max_input_seconds: float = 60.0,
        warmup_minutes: Optional[float] = None,
        max_growth_mb: float = 10.0,
        client_cpu: Optional[int] = 0,
        server_cpu: Optional[int] = 1,
        quiet: bool = False,
    ) -> None:
        if minutes <= 0:
            raise ValueError(f"minutes must be a positive number of session minutes, got {minutes}.")
        if speed <= 0:
            raise ValueError(f"speed must be a positive factor (1 = real time), got {speed}.")
        if history < 1:
            raise ValueError(f"history must be at least 1 item, got {history}.")
        self.minutes = minutes
        self.speed = speed
        self.transport = transport
        self.history = history
        self.max_input_seconds = max_input_seconds
        self.warmup_minutes = min(5.0, minutes / 4) if warmup_minutes is None else warmup_minutes
        self.max_growth_mb = max_growth_mb
        self.client_cpu = client_cpu
        self.server_cpu = server_cpu
        self.quiet = quiet


async def _soak(config: SoakConfig, server: Any, log: Callable[[str], None]) -> Dict[str, Any]:
    from realtime_fast import RealtimeClient

    loop = asyncio.get_running_loop()
    client = RealtimeClient(
        server.url,
        api_key=API_KEY,
        transport=config.transport,
        raw_audio_deltas=False,
        max_history_items=config.history,
        max_input_audio_seconds=config.max_input_seconds,
    )
    client.update_session(turn_detection={"type": "server_vad"}, modalities=["audio"])
    counts = {"received": 0, "responses": 0, "audio_bytes": 0, "errors": 0}
    session: Dict[str, Any] = {}

    def on_event(event: Dict[str, Any]) -> None:
        counts["received"] += 1

    def on_done(event: Dict[str, Any]) -> None:
        counts["responses"] += 1

    def on_updated(event: Dict[str, Any]) -> None:
        delta = event["delta"]
        if delta and "audio" in delta:
            counts["audio_bytes"] += len(delta["audio"])

    def on_error(event: Dict[str, Any]) -> None:
        counts["errors"] += 1

    client.realtime.on("server.*", on_event)
    client.realtime.on("server.response.done", on_done)
    client.realtime.on("server.session.created", lambda e: session.update(id=e["session"]["id"]))
    client.on("conversation.updated", on_updated)
    client.on("error", on_error)
    await client.connect()

    chunk_s = CHUNK_MS / 1000
    total_chunks = int(config.minutes * 60 / chunk_s)
    cycle = int(CYCLE_S / chunk_s)
    speech = int(SPEECH_S / chunk_s)
    per_minute = int(60 / chunk_s)
    samples: List[Dict[str, Any]] = []
    maxima = {"items": 0, "audio_buffers": 0, "input_seconds": 0.0}
    started = time.monotonic()
    sent_chunks = 0
    period = 0.02
    while sent_chunks < total_chunks:
        # Real elapsed time decides how much session audio is owed (speed x real time).
        owed = min(total_chunks, int((time.monotonic() - started) * config.speed / chunk_s) + 1)
        while sent_chunks < owed:
            position = sent_chunks % cycle
            client.append_input_audio(SPEECH[position % len(SPEECH)] if position < speech else SILENCE)
            sent_chunks += 1
            maxima["input_seconds"] = max(maxima["input_seconds"], len(client.input_audio_buffer) / 24000)
            if sent_chunks % per_minute == 0:
                memory = rss_mb()
                kept = len(client.conversation.items)
                buffers = len(client.conversation.audio_buffers)
                maxima["items"] = max(maxima["items"], kept)
                maxima["audio_buffers"] = max(maxima["audio_buffers"], buffers)
                sample = {
                    "minute": sent_chunks // per_minute,
                    "rss_mb": round(memory["rss"], 2),
                    "items": kept,
                    "audio_buffers": buffers,
                    "input_audio_s": round(len(client.input_audio_buffer) / 24000, 2),
                    "events": counts["received"],
                    "responses": counts["responses"],
                }
                samples.append(sample)
                log(
                    f"[session minute {sample['minute']:4d}] RSS {sample['rss_mb']:7.1f} MB  items {kept:3d}  "
                    f"audio buffers {buffers:3d}  input audio {sample['input_audio_s']:5.2f} s  "
                    f"events {sample['events']}  responses {sample['responses']}"
                )
        await asyncio.sleep(period)
    # Drain: every response finished and every event arrived.
    deadline = time.monotonic() + RESPONSE_S / config.speed + 15
    stats: Dict[str, Any] = {}
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stats = await loop.run_in_executor(None, lambda: server.stats(per_session=True))
        if stats["active_responses"] == 0 and stats["sent_by_session"].get(session.get("id"), -1) <= counts["received"]:
            break
    sent = stats.get("sent_by_session", {}).get(session.get("id"), 0)
    wall = time.monotonic() - started
    await client.disconnect()
    warm = [s for s in samples if s["minute"] >= config.warmup_minutes] or samples[-1:]
    rss_warm = warm[0]["rss_mb"] if warm else float("nan")
    rss_end = samples[-1]["rss_mb"] if samples else float("nan")
    rss_max_after = max((s["rss_mb"] for s in warm), default=float("nan"))
    lost = max(0, sent - counts["received"])
    expected_turns = int(config.minutes * 60 // CYCLE_S)
    result = {
        "session_minutes": config.minutes,
        "speed": config.speed,
        "transport": config.transport,
        "wall_seconds": round(wall, 1),
        "history_items": config.history,
        "max_input_audio_seconds": config.max_input_seconds,
        "events_sent": sent,
        "events_handled": counts["received"],
        "lost_events": lost,
        "errors": counts["errors"],
        "responses_done": counts["responses"],
        "expected_turns": expected_turns,
        "assistant_audio_seconds": round(counts["audio_bytes"] / 48000, 1),
        "max_items": maxima["items"],
        "max_audio_buffers": maxima["audio_buffers"],
        "max_input_audio_seconds_held": round(maxima["input_seconds"], 2),
        "warmup_minutes": config.warmup_minutes,
        "rss_after_warmup_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_max_after_warmup_mb": rss_max_after,
        "rss_growth_mb": round(rss_max_after - rss_warm, 2),
        "samples": samples,
    }
    result["ok"] = bool(
        lost == 0
        and counts["errors"] == 0
        and counts["responses"] >= expected_turns - 1
        and maxima["items"] <= config.history
        and maxima["input_seconds"] <= config.max_input_seconds
        and result["rss_growth_mb"] < config.max_growth_mb
    )
    return result


def run_soak(config: SoakConfig, log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Run one soak (see the module docstring) and return its result (the JSON written by the CLI)."""
    from realtime_fast.mock.load import pin_to_cpu, spawn_load_server
    from realtime_fast.transport.loops import run as run_loop

    if log is None:
        log = (lambda line: None) if config.quiet else (lambda line: print(line, flush=True))
    pin_to_cpu(config.client_cpu)
    server = spawn_load_server(cpu=config.server_cpu, speed=config.speed, response_seconds=RESPONSE_S)
    try:
        return run_loop(_soak(config, server, log), loop="asyncio")
    finally:
        server.stop()
