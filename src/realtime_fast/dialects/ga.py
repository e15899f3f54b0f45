"""The GA dialect (``gpt-realtime``, Aug 2025 on): what the service speaks today.

Outgoing: no ``OpenAI-Beta`` header; ``session.update`` carries
``type: "realtime"``, ``output_modalities`` and nested ``audio.input`` /
``audio.output`` objects.  The reference's flat keys are translated:

==============================  ==========================================
reference key                   GA location
==============================  ==========================================
``modalities``                  ``output_modalities`` (``["audio"]`` or ``["text"]``)
``voice``                       ``audio.output.voice``
``input_audio_format``          ``audio.input.format`` (``{"type": "audio/pcm", "rate": 24000}``...)
``output_audio_format``         ``audio.output.format``
``input_audio_transcription``   ``audio.input.transcription``
``turn_detection``              ``audio.input.turn_detection``
``input_audio_noise_reduction`` ``audio.input.noise_reduction``
``speed``                       ``audio.output.speed``
``max_response_output_tokens``  ``max_output_tokens``
``temperature``                 dropped (GA has none; logged at debug level)
==============================  ==========================================

Other keys (``instructions``, ``tools``, ``tool_choice`` and the GA-native
``type``, ``output_modalities``, ``audio``, ``max_output_tokens``, ``tracing``,
``prompt``, ``include``, ``truncation``, ...) pass as given; a GA-native key
wins over the flat key it replaces (``audio`` is merged key by key).

A transcription session (``type: "transcription"``) takes only ``type``,
``audio.input`` (``format``, ``transcription``, ``noise_reduction``,
``turn_detection``) and ``include``: everything else of the config
(``instructions``, ``tools``, ``tool_choice``, ``output_modalities``,
``max_output_tokens``, ``audio.output``, ...) is left out, logged at debug
level.

Incoming: :data:`SERVER_EVENT_ALIASES` maps GA event names onto the beta names
the conversation processes.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping

from .._redact import package_logger
from ..names import SERVER_EVENT_ALIASES
from ._common import Dialect, deep_merge, ga_format, ga_modalities, none_turn_detection

__all__ = ["GADialect", "SERVER_EVENT_ALIASES", "to_ga_response", "to_ga_session"]

logger = package_logger()


#: Keys the GA session no longer has (left out of ``session.update``).
DROPPED_KEYS = frozenset({"temperature"})

_INPUT_KEYS = {
    "input_audio_format": "format",
    "input_audio_transcription": "transcription",
    "turn_detection": "turn_detection",
    "input_audio_noise_reduction": "noise_reduction",
}
_OUTPUT_KEYS = {"output_audio_format": "format", "voice": "voice", "speed": "speed"}
_NATIVE_OVERRIDES = ("output_modalities", "max_output_tokens")


def _translate(config: Mapping[str, Any], *, with_input: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    audio_in: Dict[str, Any] = {}
    audio_out: Dict[str, Any] = {}
    native: Dict[str, Any] = {}
    for key, value in config.items():
        if key == "modalities":
            out["output_modalities"] = ga_modalities(value)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key in _OUTPUT_KEYS:
            audio_out[_OUTPUT_KEYS[key]] = ga_format(value) if key == "output_audio_format" else copy.deepcopy(value)
        elif key in _INPUT_KEYS:
            if not with_input:  # a response has no input audio settings
                logger.debug("GA protocol: %r does not apply to a response and is not sent.", key)
                continue
            if key == "input_audio_format":
                value = ga_format(value)
            elif key == "turn_detection":
                value = none_turn_detection(value)
            else:
                value = copy.deepcopy(value)
            audio_in[_INPUT_KEYS[key]] = value
        elif key in DROPPED_KEYS:
            logger.debug("GA protocol: session key %r has no GA equivalent and is not sent.", key)
        elif key == "audio" or key in _NATIVE_OVERRIDES:
            native[key] = value
        else:
            out[key] = copy.deepcopy(value)
    audio: Dict[str, Any] = {}
    if audio_in:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        out["audio"] = audio
    for key, value in native.items():
        if key == "audio" and isinstance(value, Mapping):
            deep_merge(out.setdefault("audio", {}), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def to_ga_session(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The GA ``session`` object for a reference-style session config (see the module docstring)."""
    session = {"type": "realtime"}
    session.update(_translate(config, with_input=True))
    if session["type"] == "transcription":
        return _transcription_session(session)
    return session


