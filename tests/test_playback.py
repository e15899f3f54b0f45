"""PlaybackTracker: counting what was played, per item, at the output format's rate, and answering an interruption."""

from __future__ import annotations

import threading
from array import array

import numpy as np
import pytest
from _realtime_helpers import EventLog, client, make_client, protocol, received, server, transport_name  # noqa: F401

from realtime_fast.audio import PLAYBACK_FORMATS, PlaybackTracker


def test_nothing_played_is_none_zero():
    tracker = PlaybackTracker()
    assert tracker.position() == (None, 0)
    assert tracker.played_ms() == 0 and tracker.samples_played("x") == 0
    assert (tracker.format, tracker.rate, tracker.bytes_per_sample) == ("pcm16", 24000, 2)


def test_counts_samples_of_the_item_playing_now():
    tracker = PlaybackTracker()
    assert tracker.played("item_a", b"\0" * 960) == 480  # 20 ms of PCM16 at 24 kHz
    assert tracker.played("item_a", 480) == 960
    assert tracker.position() == ("item_a", 960)
    assert tracker.played_ms() == 40
    tracker.played("item_b", np.zeros(240, dtype=np.int16))  # an int16 array: one sample per item
    assert tracker.position() == ("item_b", 240)
    assert tracker.played_ms() == 10 and tracker.played_ms("item_a") == 40 and tracker.samples_played("item_a") == 960
    tracker.played("item_a", array("h", [0] * 24))  # back to an earlier item: its count goes on
    assert tracker.position() == ("item_a", 984)
    tracker.played("item_b", b"")  # nothing played: the item playing now stays
    tracker.played("item_b", 0)
    assert tracker.position() == ("item_a", 984)
    tracker.reset()
    assert tracker.position() == (None, 0) and tracker.samples_played("item_a") == 0


def test_a_sample_split_across_calls_counts_once():
    tracker = PlaybackTracker()
    tracker.played("a", b"\0\0\0")
    assert tracker.position() == ("a", 1)
    tracker.played("a", bytearray(b"\0"))
    assert tracker.position() == ("a", 2)
    tracker.played("a", memoryview(b"\0" * 5))
    assert tracker.position() == ("a", 4)


def test_g711_counts_one_byte_per_sample_at_8khz():
    tracker = PlaybackTracker("g711_ulaw")
    assert (tracker.rate, tracker.bytes_per_sample) == (8000, 1)
    tracker.played("item", b"\xff" * 160)  # 20 ms of G.711
    assert tracker.position() == ("item", 160) and tracker.played_ms() == 20
    tracker.played("item", np.zeros(160, dtype=np.int16))  # decoded for a speaker: still 160 samples
    assert tracker.position() == ("item", 320)
    assert PlaybackTracker("g711_alaw").rate == 8000
    assert PlaybackTracker("pcm16", rate=16000).played("x", 16000) == 16000
    assert PlaybackTracker(rate=16000).played_ms() == 0
    pcm = PlaybackTracker(rate=16000)
    pcm.played("x", 1600)
    assert pcm.played_ms() == 100
    assert set(PLAYBACK_FORMATS) == {"pcm16", "g711_ulaw", "g711_alaw"}


def test_float_arrays_count_samples():
    tracker = PlaybackTracker()
    tracker.played("x", np.zeros(100, dtype=np.float32))
    assert tracker.position() == ("x", 100)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="format must be one of 'pcm16', 'g711_ulaw', 'g711_alaw', got 'mp3'"):
        PlaybackTracker("mp3")
    for rate in (0, -8000, 8000.0, True, "8000"):
        with pytest.raises(ValueError, match="rate must be a positive whole number"):
            PlaybackTracker(rate=rate)
    tracker = PlaybackTracker()
    for item_id in (None, "", 5):
        with pytest.raises(TypeError, match="item_id must be the played item's id"):
            tracker.played(item_id, 10)
    with pytest.raises(ValueError, match="cannot be negative"):
        tracker.played("x", -1)
    for audio in ("abc", 1.5, None, True):
        with pytest.raises(TypeError, match="played\\(\\) expects the audio played"):
            tracker.played("x", audio)
    assert tracker.position() == (None, 0)


def test_keeps_the_most_recent_items():
    tracker = PlaybackTracker()
    for i in range(PlaybackTracker.MAX_ITEMS + 10):
        tracker.played(f"item_{i}", 10)
    tracker.played("item_20", 5)  # played again: now the most recent
    tracker.played("late", 1)
    assert tracker.samples_played("item_0") == 0  # forgotten
    assert tracker.samples_played("item_20") == 15 and tracker.samples_played("late") == 1
    assert tracker.position() == ("late", 1)
    assert "PlaybackTracker(format='pcm16', rate=24000, item_id='late', samples=1)" == repr(tracker)


def test_an_audio_thread_may_play_while_another_asks():
    tracker = PlaybackTracker()
    frame = b"\0" * 960

    def play():
        for _ in range(2000):
            tracker.played("item", frame)

    threads = [threading.Thread(target=play) for _ in range(4)]
    for t in threads:
        t.start()
    positions = []
    while any(t.is_alive() for t in threads):
        positions.append(tracker.position())
    for t in threads:
        t.join()
    assert tracker.position() == ("item", 4 * 2000 * 480)
    assert all(item in (None, "item") and samples % 480 == 0 for item, samples in positions)


# -- with RealtimeClient.cancel_response ------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_position_is_what_cancel_response_takes(client, server):
    log = EventLog(client, ["conversation.item.completed"])
    client.send_user_message_content([{"type": "input_text", "text": "hi"}])
    item = (await log.wait_for("conversation.item.completed", lambda e: e["item"].get("role") == "assistant"))["item"]
    audio = item["formatted"]["audio"].to_bytes()
    tracker = PlaybackTracker()
    for start in range(0, 5 * 960, 960):  # the listener heard five 20 ms frames
        tracker.played(item["id"], audio[start : start + 960])
    assert tracker.position() == (item["id"], 2400)
    client.cancel_response(*tracker.position())
    [truncate] = await received(server, "conversation.item.truncate")
    assert truncate["item_id"] == item["id"] and truncate["audio_end_ms"] == 100 == tracker.played_ms()


@pytest.mark.timeout(60)
async def test_nothing_played_only_cancels_the_response(client, server):
    assert client.cancel_response(*PlaybackTracker().position()) == {"item": None}
    [cancel] = await received(server, "response.cancel")
    assert cancel["type"] == "response.cancel"
    assert server.events("conversation.item.truncate", direction="client") == []
