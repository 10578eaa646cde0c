"""What Telegram learns from an uploaded file: its type, size in pixels and MIME type.

Only headers are read (PNG, GIF, JPEG, WebP); the stand-in never decodes images. Files
given by URL are not fetched: they become small placeholder files named after the URL.
"""

from __future__ import annotations

import mimetypes
import struct
import zlib

_EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "audio/ogg": "oga", "audio/mpeg": "mp3", "video/mp4": "mp4", "video/webm": "webm",
    "application/pdf": "pdf", "application/x-tgsticker": "tgs", "text/plain": "txt",
}


def sniff_mime(data: bytes, filename: str | None = None, declared: str | None = None) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"%PDF"):
        return "application/pdf"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    if declared and declared != "application/octet-stream":
        return declared
    return "application/octet-stream"


def extension_for(mime_type: str, filename: str | None = None) -> str:
    if filename and "." in filename:
        return filename.rsplit(".", 1)[1].lower()[:8] or "bin"
    return _EXTENSIONS.get(mime_type) or (mimetypes.guess_extension(mime_type) or ".bin")[1:]


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG, GIF, JPEG or WebP header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        if data[12:16] == b"VP8 " and len(data) >= 30:
            width, height = struct.unpack("<HH", data[26:30])
            return int(width & 0x3FFF), int(height & 0x3FFF)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        length = struct.unpack(">H", data[index + 2:index + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                      0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            return int(width), int(height)
        index += 2 + length
    return None


def scaled(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    width, height = size
    factor = longest_side / max(width, height, 1)
    if factor >= 1:
        return width, height
    return max(1, round(width * factor)), max(1, round(height * factor))


def make_png(width: int = 640, height: int = 480, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A real single-colour PNG, so uploads by simulated users have true dimensions."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def make_webp(width: int = 512, height: int = 512) -> bytes:
    """A WebP header (VP8X) with the given canvas size, enough to stand for a sticker."""
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def make_ogg(seconds: int = 3) -> bytes:
    """Bytes starting like an Ogg/Opus voice note."""
    return b"OggS" + b"\x00" * 24 + b"OpusHead" + bytes([seconds % 256]) * 64
