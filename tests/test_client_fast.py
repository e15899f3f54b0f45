"""The compiled receive path of RealtimeClient gives exactly what its pure twin gives.

Every scenario feeds the same server frames to two clients: the installed
package's (compiled core: frame receiver, conversation core, client fast
path) and a second copy of the package loaded with every module pure (the
specification; see ``realtime_fast._impl.load_pure_copy``).  What the user can
observe must be identical, in the same order: the ``conversation.updated``
payloads, the ``error`` events, the raw events other listeners see, and the
conversation's items afterwards.  The scenarios cover every streamed delta
and every item event, the fast path's listener modes, and the ways off it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from typing import Any, Callable, Dict, List

import pytest

import realtime_fast
from realtime_fast import RealtimeClient
from realtime_fast import _client_fast_py
from realtime_fast.transport import Transport

ITEM = "item_fast0000000000000001"
CALL = "item_fast0000000000000002"
RESPONSE = "resp_fast000000000000001"
KEY = "sk-test-realtime-fast-0123456789"


def _compiled_module() -> Any:
    if os.environ.get("REALTIME_FAST_NO_EXTENSIONS") == "1":
        pytest.skip("extensions disabled")
    try:
        return importlib.import_module("realtime_fast._client_fast")
    except ImportError:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip("realtime_fast._client_fast not built")


def _frame(event: Dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def preamble(beta: bool = False) -> List[bytes]:
    message = {"id": ITEM, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    call = {"id": CALL, "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": "get_weather", "call_id": "call_1", "arguments": ""}
    added = "conversation.item.created" if beta else "conversation.item.added"
    events = [
        {"type": "response.created", "event_id": "e0", "response": {"object": "realtime.response", "id": RESPONSE, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "event_id": "e1", "response_id": RESPONSE, "output_index": 0, "item": message},
        {"type": added, "event_id": "e2", "previous_item_id": None, "item": message},
        {"type": "response.content_part.added", "event_id": "e3", "response_id": RESPONSE, "item_id": ITEM,
         "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": ""}},
        {"type": "response.content_part.added", "event_id": "e4", "response_id": RESPONSE, "item_id": ITEM,
         "output_index": 0, "content_index": 1, "part": {"type": "text", "text": ""}},
        {"type": "response.output_item.added", "event_id": "e5", "response_id": RESPONSE, "output_index": 1, "item": call},
        {"type": added, "event_id": "e6", "previous_item_id": ITEM, "item": call},
    ]
    return [_frame(e) for e in events]


def _raw(text: str) -> bytes:
    return text.encode()


def delta(kind: str, value: Any = " hi", item: str = ITEM, **fields: Any) -> bytes:
    event = {"type": kind, "event_id": "ev", "response_id": RESPONSE, "item_id": item, "output_index": 0, "content_index": 0, "delta": value}
    event.update(fields)
    return _frame({k: v for k, v in event.items() if v is not _DROP})


_DROP = object()
TEXT, TRANSCRIPT, ARGS, AUDIO = (
    "response.output_text.delta", "response.output_audio_transcript.delta",
    "response.function_call_arguments.delta", "response.output_audio.delta",
)

#: Frames after the preamble, covering the fast path and every way off it.
DELTAS: Dict[str, List[bytes]] = {
    "plain": [
        delta(TRANSCRIPT, " Hello"), delta(TEXT, " world", content_index=1), delta(ARGS, '{"city":', item=CALL),
        delta(AUDIO, "AAECAwQF"), delta(TRANSCRIPT, ""), delta(ARGS, '"Paris"}', item=CALL),
    ],
    "beta names": [
        delta("response.audio_transcript.delta", " Hi"), delta("response.text.delta", " there", content_index=1),
        delta("response.audio.delta", "AAEC"),
    ],
    "unknown item": [delta(TRANSCRIPT, " x", item="item_nope"), delta(ARGS, "{", item="item_nope"), delta(AUDIO, "AAEC", item="item_nope")],
    "odd content index": [
        delta(TRANSCRIPT, " a", content_index=5), delta(TRANSCRIPT, " b", content_index=-1),
        delta(TRANSCRIPT, " c", content_index=2**70), delta(TRANSCRIPT, " d", content_index=True),
        delta(TRANSCRIPT, " e", content_index="0"), delta(TRANSCRIPT, " f", content_index=_DROP),
    ],
    "odd delta": [delta(TRANSCRIPT, None), delta(TRANSCRIPT, 5), delta(ARGS, None, item=CALL), delta(TEXT, _DROP, content_index=1)],
    "no event id": [delta(TRANSCRIPT, " q", event_id=""), delta(ARGS, "q", item=CALL, event_id=_DROP)],
    "wrong part": [delta(TEXT, " t", content_index=0), delta(ARGS, "x", item=ITEM), delta(TRANSCRIPT, " t", item=CALL)],
    "bad audio": [delta(AUDIO, "not base64!"), delta(AUDIO, "AAE")],
    # Frames the receiver could hand to the compiled sink without an event dict, and the
    # near misses it must leave to the usual path (hand-written: json.dumps cannot make them).
    "raw frames": [
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"a","event_id":"","item_id":"{ITEM}","content_index":0,"delta":" dup id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"","event_id":"b","item_id":"{ITEM}","content_index":0,"delta":" dup id 2"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"c","item_id":"{ITEM}","content_index":5,"content_index":0,"delta":" dup index"}}'),
        _raw(f'{{"type":"{AUDIO}","event_id":"d","item_id":"{ITEM}","output_index":0,"output_index":1,"delta":"AAEC"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":0,"item_id":"{ITEM}","delta":" zero id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":7,"item_id":"{ITEM}","delta":" int id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":true,"item_id":"{ITEM}","delta":" true id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":false,"item_id":"{ITEM}","delta":" false id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":null,"item_id":"{ITEM}","delta":" null id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"e","item_id":"{ITEM}","content_index":null,"delta":" null index"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"e","item_id":"{ITEM}","content_index":1.0,"delta":" float index"}}'),
        _raw(f'{{"type":"{TEXT}","event_id":"e","item_id":"{ITEM}","content_index":1,"delta":"esc\\"aped\\n"}}'),
        _raw(f'{{"type":"{TEXT}","event_id":"e","item_id":"{ITEM}","content_index":1,"delta":"caf\u00e9 \u2603"}}'),
        _raw(f' {{ "type" : "{TRANSCRIPT}" , "event_id" : "f" , "item_id" : "{ITEM}" , "delta" : " spaced" }} '),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"g","item_id":["{ITEM}"],"delta":" list id"}}'),
        _raw(f'{{"type":"{TRANSCRIPT}","event_id":"g","item_id":7,"delta":" int item"}}'),
        _raw(f'{{"type":"{ARGS}","event_id":"h","item_id":"{CALL}","content_index":"x","delta":"[1]"}}'),
        _raw(f'{{"type":"{AUDIO}","event_id":"i","item_id":"{ITEM}","delta":"AA\\/B"}}'),
        _raw(f'{{"type":"{AUDIO}","item_id":"{ITEM}","delta":"AAEC","extra":{{"nested":1}}}}'),
        _raw(f'{{"type":"{AUDIO}","item_id":"{ITEM}","delta":"AAECAw=="}}'),
    ],
}

USER = "item_fast0000000000000003"
_MESSAGE_DONE = {"id": ITEM, "object": "realtime.item", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_audio", "transcript": " Hello"}, {"type": "output_text", "text": " world"}]}

#: Item events between and after the deltas: every way an item is created, changed, finished or removed.
DELTAS["items"] = [
    _frame({"type": "conversation.item.added", "event_id": "i1", "previous_item_id": CALL, "item": {
        "id": USER, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
        "content": [{"type": "input_audio", "transcript": None}]}}),
    _frame({"type": "conversation.item.input_audio_transcription.delta", "event_id": "i2", "item_id": USER, "content_index": 0, "delta": "How "}),
    _frame({"type": "conversation.item.input_audio_transcription.delta", "event_id": "i3", "item_id": USER, "content_index": 0, "delta": "are you"}),
    _frame({"type": "conversation.item.input_audio_transcription.completed", "event_id": "i4", "item_id": USER, "content_index": 0, "transcript": "How are you?"}),
    _frame({"type": "conversation.item.input_audio_transcription.failed", "event_id": "i4b", "item_id": USER, "content_index": 0,
            "error": {"type": "transcription_error", "message": "audio unclear"}}),
    delta(TRANSCRIPT, " Hello"),
    delta(AUDIO, "AAECAwQF"),
    _frame({"type": "response.output_item.done", "event_id": "i5", "response_id": RESPONSE, "output_index": 1, "item": {
        "id": CALL, "object": "realtime.item", "type": "function_call", "status": "completed", "name": "get_weather",
        "call_id": "call_1", "arguments": "{}"}}),
    _frame({"type": "conversation.item.done", "event_id": "i6", "previous_item_id": None, "item": _MESSAGE_DONE}),
    _frame({"type": "conversation.item.truncated", "event_id": "i7", "item_id": ITEM, "content_index": 0, "audio_end_ms": 0}),
    _frame({"type": "conversation.item.deleted", "event_id": "i8", "item_id": USER}),
    _frame({"type": "conversation.item.deleted", "event_id": "i8b", "item_id": USER}),  # gone already: an error
    _frame({"type": "conversation.item.retrieved", "event_id": "i9", "item": {
        "id": "item_retrieved00000000001", "object": "realtime.item", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "hi", "audio": "AAECAw=="}]}}),
    # An out-of-band response: its deltas name an item the conversation never sees, and are ignored.
    _frame({"type": "response.created", "event_id": "i10", "response": {
        "object": "realtime.response", "id": "resp_oob", "status": "in_progress", "output": [], "conversation_id": None}}),
    delta(TRANSCRIPT, " oob", item="item_oob", response_id="resp_oob"),
    delta(AUDIO, "AAEC", item="item_oob", response_id="resp_oob"),
    _frame({"type": "response.done", "event_id": "i11", "response": {
        "object": "realtime.response", "id": RESPONSE, "status": "completed", "output": [], "usage": {"total_tokens": 7}}}),
    # A second item under a known id: an error; that id's later events are ignored.
    _frame({"type": "conversation.item.added", "event_id": "i12", "previous_item_id": None, "item": {
        "id": CALL, "object": "realtime.item", "type": "function_call", "status": "in_progress", "name": "other",
        "call_id": "call_2", "arguments": ""}}),
    delta(ARGS, '{"x":1}', item=CALL),
    _frame({"type": "not.a.known.event", "event_id": "i13"}),
    b"not json",
]

MCP = "mcp_fast00000000000000001"
MCP_LIST = "mcpl_fast0000000000000001"
SPEAKER = "item_fast0000000000000004"
_MCP_CALL = {"id": MCP, "type": "mcp_call", "server_label": "docs", "name": "search", "arguments": ""}

#: MCP items, diarized segments, DTMF and idle timeouts: the item events of calls and MCP tools.
DELTAS["mcp and segments"] = [
    _frame({"type": "conversation.item.added", "event_id": "m1", "previous_item_id": CALL, "item": {
        "id": MCP_LIST, "type": "mcp_list_tools", "server_label": "docs", "tools": []}}),
    _frame({"type": "mcp_list_tools.in_progress", "event_id": "m2", "item_id": MCP_LIST}),
    _frame({"type": "mcp_list_tools.completed", "event_id": "m3", "item_id": MCP_LIST}),
    _frame({"type": "conversation.item.done", "event_id": "m4", "previous_item_id": CALL, "item": {
        "id": MCP_LIST, "type": "mcp_list_tools", "server_label": "docs", "tools": [{"name": "search", "input_schema": {}}]}}),
    _frame({"type": "response.output_item.added", "event_id": "m5", "response_id": RESPONSE, "output_index": 2, "item": _MCP_CALL}),
    _frame({"type": "conversation.item.added", "event_id": "m6", "previous_item_id": MCP_LIST, "item": _MCP_CALL}),
    delta("response.mcp_call_arguments.delta", '{"q":', item=MCP, content_index=_DROP),
    delta("response.mcp_call_arguments.delta", '"x"}', item=MCP, content_index=_DROP),
    delta("response.mcp_call_arguments.delta", "{", item="mcp_unknown", content_index=_DROP),
    _frame({"type": "response.mcp_call_arguments.done", "event_id": "m7", "response_id": RESPONSE, "item_id": MCP,
            "output_index": 2, "arguments": '{"q":"x"}'}),
    _frame({"type": "response.mcp_call.in_progress", "event_id": "m8", "item_id": MCP, "output_index": 2}),
    _frame({"type": "response.mcp_call.completed", "event_id": "m9", "item_id": MCP, "output_index": 2}),
    _frame({"type": "conversation.item.done", "event_id": "m10", "previous_item_id": MCP_LIST,
            "item": dict(_MCP_CALL, arguments='{"q":"x"}', output="3 pages")}),
    _frame({"type": "response.output_item.done", "event_id": "m11", "response_id": RESPONSE, "output_index": 2,
            "item": dict(_MCP_CALL, arguments='{"q":"x"}', output="3 pages")}),
    _frame({"type": "conversation.item.input_audio_transcription.segment", "event_id": "s1", "item_id": SPEAKER,
            "content_index": 0, "id": "seg_0", "speaker": "A", "start": 0.0, "end": 0.5, "text": "Hello."}),
    _frame({"type": "conversation.item.added", "event_id": "s2", "previous_item_id": MCP, "item": {
        "id": SPEAKER, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
        "content": [{"type": "input_audio", "transcript": None}]}}),
    _frame({"type": "conversation.item.input_audio_transcription.segment", "event_id": "s3", "item_id": SPEAKER,
            "content_index": 0, "id": "seg_1", "speaker": "B", "start": 0.5, "end": 1.0, "text": "Hi."}),
    _frame({"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1700000000}),
    _frame({"type": "input_audio_buffer.timeout_triggered", "event_id": "t1", "audio_start_ms": 0, "audio_end_ms": 5000,
            "item_id": "item_idle"}),
    _frame({"type": "session.updated", "event_id": "u1", "session": {"type": "realtime", "instructions": "x"}}),
]

#: Listener set-ups: each registers handlers on a client and returns nothing.
Setup = Callable[[RealtimeClient, List[Any]], None]


def _one(client: RealtimeClient, log: List[Any]) -> None:
    client.on("conversation.updated", lambda e: log.append(("updated", e["item"]["id"], e["delta"])))
    client.on("conversation.item.appended", lambda e: log.append(("appended", e["item"]["id"])))
    client.on("conversation.item.completed", lambda e: log.append(("completed", e["item"]["id"])))


def _two(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.on("conversation.updated", lambda e: log.append(("second", e["delta"])))


def _raising(client: RealtimeClient, log: List[Any]) -> None:
    def bad(event: Any) -> None:
        raise RuntimeError("handler bug")

    client.on("conversation.updated", bad)


def _raw_api(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.realtime.on("server.*", lambda e: log.append(("raw", e["type"], e.get("delta"))))


def _raw_no_audio_deltas(client: RealtimeClient, log: List[Any]) -> None:
    _raw_api(client, log)
    client.realtime.raw_audio_deltas = False


def _raw_by_type(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.realtime.raw_audio_deltas = False
    for kind in (TRANSCRIPT, AUDIO, ARGS):
        client.realtime.on(f"server.{kind}", lambda e, kind=kind: log.append(("typed", kind, sorted(e))))
    client.realtime.on("server.*", lambda e: log.append(("any-1", e["type"])))
    client.realtime.on("server.*", lambda e: log.append(("any-2", e["type"])))
    client.realtime.on_next("server.*", lambda e: log.append(("any-next", e["type"])))


def _raw_raising(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.realtime.raw_audio_deltas = False

    def bad(event: Any) -> None:
        raise ValueError("raw handler bug")

    client.realtime.on("server.*", bad)


def _realtime_event(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.on("realtime.event", lambda e: log.append(("realtime.event", e["source"], e["event"]["type"], e["event"].get("delta"))))


def _one_shot(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.on_next("conversation.updated", lambda e: log.append(("next", e["delta"])))


def _nobody(client: RealtimeClient, log: List[Any]) -> None:
    pass


def _debug(client: RealtimeClient, log: List[Any]) -> None:
    _one(client, log)
    client.realtime.debug = True


SETUPS: Dict[str, Setup] = {
    "one handler": _one, "two handlers": _two, "raising handler": _raising, "raw api listener": _raw_api,
    "realtime.event": _realtime_event, "one-shot handler": _one_shot, "no listener": _nobody, "debug": _debug,
    "raw listener, no audio deltas": _raw_no_audio_deltas, "raw listeners by type": _raw_by_type,
    "raising raw listener": _raw_raising,
}


def _pure_package() -> Any:
    return realtime_fast._impl.load_pure_copy()


def _compiled_package() -> Any:
    _compiled_module()
    if not realtime_fast.IS_ACCELERATED:
        if os.environ.get("REALTIME_FAST_REQUIRE_EXTENSIONS") == "1":
            raise AssertionError(f"compiled core not loaded: {realtime_fast.LOAD_ERRORS}")
        pytest.skip("the compiled core is not loaded")
    return realtime_fast


def _run(package: Any, setup: Setup, frames: List[Any], protocol: str) -> Dict[str, Any]:
    client = package.RealtimeClient(api_key=KEY, protocol=protocol, transport="websockets")
    receiver = client.realtime.receive_frame
    log: List[Any] = []
    client.on("error", lambda e: log.append(("error", e["source"], e["message"])))
    setup(client, log)
    for frame in frames:
        receiver(frame)
    items = []
    for item in client.conversation.get_items():
        formatted = dict(item["formatted"])
        if formatted.get("audio") is not None:
            formatted["audio"] = bytes(formatted["audio"].to_bytes())
        items.append({**{k: v for k, v in item.items() if k != "formatted"}, "formatted": formatted})
    return {"log": log, "items": items}


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("scenario", list(DELTAS))
def test_compiled_path_matches_the_pure_one(scenario: str, setup: str) -> None:
    compiled = _compiled_package()
    beta = scenario == "beta names"
    frames = preamble(beta) + DELTAS[scenario]
    protocol = "beta" if beta else "ga"
    want = _run(_pure_package(), SETUPS[setup], frames, protocol)
    got = _run(compiled, SETUPS[setup], frames, protocol)
    assert got == want
    if scenario == "plain" and setup == "one handler":  # the comparison is not vacuous
        updates = [entry for entry in want["log"] if entry[0] == "updated" and entry[2] is not None]
        assert len(updates) == len(DELTAS["plain"])
        assert updates[3][2] == {"audio": bytes(range(6))}
        assert want["items"][0]["formatted"]["transcript"] == " Hello"
        assert want["items"][1]["arguments"] == '{"city":"Paris"}'
    if scenario == "items" and setup == "one handler":
        assert ("updated", USER, {"transcript": "are you"}) in want["log"]
        assert ("completed", CALL) in want["log"] and ("appended", "item_retrieved00000000001") in want["log"]
        errors = [entry[2] for entry in want["log"] if entry[0] == "error"]
        assert any("second item the id" in e for e in errors) and any("not valid JSON" in e for e in errors)
    if scenario == "mcp and segments" and setup == "one handler":
        assert ("completed", MCP_LIST) in want["log"] and ("completed", MCP) in want["log"]
        assert ("updated", MCP, {"arguments": '{"q":'}) in want["log"]
        assert ("updated", SPEAKER, {"segment": {"id": "seg_1", "speaker": "B", "start": 0.5, "end": 1.0, "text": "Hi.",
                                                 "content_index": 0}}) in want["log"]
        speaker = next(item for item in want["items"] if item["id"] == SPEAKER)
        assert [segment["text"] for segment in speaker["formatted"]["segments"]] == ["Hello.", "Hi."]
        assert [entry[2] for entry in want["log"] if entry[0] == "error"] == [
            'Could not process server event "response.mcp_call_arguments.delta": '
            'response.mcp_call_arguments.delta: Item "mcp_unknown" not found']


#: The frame types a FrameReceiver takes (transports give bytes or a borrowed memoryview).
FRAME_TYPES: Dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes, "bytearray": bytearray, "memoryview": lambda b: memoryview(bytearray(b)),
    "str": lambda b: b.decode(),
}


@pytest.mark.parametrize("frame_type", list(FRAME_TYPES))
@pytest.mark.parametrize("setup", ["one handler", "raw api listener", "no listener"])
@pytest.mark.parametrize("scenario", ["plain", "raw frames", "bad audio", "unknown item"])
def test_compiled_path_matches_for_every_frame_type(scenario: str, setup: str, frame_type: str) -> None:
    compiled = _compiled_package()
    frames = [FRAME_TYPES[frame_type](f) for f in preamble() + DELTAS[scenario]]
    want = _run(_pure_package(), SETUPS[setup], list(frames), "ga")
    got = _run(compiled, SETUPS[setup], list(frames), "ga")
    assert got == want


def test_coroutine_handlers_are_scheduled_on_the_fast_path() -> None:
    compiled = _compiled_module()

    async def main() -> List[Any]:
        client = RealtimeClient(api_key=KEY, transport="websockets")
        fast = compiled.ClientFastPath(client)
        receiver = client.realtime.receive_frame
        fast.install(receiver)
        seen: List[Any] = []
        errors: List[str] = []

        async def handler(event: Any) -> None:
            if event["delta"] is None:  # the preamble's item updates
                return
            await asyncio.sleep(0)
            seen.append(event["delta"])
            if event["delta"].get("transcript") == " boom":
                raise RuntimeError("async handler bug")

        client.on("conversation.updated", handler)
        client.on("error", lambda e: errors.append(e["message"]))
        for frame in preamble() + [delta(TRANSCRIPT, " ok"), delta(TRANSCRIPT, " boom")]:
            receiver(frame)
        for _ in range(5):
            await asyncio.sleep(0)
        return [seen, errors]

    seen, errors = asyncio.run(main())
    assert seen == [{"transcript": " ok"}, {"transcript": " boom"}]
    assert errors == ['Handler for "conversation.updated" raised RuntimeError: async handler bug']


def test_a_transcript_held_elsewhere_is_not_changed_under_its_holder() -> None:
    # The in-place append must copy a string someone else refers to.
    compiled = _compiled_module()
    client = RealtimeClient(api_key=KEY, transport="websockets")
    fast = compiled.ClientFastPath(client)
    receiver = client.realtime.receive_frame
    fast.install(receiver)
    kept: List[str] = []
    client.on("conversation.updated", lambda e: e["delta"] and kept.append(e["item"]["formatted"]["transcript"]))
    for frame in preamble() + [delta(TRANSCRIPT, "Hel"), delta(TRANSCRIPT, "lo"), delta(TRANSCRIPT, "!")]:
        receiver(frame)
    assert kept == ["Hel", "Hello", "Hello!"]
    assert client.conversation.get_item(ITEM)["content"][0]["transcript"] == "Hello!"


def test_plain_deltas_do_not_take_the_layered_path() -> None:
    # Otherwise the comparison above would hold trivially.
    compiled = _compiled_module()
    client = RealtimeClient(api_key=KEY, transport="websockets")
    fast = compiled.ClientFastPath(client)
    receiver = client.realtime.receive_frame
    fast.install(receiver)
    layered: List[str] = []
    api = client.realtime
    receive, receive_audio = api.receive, api.receive_audio
    api.receive = lambda name, event: (layered.append(event["type"]), receive(name, event))  # type: ignore[method-assign]
    api.receive_audio = lambda event, buf, start: (layered.append(event["type"]), receive_audio(event, buf, start))  # type: ignore[method-assign]
    client.on("conversation.updated", lambda e: None)
    for frame in preamble() + DELTAS["plain"]:
        receiver(frame)
    assert len(layered) == len(preamble())  # the item and part events only
    api.on("server.*", lambda e: None)  # raw listeners: still the fast path (then the raw dispatch)
    api.raw_audio_deltas = False
    for frame in DELTAS["plain"]:
        receiver(frame)
    assert len(layered) == len(preamble())
    client.on("realtime.event", lambda e: None)  # now something else listens: the layered path
    receiver(DELTAS["plain"][0])
    assert layered[-1] == TRANSCRIPT


def test_plain_deltas_reach_the_client_without_an_event_dict() -> None:
    # The compiled receiver hands plain deltas to the client's fast path (its sink) straight from
    # the frame: the receiver's callbacks, which take event dicts, never see them.
    compiled = _compiled_module()
    client = RealtimeClient(api_key=KEY, transport="websockets")
    receiver = client.realtime.receive_frame
    if type(receiver).__module__ != "realtime_fast._events":
        pytest.skip("the compiled event core is not in use")
    assert isinstance(client._fast, compiled.ClientFastPath) and receiver.sink is client._fast
    seen: List[str] = []
    on_event, on_audio = receiver.on_event, receiver.on_audio
    receiver.on_event = lambda event: (seen.append(event["type"]), on_event(event))
    receiver.on_audio = lambda event, buf, start: (seen.append(event["type"]), on_audio(event, buf, start))
    updates: List[Any] = []
    client.on("conversation.updated", lambda e: updates.append(e["delta"]))
    for frame in preamble():
        receiver(frame)
    assert len(seen) == len(preamble())
    plain = [delta(TRANSCRIPT, " Hello"), delta(TEXT, " world", content_index=1), delta(AUDIO, "AAECAwQF"),
             delta(ARGS, "[1, 2]", item=CALL), delta("response.audio_transcript.delta", "!")]
    for frame in plain:
        receiver(frame)
    assert seen[len(preamble()):] == []  # no event dict for any of them
    assert updates[-len(plain):] == [{"transcript": " Hello"}, {"text": " world"}, {"audio": bytes(range(6))},
                                     {"arguments": "[1, 2]"}, {"transcript": "!"}]
    assert client.conversation.get_item(ITEM)["formatted"]["transcript"] == " Hello!"
    receiver(delta(ARGS, '{"a":1}', item=CALL))  # escaped quotes: orjson parses it, the callbacks take it
    assert seen[-1] == ARGS and updates[-1] == {"arguments": '{"a":1}'}
    client.realtime.on("server.*", lambda e: None)  # a raw listener needs the event: the callbacks again
    receiver(DELTAS["plain"][0])
    assert seen[-1] == TRANSCRIPT


# -- appending input audio ---------------------------------------------------------------------


class _Wire(Transport):
    """A connected transport that keeps what is sent (frames parsed back to events)."""

    name = "wire"

    def __init__(self) -> None:
        self.sent: List[Dict[str, Any]] = []
        self.open = False

    async def connect(self, url: str, **options: Any) -> None:
        self.open = True

    def send_text(self, data: Any) -> None:
        self.sent.append(json.loads(bytes(data)))

    async def drain(self) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.open = False

    @property
    def is_open(self) -> bool:
        return self.open

    @property
    def buffered_amount(self) -> int:
        return 0


def _append_run(fast_module: Any, setup: Callable[[RealtimeClient, List[Any]], Any]) -> Dict[str, Any]:
    wire = _Wire()
    client = RealtimeClient(api_key=KEY, transport=lambda: wire)
    client._fast = fast_module.ClientFastPath(client)
    log: List[Any] = []

    async def main() -> None:
        await client.connect()
        setup(client, log)
        for chunk in (b"\x01\x02" * 240, b"", b"\x03\x04" * 10):
            client.append_input_audio(chunk)
        try:
            client.append_input_audio(b"\x01\x02\x03")
        except ValueError as exc:
            log.append(("odd", str(exc)))
        with memoryview(client.input_audio_buffer):  # a live view: the buffer continues in a copy
            client.append_input_audio(b"\x05\x06")
        await client.disconnect()
        try:
            client.append_input_audio(b"\x07\x08")
        except Exception as exc:
            log.append(("closed", type(exc).__name__, str(exc)))

    asyncio.run(main())
    appends = [e for e in wire.sent if e["type"] == "input_audio_buffer.append"]
    for event in appends:  # ids are random: check their shape, then compare the rest
        assert len(event.pop("event_id")) == 21
    for entry in log:
        if entry[0] == "client" and isinstance(entry[1], dict):
            assert len(entry[1].pop("event_id")) == 21
    return {"appends": appends, "local": client.input_audio_buffer.to_bytes(), "log": log}


APPEND_SETUPS: Dict[str, Callable[[RealtimeClient, List[Any]], Any]] = {
    "nobody": lambda client, log: None,
    "client.* listener": lambda client, log: client.realtime.on("client.*", lambda e: log.append(("client", dict(e)))),
    "append listener": lambda client, log: client.realtime.on(
        "client.input_audio_buffer.append", lambda e: log.append(("client", dict(e)))),
    "realtime.event": lambda client, log: client.on("realtime.event", lambda e: log.append(("client", e["event"]["type"]))),
    "server.* only": lambda client, log: client.realtime.on("server.*", lambda e: None),
}


@pytest.mark.parametrize("setup", list(APPEND_SETUPS))
def test_compiled_append_matches_the_python_method(setup: str) -> None:
    compiled = _compiled_module()
    want = _append_run(_client_fast_py, APPEND_SETUPS[setup])
    got = _append_run(compiled, APPEND_SETUPS[setup])
    assert got == want
    assert [len(e["audio"]) for e in want["appends"]] == [640, 28, 4]  # empty audio sends nothing
    assert want["local"] == b"\x01\x02" * 240 + b"\x03\x04" * 10 + b"\x05\x06"
    assert want["log"][-1][:2] == ("closed", "ConnectionStateError")


def test_compiled_event_ids_are_base58_and_distinct() -> None:
    compiled = _compiled_module()
    ids = {compiled._new_event_id() for _ in range(10000)}
    assert len(ids) == 10000
    alphabet = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    for event_id in list(ids)[:100]:
        assert event_id.startswith("evt_") and len(event_id) == 21 and set(event_id[4:]) <= alphabet


def test_compiled_append_does_not_take_the_python_method() -> None:
    compiled = _compiled_module()
    wire = _Wire()
    client = RealtimeClient(api_key=KEY, transport=lambda: wire)
    client._fast = compiled.ClientFastPath(client)
    general: List[Any] = []
    method = client._append_input_audio
    client._append_input_audio = lambda pcm: (general.append(pcm), method(pcm))[1]  # type: ignore[method-assign]

    async def main() -> None:
        await client.connect()
        for _ in range(3):
            client.append_input_audio(b"\x01\x02" * 240)
        client.append_input_audio(b"")
        await client.disconnect()

    asyncio.run(main())
    assert general == [b""]
    assert sum(e["type"] == "input_audio_buffer.append" for e in wire.sent) == 3
