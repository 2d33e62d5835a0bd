"""Regenerate the example's binary assets (a PNG and a small web font) from code.

Run once by hand with fontTools and brotli installed (`pip install fonttools brotli`); the
outputs are committed, so neither is a dependency of flask-s3 or its tests.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).parent / "static"


def png(width: int, height: int, pixel: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\0" + bytes(pixel) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def font(path: Path) -> None:
    """A tiny font, "Shop Sans": every letter a block, enough for a browser to load and use."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [
        chr(c) for c in range(ord("a"), ord("z") + 1)
    ]
    names = [".notdef", "space", *letters]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({32: "space", **{ord(ch): ch for ch in letters}})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name not in ("space",):
            pen.moveTo((60, 0))
            pen.lineTo((60, 700))
            pen.lineTo((540, 700))
            pen.lineTo((540, 0))
            pen.closePath()
        glyphs[name] = pen.glyph()
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (600, 60) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Shop Sans", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.font.flavor = "woff2"
    builder.save(str(path))


if __name__ == "__main__":
    (STATIC / "img" / "hero.png").write_bytes(png(64, 32, (200, 120, 40)))
    (STATIC / "favicon.png").write_bytes(png(16, 16, (40, 120, 200)))
    font(STATIC / "fonts" / "shop.woff2")