#: What a GA transcription session takes (openai's ``RealtimeTranscriptionSessionCreateRequest``).
TRANSCRIPTION_SESSION_FIELDS = frozenset({"type", "audio", "include"})


def _transcription_session(session: Dict[str, Any]) -> Dict[str, Any]:
    """``session`` (GA shape) with only what a transcription session takes: type, audio.input, include."""
    out = {key: value for key, value in session.items() if key in TRANSCRIPTION_SESSION_FIELDS}
    dropped = sorted(set(session) - set(out))
    audio = out.pop("audio", None)
    if isinstance(audio, Mapping):
        if set(audio) - {"input"}:
            dropped.append("audio.output")
        if isinstance(audio.get("input"), Mapping):
            out["audio"] = {"input": audio["input"]}
    if dropped:
        logger.debug("GA transcription session: %s do not apply and are not sent.", ", ".join(dropped))
    return out


#: What a GA ``response.create`` takes (openai's ``RealtimeResponseCreateParams``).
RESPONSE_FIELDS = frozenset(
    {
        "audio", "conversation", "input", "instructions", "max_output_tokens", "metadata", "output_modalities",
        "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools",
    }
)
#: The reference-style keys a response may use, and the GA field each becomes.
_RESPONSE_FLAT_KEYS = {
    "modalities": "output_modalities",
    "voice": "audio.output.voice",
    "output_audio_format": "audio.output.format",
    "max_response_output_tokens": "max_output_tokens",
}
#: What ``audio.output`` of a GA response takes.
_RESPONSE_AUDIO_OUTPUT = frozenset({"voice", "format"})


def to_ga_response(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The GA ``response`` object of ``response.create`` for reference-style or GA parameters.

    A GA response takes its own audio settings as ``audio.output.voice`` and
    ``audio.output.format`` only (``voice``, ``output_audio_format``);
    anything else (``speed``, ``temperature``, input audio settings, unknown
    fields) raises ValueError naming it, before anything is sent: the service
    would answer it with an ``error`` event.
    """
    rejected = sorted(key for key in params if key not in RESPONSE_FIELDS and key not in _RESPONSE_FLAT_KEYS)
    audio = params.get("audio")
    if audio is not None:
        if not isinstance(audio, Mapping) or set(audio) - {"output"}:
            rejected.append("audio (only audio.output is a response setting)")
        else:
            output = audio.get("output")
            if output is not None and (not isinstance(output, Mapping) or set(output) - _RESPONSE_AUDIO_OUTPUT):
                extra = sorted(set(output) - _RESPONSE_AUDIO_OUTPUT) if isinstance(output, Mapping) else ["?"]
                rejected.extend(f"audio.output.{key}" for key in extra)
    if rejected:
        raise ValueError(
            f"The GA protocol's response.create has no {', '.join(rejected)}: a response takes "
            f"{', '.join(sorted(RESPONSE_FIELDS))} (and voice / output_audio_format, sent as audio.output); "
            "set session-wide audio settings such as speed with update_session()."
        )
    return _translate(params, with_input=False)


class GADialect(Dialect):
    """The GA wire dialect (default)."""

    name = "ga"

    def headers(self, api_key: str | None) -> Dict[str, str]:
        """Upgrade headers: ``Authorization: Bearer <key>`` when a key is given, no beta header."""
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def session_payload(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """See :func:`to_ga_session`."""
        return to_ga_session(config)

    def response_payload(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        """See :func:`to_ga_response`."""
        return to_ga_response(params)
