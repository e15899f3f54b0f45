"""examples/phone_bridge.py against the mock server, driven by a fake phone speaking Media Streams over a real WebSocket.

The phone sends μ-law as a carrier does (20 ms media frames) and plays the
bridge's answer by echoing its marks, as it chooses: at once, or not yet
(audio still in its buffer).  The mock records what the Realtime session
received, so the tests compare bytes on both sides.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import pytest
from _realtime_helpers import KEY, received, server, transport_name  # noqa: F401  (fixtures)
from websockets.asyncio.client import connect

from realtime_fast.audio import pcm16_to_ulaw, ulaw_to_pcm16

pytestmark = pytest.mark.timeout(30)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "phone_bridge.py"
FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
LONG_REPLY = "This answer is long enough to keep the phone busy for several seconds while the caller listens. " * 2
SILENCE = b"\xff"  # μ-law code of 0


@pytest.fixture(scope="module")
def phone_bridge():
    if not EXAMPLE.exists():
        pytest.skip("examples/phone_bridge.py is not here (an installed package without the project's tree)")
    spec = importlib.util.spec_from_file_location("phone_bridge", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["phone_bridge"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("phone_bridge", None)


@pytest.fixture
async def bridge(phone_bridge, server, transport_name):
    """The bridge, listening on a free port, with the mock as its Realtime server (the test's transport)."""
    b = phone_bridge.PhoneBridge(server.url, KEY, transport=transport_name)
    async with b.serve("127.0.0.1", 0) as listening:
        b.url = f"ws://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
        yield b


def speech(ms: int, freq: float = 220.0) -> bytes:
    """μ-law 8 kHz tone of ``ms`` milliseconds (loud enough for the mock's VAD)."""
    t = np.arange(8 * ms) / 8000
    return bytes(pcm16_to_ulaw((12000 * np.sin(2 * np.pi * freq * t)).astype("<i2")))


class Phone:
    """A carrier's side of one call: sends Media Streams frames, records what the bridge sends back.

    ``play`` decides which marks are echoed at once (played); the others wait in :attr:`held`.
    """

    def __init__(self, url: str, sid: str) -> None:
        self.url = url
        self.sid = sid
        self.messages: List[Dict[str, Any]] = []
        self.held: List[Dict[str, Any]] = []
        self.play: Callable[[int], bool] = lambda index: True  # index: 0-based count of marks received
        self.marks_seen = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> Phone:
        self.ws = await connect(self.url)
        self._reader = asyncio.create_task(self._read())
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {"streamSid": self.sid, "callSid": "CA" + self.sid, "tracks": ["inbound"], "mediaFormat": FORMAT}
        await self.send({"event": "start", "sequenceNumber": "1", "streamSid": self.sid, "start": start})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def say(self, audio: bytes) -> None:
        """``audio`` (μ-law) in 20 ms media frames, as a carrier streams the caller."""
        for i in range(0, len(audio), 160):
            payload = base64.b64encode(audio[i : i + 160]).decode()
            await self.send({"event": "media", "streamSid": self.sid, "media": {"track": "inbound", "payload": payload}})

    async def echo(self, mark: Dict[str, Any]) -> None:
        await self.send({"event": "mark", "streamSid": self.sid, "mark": mark["mark"]})

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            assert message.get("streamSid") == self.sid, message
            if message["event"] == "mark":
                if self.play(self.marks_seen):
                    await self.echo(message)
                else:
                    self.held.append(message)
                self.marks_seen += 1
            async with self._changed:
                self.messages.append(message)
                self._changed.notify_all()

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), timeout)

    def of(self, event: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m["event"] == event]

    def audio(self) -> bytes:
        return b"".join(base64.b64decode(m["media"]["payload"]) for m in self.of("media"))


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (for state of the bridge, which tells no one when it changes)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true")


def appended(server, connection=None) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in server.events("input_audio_buffer.append", direction="client", connection=connection))


def streamed(server, connection=None) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in server.events("response.output_audio.delta", connection=connection))


