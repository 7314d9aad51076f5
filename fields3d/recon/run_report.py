"""The HTML report of a reconstruction run and its loss-curve plot (Pillow only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def line_plot(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str = "",
    size: tuple[int, int] = (520, 300),
    log_y: bool = False,
) -> np.ndarray:
    """Plot named (x, y) curves on one axis -> (H, W, 3) uint8 image; ``log_y`` plots log10(y) (y > 0)."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 52, 10, 22 if title else 8, 22
    pts = {}
    for name, (x, y) in series.items():
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y) & ((y > 0) if log_y else True)
        if ok.sum() >= 1:
            pts[name] = (x[ok], np.log10(y[ok]) if log_y else y[ok])
    draw.rectangle([left, top, w - right, h - bottom], outline=(160, 160, 160))
    if title:
        draw.text((left, 5), title, fill=(0, 0, 0))
    if not pts:
        draw.text((left + 10, top + 10), "no data", fill=(120, 120, 120))
        return np.asarray(img)
    xs = np.concatenate([p[0] for p in pts.values()])
    ys = np.concatenate([p[1] for p in pts.values()])
    x0, x1 = float(xs.min()), float(xs.max()) if xs.max() > xs.min() else float(xs.min()) + 1
    y0, y1 = float(ys.min()), float(ys.max())
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x, y):
        return (
            left + (x - x0) / (x1 - x0) * (w - right - left),
            h - bottom - (y - y0) / (y1 - y0) * (h - bottom - top),
        )

    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        _, yp = px(x0, yv)
        label = f"{10**yv:.3g}" if log_y else f"{yv:.3g}"
        draw.text((2, yp - 6), label, fill=(90, 90, 90))
        draw.line([(left, yp), (w - right, yp)], fill=(235, 235, 235))
    draw.text((left, h - bottom + 5), f"{x0:.0f}", fill=(90, 90, 90))
    draw.text((w - right - 40, h - bottom + 5), f"{x1:.0f}", fill=(90, 90, 90))
    for k, (name, (x, y)) in enumerate(pts.items()):
        color = _COLORS[k % len(_COLORS)]
        line = [px(a, b) for a, b in zip(x, y, strict=True)]
        if len(line) > 1:
            draw.line(line, fill=color, width=2)
        else:
            draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=color)
        draw.rectangle([left + 8, top + 6 + 13 * k, left + 16, top + 14 + 13 * k], fill=color)
        draw.text((left + 20, top + 4 + 13 * k), name, fill=(0, 0, 0))
    return np.asarray(img)


def write_loss_curves(history: list[dict], folder: Path) -> list[tuple[str, Path]]:
    """``folder/loss_curves.png`` (losses, log scale), ``folder/psnr_curve.png`` and
    ``folder/inv_s_curve.png`` from the training history."""
    from fields3d.io.images import write_image

    if not history:
        return []
    steps = np.array([h["step"] for h in history], dtype=np.float64)
    losses = {
        key: (steps, np.array([h.get(key, np.nan) for h in history], dtype=np.float64))
        for key in ("loss", "color", "eikonal", "mask", "normal")
        if any(np.isfinite(h.get(key, np.nan)) and h.get(key, 0) > 0 for h in history)
    }
    psnr = {"train PSNR (dB)": (steps, np.array([h["psnr"] for h in history], dtype=np.float64))}
    inv_s = {"NeuS s": (steps, np.array([h["inv_s"] for h in history], dtype=np.float64))}
    a = write_image(folder / "loss_curves.png", line_plot(losses, "losses (log scale)", log_y=True))
    b = write_image(folder / "psnr_curve.png", line_plot(psnr, "training PSNR"))
    c = write_image(folder / "inv_s_curve.png", line_plot(inv_s, "NeuS s (sharpness)", log_y=True))
    return [("losses", a), ("training PSNR", b), ("NeuS s", c)]


def write_report(
    path: Path,
    title: str,
    summary: str,
    metrics: dict,
    curves: list[tuple[str, Path]],
    views: list[tuple[str, Path]],
    turntable: list[tuple[str, Path]],
) -> Path:
    """Write ``report.html`` with the headline metrics, curves, view previews and the turntable."""
    from fields3d.io.report import HtmlReport

    report = HtmlReport(title)
    report.add_text(summary, heading="Run")
    headline = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    report.add_metrics(headline, heading="Summary")
    for section in ("heldout", "mesh", "timing"):
        if isinstance(metrics.get(section), dict):
            report.add_metrics(
                {k: v for k, v in metrics[section].items() if k != "per_view"}, heading=section
            )
    if turntable:
        report.add_images("Mesh turntable", turntable)
    if views:
        report.add_images("Held-out views: photo | render | normals | error (| W)", views)
    if curves:
        report.add_images("Training", curves)
    return report.write(path)
