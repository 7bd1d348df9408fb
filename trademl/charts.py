"""Small PNG charts drawn with Pillow (no plotting stack needed): confusion matrix, curves, bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from trademl.lake import atomic_path, lake_path

_PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
]


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def _save(img: Image.Image, path: str | Path) -> Path:
    path = lake_path(path, "chart")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def confusion_matrix_png(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path, title: str
) -> Path:
    """Rows = gold, columns = predicted; cell shade by row-normalised share, counts written in."""
    n, cell, left, top = len(labels), 90, 150, 70
    img = Image.new("RGB", (left + n * cell + 20, top + n * cell + 40), "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    draw.text((10, 10), title, fill="black", font=_font(16))
    draw.text((left, top - 22), "predicted ->", fill="gray", font=font)
    for i, row in enumerate(matrix):
        total = max(sum(row), 1)
        draw.text((8, top + i * cell + cell // 2 - 6), labels[i][:20], fill="black", font=font)
        for j, count in enumerate(row):
            share = count / total
            shade = int(255 - 200 * share)
            x, y = left + j * cell, top + i * cell
            draw.rectangle([x, y, x + cell - 2, y + cell - 2], fill=(shade, shade, 255))
            draw.text(
                (x + 8, y + cell // 2 - 6),
                f"{count}",
                fill="black" if share < 0.6 else "white",
                font=font,
            )
    for j, label in enumerate(labels):
        draw.text(
            (left + j * cell + 4, top + n * cell + 6),
            label.replace("SIGNAL_", "S_")[:12],
            fill="black",
            font=font,
        )
    return _save(img, path)


def curves_png(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path,
    title: str,
    x_label: str = "recall",
    y_label: str = "precision",
) -> Path:
    """One polyline per named curve on [0, 1] × [0, 1] axes."""
    w, h, pad = 520, 420, 50
    img = Image.new("RGB", (w, h), "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    draw.text((10, 8), title, fill="black", font=_font(16))
    x0, y0, x1, y1 = pad, h - pad, w - 150, pad
    draw.rectangle([x0, y1, x1, y0], outline="black")
    for t in (0.0, 0.5, 1.0):
        draw.text((x0 + t * (x1 - x0) - 8, y0 + 6), f"{t:.1f}", fill="black", font=font)
        draw.text((8, y0 - t * (y0 - y1) - 6), f"{t:.1f}", fill="black", font=font)
    draw.text(((x0 + x1) // 2 - 20, y0 + 22), x_label, fill="gray", font=font)
    draw.text((8, y1 - 24), y_label, fill="gray", font=font)
    for k, (name, (xs, ys)) in enumerate(curves.items()):
        color = _PALETTE[k % len(_PALETTE)]
        points = [(x0 + x * (x1 - x0), y0 - y * (y0 - y1)) for x, y in zip(xs, ys, strict=True)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        draw.text((x1 + 10, y1 + 16 * k), name[:22], fill=color, font=font)
    return _save(img, path)


def bars_png(values: Mapping[str, float], path, title: str) -> Path:
    """Horizontal bars for scores in [0, 1]."""
    w, row, left = 520, 26, 160
    img = Image.new("RGB", (w, 50 + row * len(values)), "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    draw.text((10, 8), title, fill="black", font=_font(16))
    for i, (name, value) in enumerate(values.items()):
        y = 40 + i * row
        draw.text((8, y + 4), name[:22], fill="black", font=font)
        draw.rectangle(
            [left, y, left + int((w - left - 60) * max(0.0, min(1.0, value))), y + row - 6],
            fill=_PALETTE[i % len(_PALETTE)],
        )
        draw.text((w - 52, y + 4), f"{value:.3f}", fill="black", font=font)
    return _save(img, path)
