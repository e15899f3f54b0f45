"""Mock server: recording API, timestamps, thread and process runners, CLI, pytest plugin."""

from __future__ import annotations

import ast
import base64
import json
import os
import signal
import subprocess
import sys
import time
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from _realtime_helpers import PACKAGE_PARENT
from websockets.sync.client import connect as sync_connect

import realtime_fast.mock
from realtime_fast.mock import MockRealtimeServer, Pacing, spawn_mock_server
from realtime_fast.mock.recording import DEFAULT_RECORD_BYTES, Frame
from test_mock_support import (  # noqa: F401 - fixtures
    GA_MODEL,
    KEY,
    WireClient,
    assert_valid_events,
    mock_server,
    text_session,
    types_of,
    user_text,
    validate_event,
)

pytestmark = pytest.mark.timeout(60)
SRC = PACKAGE_PARENT


def _sync_text_turn(url: str, text: str = "ping") -> list[dict]:
    """One text turn with the sync websockets client; returns the server events."""
    events = []
    with sync_connect(
        f"{url}?model={GA_MODEL}", additional_headers={"Authorization": f"Bearer {KEY}"}, open_timeout=10
    ) as ws:
        for message in (
            {"type": "session.update", "session": text_session("ga")},
            {"type": "conversation.item.create", "item": user_text(text)},
            {"type": "response.create"},
        ):
            ws.send(json.dumps(message))
        while not events or events[-1]["type"] != "rate_limits.updated":
            events.append(json.loads(ws.recv(timeout=10)))
    for event in events:
        validate_event(event, "ga")
    return events


