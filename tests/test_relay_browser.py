"""The relay's voice page in a real browser: headless Chromium speaks a turn through the relay.

Chromium's fake capture device plays a WAV (a voiced tone, then silence) as the microphone;
the page streams it through the relay to the embedded mock server, whose voice activity
detection ends the turn; the test then reads the transcript on the page and checks that
the assistant's audio was played.  Push-to-talk and hang-up are pressed like a person would.
Skipped, with the reason, where Chromium, chromedriver or Selenium is missing
(``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import pytest
from _realtime_helpers import PACKAGE_PARENT

pytestmark = pytest.mark.timeout(180)

TOKEN = "tok-browser-test-0123"


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Chromium and chromedriver are needed for the browser test (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="Selenium is needed for the browser test (pip install selenium)")
    return browser, driver


def _speech_wav(path: Path) -> None:
    """1.2 s of a voiced tone (220 Hz and harmonics), then 1.8 s of silence, 48 kHz mono PCM16."""
    rate = 48000
    samples = []
    for n in range(int(rate * 3.0)):
        t = n / rate
        value = 0.0
        if t < 1.2:
            value = 0.25 * math.sin(2 * math.pi * 220 * t) + 0.1 * math.sin(2 * math.pi * 440 * t)
        samples.append(int(value * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))


@pytest.fixture
def relay_page():
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "REALTIME_RELAY_TOKENS": f"browser:{TOKEN}"}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "realtime_fast", "relay", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    found = re.search(r"listening on ws://([^/\s]+)/", banner)
    if not found:
        proc.kill()
        raise AssertionError(f"no URL in the relay's banner: {banner!r} {proc.communicate(timeout=10)[1][-2000:]}")
    try:
        yield f"http://{found.group(1)}"
    finally:
        proc.terminate()
        proc.communicate(timeout=40)


def test_the_page_speaks_a_turn_through_the_relay_and_plays_the_answer(relay_page, tmp_path):
    browser, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    wav = tmp_path / "speech.wav"
    _speech_wav(wav)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(relay_page + f"/?token={TOKEN}")
        driver.find_element(By.ID, "call").click()

        def page_state() -> dict:
            return driver.execute_script(
                "const p = window.relayPage; return {state: p.state, played: p.audioPlayedSamples, sent: p.sentChunks,"
                " errors: p.errors, text: document.getElementById('transcript').innerText};"
            )

        def wait_for(check, timeout: float = 40.0) -> dict:
            deadline = time.monotonic() + timeout
            state = page_state()
            while time.monotonic() < deadline and not check(state):
                time.sleep(0.25)
                state = page_state()
            return state

        # Hands-free: the microphone's turn ends by voice activity detection; the answer is shown and played.
        state = wait_for(lambda s: "You said" in s["text"] and s["played"] > 24000 * 0.5)
        assert "you:" in state["text"] and "You said" in state["text"], state
        assert state["played"] > 24000 * 0.5 and not state["errors"], state
        # Push to talk: hold the button while the microphone plays, release to send the turn.
        before = state["text"].count("assistant:")
        talk = driver.find_element(By.ID, "talk")
        ActionChains(driver).click_and_hold(talk).pause(1.5).release(talk).perform()
        state = wait_for(lambda s: s["text"].count("assistant:") > before)
        assert state["text"].count("assistant:") > before and not state["errors"], state
        # Hang up.
        driver.find_element(By.ID, "hangup").click()
        state = wait_for(lambda s: s["state"] == "closed", 10)
        assert state["state"] == "closed"
    finally:
        driver.quit()
