"""Generated pictures for the demo world: avatars (initials on a colour) and document scans.

Everything is drawn with Pillow from the person's name, so the same name always gives the
same picture and the demo ships no image files.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw, ImageFont

AVATAR_SIZE = 320
# Calm, readable colours; white initials stay legible on every one of them.
PALETTE = (
    (0xE1, 0x70, 0x76), (0xF0, 0x9A, 0x37), (0x7B, 0xC8, 0x62), (0x3F, 0xA9, 0xC9),
    (0x65, 0xAA, 0xDD), (0xA6, 0x95, 0xE7), (0xEE, 0x7A, 0xAE), (0x6E, 0xC9, 0xCB),
    (0x5C, 0x8E, 0xC7), (0xD9, 0x8C, 0x4F),
)


def initials(name: str) -> str:
    """Up to two letters: the first of the first two words ("Lin Yue" -> "LY")."""
    words = [word for word in name.replace("-", " ").split() if word]
    letters = "".join(word[0] for word in words[:2]).upper()
    return letters or "?"


def colour_of(name: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def avatar_png(name: str, size: int = AVATAR_SIZE) -> bytes:
    """A square PNG: the name's initials, centred, white on the name's colour."""
    image = Image.new("RGB", (size, size), colour_of(name))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size * 0.42)
    draw.text((size / 2, size / 2), initials(name), fill=(255, 255, 255), font=font, anchor="mm")
    return _png(image)


def document_png(title: str, name: str) -> bytes:
    """A stand-in for a scanned document (an ID card, a certificate) naming its holder."""
    width, height = 640, 400
    image = Image.new("RGB", (width, height), (0xF4, 0xF1, 0xE8))
    draw = ImageDraw.Draw(image)
    draw.rectangle((12, 12, width - 12, height - 12), outline=colour_of(name), width=6)
    draw.rectangle((40, 90, 200, 290), fill=colour_of(name))
    big = ImageFont.load_default(size=64)
    draw.text((120, 190), initials(name), fill=(255, 255, 255), font=big, anchor="mm")
    heading = ImageFont.load_default(size=34)
    body = ImageFont.load_default(size=28)
    draw.text((40, 40), title, fill=(0x33, 0x33, 0x33), font=heading)
    draw.text((230, 110), name, fill=(0x22, 0x22, 0x22), font=body)
    draw.text((230, 160), "DEMO ONLY", fill=(0xB0, 0x30, 0x30), font=body)
    return _png(image)