async def test_recording_both_directions(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send("session.update", session=text_session("ga"))
        await c.recv()
        await c.send("conversation.item.create", item=user_text("record me"))
        await c.send("response.create")
        await c.until("rate_limits.updated")
        waited = await mock_server.wait_for_frame("response.done")
    frames = mock_server.frames
    assert [f.time for f in frames] == sorted(f.time for f in frames)
    client = mock_server.frames_of_type(None, direction="client")
    assert [f.type for f in client] == ["session.update", "conversation.item.create", "response.create"]
    assert client[1].data["item"]["content"][0]["text"] == "record me"
    assert {f.connection for f in frames} == {1}
    assert waited is mock_server.frames_of_type("response.done")[0]
    response_types = [f.type for f in mock_server.frames_of_type("response.*")]
    assert response_types[0] == "response.created" and response_types[-1] == "response.done"
    events = mock_server.events()
    assert events[0]["type"] == "session.created" and events == [f.data for f in frames if f.direction == "server"]
    assert [e["event_id"] for e in c.received] == [e["event_id"] for e in events]  # exactly what the client got
    with pytest.raises(TimeoutError):
        await mock_server.wait_for_frame("response.cancel", direction="client", timeout=0.05)
    mock_server.clear_frames()
    assert mock_server.frames == []


async def test_recording_can_be_off_and_timestamps_added():
    async with MockRealtimeServer(profile="fast", record=False) as quiet:
        async with await WireClient.open(quiet) as c:
            await c.send("input_audio_buffer.clear")
            await c.recv()
        assert quiet.frames == []
    before = time.time()
    async with MockRealtimeServer(profile="fast", timestamp_field="mock_sent_at") as server:
        async with await WireClient.open(server) as c:
            await c.send("conversation.item.create", item=user_text("hi"))
            await c.send("response.create")
            events = await c.until("rate_limits.updated")
    after = time.time()
    stamps = [c.received[0]["mock_sent_at"]] + [e["mock_sent_at"] for e in events]
    assert all(before <= s <= after for s in stamps) and stamps == sorted(stamps)
    assert_valid_events(server, extra_top={"mock_sent_at"})


async def test_pacing_and_script_changes_reach_a_running_session(mock_server):
    async with await WireClient.open(mock_server) as c:
        await c.send("session.update", session=text_session("ga"))
        await c.recv()
        # set after the session started: with a copy of the fast profile the reply would be done at once
        mock_server.pacing.first_delta_delay = 30.0
        mock_server.script.reply("never said")
        await c.send("conversation.item.create", item=user_text("hello"))
        await c.send("response.create")
        await c.until("response.created")
        await c.send("response.cancel")
        done = (await c.until("response.done"))[-1]["response"]
    assert done["status"] == "cancelled" and done["output"] == []


def _mock_imports() -> dict[str, set[str]]:
    """The modules of realtime_fast.mock each module imports, also under TYPE_CHECKING or in a function."""
    package = Path(realtime_fast.mock.__file__).parent
    names = {path.stem for path in package.glob("*.py")} - {"__init__"}  # the package face re-exports lazily
    graph: dict[str, set[str]] = {}
    for name in names:
        imported: set[str] = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.update(node.module.split(".")[2:3] if node.module.startswith("realtime_fast.mock.") else ())
        graph[name] = imported & names
    return graph


def test_mock_modules_import_each_other_in_no_loop():
    graph = _mock_imports()
    assert "session" in graph["server"]  # the parse found the imports
    finished: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            pytest.fail("import loop: " + " -> ".join([*path[path.index(name) :], name]))
        if name not in finished:
            path.append(name)
            for imported in sorted(graph[name]):
                visit(imported)
            path.pop()
            finished.add(name)

    for name in sorted(graph):
        visit(name)


def test_thread_runner_for_sync_code():
    with MockRealtimeServer(profile="fast").run_in_thread() as handle:
        handle.script.reply("From a thread.")
        events = _sync_text_turn(handle.url)
        frame = handle.wait_for_frame("response.done", timeout=5)
        assert handle.url.startswith("ws://127.0.0.1:") and handle.port
    assert frame.data["response"]["output"][0]["content"][0]["text"] == "From a thread."
    assert types_of(events)[-2:] == ["response.done", "rate_limits.updated"]
    assert_valid_events(handle.server)


def test_thread_runner_reports_startup_failure():
    with MockRealtimeServer(profile="fast").run_in_thread() as first:
        with pytest.raises(OSError):
            MockRealtimeServer(profile="fast", port=first.port).run_in_thread()


def test_realistic_pacing_is_configurable_and_scaled():
    realistic = Pacing.realistic()
    assert 0.02 <= realistic.ack_delay_min <= realistic.ack_delay_max <= 0.05
    assert realistic.response_created_delay == pytest.approx(0.1)
    assert realistic.scaled(0.1).first_delta_delay == pytest.approx(realistic.first_delta_delay * 0.1)
    assert Pacing.fast().is_fast and not realistic.is_fast
    with pytest.raises(ValueError):
        Pacing.named("slow")


def test_realistic_profile_end_to_end_with_shrunk_pacing():
    server = MockRealtimeServer(profile=Pacing.realistic().scaled(0.05))
    with server.run_in_thread() as handle:
        events = _sync_text_turn(handle.url, "slowly")
    assert types_of(events)[-1] == "rate_limits.updated"
    assert server.compression is True  # realistic servers negotiate permessage-deflate
    assert_valid_events(server)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audio_chunk_ms": 10},
        {"audio_chunk_ms": 300},
        {"rate_limits": "sometimes"},
        {"api_key": "null"},
        {"max_session_seconds": 0},
        {"profile": "turbo"},
    ],
)
def test_constructor_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        MockRealtimeServer(**kwargs)


def test_url_needs_a_started_server():
    with pytest.raises(RuntimeError):
        MockRealtimeServer().url


def test_process_runner_and_module_entry_point():
    with spawn_mock_server(profile="fast", allow_beta=False) as proc:
        assert proc.url and proc.url.endswith("/v1/realtime")
        events = _sync_text_turn(proc.url, "from a process")
        process = proc.process
    assert next(e for e in events if e["type"] == "response.done")["response"]["status"] == "completed"
    assert process.returncode == 0


