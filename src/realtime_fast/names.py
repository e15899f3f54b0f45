"""The names of the Realtime protocol's events and of the client's own, in one place.

Every module of the package (compiled ones included) takes these from here.

* Server event names: the conversation processes the beta names;
  :data:`SERVER_EVENT_ALIASES` maps each GA name onto its beta one, so one
  processing table serves both protocols.
* :data:`AUDIO_DELTA_TYPES` and :data:`TEXT_DELTA_FIELDS`: the streamed
  deltas that make up almost all of a response, with the item field each
  text delta extends.
* The high-level events :class:`~realtime_fast.RealtimeClient` dispatches
  (``conversation.updated``, ``realtime.event`` ...), and the wildcards
  :class:`~realtime_fast.RealtimeAPI` dispatches every event under.
"""

from __future__ import annotations

from typing import Dict, FrozenSet

__all__ = [
    "AUDIO_DELTA_TYPES",
    "AUDIO_PART_TYPES",
    "CALL_DTMF",
    "CLIENT_ANY",
    "CONVERSATION_IDLE_TIMEOUT",
    "CONVERSATION_INTERRUPTED",
    "CONVERSATION_UPDATED",
    "DTMF_EVENT_RECEIVED",
    "IDLE_TIMEOUT_TRIGGERED",
    "INPUT_AUDIO_APPEND",
    "ITEM_APPENDED",
    "ITEM_COMPLETED",
    "MCP_APPROVAL_REQUEST",
    "MCP_APPROVAL_RESPONSE",
    "MCP_CALL",
    "MCP_ITEM_TYPES",
    "MCP_LIST_TOOLS",
    "REALTIME_EVENT",
    "SERVER_ANY",
    "SERVER_EVENT_ALIASES",
    "TEXT_DELTA_FIELDS",
    "TEXT_PART_TYPES",
    "TRANSCRIPTION_SEGMENT",
]

# -- the client's high-level events ------------------------------------------------------

#: An item changed: ``{"item": item, "delta": delta_or_None}``.
CONVERSATION_UPDATED = "conversation.updated"
#: Every client and server event: ``{"time", "source", "event"}``.
REALTIME_EVENT = "realtime.event"
#: An item was created: ``{"item": item}``.
ITEM_APPENDED = "conversation.item.appended"
#: An item finished: ``{"item": item}``.
ITEM_COMPLETED = "conversation.item.completed"
#: Server VAD heard the user start speaking.
CONVERSATION_INTERRUPTED = "conversation.interrupted"
#: The caller pressed a key on a SIP call: ``{"digit", "received_at", "event"}``.
CALL_DTMF = "call.dtmf"
#: Server VAD heard no speech for the session's ``idle_timeout_ms``:
#: ``{"item_id", "audio_start_ms", "audio_end_ms", "event"}``.
CONVERSATION_IDLE_TIMEOUT = "conversation.idle_timeout"

#: What :class:`~realtime_fast.RealtimeAPI` dispatches every server / client event under, after its own name.
SERVER_ANY = "server.*"
CLIENT_ANY = "client.*"

# -- wire events ----------------------------------------------------------------------------

#: The client event that streams input audio.
INPUT_AUDIO_APPEND = "input_audio_buffer.append"

#: A telephone keypad press on a SIP call (GA).
DTMF_EVENT_RECEIVED = "input_audio_buffer.dtmf_event_received"
#: Server VAD's ``idle_timeout_ms`` passed without speech (GA).
IDLE_TIMEOUT_TRIGGERED = "input_audio_buffer.timeout_triggered"
#: A diarized segment of a user item's input transcription (GA).
TRANSCRIPTION_SEGMENT = "conversation.item.input_audio_transcription.segment"

#: GA server event name -> the (beta) name the conversation processes.
SERVER_EVENT_ALIASES: Dict[str, str] = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}

#: Server event types that carry a base64 audio delta (GA and beta).
AUDIO_DELTA_TYPES: FrozenSet[str] = frozenset({"response.output_audio.delta", "response.audio.delta"})

#: Streamed text deltas (GA and beta) -> the item field each extends: a content
#: part's and ``formatted``'s ``text`` or ``transcript``, or the function call's ``arguments``.
TEXT_DELTA_FIELDS: Dict[str, str] = {
    "response.output_text.delta": "text",
    "response.text.delta": "text",
    "response.output_audio_transcript.delta": "transcript",
    "response.audio_transcript.delta": "transcript",
    "response.function_call_arguments.delta": "arguments",
}

# -- content part types ---------------------------------------------------------------------

#: Content part types whose ``text`` goes into ``formatted["text"]`` (beta, GA).
TEXT_PART_TYPES: FrozenSet[str] = frozenset({"text", "input_text", "output_text"})
#: Content part types that carry the assistant's audio (beta, GA).
AUDIO_PART_TYPES: FrozenSet[str] = frozenset({"audio", "output_audio"})

# -- item types -------------------------------------------------------------------------------

#: The MCP item types (GA): tools a remote MCP server offers, a call the service makes to
#: one, the model's request for approval of a call, and the client's answer.
MCP_LIST_TOOLS = "mcp_list_tools"
MCP_CALL = "mcp_call"
MCP_APPROVAL_REQUEST = "mcp_approval_request"
MCP_APPROVAL_RESPONSE = "mcp_approval_response"
MCP_ITEM_TYPES: FrozenSet[str] = frozenset({MCP_LIST_TOOLS, MCP_CALL, MCP_APPROVAL_REQUEST, MCP_APPROVAL_RESPONSE})
