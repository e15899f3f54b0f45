"""Shared helpers of the mock-server tests (no tests here).

- :class:`WireClient`: a plain ``websockets`` client (deliberately not our client).
- :func:`assert_valid_events`: every server frame a mock recorded must validate
  against the official ``openai`` pydantic models of its connection's dialect
  (GA: ``openai.types.realtime``; beta: ``openai.types.beta.realtime``), with no
  unexpected extra fields.
- PCM16 signal builders for VAD tests.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import typing
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect

from realtime_fast.mock import MockRealtimeServer

TIMEOUT = 5.0
RATE = 24000
GA_MODEL = "gpt-realtime"
BETA_MODEL = "gpt-4o-realtime-preview-2024-12-17"
KEY = "sk-test-0123456789abcdef"
_counter = itertools.count(1)


# --------------------------------------------------------------------------- openai models


def _union_by_type(union: Any) -> dict[str, type[BaseModel]]:
    members = typing.get_args(union)
    if members and typing.get_origin(union) is typing.Annotated:
        members = typing.get_args(members[0])
    out = {}
    for model in members:
        literal = model.model_fields["type"].annotation
        for value in typing.get_args(literal):
            out[value] = model
    return out


def _server_models() -> dict[str, dict[str, type[BaseModel]]]:
    from openai.types.beta.realtime import realtime_server_event as beta_events
    from openai.types.realtime import realtime_server_event as ga_events

    return {
        "ga": _union_by_type(ga_events.RealtimeServerEvent),
        "beta": _union_by_type(beta_events.RealtimeServerEvent),
    }


MODELS = _server_models()

# Extra (unmodelled) fields the mock sends on purpose: the session objects carry the
# service's id/object/expires_at (present in captures and in RealtimeSessionCreateResponse).
ALLOWED_EXTRAS = {
    "RealtimeSessionCreateRequest": {"id", "object", "expires_at"},
    "Session": {"object", "expires_at"},
    # REALTIME_PROTOCOL.md section 4: later beta specs list `name` on arguments.done (GA models have it)
    "ResponseFunctionCallArgumentsDoneEvent": {"name"},
    # Every server event carries an event_id (REALTIME_PROTOCOL.md section 2); openai's model of
    # this one omits it.
    "InputAudioBufferDtmfEventReceivedEvent": {"event_id"},
    "RealtimeTranscriptionSessionCreateRequest": {"id", "object", "expires_at"},
}


def _check_extras(value: Any, where: str, allowed_top: set[str]) -> None:
    if isinstance(value, BaseModel):
        extra = set(value.model_extra or ())
        extra -= ALLOWED_EXTRAS.get(type(value).__name__, set())
        extra -= allowed_top
        assert not extra, f"{where}: fields unknown to {type(value).__name__}: {sorted(extra)}"
        for name in type(value).model_fields:
            _check_extras(getattr(value, name), f"{where}.{name}", set())
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            _check_extras(sub, f"{where}[{i}]", set())
    elif isinstance(value, dict):
        for key, sub in value.items():
            _check_extras(sub, f"{where}.{key}", set())


def validate_event(event: dict[str, Any], dialect: str, extra_top: set[str] = frozenset()) -> BaseModel:
    """Validate one server event against the official model of ``dialect``; returns the model."""
    model = MODELS[dialect].get(event.get("type"))
    assert model is not None, f"{dialect} has no server event of type {event.get('type')!r}"
    parsed = model.model_validate(event)
    _check_extras(parsed, event["type"], set(extra_top))
    return parsed


def assert_valid_events(server: MockRealtimeServer, extra_top: set[str] = frozenset()) -> int:
    """Validate every recorded server frame of ``server``; returns how many were checked."""
    dialects = {rec.id: rec.dialect for rec in server.connection_log}
    count = 0
    for frame in server.frames:
        if frame.direction != "server":
            continue
        validate_event(frame.data, dialects[frame.connection], extra_top)
        count += 1
    return count


# --------------------------------------------------------------------------- client


class WireClient:
    """A raw Realtime client on ``websockets``: send dicts, receive dicts, with timeouts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls,
        server: MockRealtimeServer,
        *,
        dialect: str = "ga",
        model: str | None = None,
        key: str | None = KEY,
        subprotocols: list[str] | None = None,
        path: str = "/v1/realtime",
        skip_created: bool = True,
        **kwargs: Any,
    ) -> WireClient:
        model = model if model is not None else (BETA_MODEL if dialect == "beta" else GA_MODEL)
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if dialect == "beta" and not subprotocols:
            headers["OpenAI-Beta"] = "realtime=v1"
        query = f"?model={model}" if model else ""
        url = f"ws://127.0.0.1:{server.port}{path}{query}"
        ws = await asyncio.wait_for(
            # max_queue=None: a test may close with unread events queued; with flow control the
            # close handshake would wait for the close timeout.
            connect(
                url,
                additional_headers=headers,
                subprotocols=subprotocols,
                max_size=None,
                **{"max_queue": None, **kwargs},
            ),
            TIMEOUT,
        )
        client = cls(ws)
        if skip_created:
            created = await client.recv()
            assert created["type"] == "session.created", created
        return client

    async def send(self, type: str, **fields: Any) -> str:
        """Send a client event with a fresh ``event_id``; returns that id."""
        event_id = f"evt_test{next(_counter)}"
        await self.ws.send(json.dumps({"event_id": event_id, "type": type, **fields}))
        return event_id

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        event = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.received.append(event)
        return event

    async def until(self, type: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Receive events up to and including the first of ``type``; returns them all."""
        out = []
        while True:
            event = await self.recv(timeout)
            out.append(event)
            if event["type"] == type:
                return out

    async def expect_silence(self, seconds: float = 0.1) -> None:
        """Assert that no event arrives within ``seconds``."""
        try:
            event = await asyncio.wait_for(self.ws.recv(), seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected event {event[:200]!r}")

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def text_session(dialect: str) -> dict[str, Any]:
    """A ``session.update`` payload for text-only output and no turn detection."""
    if dialect == "ga":
        return {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
    return {"modalities": ["text"], "turn_detection": None}


def audio_session(dialect: str, **extra: Any) -> dict[str, Any]:
    """Audio output, no turn detection."""
    if dialect == "ga":
        session = {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": None}}}
    else:
        session = {"modalities": ["text", "audio"], "turn_detection": None}
    session.update(extra)
    return session


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def names(dialect: str) -> dict[str, str]:
    """Dialect-specific server event names used by the tests."""
    ga = dialect == "ga"
    return {
        "item": "conversation.item.added" if ga else "conversation.item.created",
        "text_delta": "response.output_text.delta" if ga else "response.text.delta",
        "text_done": "response.output_text.done" if ga else "response.text.done",
        "audio_delta": "response.output_audio.delta" if ga else "response.audio.delta",
        "audio_done": "response.output_audio.done" if ga else "response.audio.done",
        "transcript_delta": "response.output_audio_transcript.delta" if ga else "response.audio_transcript.delta",
        "transcript_done": "response.output_audio_transcript.done" if ga else "response.audio_transcript.done",
        "audio_type": "output_audio" if ga else "audio",
        "text_type": "output_text" if ga else "text",
    }


# --------------------------------------------------------------------------- audio


def silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


def tone(ms: int, amplitude: int = 8000, freq: float = 220.0) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


def chunks(samples: np.ndarray, ms: int = 100) -> list[str]:
    step = RATE * ms // 1000
    return [b64(samples[i : i + step]) for i in range(0, len(samples), step)]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def mock_server():
    """A fast-profile mock server; every event it sent is validated against the openai models at teardown."""
    async with MockRealtimeServer(profile="fast") as server:
        yield server
    assert_valid_events(server)


@pytest.fixture(params=["ga", "beta"])
def dialect(request) -> str:
    return request.param
