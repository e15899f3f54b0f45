"""TypedDicts describing the plain dicts the client hands out and accepts.

Everything the client exchanges is a plain ``dict`` (as in the JS reference,
where everything is a plain object); these types only describe the keys for
type checkers and readers.  Wire events keep every field the server sent, so
the event types list the fields the client relies on, not all of them.

Units: audio is PCM16 mono (2 bytes per sample, 24 000 samples/s); ``*_ms``
fields are milliseconds of audio, ``sample_count`` values are samples.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

from .audio import AudioBuffer

__all__ = [
    "CallDtmfEvent",
    "CloseEvent",
    "ContentPart",
    "ConversationUpdatedEvent",
    "DeltaPayload",
    "ErrorEvent",
    "FormattedItem",
    "FormattedTool",
    "InputAudio",
    "IdleTimeoutEvent",
    "ItemEvent",
    "RealtimeEvent",
    "ReconnectedEvent",
    "ReconnectingEvent",
    "ServerEvent",
    "SessionConfig",
    "ToolDefinition",
    "ToolRegistration",
    "TranscriptionSegment",
    "TurnDetection",
    "ItemType",
]

#: Audio accepted by ``append_input_audio`` and ``input_audio`` content parts:
#: PCM16 bytes (``bytes``/``bytearray``/``memoryview``, little-endian),
#: ``array('h')``, numpy int16, or float samples in [-1, 1] (numpy float32/float64,
#: ``array('f')``) converted as the reference does.
InputAudio = Any


class ContentPart(TypedDict, total=False):
    """One part of a message item's ``content``."""

    type: str  # input_text, input_audio, text, audio (beta) / output_text, output_audio (GA)
    text: str
    transcript: Optional[str]
    audio: Union[str, Any]  # base64 on the wire; raw samples accepted by send_user_message_content


class FormattedTool(TypedDict, total=False):
    """``item["formatted"]["tool"]`` of a ``function_call`` item (``type`` ``"function"``, with ``call_id``)
    or of an ``mcp_call`` / ``mcp_approval_request`` item (``type`` ``"mcp"``, with ``server_label``)."""

    type: Literal["function", "mcp"]
    name: str
    call_id: str
    server_label: str
    arguments: str  # JSON text as streamed so far


class TranscriptionSegment(TypedDict):
    """One diarized segment of a user item's input transcription (``formatted["segments"]``)."""

    id: str
    speaker: str
    start: float  # seconds into the item's audio
    end: float
    text: str
    content_index: int


class FormattedItem(TypedDict, total=False):
    """``item["formatted"]``: the item's content in convenient form."""

    audio: AudioBuffer  # every sample of the item (PCM16, 24 kHz); numpy.frombuffer(audio, numpy.int16)
    text: str
    transcript: str
    tool: FormattedTool
    output: Optional[str]  # function_call_output and mcp_call items
    tools: List[Dict[str, Any]]  # mcp_list_tools items
    segments: List[TranscriptionSegment]  # user items with diarized transcription


class ItemType(TypedDict, total=False):
    """A conversation item: the server's item plus ``formatted``."""

    id: str
    object: str
    type: str  # message, function_call, function_call_output, mcp_call, mcp_list_tools, mcp_approval_*
    status: str  # in_progress, completed, incomplete
    role: str  # user, assistant, system
    content: List[ContentPart]
    call_id: str
    name: str
    arguments: str
    output: str
    formatted: FormattedItem


class DeltaPayload(TypedDict, total=False):
    """``delta`` of ``conversation.updated``: exactly one key, or the whole delta is None.

    ``audio`` is ``bytes`` holding only the new PCM16 samples (2 bytes each,
    little-endian); it is immutable and stays valid after the handler returns.
    ``text``, ``transcript`` and ``arguments`` are the text added to the item;
    for a user item the ``transcript`` deltas (input transcription) add up to
    its final transcript (a final transcript that differs from them comes with
    ``delta`` None).
    """

    audio: bytes
    text: str
    transcript: str
    arguments: str
    segment: TranscriptionSegment


class ConversationUpdatedEvent(TypedDict):
    """Payload of ``conversation.updated``."""

    item: ItemType
    delta: Optional[DeltaPayload]


class ItemEvent(TypedDict):
    """Payload of ``conversation.item.appended`` / ``conversation.item.completed`` and of the waits."""

    item: ItemType


