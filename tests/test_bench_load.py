"""``realtime-fast bench load`` and ``bench soak``: they run, write their JSON, and lose nothing (no timing asserted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from realtime_fast.bench.soak import SoakConfig, run_soak
from realtime_fast.cli import main

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _rivals():
    """The comparison clients of the project's benchmarks (``bench/load_rivals.py``), registered; a skip outside the tree."""
    if not (BENCH / "load_rivals.py").exists():
        pytest.skip("bench/load_rivals.py is not here (an installed package without the project's tree)")
    sys.path.insert(0, str(BENCH))
    try:
        import load_rivals
    finally:
        sys.path.remove(str(BENCH))
    return load_rivals

pytestmark = pytest.mark.timeout(90)

LOAD_FIELDS = {
    "sessions": int,
    "p99_lag_ms": float,
    "p50_lag_ms": float,
    "lost_events": int,
    "client_cpu_per_session_second": float,
    "rss_mb": float,
    "transport": str,
    "loop": str,
    "duration": float,
    "events": int,
    "server_cpu_percent": float,
}


def test_bench_load_writes_its_json_and_loses_nothing(tmp_path, capsys):
    out = tmp_path / "load.json"
    code = main(
        [
            "bench", "load", "--sessions", "5", "--duration", "3", "--warmup", "1",
            "--client-cpu", "-1", "--server-cpu", "-1", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    for name, kind in LOAD_FIELDS.items():
        assert isinstance(result[name], kind), name
    assert result["sessions"] == result["connected"] == 5
    assert result["transport"] == "picows" and result["loop"] == "asyncio"
    assert result["events"] > 0 and result["appends"] > 5 * 3 * 40
    assert result["lost_events"] == 0 and result["sessions_unmatched"] == 0
    assert result["server_responses_done"] >= 1
    assert result["server_events_sent"] >= result["events"]
    assert code == (0 if result["ok"] else 1)
    printed = capsys.readouterr().out
    assert "sessions" in printed and "events/s" in printed  # progress lines


def test_bench_load_picows_bare_client_runs_the_same_workload_and_loses_nothing(tmp_path):
    out = tmp_path / "bare.json"
    code = _rivals().main(
        [
            "--client", "picows-bare", "--sessions", "4", "--duration", "3", "--warmup", "1",
            "--client-cpu", "-1", "--server-cpu", "-1", "--quiet", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    for name, kind in LOAD_FIELDS.items():
        assert isinstance(result[name], kind), name
    assert result["client"] == "picows-bare" and result["transport"] == "picows"
    assert result["sessions"] == result["connected"] == 4
    assert result["appends"] > 4 * 3 * 40 and result["send_only"] is False and result["append_ms"] == 20
    assert result["events"] > 0 and result["server_responses_done"] >= 1  # VAD turns were answered
    assert result["lost_events"] == 0 and result["sessions_unmatched"] == 0 and result["sessions_disconnected"] == 0
    assert code == (0 if result["ok"] else 1)


def test_bench_load_send_only_appends_without_turns(tmp_path):
    out = tmp_path / "send.json"
    code = main(
        [
            "bench", "load", "--send-only", "--append-ms", "100", "--sessions", "3", "--duration", "1", "--warmup", "0.5",
            "--client-cpu", "-1", "--server-cpu", "-1", "--quiet", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["send_only"] is True and result["append_ms"] == 100 and result["tls"] is None
    assert result["appends"] >= 3 * 10  # one 100 ms append per session per 100 ms, at least over the measured second
    assert result["events"] == 0 and result["server_responses_done"] == 0  # silence: no turn, nothing but session events back
    assert result["server_events_sent"] == 2 * 3  # session.created + session.updated per session
    assert result["lost_events"] == 0 and result["ok"] and code == 0


@pytest.mark.parametrize("client", ["realtime_fast", "picows-bare"])
def test_bench_load_tls_runs_the_workload_over_wss(tmp_path, client):
    pytest.importorskip("cryptography", reason="--tls makes its certificate with cryptography")
    out = tmp_path / "tls.json"
    if client != "realtime_fast":
        _rivals()
    code = main(
        [
            "bench", "load", "--tls", "--client", client, "--sessions", "4", "--duration", "3", "--warmup", "1",
            "--client-cpu", "-1", "--server-cpu", "-1", "--quiet", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["tls"]["version"].startswith("TLSv1.") and result["tls"]["cipher"]
    assert result["tls"]["certificate"] == "self-signed ECDSA P-256"
    assert result["sessions"] == result["connected"] == 4 and result["connect_failures"] == 0
    assert result["events"] > 0 and result["server_responses_done"] >= 1
    assert result["lost_events"] == 0 and result["sessions_unmatched"] == 0 and result["sessions_disconnected"] == 0
    assert code == (0 if result["ok"] else 1)


def test_bench_load_rejects_bad_options(capsys):
    assert main(["bench", "load", "--sessions", "0"]) == 2
    assert "sessions must be at least 1" in capsys.readouterr().err
    assert main(["bench", "load", "--append-ms", "30"]) == 2
    assert "append_ms must be one of" in capsys.readouterr().err


def test_soak_keeps_history_and_input_audio_bounded_and_loses_nothing():
    # 3 minutes of session audio (30 turns) fed 45 times faster than real time: faster, and on a
    # busy machine the mock's VAD can hear two turns as one (29 responses).
    result = run_soak(SoakConfig(minutes=3, speed=45, history=6, max_input_seconds=5, client_cpu=None, server_cpu=None, quiet=True))
    assert result["lost_events"] == 0 and result["errors"] == 0
    assert result["events_sent"] == result["events_handled"] > 30 * 40
    assert result["responses_done"] == result["expected_turns"] == 30
    assert result["max_items"] <= 6
    assert result["max_audio_buffers"] <= 6
    assert result["max_input_audio_seconds_held"] <= 5
    assert result["assistant_audio_seconds"] == pytest.approx(30 * 3.0, abs=0.2)
    assert len(result["samples"]) == 3


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="CPU affinity is not available here")
def test_run_load_leaves_the_callers_cpu_affinity_as_it_was():
    # The harness pins the client to one CPU while it measures; a caller that goes on
    # (a benchmark suite, a notebook) must get its CPUs back.
    import os

    from realtime_fast.bench.load import LoadConfig, run_load

    before = os.sched_getaffinity(0)
    result = run_load(LoadConfig(sessions=2, duration=1.0, warmup=0.5, client_cpu=0, server_cpu=None, quiet=True))
    assert result["connected"] == 2
    assert os.sched_getaffinity(0) == before


def test_bench_load_runs_clients_that_keep_no_item_audio(tmp_path):
    out = tmp_path / "nokeep.json"
    code = main(
        [
            "bench", "load", "--no-keep-item-audio", "--sessions", "4", "--duration", "3", "--warmup", "1",
            "--client-cpu", "-1", "--server-cpu", "-1", "--quiet", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["keep_item_audio"] is False
    assert result["events"] > 0 and result["audio_bytes_decoded"] > 0  # every delta still reached the handler
    assert result["lost_events"] == 0 and result["sessions_unmatched"] == 0
    assert code == (0 if result["ok"] else 1)


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_bench_load_runs_g711_sessions_both_ways(tmp_path, fmt):
    out = tmp_path / "g711.json"
    code = main(
        [
            "bench", "load", "--format", fmt, "--sessions", "4", "--duration", "3", "--warmup", "1",
            "--client-cpu", "-1", "--server-cpu", "-1", "--quiet", "--json", str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["audio_format"] == fmt
    assert result["events"] > 0 and result["server_responses_done"] >= 1  # the server heard G.711 speech
    # every answer is 3 s of G.711 at 8 kHz, which the client hands out as PCM16 at 8 kHz (2 bytes a sample)
    assert result["audio_bytes_decoded"] == result["server_responses_done"] * 3 * 8000 * 2
    assert result["lost_events"] == 0 and result["sessions_unmatched"] == 0 and result["sessions_disconnected"] == 0
    assert code == (0 if result["ok"] else 1)


def test_bench_load_g711_is_for_this_packages_client_only():
    from realtime_fast.bench.load import LoadConfig

    _rivals()
    with pytest.raises(ValueError, match="for the realtime_fast client only"):
        LoadConfig(client="picows-bare", audio_format="g711_ulaw")
    with pytest.raises(ValueError, match="audio_format must be one of"):
        LoadConfig(audio_format="opus")
