"""The client on each event loop (asyncio and uvloop) and each transport, and the CLI's ``--loop``.

Every other client test runs on pytest-asyncio's loop (asyncio); these run a whole
session, mock server included, on a loop made by :mod:`realtime_fast.transport.loops`.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime_fast import RealtimeClient
from realtime_fast.cli import main as cli_main
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.transport import available_transports, loops

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test-realtime-fast-loops-0123456789"
LOOPS = ["asyncio", "uvloop"]
TRANSPORTS = ["websockets", "picows"]


def _skip_unavailable(loop: str, transport: str | None = None) -> None:
    if loop not in loops.available_loops():
        pytest.skip(f"{loop} is not installed here")
    if transport is not None and transport not in available_transports():
        pytest.skip(f"the {transport} transport is not available here")


async def _assistant_reply(client: RealtimeClient, send: Any) -> dict:
    """Call ``send()`` and return the assistant item it leads to, once completed."""
    done = asyncio.get_running_loop().create_future()

    def on_completed(event: dict) -> None:
        if event["item"]["role"] == "assistant" and not done.done():
            done.set_result(event["item"])

    client.on("conversation.item.completed", on_completed)
    try:
        send()
        return await asyncio.wait_for(done, 10)
    finally:
        client.off("conversation.item.completed", on_completed)


async def _session(transport: str) -> dict:
    """A text turn and an audio turn against the mock; what the test checks, gathered on the loop."""
    facts: dict = {"loop": loops.loop_kind()}
    async with MockRealtimeServer(profile="fast") as mock:
        client = RealtimeClient(mock.url, KEY, transport=transport)
        assert await client.connect() is True
        await client.wait_for_session_created()
        facts["transport"] = client.realtime.transport.name

        text = await _assistant_reply(
            client, lambda: client.send_user_message_content([{"type": "input_text", "text": "Which loop is this?"}])
        )
        facts["text_transcript"] = text["formatted"]["transcript"]
        facts["text_audio_samples"] = len(text["formatted"]["audio"])

        tone = (12000 * np.sin(2 * np.pi * 220 * np.arange(24000) / 24000)).astype(np.int16)  # 1 s at 24 kHz

        def speak() -> None:
            for start in range(0, len(tone), 480):  # 20 ms chunks
                client.append_input_audio(tone[start : start + 480])
            client.create_response()

        spoken = await _assistant_reply(client, speak)
        facts["audio_transcript"] = spoken["formatted"]["transcript"]
        facts["audio_audio_samples"] = len(spoken["formatted"]["audio"])
        user_items = [item for item in client.conversation.get_items() if item["role"] == "user"]
        facts["user_audio_samples"] = [len(item["formatted"]["audio"]) for item in user_items]
        facts["items"] = len(client.conversation.get_items())

        assert await client.disconnect() is True
        facts["connected_after"] = client.is_connected()
    return facts


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("loop", LOOPS)
def test_client_session_on_each_loop_and_transport(loop: str, transport: str) -> None:
    _skip_unavailable(loop, transport)
    facts = loops.run(_session(transport), loop=loop)
    assert facts["loop"] == loop
    assert facts["transport"] == transport
    assert facts["text_transcript"] == 'You said: "Which loop is this?"'
    assert facts["text_audio_samples"] > 0
    assert facts["audio_transcript"] and facts["audio_audio_samples"] > 0
    # the 1 s the client streamed became the user's audio item, every sample of it
    assert facts["user_audio_samples"][-1] == 24000
    assert facts["items"] == 4  # user text, assistant, user audio, assistant
    assert facts["connected_after"] is False


def test_uvloop_requested_without_uvloop_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now fails
    assert loops.available_loops() == ["asyncio"]
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        loops.new_event_loop("uvloop")
    auto = loops.new_event_loop("auto")  # falls back to asyncio
    try:
        assert loops.loop_kind(auto) == "asyncio"
    finally:
        auto.close()


# --------------------------------------------------------------------------- the CLI's --loop


@pytest.mark.parametrize("loop", LOOPS)
def test_cli_chat_runs_on_the_loop_asked_for(
    loop: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_unavailable(loop)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the embedded mock server
    monkeypatch.chdir(tmp_path)
    made: list[tuple[str, str]] = []
    new_event_loop = loops.new_event_loop

    def recording_new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
        event_loop = new_event_loop(kind)
        made.append((kind, loops.loop_kind(event_loop)))
        return event_loop

    monkeypatch.setattr(loops, "new_event_loop", recording_new_event_loop)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello over the loop\n"))
    status = cli_main(["chat", "--fast", "--loop", loop])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert 'assistant: You said: "hello over the loop"' in out
    assert made == [(loop, loop)]


def test_cli_rejects_an_unknown_loop(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["chat", "--fast", "--loop", "trio"])
    assert exc.value.code == 2
    assert "invalid choice: 'trio'" in capsys.readouterr().err
