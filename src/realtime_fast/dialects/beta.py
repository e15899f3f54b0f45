"""The beta dialect (``OpenAI-Beta: realtime=v1``): the reference client's own protocol.

The service switched it off in 2026 (``beta_api_shape_disabled``); it lives on
in the mock server, Azure's preview API and servers that copied it.  The
reference's flat session keys go on the wire as they are; GA-native keys given
by the caller are translated back (``output_modalities`` -> ``modalities``,
``audio.input.format`` -> ``input_audio_format``, ``audio.output.voice`` ->
``voice``, ``max_output_tokens`` -> ``max_response_output_tokens``, ...), and
``type`` is left out.  Server events already carry the names the conversation
processes.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Mapping, Optional

from .._redact import package_logger
from ._common import BETA_SUBPROTOCOL, Dialect, flat_format, flat_modalities

__all__ = ["BetaDialect", "to_beta_response", "to_beta_session"]

logger = package_logger()

_INPUT_KEYS = {
    "format": "input_audio_format",
    "transcription": "input_audio_transcription",
    "turn_detection": "turn_detection",
    "noise_reduction": "input_audio_noise_reduction",
}
_OUTPUT_KEYS = {"format": "output_audio_format", "voice": "voice", "speed": "speed"}


def _translate(config: Mapping[str, Any], *, with_input: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    native: Dict[str, Any] = {}
    for key, value in config.items():
        if key == "type":
            logger.debug("beta protocol: session key 'type' is GA-only and is not sent.")
        elif key in ("output_modalities", "max_output_tokens", "audio"):
            native[key] = value
        else:
            out[key] = copy.deepcopy(value)
    if "output_modalities" in native:
        out["modalities"] = flat_modalities(native["output_modalities"])
    if "max_output_tokens" in native:
        out["max_response_output_tokens"] = native["max_output_tokens"]
    audio = native.get("audio")
    if isinstance(audio, Mapping):
        audio_in = audio.get("input")
        if with_input and isinstance(audio_in, Mapping):
            for key, value in audio_in.items():
                flat = _INPUT_KEYS.get(key, key)
                out[flat] = flat_format(value) if key == "format" else copy.deepcopy(value)
        audio_out = audio.get("output")
        if isinstance(audio_out, Mapping):
            for key, value in audio_out.items():
                flat = _OUTPUT_KEYS.get(key, key)
                out[flat] = flat_format(value) if key == "format" else copy.deepcopy(value)
    return out


def to_beta_session(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The beta ``session`` object for a session config (flat keys as given, GA-native keys translated)."""
    return _translate(config, with_input=True)


def to_beta_response(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The beta ``response`` object of ``response.create``."""
    return _translate(params, with_input=False)


class BetaDialect(Dialect):
    """The 2024 beta wire dialect (``protocol="beta"``)."""

    name = "beta"
    assistant_text_type = "text"

    def headers(self, api_key: str | None) -> Dict[str, str]:
        """Upgrade headers: ``Authorization: Bearer <key>`` when a key is given, plus ``OpenAI-Beta: realtime=v1``."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        headers["OpenAI-Beta"] = "realtime=v1"
        return headers

    def subprotocols(self, api_key: Optional[str]) -> List[str]:
        """``["realtime", "openai-insecure-api-key.<key>", "openai-beta.realtime-v1"]`` (see :meth:`Dialect.subprotocols`)."""
        offers = super().subprotocols(api_key)
        offers.append(BETA_SUBPROTOCOL)
        return offers

    def session_payload(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """See :func:`to_beta_session`."""
        return to_beta_session(config)

    def response_payload(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        """See :func:`to_beta_response`."""
        return to_beta_response(params)
