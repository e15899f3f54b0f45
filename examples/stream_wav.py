"""Stream a WAV file to the model as if spoken live, and save the spoken reply.

    python examples/stream_wav.py question.wav --out reply.wav
    python examples/stream_wav.py                 # no file: a generated speech-like signal
    python examples/stream_wav.py --url ws://127.0.0.1:8765/v1/realtime --fast

The audio goes out in 20 ms chunks at real-time pace (``--fast``: as fast as
the socket takes it) with server voice activity detection on, so the server
decides when you stopped talking and answers by itself.  Any PCM WAV works:
it is converted to 24 kHz mono first.  Without OPENAI_API_KEY (and without
--url) a mock server runs inside the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from typing import AsyncIterator

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.wav import SAMPLE_RATE, read_wav, speech_like_signal, write_wav

CHUNK = SAMPLE_RATE * 20 // 1000  # 20 ms = 480 samples


@contextlib.asynccontextmanager
async def realtime_server(url: str | None) -> AsyncIterator[tuple[str | None, str | None]]:
    """Yield ``(url, api_key)``: ``--url`` if given, OpenAI if OPENAI_API_KEY is set, else a mock server."""
    api_key = os.environ.get("OPENAI_API_KEY")
    if url or api_key:
        yield url, api_key
        return
    async with MockRealtimeServer(profile="realistic", record=False) as mock:
        mock.script.set_transcript("What's a good name for a lighthouse cat?")  # the mock cannot hear words
        mock.script.add_rule("lighthouse cat", "How about Beacon? It's bright and always on watch.")
        yield mock.url, "sk-mock-key-for-the-example"


async def main(url: str | None, wav_in: str | None, wav_out: str, fast: bool) -> None:
    samples = read_wav(wav_in) if wav_in else speech_like_signal()
    async with realtime_server(url) as (server_url, api_key):
        async with RealtimeClient(url=server_url, api_key=api_key) as client:
            client.update_session(
                turn_detection={"type": "server_vad"},
                input_audio_transcription={"model": "whisper-1"},
            )

            streaming: list[str] = []  # id of the assistant item being printed

            @client.on("conversation.updated")
            def show(event: dict) -> None:
                item, delta = event["item"], event["delta"]
                if not delta or "transcript" not in delta:
                    return
                if item.get("role") == "user":
                    print(f"you (transcribed): {delta['transcript']}", flush=True)
                    return
                if item["id"] not in streaming:
                    streaming.append(item["id"])
                    print("assistant: ", end="")
                print(delta["transcript"], end="", flush=True)

            @client.on("conversation.interrupted")
            def speech_started(event: dict) -> None:
                print(f"(server VAD: speech started at {event.get('audio_start_ms')} ms)", flush=True)

            reply: asyncio.Future[dict] = asyncio.get_running_loop().create_future()

            @client.on("conversation.item.completed")
            def on_completed(event: dict) -> None:  # the user's audio item completes first
                item = event["item"]
                if item.get("type") == "message" and item.get("role") == "assistant" and not reply.done():
                    reply.set_result(item)

            await client.wait_for_session_created()
            print(f"streaming {len(samples) / SAMPLE_RATE:.2f} s of audio in 20 ms chunks...", flush=True)
            start = time.monotonic()
            for i, offset in enumerate(range(0, len(samples), CHUNK)):
                client.append_input_audio(samples[offset : offset + CHUNK])  # returns at once
                if fast:
                    await client.drain()  # only waits when the socket is backed up
                else:
                    await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
            # Trailing silence, so the server hears the end of speech even if the file stops abruptly.
            client.append_input_audio(bytes(2 * SAMPLE_RATE // 2))

            try:
                item = await asyncio.wait_for(reply, timeout=30)
            except asyncio.TimeoutError:
                raise SystemExit("no reply within 30 s: did the server hear speech in the audio?") from None
            print()
            n = write_wav(wav_out, item["formatted"]["audio"])
            print(f"reply: {n / SAMPLE_RATE:.2f} s of audio written to {wav_out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", nargs="?", help="a PCM WAV file (default: a generated speech-like signal)")
    parser.add_argument("--out", default="reply.wav", help="where to write the reply (default: reply.wav)")
    parser.add_argument("--url", help="a Realtime server or relay (default: OpenAI or the embedded mock)")
    parser.add_argument("--fast", action="store_true", help="stream faster than real time")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.wav, args.out, args.fast))