async def test_the_callers_ulaw_reaches_the_session_untouched_and_the_answer_comes_back_marked(bridge, server):
    caller = speech(600) + SILENCE * 8 * 400
    async with Phone(bridge.url, "MZone") as phone:
        await phone.say(caller + SILENCE * 7)  # an odd last frame: 7 bytes are 7 samples
        [done] = await received(server, "response.done", direction="server")
        answer = streamed(server)
        await phone.until(lambda: len(phone.audio()) >= len(answer))
        [call] = bridge.calls.values()
        await eventually(lambda: call.stats["marks_confirmed"] == len(phone.of("mark")))  # every mark echoed counted
        assert call.tracker.position() == (done["response"]["output"][0]["id"], len(answer))
    assert done["response"]["status"] == "completed"
    session = server.events("session.updated")[-1]["session"]
    audio = session["audio"]
    assert audio["input"]["format"]["type"] == audio["output"]["format"]["type"] == "audio/pcmu"
    assert audio["input"]["turn_detection"]["interrupt_response"] is False  # the bridge cancels, so its cancel is never refused
    # in: the very bytes the phone sent
    assert appended(server) == caller + SILENCE * 7
    # out: the very samples the model streamed (μ-law's two codes of 0 may swap), in frames of at most
    # 20 ms, each followed by its mark
    assert len(answer) > 8000 and len(phone.audio()) == len(answer)
    assert ulaw_to_pcm16(phone.audio()) == ulaw_to_pcm16(answer)
    kinds = [m["event"] for m in phone.messages]
    assert kinds == ["media", "mark"] * len(phone.of("media"))
    assert all(len(base64.b64decode(m["media"]["payload"])) <= 160 for m in phone.of("media"))
    assert len({m["mark"]["name"] for m in phone.of("mark")}) == len(phone.of("mark"))
    assert server.events("error") == []


async def test_an_interruption_clears_the_phone_and_truncates_at_what_it_confirmed(bridge, server):
    server.pacing.audio_realtime_factor = 1.0  # the answer streams at the pace a phone plays it
    server.script.reply(LONG_REPLY)
    async with Phone(bridge.url, "MZbarge") as phone:
        phone.play = lambda index: index < 15  # 15 frames (300 ms) played, the rest still in the phone's buffer
        await phone.say(speech(500) + SILENCE * 8 * 300)
        await phone.until(lambda: len(phone.of("media")) >= 25)
        item_id = server.events("response.output_audio.delta")[0]["item_id"]
        await phone.say(speech(300))  # the caller talks over the assistant
        await phone.until(lambda: bool(phone.of("clear")))
        await phone.say(SILENCE * 8 * 300)  # and stops (in real time, long after the bridge reacted)
        [truncate] = await received(server, "conversation.item.truncate")
        server.pacing.audio_realtime_factor = 0.0  # the next answer at once
        for mark in phone.held:  # a carrier echoes the marks a clear dropped: they were never heard
            await phone.echo(mark)
        [truncated] = await received(server, "conversation.item.truncated", direction="server")
        await received(server, "response.done", count=2, direction="server")  # the cancelled one, then the new turn's
    assert truncate["item_id"] == item_id and truncate["content_index"] == 0
    assert truncate["audio_end_ms"] == 300 == truncated["audio_end_ms"]  # 15 marks of 20 ms
    assert [e["type"] for e in server.events(direction="client")].count("conversation.item.truncate") == 1
    first, second = server.events("response.done")
    assert first["response"]["status"] == "cancelled" and first["response"]["status_details"]["reason"] == "client_cancelled"
    assert second["response"]["status"] == "completed"
    assert server.events("error") == []  # neither the cancel nor the truncation was refused
    # before the clear, the interrupted item's audio; after it, only the next answer's
    cut = phone.messages.index(phone.of("clear")[0])
    before, after = (b"".join(base64.b64decode(m["media"]["payload"]) for m in part if m["event"] == "media") for part in (phone.messages[:cut], phone.messages[cut:]))
    deltas = server.events("response.output_audio.delta")
    interrupted = b"".join(base64.b64decode(e["delta"]) for e in deltas if e["item_id"] == item_id)
    following = b"".join(base64.b64decode(e["delta"]) for e in deltas if e["item_id"] != item_id)
    assert len(before) >= 25 * 160 and ulaw_to_pcm16(interrupted).startswith(ulaw_to_pcm16(before))
    assert ulaw_to_pcm16(following).startswith(ulaw_to_pcm16(after))


