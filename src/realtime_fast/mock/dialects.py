"""The two wire dialects the mock speaks: GA (default) and beta (``realtime=v1``).

A dialect owns everything that differs on the wire: server event names, the
session object's shape and its ``session.update`` validation, response
parameters and the response object, the content types of assistant items and
the list of accepted client event types.  The session state machine
(:mod:`.session`) only talks to a dialect through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import ClientEventError
from ._schema import Any_, Arr, Bool, ByType, Int, Map, Nullable, Num, Obj, Spec, Str, Tagged

__all__ = ["BETA", "GA", "Dialect", "ResponseConfig", "SessionView"]

BETA_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")
GA_VOICES = BETA_VOICES + ("marin", "cedar")
BETA_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
_GA_FORMAT_TYPES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_GA_FORMAT_OBJECTS = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly assistant. Keep answers short. "
    "(This session is served by the realtime_fast mock server: replies are scripted, not generated.)"
)


def _tool_choice_spec(beta: bool, session: bool) -> Spec:
    """``tool_choice``: a mode string, or a function selector object.

    GA: ``{type: "function", name}`` or ``{type: "mcp", server_label, name?}``.  Beta
    sessions carry a string (the official models type it ``str``; a function name forces
    that function); beta ``response.create`` also takes the selector objects of the docs,
    ``{type, name}`` (as RC types it) and ``{type, function: {name}}``.
    """
    modes = Str(("auto", "none", "required"))
    if beta and session:
        return Str()
    if beta:
        selector = Obj(
            {"type": Str(("function",)), "name": Str(), "function": Obj({"name": Str()}, ("name",))}, ("type",)
        )
        return ByType("a string or an object", str=Str(), dict=selector)
    selector_ga = Tagged(
        {
            "function": Obj({"type": Str(), "name": Str()}, ("name",)),
            "mcp": Obj({"type": Str(), "server_label": Str(), "name": Nullable(Str())}, ("server_label",)),
        }
    )
    return ByType("a string or an object", str=modes, dict=selector_ga)


def _function_tool() -> Obj:
    return Obj(
        {
            "type": Str(("function",)),
            "name": Str(max_len=64),
            "description": Str(max_len=1024),
            "parameters": Any_("an object", dict),
        },
        required=("name",),
    )


def _mcp_tool() -> Obj:
    """An MCP tool (openai's ``RealtimeToolsConfigUnion`` Mcp): a server URL or a connector, and its options."""
    filter_ = Obj({"tool_names": Arr(Str()), "read_only": Bool()})
    return Obj(
        {
            "type": Str(("mcp",)),
            "server_label": Str(),
            "server_url": Str(),
            "connector_id": Str(),
            "authorization": Str(),
            "headers": Nullable(Map(Str())),
            "allowed_tools": Nullable(ByType("an array or an object", list=Arr(Str()), dict=filter_)),
            "require_approval": Nullable(
                ByType(
                    "'always', 'never' or an object",
                    str=Str(("always", "never")),
                    dict=Obj({"always": filter_, "never": filter_}),
                )
            ),
            "server_description": Str(),
        },
        ("server_label",),
    )


_METADATA = Map(Str(max_len=512), max_pairs=16, key_max_len=64)
_MAX_TOKENS = ByType("an integer or 'inf'", int=Int(1, 4096), str=Str(("inf",)))
_TRACING = Nullable(
    ByType(
        "'auto' or an object",
        str=Str(("auto",)),
        dict=Obj({"workflow_name": Str(), "group_id": Str(), "metadata": Any_("an object", dict)}),
    )
)
_TRANSCRIPTION_BETA = Nullable(
    Obj({"model": Str(), "language": Str(), "prompt": Str(), "enabled": Bool()})  # ``enabled``: Oct-2024 docs
)
_TRANSCRIPTION_GA = Nullable(
    Obj(
        {
            "model": Str(),
            "language": Str(),
            "prompt": Str(),
            "delay": Str(("minimal", "low", "medium", "high", "xhigh")),
            "keywords": Arr(Str()),
            "languages": Arr(Str()),
        }
    )
)
_NOISE = Nullable(Obj({"type": Str(("near_field", "far_field")), "strength": Num(0, 1)}))


def _turn_detection_spec(ga: bool) -> Spec:
    server_vad = {
        "type": Str(),
        "threshold": Num(0.0, 1.0),
        "prefix_padding_ms": Int(0, 10_000),
        "silence_duration_ms": Int(0, 10_000),
        "create_response": Bool(),
        "interrupt_response": Bool(),
    }
    if ga:
        server_vad["idle_timeout_ms"] = Nullable(Int(5000, 30000))
    variants: dict[str, Obj] = {
        "server_vad": Obj(server_vad),
        "semantic_vad": Obj(
            {
                "type": Str(),
                "eagerness": Str(("low", "medium", "high", "auto")),
                "create_response": Bool(),
                "interrupt_response": Bool(),
            }
        ),
    }
    if not ga:
        # RC's README shows {type: "none"}; the schema only allows server_vad or null.  The mock
        # is lenient here and treats it as null (turn detection off).
        variants["none"] = Obj({"type": Str()})
    return Nullable(Tagged(variants))


def _fill_turn_detection(value: dict[str, Any] | None, ga: bool) -> dict[str, Any] | None:
    if value is None or value.get("type") == "none":
        return None
    if value.get("type") == "semantic_vad":
        out: dict[str, Any] = {
            "type": "semantic_vad",
            "eagerness": "auto",
            "create_response": True,
            "interrupt_response": True,
        }
    else:
        out = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
        if ga:
            out["idle_timeout_ms"] = None
    out.update(value)
    return out


def _ga_format_spec() -> Spec:
    return Tagged(
        {
            "audio/pcm": Obj({"type": Str(), "rate": Int(24000, 24000)}),
            "audio/pcmu": Obj({"type": Str()}),
            "audio/pcma": Obj({"type": Str()}),
        },
        default="audio/pcm",
    )


def _ga_format_object(value: dict[str, Any]) -> dict[str, Any]:
    return dict(_GA_FORMAT_OBJECTS[_GA_FORMAT_TYPES[value.get("type", "audio/pcm")]])


@dataclass
class SessionView:
    """What the state machine needs from a session object, independent of the dialect."""

    voice: Any
    audio_out: bool
    input_format: str  # "pcm16" | "g711_ulaw" | "g711_alaw"
    output_format: str
    turn_detection: dict[str, Any] | None
    transcription: dict[str, Any] | None
    tools: list[dict[str, Any]]
    tool_choice: Any
    instructions: str
    max_output_tokens: int | str
    #: A transcription session: user audio is transcribed, no response is ever made.
    transcription_only: bool = False


@dataclass
class ResponseConfig:
    """Effective settings of one response (session defaults overridden by ``response.create``)."""

    audio_out: bool
    voice: Any
    output_format: str
    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: Any
    max_output_tokens: int | str
    conversation: str  # "auto" | "none"
    metadata: dict[str, str] | None
    input: list[dict[str, Any]] | None
    temperature: float | None = None


class Dialect:
    """Wire differences between GA and beta; use the :data:`GA` and :data:`BETA` instances."""

    name: str
    beta: bool
    client_types: tuple[str, ...]
    text_delta: str
    text_done: str
    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    item_text_type: str
    item_audio_type: str
    user_content_types: tuple[str, ...]
    default_max_session_seconds: float
    session_spec: Obj
    response_spec: Obj

    def default_session(self, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
        raise NotImplementedError

    def default_transcription_session(self, session_id: str, expires_at: int) -> dict[str, Any]:
        """The session of a transcription-only connection (``?intent=transcription``; GA only)."""
        raise NotImplementedError("Transcription sessions are served with the GA protocol only.")

    def update_session(self, session: dict[str, Any], patch: Any, model: str) -> dict[str, Any]:
        """Validate ``patch`` (the ``session`` field of ``session.update``) and return the merged session.

        Raises :class:`ClientEventError` for the first invalid field; ``session`` is not modified.
        """
        raise NotImplementedError

    def view(self, session: dict[str, Any]) -> SessionView:
        raise NotImplementedError

    def response_config(self, view: SessionView, params: Any) -> ResponseConfig:
        """Validate ``response.create``'s ``response`` field and merge it over the session."""
        raise NotImplementedError

    def response_object(
        self,
        *,
        response_id: str,
        status: str,
        status_details: dict[str, Any] | None,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        conversation_id: str | None,
        config: ResponseConfig,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def item_event_types(self) -> tuple[str, ...]:
        """Event types announcing a new conversation item (beta: created; GA: added, then done)."""
        raise NotImplementedError

    def rate_limits(self, used_tokens: int, responses: int) -> list[dict[str, Any]]:
        """Plausible, decreasing rate limits after ``responses`` responses using ``used_tokens``."""
        tokens = {
            "name": "tokens",
            "limit": 40000,
            "remaining": max(0, 40000 - used_tokens),
            "reset_seconds": round(min(60.0, used_tokens * 60 / 40000), 3),
        }
        if not self.beta:
            return [tokens]  # GA captures only show the tokens entry
        requests = {
            "name": "requests",
            "limit": 5000,
            "remaining": max(0, 5000 - responses),
            "reset_seconds": round(min(60.0, responses * 60 / 5000), 3),
        }
        return [requests, tokens]

    def _check_model(self, patch: dict[str, Any], model: str) -> None:
        if "model" in patch and patch["model"] != model:
            raise ClientEventError(
                "Cannot update a session's model. Connect again with the model in the URL instead.",
                code="cannot_update_model",
                param="session.model",
            )


# --------------------------------------------------------------------------- beta


class _Beta(Dialect):
    name = "beta"
    beta = True
    client_types = (
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "transcription_session.update",
        "output_audio_buffer.clear",
    )
    text_delta = "response.text.delta"
    text_done = "response.text.done"
    audio_delta = "response.audio.delta"
    audio_done = "response.audio.done"
    transcript_delta = "response.audio_transcript.delta"
    transcript_done = "response.audio_transcript.done"
    item_text_type = "text"
    item_audio_type = "audio"
    user_content_types = ("input_text", "input_audio")
    default_max_session_seconds = 30 * 60.0

    def __init__(self) -> None:
        modalities = Arr(Str(("text", "audio")))
        self.session_spec = Obj(
            {
                "model": Str(),
                "modalities": modalities,
                "instructions": Str(),
                "voice": Str(BETA_VOICES),
                "input_audio_format": Str(BETA_FORMATS),
                "output_audio_format": Str(BETA_FORMATS),
                "input_audio_transcription": _TRANSCRIPTION_BETA,
                "input_audio_noise_reduction": _NOISE,
                "turn_detection": _turn_detection_spec(ga=False),
                "tools": Arr(_function_tool(), max_items=128),
                "tool_choice": _tool_choice_spec(beta=True, session=True),
                "temperature": Num(0.6, 1.2),
                "max_response_output_tokens": _MAX_TOKENS,
                "speed": Num(0.25, 1.5),
                "tracing": _TRACING,
            },
            validate=self._check_modalities,
        )
        self.response_spec = Obj(
            {
                "modalities": modalities,
                "instructions": Str(),
                "voice": Str(BETA_VOICES),
                "output_audio_format": Str(BETA_FORMATS),
                "tools": Arr(_function_tool(), max_items=128),
                "tool_choice": _tool_choice_spec(beta=True, session=False),
                "temperature": Num(0.6, 1.2),
                "max_response_output_tokens": _MAX_TOKENS,
                "max_output_tokens": _MAX_TOKENS,  # the Oct-2024 docs' spelling
                "conversation": Str(("auto", "none")),
                "metadata": Nullable(_METADATA),
                "input": Arr(Any_("an object", dict)),
            },
            validate=self._check_modalities,
        )

    @staticmethod
    def _check_modalities(value: dict[str, Any], path: str) -> None:
        mods = value.get("modalities")
        if mods is not None and sorted(set(mods)) not in (["text"], ["audio", "text"]):
            raise ClientEventError(
                f"Invalid modalities: {mods!r}. Supported combinations are: ['text'] and ['audio', 'text'].",
                code="invalid_value",
                param=f"{path}.modalities",
            )

    def default_session(self, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": model,
            "expires_at": expires_at,
            "modalities": ["audio", "text"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "input_audio_noise_reduction": None,
            "turn_detection": _fill_turn_detection({"type": "server_vad"}, ga=False),
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
        }

    def update_session(self, session: dict[str, Any], patch: Any, model: str) -> dict[str, Any]:
        self.session_spec.check(patch, "session")
        self._check_model(patch, model)
        new = dict(session)
        for key, value in patch.items():
            if key == "model":
                continue
            if key == "turn_detection":
                value = _fill_turn_detection(value, ga=False)
            elif key == "input_audio_transcription" and value is not None:
                value = {k: v for k, v in value.items() if k != "enabled"}
                value.setdefault("model", "whisper-1")
            elif key == "tools":
                value = [{"type": "function", **tool} for tool in value]
            new[key] = value
        return new

    def view(self, session: dict[str, Any]) -> SessionView:
        return SessionView(
            voice=session["voice"],
            audio_out="audio" in session["modalities"],
            input_format=session["input_audio_format"],
            output_format=session["output_audio_format"],
            turn_detection=session["turn_detection"],
            transcription=session["input_audio_transcription"],
            tools=session["tools"],
            tool_choice=session["tool_choice"],
            instructions=session["instructions"],
            max_output_tokens=session["max_response_output_tokens"],
        )

    def response_config(self, view: SessionView, params: Any) -> ResponseConfig:
        params = {} if params is None else params
        self.response_spec.check(params, "response")
        mods = params.get("modalities")
        max_tokens = params.get("max_response_output_tokens", params.get("max_output_tokens", view.max_output_tokens))
        return ResponseConfig(
            audio_out=view.audio_out if mods is None else "audio" in mods,
            voice=params.get("voice", view.voice),
            output_format=params.get("output_audio_format", view.output_format),
            instructions=params.get("instructions", view.instructions),
            tools=[{"type": "function", **t} for t in params["tools"]] if "tools" in params else view.tools,
            tool_choice=params.get("tool_choice", view.tool_choice),
            max_output_tokens=max_tokens,
            conversation=params.get("conversation", "auto"),
            metadata=params.get("metadata"),
            input=params.get("input"),
            temperature=params.get("temperature", 0.8),
        )

    def response_object(self, *, response_id, status, status_details, output, usage, conversation_id, config):  # type: ignore[override]
        return {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": conversation_id,
            "modalities": ["audio", "text"] if config.audio_out else ["text"],
            "voice": config.voice,
            "output_audio_format": config.output_format,
            "temperature": config.temperature,
            "max_output_tokens": config.max_output_tokens,
            "metadata": config.metadata,
            "usage": usage,
        }

    def item_event_types(self) -> tuple[str, ...]:
        return ("conversation.item.created",)


# --------------------------------------------------------------------------- GA


class _GA(Dialect):
    name = "ga"
    beta = False
    client_types = (
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
        "session.close",
    )
    text_delta = "response.output_text.delta"
    text_done = "response.output_text.done"
    audio_delta = "response.output_audio.delta"
    audio_done = "response.output_audio.done"
    transcript_delta = "response.output_audio_transcript.delta"
    transcript_done = "response.output_audio_transcript.done"
    item_text_type = "output_text"
    item_audio_type = "output_audio"
    user_content_types = ("input_text", "input_audio", "input_image")
    default_max_session_seconds = 60 * 60.0

    def __init__(self) -> None:
        fmt = _ga_format_spec()
        voice = ByType("a string or an object", str=Str(GA_VOICES), dict=Obj({"id": Str()}, ("id",)))
        tools = Arr(
            Tagged(
                {
                    "function": _function_tool(),
                    "mcp": _mcp_tool(),
                },
                default="function",
            ),
            max_items=128,
        )
        modalities = Arr(Str(("text", "audio")))
        prompt = Nullable(Obj({"id": Str(), "version": Str(), "variables": Any_("an object", dict)}, ("id",)))
        reasoning = Nullable(Obj({"effort": Str(("minimal", "low", "medium", "high", "xhigh"))}))
        audio_input = Obj(
            {
                "format": fmt,
                "transcription": _TRANSCRIPTION_GA,
                "noise_reduction": _NOISE,
                "turn_detection": _turn_detection_spec(ga=True),
            }
        )
        include = Nullable(Arr(Str(("item.input_audio_transcription.logprobs",))))
        self.session_spec = Obj(
            {
                "type": Str(("realtime",)),
                "model": Str(),
                "output_modalities": modalities,
                "instructions": Str(),
                "audio": Obj({"input": audio_input, "output": Obj({"format": fmt, "voice": voice, "speed": Num(0.25, 1.5)})}),
                "tools": tools,
                "tool_choice": _tool_choice_spec(beta=False, session=False),
                "max_output_tokens": _MAX_TOKENS,
                "tracing": _TRACING,
                "prompt": prompt,
                "include": include,
                "truncation": ByType(
                    "a string or an object",
                    str=Str(("auto", "disabled")),
                    dict=Tagged(
                        {
                            "retention_ratio": Obj(
                                {
                                    "type": Str(),
                                    "retention_ratio": Num(0.0, 1.0),
                                    "token_limits": Obj({"post_instructions": Int(0)}),
                                },
                                ("retention_ratio",),
                            )
                        }
                    ),
                ),
                "parallel_tool_calls": Bool(),
                "reasoning": reasoning,
            },
            required=("type",),
            validate=self._check_modalities,
        )
        self.transcription_session_spec = Obj(
            {"type": Str(("transcription",)), "audio": Obj({"input": audio_input}), "include": include},
            required=("type",),
        )
        self.response_spec = Obj(
            {
                "output_modalities": modalities,
                "instructions": Str(),
                "audio": Obj({"output": Obj({"format": fmt, "voice": voice})}),
                "tools": tools,
                "tool_choice": _tool_choice_spec(beta=False, session=False),
                "max_output_tokens": _MAX_TOKENS,
                "conversation": Str(("auto", "none")),
                "metadata": Nullable(_METADATA),
                "input": Arr(Any_("an object", dict)),
                "prompt": prompt,
                "parallel_tool_calls": Bool(),
                "reasoning": reasoning,
            },
            validate=self._check_modalities,
        )

    @staticmethod
    def _check_modalities(value: dict[str, Any], path: str) -> None:
        mods = value.get("output_modalities")
        if mods is not None and mods not in (["text"], ["audio"]):
            raise ClientEventError(
                f"Invalid '{path}.output_modalities': expected exactly one of 'text' or 'audio', but got {mods!r}.",
                code="invalid_value",
                param=f"{path}.output_modalities",
            )

    def default_session(self, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": dict(_GA_FORMAT_OBJECTS["pcm16"]),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": _fill_turn_detection({"type": "server_vad"}, ga=True),
                },
                "output": {"format": dict(_GA_FORMAT_OBJECTS["pcm16"]), "voice": "alloy", "speed": 1.0},
            },
            "include": None,
        }

    def default_transcription_session(self, session_id: str, expires_at: int) -> dict[str, Any]:
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": session_id,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": dict(_GA_FORMAT_OBJECTS["pcm16"]),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": _fill_turn_detection({"type": "server_vad"}, ga=True),
                }
            },
            "include": None,
        }

    def update_session(self, session: dict[str, Any], patch: Any, model: str) -> dict[str, Any]:
        if session.get("type") == "transcription":
            return self._update_transcription_session(session, patch)
        if isinstance(patch, dict) and "type" in patch and patch["type"] == "transcription":
            raise ClientEventError(
                "Passing a transcription session update event to a realtime session is not allowed; connect "
                "with ?intent=transcription for a transcription session.",
                code="invalid_value",
                param="session.type",
            )
        self.session_spec.check(patch, "session")
        self._check_model(patch, model)
        new = dict(session)
        for key, value in patch.items():
            if key in ("model", "type"):
                continue
            if key == "audio":
                audio = {"input": dict(session["audio"]["input"]), "output": dict(session["audio"]["output"])}
                for sub in ("input", "output"):
                    for k, v in value.get(sub, {}).items():
                        if k == "turn_detection":
                            v = _fill_turn_detection(v, ga=True)
                        elif k == "format":
                            v = _ga_format_object(v)
                        audio[sub][k] = v
                value = audio
            elif key == "tools":
                value = [dict(t) if t.get("type") else {"type": "function", **t} for t in value]
            new[key] = value
        return new

    def _update_transcription_session(self, session: dict[str, Any], patch: Any) -> dict[str, Any]:
        if isinstance(patch, dict) and patch.get("type") == "realtime":
            raise ClientEventError(
                "Passing a realtime session update event to a transcription session is not allowed.",
                code="invalid_value",
                param="session.type",
            )
        self.transcription_session_spec.check(patch, "session")
        new = dict(session)
        for key, value in patch.items():
            if key == "type":
                continue
            if key == "audio":
                audio_in = dict(session["audio"]["input"])
                for k, v in value.get("input", {}).items():
                    if k == "turn_detection":
                        v = _fill_turn_detection(v, ga=True)
                    elif k == "format":
                        v = _ga_format_object(v)
                    audio_in[k] = v
                value = {"input": audio_in}
            new[key] = value
        return new

    def view(self, session: dict[str, Any]) -> SessionView:
        audio_in = session["audio"]["input"]
        if session.get("type") == "transcription":
            return SessionView(
                voice=None,
                audio_out=False,
                input_format=_GA_FORMAT_TYPES[audio_in["format"]["type"]],
                output_format="pcm16",
                turn_detection=audio_in["turn_detection"],
                transcription=audio_in["transcription"],
                tools=[],
                tool_choice="none",
                instructions="",
                max_output_tokens="inf",
                transcription_only=True,
            )
        audio_out = session["audio"]["output"]
        return SessionView(
            voice=audio_out["voice"],
            audio_out=session["output_modalities"] == ["audio"],
            input_format=_GA_FORMAT_TYPES[audio_in["format"]["type"]],
            output_format=_GA_FORMAT_TYPES[audio_out["format"]["type"]],
            turn_detection=audio_in["turn_detection"],
            transcription=audio_in["transcription"],
            tools=session["tools"],
            tool_choice=session["tool_choice"],
            instructions=session["instructions"],
            max_output_tokens=session["max_output_tokens"],
        )

    def response_config(self, view: SessionView, params: Any) -> ResponseConfig:
        params = {} if params is None else params
        self.response_spec.check(params, "response")
        mods = params.get("output_modalities")
        out = params.get("audio", {}).get("output", {})
        tools = params.get("tools")
        return ResponseConfig(
            audio_out=view.audio_out if mods is None else mods == ["audio"],
            voice=out.get("voice", view.voice),
            output_format=(
                _GA_FORMAT_TYPES[out["format"].get("type", "audio/pcm")] if "format" in out else view.output_format
            ),
            instructions=params.get("instructions", view.instructions),
            tools=(
                [t if t.get("type") else {"type": "function", **t} for t in tools] if tools is not None else view.tools
            ),
            tool_choice=params.get("tool_choice", view.tool_choice),
            max_output_tokens=params.get("max_output_tokens", view.max_output_tokens),
            conversation=params.get("conversation", "auto"),
            metadata=params.get("metadata"),
            input=params.get("input"),
        )

    def response_object(self, *, response_id, status, status_details, output, usage, conversation_id, config):  # type: ignore[override]
        return {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": conversation_id,
            "output_modalities": ["audio"] if config.audio_out else ["text"],
            "audio": {"output": {"format": dict(_GA_FORMAT_OBJECTS[config.output_format]), "voice": config.voice}},
            "max_output_tokens": config.max_output_tokens,
            "metadata": config.metadata,
            "usage": usage,
        }

    def item_event_types(self) -> tuple[str, ...]:
        return ("conversation.item.added", "conversation.item.done")


GA: Dialect = _GA()
BETA: Dialect = _Beta()
