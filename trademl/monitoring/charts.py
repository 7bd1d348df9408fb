"""Reference vs current distributions as one PNG (Pillow; no plotting stack in the pins)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from trademl.charts import _font, _save

_REFERENCE = (31, 119, 180)
_CURRENT = (214, 39, 40)


def distributions_png(
    panels: Mapping[str, tuple[Sequence[float], Sequence[float], str]],
    path: str | Path,
    title: str,
) -> Path:
    """One panel per name: reference (blue) and current (red) shares per reference-quantile bin,
    with the panel's caption (e.g. its PSI) under the name."""
    w, panel_h, pad = 620, 150, 14
    img = Image.new("RGB", (w, 40 + panel_h * max(len(panels), 1)), "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    draw.text((10, 8), title, fill="black", font=_font(16))
    draw.text((w - 220, 10), "reference", fill=_REFERENCE, font=font)
    draw.text((w - 130, 10), "current", fill=_CURRENT, font=font)
    for k, (name, (ref, cur, caption)) in enumerate(panels.items()):
        top = 40 + k * panel_h
        draw.text((10, top + 4), name[:24], fill="black", font=font)
        draw.text((10, top + 22), caption[:28], fill="gray", font=font)
        x0, x1, y0, y1 = 200, w - pad, top + panel_h - 16, top + 8
        draw.line([(x0, y0), (x1, y0)], fill="black")
        n = max(len(ref), 1)
        top_share = max([*ref, *cur, 1e-9])
        slot = (x1 - x0) / n
        for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
            left = x0 + i * slot + 2
            bar = max(slot / 2 - 3, 1)
            for j, (share, color) in enumerate(((r, _REFERENCE), (c, _CURRENT))):
                height = (y0 - y1) * share / top_share
                bx = left + j * bar
                draw.rectangle([bx, y0 - height, bx + bar - 1, y0], fill=color)
        draw.text((x0, y0 + 2), "low", fill="gray", font=font)
        draw.text((x1 - 30, y0 + 2), "high", fill="gray", font=font)
    return _save(img, path)
