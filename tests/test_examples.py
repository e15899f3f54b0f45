"""Every script in examples/ runs, as a user would run it, so the examples never rot.

Each example is started with ``python examples/<name>.py``: against a mock
server the test controls (``--url``), and, for the quick ones, with no
arguments at all (the example then starts its own embedded mock server).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from _realtime_helpers import PACKAGE_PARENT

from realtime_fast.mock import MockRealtimeServer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
KEY = "sk-example-test-key-0123456789"


def run_example(name: str, *args: str, cwd: Path, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=45,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def mock():
    with MockRealtimeServer(profile="fast").run_in_thread() as handle:
        yield handle


def test_every_example_is_tested() -> None:
    tested = {"text_client.py", "stream_wav.py", "tools.py", "many_sessions.py", "relay_tools.py", "phone_bridge.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_text_client_against_a_given_server(mock, tmp_path: Path) -> None:
    mock.script.add_rule("capital of france", "Paris.")
    proc = run_example("text_client.py", "What is the capital of France?", "--url", mock.url, cwd=tmp_path)
    assert proc.stdout.splitlines()[-1] == "assistant: Paris."
    update = mock.events("session.update", direction="client")[-1]
    assert update["session"]["output_modalities"] == ["text"]  # GA wire shape of modalities=["text"]


def test_text_client_with_its_embedded_mock(tmp_path: Path) -> None:
    proc = run_example("text_client.py", cwd=tmp_path, key=None)
    assert "assistant: Why did the WebSocket cross the road?" in proc.stdout


def test_stream_wav_sends_20ms_chunks_and_saves_the_spoken_reply(mock, tmp_path: Path) -> None:
    mock.script.set_transcript("testing one two")
    mock.script.add_rule("one two", "Three four.")
    proc = run_example("stream_wav.py", "--url", mock.url, "--fast", "--out", "reply.wav", cwd=tmp_path)
    assert "you (transcribed): testing one two" in proc.stdout
    assert "assistant: Three four." in proc.stdout
    appends = mock.events("input_audio_buffer.append", direction="client")
    sizes = {len(base64.b64decode(e["audio"])) for e in appends[:-1]}  # the last one is the trailing silence
    assert sizes == {960}  # 20 ms of PCM16 at 24 kHz
    sent = b"".join(base64.b64decode(e["delta"]) for e in mock.events("response.output_audio.delta"))
    with wave.open(str(tmp_path / "reply.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.readframes(w.getnframes()) == sent  # exactly the audio the server streamed


def test_stream_wav_reads_the_wav_it_is_given(mock, tmp_path: Path) -> None:
    from realtime_fast.wav import speech_like_signal, write_wav

    speech = speech_like_signal(1.0)
    write_wav(tmp_path / "in.wav", speech)
    run_example("stream_wav.py", str(tmp_path / "in.wav"), "--url", mock.url, "--fast", cwd=tmp_path)
    streamed = b"".join(base64.b64decode(e["audio"]) for e in mock.events("input_audio_buffer.append", direction="client"))
    assert streamed.startswith(speech.tobytes())
    assert (tmp_path / "reply.wav").exists()


def test_tools_example_answers_the_call_locally(mock, tmp_path: Path) -> None:
    mock.script.add_tool_call("lisbon", "get_weather", {"city": "Lisbon"})
    proc = run_example("tools.py", "--url", mock.url, cwd=tmp_path)
    assert 'model calls get_weather({"city": "Lisbon"})' in proc.stdout
    assert "tool returns" in proc.stdout and '"temperature_c": 21' in proc.stdout
    assert "conversation: message -> function_call -> function_call_output -> message" in proc.stdout
    outputs = [e["item"] for e in mock.events("conversation.item.create", direction="client") if e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1 and '"conditions": "sunny"' in outputs[0]["output"]


def test_many_sessions_relay_against_a_given_server(mock, tmp_path: Path) -> None:
    proc = run_example("many_sessions.py", "--users", "8", "--messages", "2", "--url", mock.url, cwd=tmp_path)
    assert "8 concurrent sessions, 16 replies" in proc.stdout
    sessions = [r for r in mock.connection_log if r.refused is None]
    assert len(sessions) == 8  # one upstream session per user, each opened with the relay's key
    assert all(r.api_key == KEY for r in sessions)


def test_many_sessions_with_its_embedded_mock(tmp_path: Path) -> None:
    proc = run_example("many_sessions.py", "--users", "5", "--fast", cwd=tmp_path, key=None)
    assert "5 concurrent sessions, 10 replies" in proc.stdout


def test_relay_tools_runs_the_tool_on_the_relay(tmp_path: Path) -> None:
    proc = run_example("relay_tools.py", "Is it sunny in Lisbon?", cwd=tmp_path, key=None)
    assert 'model calls get_weather({"city": "Lisbon"}) -- run by the relay' in proc.stdout
    assert 'the relay answers: {"city": "Lisbon", "temperature_c": 21' in proc.stdout
    assert "error event (session_field_locked)" in proc.stdout  # the client's connect-time update
    assert "error event (tool_owned_by_server)" in proc.stdout  # the client's own answer to the call
    assert "assistant: The result is:" in proc.stdout


def test_phone_bridge_help_and_a_demo_call_with_its_embedded_mock(tmp_path: Path) -> None:
    assert "Media Streams" in run_example("phone_bridge.py", "--help", cwd=tmp_path).stdout
    proc = run_example("phone_bridge.py", "--demo", "--port", "0", cwd=tmp_path, key=None)
    summary = proc.stdout.splitlines()[-1]
    assert summary.startswith("demo call: said 1920 ms, heard ") and "ms of μ-law answer" in summary
    heard_ms = int(summary.split("heard ")[1].split(" ms")[0])
    assert heard_ms > 500 and f"in {heard_ms // 20} marked frames" in summary  # 20 ms frames, each marked and echoed


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is a POSIX test")
def test_phone_bridge_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import signal

    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLES / "phone_bridge.py"), "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "phone bridge listening on ws://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "phone bridge stopped: 0 call(s) in progress closed, 0 served" in out
    assert "Traceback" not in err