def test_cli_command_shuts_down_cleanly_on_sigterm():
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime_fast", "mock-server", "--port", "0", "--profile", "fast", "--no-beta"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on ws://127.0.0.1:" in line and "GA only" in line
        url = line.split("listening on ", 1)[1].split()[0]
        assert _sync_text_turn(url)[-1]["type"] == "rate_limits.updated"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_pytest_plugin_fixture(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_uses_mock.py").write_text(textwrap.dedent("""
            import json
            import pytest
            from websockets.sync.client import connect

            def turn(url):
                with connect(url + "?model=gpt-realtime", additional_headers={"Authorization": "Bearer sk-abc"}) as ws:
                    ws.recv(timeout=5)
                    ws.send(json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}}))
                    while True:
                        event = json.loads(ws.recv(timeout=5))
                        if event["type"] == "response.done":
                            return event

            def test_default(realtime_mock):
                realtime_mock.script.reply("plugged in")
                done = turn(realtime_mock.url)
                assert done["response"]["output"][0]["content"][0]["text"] == "plugged in"
                assert realtime_mock.pacing.is_fast

            @pytest.mark.realtime_mock(profile="realistic", allow_beta=False)
            def test_marker(realtime_mock):
                assert not realtime_mock.pacing.is_fast and realtime_mock.allow_beta is False
            """))
    env = {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "realtime_fast.mock.pytest_plugin",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_plugin_import_does_not_load_the_server():
    code = "import sys, realtime_fast.mock.pytest_plugin; print('realtime_fast.mock.server' in sys.modules, 'websockets' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["False", "False"], out.stderr


# -- how much the recording keeps -------------------------------------------------------------------


def append_frame(i: int) -> Frame:
    """An ``input_audio_buffer.append`` of 20 ms, as a client sends it (1.3 KB)."""
    audio = base64.b64encode(bytes(960)).decode()
    raw = '{"event_id":"evt_%018d","type":"input_audio_buffer.append","audio":"%s"}' % (i, audio)
    return Frame(time.monotonic(), "client", 1, raw, "input_audio_buffer.append")


def test_the_default_recording_stays_under_its_bound_after_100000_appends():
    recorder = MockRealtimeServer().recorder
    assert recorder.max_bytes == DEFAULT_RECORD_BYTES == 64 * 1024 * 1024
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(100_000):
            recorder.add(append_frame(i))
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept - before <= DEFAULT_RECORD_BYTES
    assert recorder.size <= DEFAULT_RECORD_BYTES and recorder.dropped > 0
    frames = recorder.frames
    assert len(frames) + recorder.dropped == 100_000
    assert frames[-1].data["event_id"] == "evt_%018d" % 99_999  # the newest are kept, in order
    assert [f.data["event_id"] for f in frames[:2]] == ["evt_%018d" % i for i in (recorder.dropped, recorder.dropped + 1)]


async def test_six_20_mb_frames_leave_the_default_recording_bounded():
    async with MockRealtimeServer(profile="fast") as server:
        async with await WireClient.open(server) as c:
            for _ in range(6):
                await c.send("conversation.item.create", item=user_text("x" * 20_000_000))
                await c.until("conversation.item.done")
        assert server.recorder.size <= DEFAULT_RECORD_BYTES and server.recorder.dropped >= 4
        assert server.frames_of_type("conversation.item.done")  # small frames since the last big one are kept


def test_record_true_keeps_everything_and_record_n_keeps_n_bytes():
    everything = MockRealtimeServer(record=True).recorder
    small = MockRealtimeServer(record=100_000).recorder
    for i in range(1_000):
        everything.add(append_frame(i))
        small.add(append_frame(i))
    assert len(everything.frames) == 1_000 and everything.dropped == 0 and everything.max_bytes is None
    assert small.size <= 100_000 and len(small.frames) + small.dropped == 1_000
    small.clear()
    assert small.frames == [] and small.size == 0 and small.dropped == 0
    with pytest.raises(ValueError, match="max_bytes must be a positive number of bytes"):
        MockRealtimeServer(record=0)


def test_cli_pacing_option_refuses_unknown_delays_and_bad_values(capsys):
    from realtime_fast.cli import main

    assert main(["mock-server", "--port", "0", "--pacing", "ack_delay=0.1"]) == 2
    assert "no delay called 'ack_delay'; known: ack_delay_max, ack_delay_min" in capsys.readouterr().err
    assert main(["mock-server", "--port", "0", "--pacing", "ack_delay_min=-1"]) == 2
    assert "ack_delay_min must be a non-negative number of seconds" in capsys.readouterr().err
