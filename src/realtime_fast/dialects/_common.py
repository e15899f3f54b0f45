"""Helpers shared by the dialect translators."""

from __future__ import annotations

import copy
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

#: Reference (beta) audio format names and their GA format objects.
FLAT_TO_GA_FORMAT: Dict[str, Dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
GA_TO_FLAT_FORMAT: Dict[str, str] = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


#: The subprotocol the Realtime API selects (always offered first).
REALTIME_SUBPROTOCOL = "realtime"
#: Prefix of the subprotocol that carries the API key (or ephemeral client secret).
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."
#: The subprotocol that asks for the beta dialect (the ``OpenAI-Beta: realtime=v1`` header's twin).
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"

#: Characters allowed in a subprotocol name: an HTTP token (RFC 7230 ``tchar``, as RFC 6455 requires).
TOKEN_CHARS: FrozenSet[str] = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def key_subprotocol(api_key: str) -> str:
    """``openai-insecure-api-key.<api_key>``; raises ValueError when the key is not a valid token.

    The message names the first offending character and its position, never the key.
    """
    for position, char in enumerate(api_key):
        if char not in TOKEN_CHARS:
            raise ValueError(
                f"The API key has {char!r} at position {position}, which a WebSocket subprotocol cannot carry: "
                "check the key for stray spaces or quotes, or use auth='headers'."
            )
    return KEY_SUBPROTOCOL_PREFIX + api_key


def deep_merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge ``extra`` into ``base`` in place (nested mappings merged, other values replaced); return ``base``."""
    for key, value in extra.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def ga_format(value: Any) -> Any:
    """GA format object for a reference format name (``"pcm16"``...); objects pass as given."""
    if isinstance(value, str):
        known = FLAT_TO_GA_FORMAT.get(value)
        if known is not None:
            return dict(known)
        if value == "audio/pcm":
            return {"type": "audio/pcm", "rate": 24000}
        return {"type": value}
    return copy.deepcopy(value)


def flat_format(value: Any) -> Any:
    """Reference format name for a GA format object; strings pass as given."""
    if isinstance(value, Mapping):
        return GA_TO_FLAT_FORMAT.get(value.get("type"), value.get("type"))
    return value


def ga_modalities(value: Any) -> List[str]:
    """GA ``output_modalities``: ``["audio"]`` when audio is asked for (its transcript carries the text), else ``["text"]``."""
    if isinstance(value, (list, tuple)) and "audio" in value:
        return ["audio"]
    return ["text"]


def flat_modalities(value: Any) -> List[str]:
    """Beta ``modalities`` for GA ``output_modalities`` (beta audio responses are ``["text", "audio"]``)."""
    if isinstance(value, (list, tuple)) and "audio" in value:
        return ["text", "audio"]
    return ["text"]


def none_turn_detection(value: Any) -> Any:
    """``{"type": "none"}`` (from the reference's README) means no turn detection: ``None``."""
    if isinstance(value, Mapping) and value.get("type") == "none":
        return None
    return copy.deepcopy(value)


class Dialect:
    """Interface of a wire dialect (see :class:`GADialect` and :class:`BetaDialect`)."""

    #: ``"ga"`` or ``"beta"``.
    name: str = ""
    #: Content part type of the text of an assistant message the client creates.
    assistant_text_type: str = "output_text"

    def headers(self, api_key: Optional[str]) -> Dict[str, str]:
        """HTTP headers of the WebSocket upgrade (``Authorization`` when a key is given)."""
        headers: Dict[str, str] = {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def subprotocols(self, api_key: Optional[str]) -> List[str]:
        """``Sec-WebSocket-Protocol`` offers carrying the credentials instead of headers (as browsers send them).

        ``["realtime", "openai-insecure-api-key.<key>"]`` (the key entry only
        when a key is given); the beta dialect adds ``openai-beta.realtime-v1``.
        Raises ValueError when the key has a character a subprotocol cannot
        carry (anything but RFC 7230 token characters).
        """
        offers = [REALTIME_SUBPROTOCOL]
        if api_key:
            offers.append(key_subprotocol(api_key))
        return offers

    def session_payload(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """The ``session`` object of ``session.update`` for a reference-style (flat) config."""
        raise NotImplementedError

    def response_payload(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        """The ``response`` object of ``response.create`` for reference-style parameters."""
        raise NotImplementedError