class RealtimeEvent(TypedDict):
    """Payload of ``realtime.event``: every client and server event."""

    time: str  # ISO 8601, UTC, milliseconds
    source: Literal["client", "server"]
    event: Dict[str, Any]


class _ErrorEventBase(TypedDict):
    source: Literal["server", "transport", "protocol", "handler", "tool"]
    message: str


class ErrorEvent(_ErrorEventBase, total=False):
    """Payload of ``error``.

    ``source``: ``"server"`` (a server ``error`` event, or a
    ``conversation.item.input_audio_transcription.failed`` event; ``error``
    holds its ``error`` object), ``"transport"`` (the connection failed or was lost, or
    a reconnect attempt failed), ``"protocol"`` (a frame or event this package
    could not process: not JSON, binary, or naming an unknown item),
    ``"handler"`` (an event handler raised) or ``"tool"`` (a tool call failed;
    the model was sent ``{"error": message}``).  ``event`` is the event
    involved, when there is one.
    """

    error: Optional[Dict[str, Any]]
    exception: Optional[BaseException]
    event: Any


class _CloseEventBase(TypedDict):
    code: Optional[int]
    reason: str
    error: bool


class CloseEvent(_CloseEventBase, total=False):
    """Payload of ``close``: the connection ended.

    ``error`` is True for abnormal ends (network failure, no close frame,
    protocol error); ``code``/``reason`` come from the close frame (None/"" when
    there was none).  A server close with another code than 1000 (or 1005) keeps
    ``error`` False but is followed by an ``error`` event naming the code.
    ``reconnecting`` says whether the client will try to reopen.
    """

    exception: Optional[BaseException]
    reconnecting: bool


class CallDtmfEvent(TypedDict):
    """Payload of ``call.dtmf``: the caller pressed a key on a SIP call."""

    digit: str  # "0".."9", "*", "#", "A".."D"
    received_at: int  # Unix time, seconds
    event: Dict[str, Any]  # input_audio_buffer.dtmf_event_received


class IdleTimeoutEvent(TypedDict):
    """Payload of ``conversation.idle_timeout``: no speech for the session's ``idle_timeout_ms``."""

    item_id: str  # the user item the silence was committed as
    audio_start_ms: int
    audio_end_ms: int
    event: Dict[str, Any]  # input_audio_buffer.timeout_triggered


class ReconnectingEvent(TypedDict):
    """Payload of ``reconnecting``: a new connection attempt starts after ``delay`` seconds."""

    attempt: int
    delay: float


class ReconnectedEvent(TypedDict):
    """Payload of ``reconnected``: a new session is open and the session config and tools were sent again.

    The server-side conversation of the old session is gone; local items stay
    in ``client.conversation`` but the server no longer knows them, unless
    ``replay="text"`` re-created them (as text, under new ids) before this.
    """

    attempt: int
    url: str


class TurnDetection(TypedDict, total=False):
    """``turn_detection`` settings (``server_vad`` or ``semantic_vad``)."""

    type: str
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool
    eagerness: str
    idle_timeout_ms: Optional[int]


class ToolDefinition(TypedDict, total=False):
    """A function tool as given to ``add_tool`` (``type`` is set to ``"function"`` when sent)."""

    type: Literal["function"]
    name: str
    description: str
    parameters: Dict[str, Any]  # JSON Schema


class ToolRegistration(TypedDict):
    """What ``add_tool`` returns and stores."""

    definition: ToolDefinition
    handler: Any


class SessionConfig(TypedDict, total=False):
    """The reference's flat session config (GA-native keys such as ``audio`` and ``output_modalities`` are accepted too)."""

    modalities: List[str]
    instructions: str
    voice: str
    input_audio_format: str
    output_audio_format: str
    input_audio_transcription: Optional[Dict[str, Any]]
    turn_detection: Optional[TurnDetection]
    tools: List[ToolDefinition]
    tool_choice: Union[str, Dict[str, Any]]
    temperature: float
    max_response_output_tokens: Union[int, Literal["inf"]]
    # GA-native keys, sent as given in the GA dialect
    type: str
    output_modalities: List[str]
    audio: Dict[str, Any]
    max_output_tokens: Union[int, Literal["inf"]]


#: A server event as parsed (a dict with at least ``type`` and ``event_id``).
ServerEvent = Dict[str, Any]
