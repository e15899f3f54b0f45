"""The benchmark numbers in the docs stay backed by result files that exist.

``docs/BENCHMARKS.md`` cites the JSON result behind every load, end-to-end,
soak and resampler figure; ``bench/results_index.py`` holds the folder to its
naming scheme.  A result deleted, renamed off the scheme or left uncited would
leave a reader with a number nobody can reproduce.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "bench" / "results_index.py"

pytestmark = pytest.mark.skipif(not INDEX.exists(), reason="not run from a source checkout")


def _index():
    spec = importlib.util.spec_from_file_location("results_index", INDEX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_result_file_follows_the_scheme_and_is_cited(capsys):
    assert _index().main([]) == 0, capsys.readouterr().err[-2000:]


def test_the_check_names_misnamed_uncited_and_missing_files(tmp_path, monkeypatch, capsys):
    index = _index()
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    soak = {"session_minutes": 1, "speed": 30, "history_items": 20, "events_sent": 1, "events_handled": 1,
            "lost_events": 0, "rss_after_warmup_mb": 1.0, "rss_end_mb": 1.0}
    (results / "soak_1min_x30_h20_20260101_r0.json").write_text(json.dumps(soak))
    (results / "soak_2min_x30_h20_20260101_r0.json").write_text(json.dumps(soak))  # name disagrees with content
    (tmp_path / "docs" / "BENCHMARKS.md").write_text("see soak_1min_x30_h20_20260101_r0.json and e2e_mock_20260101_r0.json\n")
    monkeypatch.setattr(index, "ROOT", str(tmp_path))
    monkeypatch.setattr(index, "RESULTS", str(results))
    assert index.main([]) == 1
    err = capsys.readouterr().err
    assert "soak_2min_x30_h20_20260101_r0.json: content says soak_1min_x30_h20_..." in err
    assert "soak_2min_x30_h20_20260101_r0.json: cited by no doc" in err
    assert "cites e2e_mock_20260101_r0.json, which matches no file" in err
    assert "soak_1min_x30_h20_20260101_r0.json:" not in err


def test_g711_load_results_carry_their_codec_in_the_name(tmp_path):
    index = _index()
    base = {"sessions": 500, "loop": "asyncio", "transport": "picows", "client": "realtime_fast", "time": "2026-01-02T03:04:05"}
    runs = {
        "load_realtime_fast_picows_asyncio_00500_20260102_r0.json": {**base, "audio_format": "pcm16"},
        "load_realtime_fast_picows_asyncio_00500_ulaw_20260102_r0.json": {**base, "audio_format": "g711_ulaw"},
        "load_realtime_fast_picows_asyncio_00500_alaw_20260102_r0.json": {**base, "audio_format": "g711_alaw"},
        "load_realtime_fast_picows_asyncio_00500_noaudio_ulaw_20260102_r0.json": {**base, "audio_format": "g711_ulaw", "keep_item_audio": False},
    }
    for name, result in runs.items():
        assert index.name_for(result, str(tmp_path)) == name
        assert index.SCHEMES["load"].match(name), name
        assert index.problems_of(name, result) == []
    # a G.711 run named as a PCM16 one is caught
    ulaw = runs["load_realtime_fast_picows_asyncio_00500_ulaw_20260102_r0.json"]
    assert index.problems_of("load_realtime_fast_picows_asyncio_00500_20260102_r0.json", ulaw) == [
        "content says load_realtime_fast_picows_asyncio_00500_ulaw_..."
    ]
