"""The server-owned session: what the relay sets on every upstream session, and what clients may change.

A session file (``--session FILE``, JSON) looks like::

    {
      "session": {"instructions": "You are the front desk of ...", "voice": "marin",
                  "tools": [{"name": "get_weather", "description": "...", "parameters": {...}}]},
      "models": ["gpt-realtime", "gpt-realtime-mini"],
      "client_may_change": ["audio.input.turn_detection", "audio.input.transcription"]
    }

* ``session``: the reference client's flat keys (``instructions``, ``voice``,
  ``turn_detection``, ``tools``, ...) or GA keys; sent upstream as
  ``session.update`` (in the client's dialect, GA or beta) before any frame
  of the client's.
* ``models``: the models clients may ask for in ``?model=``; the first is used
  when a client names none.  Absent: any model.
* ``client_may_change``: with the session locked, the session fields a
  client's ``session.update`` may set (dotted GA paths; the beta spellings of
  the same settings are accepted too).  Default: :data:`DEFAULT_CLIENT_FIELDS`.

Locked (``--lock-session``), a client's event is refused with an ``error``
event in the service's shape, and not forwarded, when it is a
``session.update`` touching any other field, a ``response.create`` that
overrides instructions, tools, voice or prompt for one response, or a
``conversation.item.create`` of a ``system`` message (which would act as
instructions).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from ..dialects import get_dialect

__all__ = ["DEFAULT_CLIENT_FIELDS", "SessionPolicy", "refusal_event"]

#: Fields a client may change in a locked session by default: how audio is captured, turned
#: into turns and transcribed, and the output format; not what the assistant is or can do.
DEFAULT_CLIENT_FIELDS: Tuple[str, ...] = (
    "type",
    "audio.input.format",
    "audio.input.noise_reduction",
    "audio.input.transcription",
    "audio.input.turn_detection",
    "audio.output.format",
    "output_modalities",
    "include",
)

#: Beta (flat) spelling -> GA path, so that one allow-list covers both dialects.
_BETA_PATHS = {
    "input_audio_format": "audio.input.format",
    "input_audio_noise_reduction": "audio.input.noise_reduction",
    "input_audio_transcription": "audio.input.transcription",
    "turn_detection": "audio.input.turn_detection",
    "output_audio_format": "audio.output.format",
    "modalities": "output_modalities",
    "voice": "audio.output.voice",
    "speed": "audio.output.speed",
    "max_response_output_tokens": "max_output_tokens",
}

#: Per-response settings (``response.create``) a locked session still lets the client choose.
_RESPONSE_FIELDS = ("conversation", "metadata", "input", "output_modalities", "audio.output.format", "max_output_tokens")


def _leaves(value: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves of a JSON object (an empty object is no leaf)."""
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(inner, Mapping):
            yield from _leaves(inner, path)
        else:
            yield path


def _ga_path(path: str) -> str:
    head, sep, rest = path.partition(".")
    mapped = _BETA_PATHS.get(head)
    if mapped is None:
        return path
    return f"{mapped}.{rest}" if sep else mapped


def _allowed(path: str, allowed: Iterable[str]) -> bool:
    path = _ga_path(path)
    return any(path == a or path.startswith(a + ".") for a in allowed)


def refusal_event(message: str, *, param: Optional[str], event_id: Optional[str], code: str = "session_field_locked") -> Dict[str, Any]:
    """An ``error`` event in the service's shape for a client event the relay refused."""
    return {
        "type": "error",
        "event_id": "event_" + secrets.token_hex(10),
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }


class SessionPolicy:
    """The server-owned session (see the module docstring)."""

    def __init__(
        self,
        session: Optional[Mapping[str, Any]] = None,
        *,
        models: Optional[Iterable[str]] = None,
        lock: bool = False,
        client_may_change: Optional[Iterable[str]] = None,
    ) -> None:
        self.session: Dict[str, Any] = dict(session or {})
        self.models: Optional[List[str]] = list(models) if models is not None else None
        if self.models is not None and not self.models:
            raise ValueError("models must name at least one model (or be left out to allow any).")
        self.lock = bool(lock)
        self.client_may_change: Tuple[str, ...] = (
            tuple(client_may_change) if client_may_change is not None else DEFAULT_CLIENT_FIELDS
        )

    @classmethod
    def from_file(cls, path: Union[str, Path], *, lock: bool = False) -> "SessionPolicy":
        """Read a session file (JSON, see the module docstring)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"The session file {path} is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise ValueError(f"The session file {path} must hold a JSON object with 'session', 'models' and/or 'client_may_change'.")
        unknown = set(data) - {"session", "models", "client_may_change"}
        if unknown:
            raise ValueError(f"The session file {path} has unknown keys {sorted(unknown)}: use 'session', 'models' and 'client_may_change'.")
        return cls(data.get("session"), models=data.get("models"), lock=lock, client_may_change=data.get("client_may_change"))

    def with_tools(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        """Add tool definitions (run by the relay) to the server-owned session."""
        tools = list(self.session.get("tools") or [])
        for definition in definitions:
            tools.append({"type": "function", **definition})
        self.session["tools"] = tools

    @property
    def has_session(self) -> bool:
        """True when there is anything to send upstream."""
        return bool(self.session)

    def choose_model(self, requested: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        """``(model, None)`` to use for a client that asked for ``requested``, or ``(None, reason)`` to refuse."""
        if self.models is None:
            return requested, None
        if requested is None:
            return self.models[0], None
        if requested in self.models:
            return requested, None
        return None, f"Model {requested!r} is not available through this relay: use one of {', '.join(self.models)}."

    def session_update(self, protocol: str) -> bytes:
        """The ``session.update`` frame carrying the server-owned session, in ``protocol`` (``"ga"``/``"beta"``)."""
        payload = get_dialect(protocol).session_payload(self.session)
        return json.dumps({"type": "session.update", "session": payload}, separators=(",", ":")).encode()

    def check_client_event(self, event: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """None when a locked session lets the client send ``event``; else the ``error`` event to answer with."""
        if not self.lock:
            return None
        kind = event.get("type")
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if kind == "session.update":
            session = event.get("session")
            if not isinstance(session, Mapping):
                return None  # the service rejects it itself
            for path in _leaves(session):
                if not _allowed(path, self.client_may_change):
                    return refusal_event(
                        f"The relay owns 'session.{path}': a client may change only {', '.join(self.client_may_change)}.",
                        param=f"session.{path}",
                        event_id=event_id,
                    )
        elif kind == "response.create":
            response = event.get("response")
            if isinstance(response, Mapping):
                for path in _leaves(response):
                    if not _allowed(path, _RESPONSE_FIELDS + self.client_may_change):
                        return refusal_event(
                            f"The relay owns 'response.{path}': a response may not override the server's session.",
                            param=f"response.{path}",
                            event_id=event_id,
                        )
                for item in response.get("input") or []:
                    if isinstance(item, Mapping) and item.get("role") == "system":
                        return refusal_event(
                            "The relay owns the instructions: a client may not add system messages.",
                            param="response.input",
                            event_id=event_id,
                        )
        elif kind == "conversation.item.create":
            item = event.get("item")
            if isinstance(item, Mapping) and item.get("role") == "system":
                return refusal_event(
                    "The relay owns the instructions: a client may not add system messages.",
                    param="item.role",
                    event_id=event_id,
                )
        return None
