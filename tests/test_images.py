"""Images in user messages: bytes or a file turned into the data URL the service takes."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

from realtime_fast import RealtimeClient
from realtime_fast.mock import MockRealtimeServer
from realtime_fast.utils import MAX_IMAGE_BYTES, image_data_url
from _realtime_helpers import KEY, EventLog, received
from test_mock_support import assert_valid_events

pytestmark = pytest.mark.timeout(60)


def _png(width: int = 2, height: int = 2) -> bytes:
    """A valid, tiny grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20 + b"\xff\xd9"


def test_image_data_url_from_bytes_and_files(tmp_path: Path) -> None:
    png = _png()
    assert image_data_url(png) == "data:image/png;base64," + base64.b64encode(png).decode()
    assert image_data_url(bytearray(JPEG)).startswith("data:image/jpeg;base64,/9j/")
    path = tmp_path / "photo.bin"  # the format comes from the data, not the name
    path.write_bytes(JPEG)
    assert image_data_url(path) == image_data_url(str(path)) == image_data_url(JPEG)


def test_image_data_url_refuses_other_formats_sizes_and_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither PNG nor JPEG: the Realtime API takes PNG and JPEG images"):
        image_data_url(b"GIF89a" + b"\x00" * 10)
    with pytest.raises(ValueError, match="is empty"):
        image_data_url(b"")
    with pytest.raises(ValueError, match=f"over {MAX_IMAGE_BYTES} bytes, more than one Realtime event can carry"):
        image_data_url(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(ValueError, match=r"The image file '.*big.png' is over 1000 bytes"):
        image_data_url(big, max_bytes=1000)
    with pytest.raises(TypeError, match="bytes or the path of a PNG or JPEG file, not int"):
        image_data_url(7)
    with pytest.raises(FileNotFoundError):
        image_data_url(tmp_path / "missing.png")


async def test_an_image_message_against_the_mock(tmp_path: Path) -> None:
    png = _png()
    path = tmp_path / "shot.png"
    path.write_bytes(png)
    async with MockRealtimeServer(profile="fast") as server:
        client = RealtimeClient(server.url, KEY, transport="websockets")
        client.update_session(modalities=["text"])
        log = EventLog(client, ["conversation.item.completed", "error"])
        await client.connect()
        try:
            client.send_user_message_content(
                [{"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image": path, "detail": "low"}]
            )
            reply = await log.wait_for("conversation.item.completed", lambda e: e["item"]["role"] == "assistant")
            assert reply["item"]["formatted"]["text"] == f'You said: "What is this? [image/png, {len(png)} bytes]"'
            sent = (await received(server, "conversation.item.create"))[0]["item"]["content"]
            assert sent[1] == {"type": "input_image", "image_url": image_data_url(png), "detail": "low"}
            user = next(i for i in client.conversation.items if i["role"] == "user")
            assert user["content"][1]["image_url"] == image_data_url(png)  # kept on the item
            with pytest.raises(ValueError, match='takes "image" or "image_url", not both'):
                client.send_user_message_content([{"type": "input_image", "image": png, "image_url": "data:,"}])
            client.realtime.send("conversation.item.create", {"item": {"type": "message", "role": "user", "content": [
                {"type": "input_image", "image_url": "data:image/gif;base64,R0lGODlh"}]}})
            error = await log.wait_for("error")
            assert error["error"]["param"] == "item.content[0].image_url"
        finally:
            await client.disconnect()
    assert_valid_events(server)
