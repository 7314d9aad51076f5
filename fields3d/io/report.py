"""Reports a person can look at: image grids and point plots as PNG arrays (Pillow), HTML pages.

* :func:`image_grid` tiles images (grey, RGB, float or uint8, any sizes) with optional captions.
* :func:`colorize_depth` maps a depth map to a colour image for previews.
* :func:`plot_points_2d` draws labelled 2D point sets (e.g. camera positions seen from above).
* :class:`HtmlReport` collects a title, metric tables, text and image sections and writes one HTML
  page atomically; images are referenced by paths relative to the page.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fields3d.io.images import to_uint8


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image (H, W), (H, W, 1|3|4), got shape {np.asarray(image).shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr[..., :3]


def image_grid(
    images: list[np.ndarray],
    columns: int = 4,
    labels: list[str] | None = None,
    padding: int = 2,
    background: tuple[int, int, int] = (40, 40, 40),
) -> np.ndarray:
    """Tile images row-major into one (H, W, 3) uint8 image.

    Args:
        images: list of (H, W), (H, W, 1|3|4) images, float in [0, 1], bool or uint8; sizes may differ
            (each cell takes the largest size).
        columns: images per row.
        labels: optional caption per image, drawn in a strip under it.
    """
    from PIL import Image, ImageDraw

    if not images:
        raise ValueError("expected at least one image, got none")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"expected one label per image ({len(images)}), got {len(labels)}")
    tiles = [_as_rgb_uint8(im) for im in images]
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    label_h = 14 if labels is not None else 0
    H = rows * (cell_h + label_h + padding) + padding
    W = columns * (cell_w + padding) + padding
    canvas = Image.new("RGB", (W, H), background)
    draw = ImageDraw.Draw(canvas)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        x = padding + c * (cell_w + padding)
        y = padding + r * (cell_h + label_h + padding)
        canvas.paste(Image.fromarray(tile), (x, y))
        if labels is not None:
            draw.text((x + 2, y + cell_h + 1), labels[k][: max(1, cell_w // 6)], fill=(230, 230, 230))
    return np.asarray(canvas)


def colorize_depth(depth: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) depth (0, negative or NaN = missing) -> (H, W, 3) float32 preview: near = warm, far = blue,
    missing = black.  The colours span ``value_range`` (lo, hi) when given (one scale for several maps),
    else the 1st-99th percentiles of this map."""
    d = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    out = np.zeros(d.shape + (3,), dtype=np.float32)
    if valid.any():
        lo, hi = value_range if value_range is not None else np.percentile(d[valid], [1, 99])
        t = np.clip((np.where(valid, d, lo) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        near = 1.0 - t
        out[..., 0] = np.clip(1.5 * near, 0, 1)
        out[..., 1] = np.clip(1.5 * near - 0.5, 0, 1) * 0.9 + 0.1 * near
        out[..., 2] = 0.35 + 0.45 * t
        out[~valid] = 0.0
    return out


_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def plot_points_2d(
    series: dict[str, np.ndarray],
    size: int = 480,
    title: str = "",
    axis_labels: tuple[str, str] = ("x", "y"),
    links: tuple[str, str] | None = None,
    markers: dict[str, str] | None = None,
) -> np.ndarray:
    """Scatter plot of named 2D point sets on one equal-aspect axis -> (size, size, 3) uint8.

    Args:
        series: name -> (N, 2) float points; plotted in insertion order, one colour each, with a legend.
        links: optional pair of series names with equal N: a grey line joins corresponding points
            (e.g. ground truth and estimate of the same camera).
        markers: optional name -> "dot" | "ring" | "cross" | "pixel" (default "dot"; "pixel" draws dense
            point sets, e.g. an object's outline, as single light pixels).
    """
    from PIL import Image, ImageDraw

    if not series:
        raise ValueError("expected at least one point series, got none")
    pts = {k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in series.items()}
    allp = np.concatenate([p for p in pts.values() if len(p)] or [np.zeros((1, 2))])
    lo, hi = allp.min(0), allp.max(0)
    center, half = 0.5 * (lo + hi), 0.5 * max(float((hi - lo).max()), 1e-9) * 1.08
    margin_top, margin = 22 if title else 8, 28
    span = size - margin - margin_top
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)

    def to_px(p: np.ndarray) -> np.ndarray:
        q = (p - center) / half  # [-1, 1]
        return np.stack([margin + (q[:, 0] + 1) * 0.5 * span, margin_top + (1 - q[:, 1]) * 0.5 * span], -1)

    draw.rectangle([margin, margin_top, margin + span, margin_top + span], outline=(160, 160, 160))
    if title:
        draw.text((margin, 5), title, fill=(0, 0, 0))
    draw.text((margin + span // 2, size - 14), axis_labels[0], fill=(60, 60, 60))
    draw.text((4, margin_top + span // 2), axis_labels[1], fill=(60, 60, 60))
    if links is not None:
        a, b = to_px(pts[links[0]]), to_px(pts[links[1]])
        if len(a) != len(b):
            raise ValueError(f"expected linked series of equal length, got {len(a)} and {len(b)}")
        for p, q in zip(a, b, strict=True):
            draw.line([tuple(p), tuple(q)], fill=(170, 170, 170), width=1)
    markers = markers or {}
    for k, (name, p) in enumerate(pts.items()):
        color = _PALETTE[k % len(_PALETTE)]
        kind = markers.get(name, "dot")
        for x, y in to_px(p):
            if kind == "pixel":
                draw.point((x, y), fill=tuple(int(255 - 0.35 * (255 - c)) for c in color))
            elif kind == "ring":
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=color, width=2)
            elif kind == "cross":
                draw.line([x - 4, y - 4, x + 4, y + 4], fill=color, width=2)
                draw.line([x - 4, y + 4, x + 4, y - 4], fill=color, width=2)
            else:
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        ly = margin_top + 4 + 13 * k
        draw.rectangle([margin + 6, ly + 2, margin + 14, ly + 10], fill=color)
        draw.text((margin + 18, ly), name, fill=(0, 0, 0))
    return np.asarray(img)


@dataclass
class _ImageRow:
    heading: str
    images: list[tuple[str, Path]]
    width: int | None


@dataclass
class HtmlReport:
    """An HTML page: a title, then sections (metric tables, text, image rows) in the order added."""

    title: str
    sections: list[str | _ImageRow] = field(default_factory=list)

    def add_metrics(self, metrics: dict, heading: str = "Metrics") -> None:
        """A two-column table; floats print with 4 significant digits, nested dicts flatten to a.b keys."""
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_format_value(v))}</td></tr>"
            for k, v in _flatten(metrics).items()
        )
        self.sections.append(f"<h2>{html.escape(heading)}</h2>\n<table>{rows}</table>")

    def add_text(self, text: str, heading: str | None = None) -> None:
        head = f"<h2>{html.escape(heading)}</h2>\n" if heading else ""
        self.sections.append(f"{head}<p>{html.escape(text)}</p>")

    def add_images(
        self, heading: str, images: list[tuple[str, str | os.PathLike]], width: int | None = None
    ) -> None:
        """A row of captioned images; ``images`` is a list of (caption, path) with paths relative to the page
        (absolute paths are made relative when the page is written)."""
        self.sections.append(_ImageRow(heading, [(c, Path(p)) for c, p in images], width))

    def to_html(self, base: Path | None = None) -> str:
        parts = []
        for s in self.sections:
            if isinstance(s, _ImageRow):
                style = f' style="width:{int(s.width)}px"' if s.width else ""
                figs = "".join(
                    f'<figure><img src="{html.escape(_rel(p, base))}"{style}>'
                    f"<figcaption>{html.escape(c)}</figcaption></figure>"
                    for c, p in s.images
                )
                parts.append(f'<h2>{html.escape(s.heading)}</h2>\n<div class="row">{figs}</div>')
            else:
                parts.append(s)
        body = "\n".join(parts)
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style></head>\n"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )

    def write(self, path: str | os.PathLike) -> Path:
        """Write the page atomically; image paths become relative to its folder."""
        from fields3d.io.atomic import write_text

        path = Path(path)
        return write_text(path, self.to_html(path.parent))


_CSS = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse}td{border:1px solid #ccc;padding:3px 10px}"
    "td:first-child{font-family:monospace}"
    ".row{display:flex;flex-wrap:wrap;gap:10px}"
    "figure{margin:0}figcaption{font-size:80%;color:#555}img{image-rendering:pixelated;max-width:100%}"
)


def _rel(p: Path, base: Path | None) -> str:
    if base is not None and p.is_absolute():
        return Path(os.path.relpath(p, base.resolve())).as_posix()
    return p.as_posix()


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _format_value(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)) and len(v) > 8:
        return f"[{len(v)} values]"
    return str(v)
