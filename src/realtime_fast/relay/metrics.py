"""The relay's Prometheus metrics (``GET /metrics``), on a registry of its own.

Frame and byte counts are kept as plain integers on each session's pipe and
read when Prometheus scrapes (a custom collector), so forwarding a frame
costs no metrics call.  Everything else is counted as it happens.

==============================================  =======  ==================================================
metric                                          type     labels
==============================================  =======  ==================================================
``realtime_relay_sessions``                     gauge    live relayed sessions
``realtime_relay_sessions_opened_total``        counter  sessions opened
``realtime_relay_refused_total``                counter  ``status``: connection attempts refused (401, 403, 429, 502, ...)
``realtime_relay_frames_total``                 counter  ``direction`` (``up`` client->upstream, ``down``)
``realtime_relay_bytes_total``                  counter  ``direction``: payload bytes
``realtime_relay_upstream_errors_total``        counter  ``kind``: ``connect`` (upstream not reached),
                                                         ``handshake`` (upstream refused the upgrade),
                                                         ``event`` (``error`` events it sent)
``realtime_relay_tokens_total``                 counter  ``identity``, ``kind`` (``input``/``output``/``total``),
                                                         from each ``response.done``'s usage
``realtime_relay_closed_total``                 counter  ``reason``: why sessions ended (``client``, ``upstream``,
                                                         ``idle``, ``max_length``, ``slow_client``, ``drain``)
``realtime_relay_ready``                        gauge    1 while accepting sessions, 0 while draining
``realtime_relay_process``                      gauge    ``pid``: always 1; tells ``--workers`` processes apart
==============================================  =======  ==================================================
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily

__all__ = ["RelayMetrics"]


class _PipeCollector:
    """Frames, bytes and upstream error events: the retired totals plus the live sessions' counters."""

    def __init__(self, live: Callable[[], Iterable[Any]]) -> None:
        self.live = live
        self.retired = {"up_frames": 0, "up_bytes": 0, "down_frames": 0, "down_bytes": 0, "error_events": 0}

    def retire(self, client_side: Any, upstream_side: Any) -> None:
        """Fold a finished session's counters into the totals."""
        self.retired["up_frames"] += client_side.frames
        self.retired["up_bytes"] += client_side.bytes
        self.retired["down_frames"] += upstream_side.frames
        self.retired["down_bytes"] += upstream_side.bytes
        self.retired["error_events"] += upstream_side.errors

    def totals(self) -> dict:
        out = dict(self.retired)
        for session in self.live():
            out["up_frames"] += session.client_side.frames
            out["up_bytes"] += session.client_side.bytes
            out["down_frames"] += session.upstream_side.frames
            out["down_bytes"] += session.upstream_side.bytes
            out["error_events"] += session.upstream_side.errors
        return out

    def collect(self) -> Iterator[Any]:
        t = self.totals()
        frames = CounterMetricFamily("realtime_relay_frames", "WebSocket messages relayed", labels=["direction"])
        frames.add_metric(["up"], t["up_frames"])
        frames.add_metric(["down"], t["down_frames"])
        yield frames
        data = CounterMetricFamily("realtime_relay_bytes", "Payload bytes relayed", labels=["direction"])
        data.add_metric(["up"], t["up_bytes"])
        data.add_metric(["down"], t["down_bytes"])
        yield data
        events = CounterMetricFamily("realtime_relay_upstream_error_events", "error events received from upstream")
        events.add_metric([], t["error_events"])
        yield events


class RelayMetrics:
    """All metrics of one relay (one process); ``render()`` gives the text exposition format."""

    def __init__(self, live_sessions: Callable[[], Iterable[Any]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions = Gauge("realtime_relay_sessions", "Live relayed sessions", registry=r)
        self.sessions_total = Counter("realtime_relay_sessions_opened", "Sessions opened", registry=r)
        self.refused = Counter("realtime_relay_refused", "Connection attempts refused", ["status"], registry=r)
        self.upstream_errors = Counter("realtime_relay_upstream_errors", "Upstream failures", ["kind"], registry=r)
        self.tokens = Counter("realtime_relay_tokens", "Tokens used, from response.done usage", ["identity", "kind"], registry=r)
        self.closed = Counter("realtime_relay_closed", "Sessions ended, by reason", ["reason"], registry=r)
        self.ready = Gauge("realtime_relay_ready", "1 while accepting sessions, 0 while draining", registry=r)
        # With --workers, each scrape reaches one process: the pid tells them apart.
        Gauge("realtime_relay_process", "This relay process", ["pid"], registry=r).labels(str(os.getpid())).set(1)
        self.pipes = _PipeCollector(live_sessions)
        r.register(self.pipes)  # type: ignore[arg-type]

    def count_usage(self, identity: str, input_tokens: int, output_tokens: int, total_tokens: int) -> None:
        """Add one ``response.done``'s usage to ``identity``'s counters."""
        self.tokens.labels(identity, "input").inc(input_tokens)
        self.tokens.labels(identity, "output").inc(output_tokens)
        self.tokens.labels(identity, "total").inc(total_tokens)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
