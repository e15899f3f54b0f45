"""The ``realtime-fast demo`` and ``chat`` commands, end to end against the mock server.

Most runs are in-process (``main(argv)``, stdout captured, so not a terminal);
a few go through a subprocess to cover ``python -m realtime_fast`` itself,
Ctrl-C and the plain output a pipe gets.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _realtime_helpers import PACKAGE_PARENT

from realtime_fast.cli import main
from realtime_fast.cli._output import Console
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.wav import speech_like_signal

pytestmark = pytest.mark.timeout(60)

SRC = PACKAGE_PARENT
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts without OPENAI_API_KEY (the embedded mock is the default) and in a scratch folder."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit status, stdout, stderr); argparse exits become statuses."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _wav_info(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- demo: the happy path


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_demo_runs_every_turn_and_writes_the_audio_it_received(dialect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_wav = tmp_path / "out.wav"
    argv = ["demo", "--fast", "--json", "--output-wav", str(out_wav)] + (["--beta"] if dialect == "beta" else [])
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    records = _json_lines(out)
    summary = records[-1]
    assert summary["type"] == "demo.summary"
    assert summary["protocol"] == dialect and summary["mock"] is True

    # every capability happened: four turns, a tool call, a real cancellation
    assert [t["name"] for t in summary["turn_details"]] == ["text", "spoken", "tool", "interrupted"]
    assert [t["status"] for t in summary["turn_details"]] == ["completed", "completed", "completed", "cancelled"]
    assert summary["tool_calls"] == 1
    assert summary["server_errors"] == []
    interrupted = summary["turn_details"][3]
    assert interrupted["cancelled_after_samples"] >= 24000
    sent = [r["type"] for r in records[:-1] if r["source"] == "client"]
    assert "response.cancel" in sent and "conversation.item.truncate" in sent
    assert sent.count("input_audio_buffer.append") >= 100  # 20 ms chunks of a few seconds of speech

    # the wire dialect is the one asked for
    audio_type = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    deltas = [r for r in records if r.get("type") == audio_type]
    assert deltas
    received = sum(r["event"]["delta_bytes"] for r in deltas) // 2

    # the counters match the log, and the WAV holds exactly the audio received
    assert summary["events_sent"] == len(sent)
    assert summary["events_received"] == sum(1 for r in records[:-1] if r["source"] == "server")
    assert summary["audio_out_samples"] == received
    assert _wav_info(out_wav) == (1, 2, 24000, received)

    # the conversation went to stderr in --json mode, as plain text
    assert "assistant: " in err and "tool call:" in err and "interrupted:" in err and "Summary" in err
    assert not CONTROL.search(err) and not CONTROL.search(out)


def test_demo_plain_output_through_a_pipe(tmp_path: Path) -> None:
    """``python -m realtime_fast demo`` in a pipe: readable text, no control characters, the default WAV."""
    proc = subprocess.run(
        [sys.executable, "-m", "realtime_fast", "demo", "--fast"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert not CONTROL.search(proc.stdout)
    for expected in ("[1/4]", "[4/4]", "you: ", "assistant: ", "tool result:", "Summary", "time to first audio", "events per second"):
        assert expected in proc.stdout
    channels, width, rate, frames = _wav_info(tmp_path / "demo-output.wav")
    assert (channels, width, rate) == (1, 2, 24000) and frames > 24000
    assert f"({frames / 24000:.2f} s, PCM16 24 kHz mono)" in proc.stdout


def test_demo_streams_a_given_wav_converted_to_24k_mono(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speech = speech_like_signal().astype(np.float64) / 32768.0
    positions = np.arange(int(len(speech) * 44100 / 24000)) * (24000 / 44100)
    resampled = np.interp(positions, np.arange(len(speech)), speech)
    stereo = (np.stack([resampled, resampled * 0.5], axis=1) * 32767).astype("<i2")
    src = tmp_path / "question.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(stereo.tobytes())
    status, out, err = _run(["demo", "--fast", "--json", "--input-wav", str(src), "--output-wav", str(tmp_path / "o.wav")], capsys)
    assert status == 0, err
    summary = _json_lines(out)[-1]
    # resampled to 24 kHz (within a sample), plus one second of silence so VAD hears the end
    assert abs(summary["audio_in_samples"] - (len(speech) + 24000)) <= 1
    assert summary["turn_details"][1]["status"] == "completed"
    assert "question.wav" in err


# --------------------------------------------------------------------------- usage errors (exit 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["demo", "--url", "ftp://example.com"], "is not a WebSocket address"),
        (["demo", "--input-wav", "missing.wav"], "'missing.wav' does not exist"),
        (["demo", "--output-wav", "no/such/folder/x.wav"], "does not exist; create it"),
        (["demo", "--timeout", "0"], "must be greater than zero"),
        (["demo", "--transport", "carrier-pigeon"], "invalid choice: 'carrier-pigeon'"),
        (["chat", "--save-audio", "no/such/parent/dir"], "cannot create"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(argv, capsys)
    assert status == 2
    assert message in err
    assert out == ""


def test_input_wav_that_is_not_a_wav_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.wav").write_text("not audio at all")
    status, _, err = _run(["demo", "--input-wav", "notes.wav"], capsys)
    assert status == 2
    assert "'notes.wav' is not a WAV file" in err


@pytest.mark.parametrize("command", ["demo", "chat"])
def test_help_and_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run([command, "--help"], capsys)
    assert status == 0
    for option in ("--url", "--beta", "--model", "--voice", "--instructions", "--debug", "--json", "--version"):
        assert option in out
    status, out, _ = _run([command, "--version"], capsys)
    assert status == 0 and out.startswith("realtime-fast ")


# --------------------------------------------------------------------------- connection failures (exit 1)


def test_wrong_key_reports_the_service_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with MockRealtimeServer(api_key="sk-the-right-key-0123456789", profile="fast").run_in_thread() as mock:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-a-wrong-key-0123456789")
        status, _, err = _run(["demo", "--url", mock.url, "--fast"], capsys)
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("realtime-fast demo: Incorrect API key provided")
    assert "invalid_api_key" in lines[0]
    assert "sk-a-wrong-key-0123456789" not in err  # the service masks it; nothing of ours prints it either


def test_missing_key_for_a_keyed_server_says_to_set_it(capsys: pytest.CaptureFixture[str]) -> None:
    with MockRealtimeServer(api_key="sk-the-right-key-0123456789", profile="fast").run_in_thread() as mock:
        status, _, err = _run(["chat", "--url", mock.url], capsys)
    assert status == 1
    assert len(err.strip().splitlines()) == 1
    assert "set OPENAI_API_KEY" in err


def test_beta_refused_by_a_ga_only_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with MockRealtimeServer(allow_beta=False, profile="fast").run_in_thread() as mock:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-any-real-looking-key-0123")
        status, _, err = _run(["demo", "--url", mock.url, "--beta", "--fast"], capsys)
    assert status == 1
    assert len(err.strip().splitlines()) == 1
    assert "beta_api_shape_disabled" in err


def test_a_request_the_server_refuses_stops_the_demo_with_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(["demo", "--fast", "--voice", "no-such-voice"], capsys)
    assert status == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("realtime-fast demo: the server refused a request: Invalid value: 'no-such-voice'")


def test_unreachable_url_names_the_address_and_the_os_error(capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    status, _, err = _run(["demo", "--url", f"ws://127.0.0.1:{port}/v1/realtime", "--timeout", "5"], capsys)
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert f"127.0.0.1:{port}" in lines[0]
    assert re.search(r"refused|failed|errno", lines[0], re.IGNORECASE)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child differs on Windows")
def _default_sigint() -> None:
    """In the child: SIGINT as a terminal delivers it (a shell without job control starts
    background commands with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to another process on Windows")
@pytest.mark.parametrize("command", ["demo", "chat"])
def test_ctrl_c_closes_the_session_cleanly(command: str) -> None:
    # On every supported Python (3.10 has no asyncio.Runner to turn SIGINT into a cancellation).
    with MockRealtimeServer(profile="realistic").run_in_thread() as mock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_fast", command, "--url", mock.url],
            env=_env(OPENAI_API_KEY="sk-any-real-looking-key-0123"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_default_sigint,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            if command == "chat":
                proc.stdin.write("tell me a long story\n")
                proc.stdin.flush()  # stdin stays open: the chat would wait for the next line
            else:
                for line in proc.stdout:  # wait until the first turn is under way
                    if line.startswith("you: "):
                        break
            mock.wait_for_frame("response.created", timeout=10)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)  # stdin stays open: the chat must end because of the signal alone
            out, err = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        records = list(mock.connection_log)
    assert proc.returncode == 130
    assert err.strip() == f"realtime-fast {command}: interrupted; the session was closed."
    assert "Traceback" not in out + err
    assert records and records[-1].close_code == 1000  # a normal close frame, not a dropped socket


# --------------------------------------------------------------------------- chat


def test_chat_reads_piped_lines_until_quit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\n\n/save last.wav\nsecond message\n/quit\nnever sent\n"))
    status, out, err = _run(["chat", "--fast", "--save-audio", str(tmp_path / "replies")], capsys)
    assert status == 0, err
    assert 'assistant: You said: "hello there"' in out
    assert 'assistant: You said: "second message"' in out
    assert "never sent" not in out
    assert not CONTROL.search(out)
    saved = sorted(p.name for p in (tmp_path / "replies").iterdir())
    assert saved == ["reply-001.wav", "reply-002.wav"]
    for name in saved:
        channels, width, rate, frames = _wav_info(tmp_path / "replies" / name)
        assert (channels, width, rate) == (1, 2, 24000) and frames > 0
    # /save wrote the reply that existed at that moment: the first one
    assert _wav_info(tmp_path / "last.wav") == _wav_info(tmp_path / "replies" / "reply-001.wav")


def test_chat_text_only_by_default_and_json_log(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("ping\n"))
    status, out, err = _run(["chat", "--fast", "--beta", "--json"], capsys)
    assert status == 0, err
    records = _json_lines(out)
    update = next(r for r in records if r["type"] == "session.update" and r["event"]["session"].get("modalities") == ["text"])
    assert update["source"] == "client"
    assert any(r["type"] == "response.text.delta" for r in records)
    assert not any(r["type"] == "response.audio.delta" for r in records)
    assert 'assistant: You said: "ping"' in err


def test_chat_save_without_audio_explains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n/save x.wav\n"))
    status, out, _ = _run(["chat", "--fast"], capsys)
    assert status == 0
    assert "start the chat with --audio" in out
    assert not (tmp_path / "x.wav").exists()


# --------------------------------------------------------------------------- terminal output


def _render(text: str, width: int) -> list[str]:
    """Play ``text`` on a minimal VT100 screen (CR, LF, erase line, cursor up, colours); fail on a wrapped line."""
    rows: list[list[str]] = [[]]
    r = c = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            m = re.match(r"\x1b\[([0-9;]*)([A-Za-z])", text[i:])
            assert m, f"unknown escape at {text[i:i + 10]!r}"
            if m.group(2) == "K":
                del rows[r][c:]
            elif m.group(2) == "A":
                r = max(0, r - int(m.group(1) or 1))
            i += m.end()
            continue
        if ch == "\r":
            c = 0
        elif ch == "\n":
            r, c = r + 1, 0
            if r == len(rows):
                rows.append([])
        else:
            assert c < width, "a line went past the terminal's width"
            row = rows[r]
            row.extend(" " * (c - len(row)))
            row[c:c + 1] = [ch]
            c += 1
        i += 1
    return ["".join(row).rstrip() for row in rows]


def test_terminal_output_streams_wrapped_text_under_a_live_status_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    console = Console(out, terminal=True)
    console.line("[1/4] A text turn", "bold")
    console.stream_begin("assistant", "cyan")
    for n, piece in enumerate(["Hel", "lo! I can talk, ", "listen, call your ", "tools and stop when ", "you interrupt me."]):
        console.stream(piece)
        console.status(f"  audio received: {n + 1}.00 s", min_interval=0)
    assert _render(out.getvalue(), 40)[-1] == "  audio received: 5.00 s"  # live, below the text
    console.stream_end()
    console.clear_status()
    console.line("done")
    assert _render(out.getvalue(), 40) == [
        "[1/4] A text turn",
        "assistant: Hello! I can talk, listen,",  # wrapped before the last column, with a hanging indent
        "           call your tools and stop",
        "           when you interrupt me.",
        "done",
        "",
    ]
    assert "\x1b[1m[1/4] A text turn\x1b[0m" in out.getvalue()  # colour on a terminal


def test_plain_output_has_no_escapes_and_no_status(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    console = Console(out)  # a StringIO is not a terminal
    assert not console.terminal and not console.color
    console.stream_begin("assistant", "cyan")
    console.stream("Hello ")
    console.status("audio 1.00 s")
    console.stream("world")
    console.stream_end()
    console.table([("turns", "4"), ("audio out", "1.50 s")], title="Summary")
    assert out.getvalue() == (
        "assistant: Hello world\n"
        "Summary\n"
        "--------------------\n"
        "  turns            4\n"
        "  audio out   1.50 s\n"
        "--------------------\n"
    )