async def test_nothing_confirmed_cancels_without_a_truncation(bridge, server):
    server.pacing.audio_realtime_factor = 1.0
    server.script.reply(LONG_REPLY)
    async with Phone(bridge.url, "MZsilent") as phone:
        phone.play = lambda index: False  # the phone has played nothing yet
        await phone.say(speech(500) + SILENCE * 8 * 300)
        await phone.until(lambda: len(phone.of("media")) >= 5)
        await phone.say(speech(300))
        await phone.until(lambda: bool(phone.of("clear")))
        server.pacing.audio_realtime_factor = 0.0
        await phone.say(SILENCE * 8 * 300)
        await received(server, "response.done", count=2, direction="server")
    assert server.events("conversation.item.truncate", direction="client") == []  # a truncation at 0 ms is refused
    assert len(server.events("response.cancel", direction="client")) == 1
    assert server.events("error") == []


async def test_bad_frames_are_skipped_and_the_call_goes_on(bridge, server, caplog):
    async with Phone(bridge.url, "MZbad") as phone:
        await eventually(lambda: len(bridge.calls) == 1 and next(iter(bridge.calls.values())).client is not None)
        bad = [
            "not json at all",
            b"\x00\x01binary",
            "[1, 2]",
            {"no_event": True},
            {"event": "media", "streamSid": "MZbad"},
            {"event": "media", "streamSid": "MZbad", "media": {"payload": "@@not base64@@"}},
            {"event": "mark", "streamSid": "MZbad", "mark": {}},
            {"event": "start", "streamSid": "MZbad", "start": {"streamSid": "MZbad", "mediaFormat": FORMAT}},
            {"event": "start", "streamSid": "MZbad", "start": {"streamSid": "MZbad", "mediaFormat": "mulaw"}},
        ]
        for frame in bad:
            await phone.send(frame)
        await phone.send({"event": "dtmf", "streamSid": "MZbad", "dtmf": {"digit": "1"}})  # not bridged, not an error
        await phone.say(speech(100))
        await received(server, "input_audio_buffer.append", count=5)
        [call] = bridge.calls.values()
        assert call.stats["bad_frames"] == len(bad)
    assert appended(server) == speech(100)
    assert sum("frame skipped" in r.getMessage() for r in caplog.records) == len(bad)


async def test_a_call_in_another_format_is_refused_and_others_go_on(bridge, server):
    async with Phone(bridge.url, "MZgood") as good:
        async with connect(bridge.url) as other:
            alaw = dict(FORMAT, encoding="audio/x-alaw")
            await other.send(json.dumps({"event": "start", "streamSid": "MZx", "start": {"streamSid": "MZx", "mediaFormat": alaw}}))
            await other.wait_closed()
            assert other.close_code == 1003
        await good.say(speech(100))
        await received(server, "input_audio_buffer.append", count=5)
    assert appended(server) == speech(100)
    assert len(server.connection_log) == 1  # the refused call never opened a session


async def test_stop_closes_the_realtime_session(bridge, server):
    async with Phone(bridge.url, "MZstop") as phone:
        await eventually(lambda: len(bridge.calls) == 1 and next(iter(bridge.calls.values())).client is not None)
        [record] = server.connection_log
        assert record.closed_at is None
        await phone.send({"event": "stop", "streamSid": "MZstop", "stop": {"callSid": "CAMZstop"}})
        await asyncio.wait_for(phone.ws.wait_closed(), 10)
    for _ in range(100):
        if record.closed_at is not None:
            break
        await asyncio.sleep(0.02)
    assert record.closed_at is not None and record.close_code == 1000
    assert bridge.calls == {}


async def test_concurrent_calls_stay_separate(bridge, server):
    voices = {f"MZ{n}": speech(500, freq) + SILENCE * 8 * 300 for n, freq in enumerate((180.0, 260.0, 340.0))}
    phones = [Phone(bridge.url, sid) for sid in voices]
    for phone in phones:
        await phone.__aenter__()
    try:
        await asyncio.gather(*(phone.say(voices[phone.sid]) for phone in phones))
        await received(server, "response.done", count=3, direction="server")
        answers = {r.id: streamed(server, r.id) for r in server.connection_log}
        for phone in phones:
            await phone.until(lambda phone=phone: len(phone.audio()) >= min(map(len, answers.values())))
    finally:
        for phone in phones:
            await phone.__aexit__()
    # each session heard exactly one caller, every caller was heard by one session
    heard = sorted(appended(server, r.id) for r in server.connection_log)
    assert heard == sorted(voices.values())
    # each phone got one session's answer, whole, and nothing of another's
    assert sorted(ulaw_to_pcm16(phone.audio()) for phone in phones) == sorted(map(ulaw_to_pcm16, answers.values()))
