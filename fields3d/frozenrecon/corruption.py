"""Affine corruption of ground-truth depth: a stand-in for a monocular depth model's output.

A monocular (affine-invariant) depth model predicts depth only up to an unknown per-frame scale and
shift.  :func:`corrupt_depth` turns a ground-truth depth map into such a prediction::

    d = s * gt * (1 + noise * e) + t * median(gt),     e ~ N(0, 1) per pixel

with ``s`` drawn log-uniformly from ``scale_range`` and ``t`` uniformly from ``shift_range`` (a fraction of
the frame's median ground-truth depth), independently per frame; pixels without ground truth (0, NaN)
become NaN ("no prediction").  The shift may make ``d`` zero or negative: the optimiser must estimate
scale and shift jointly.  :func:`write_corrupted_priors` (used by the recipe
``datasets/frozenrecon_7scenes/``) writes such priors as ``.npy`` files beside a ``corruption.json`` that
records every frame's ``s`` and ``t``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class CorruptionConfig:
    """Parameters of the per-frame affine corruption (the acceptance recipe's defaults)."""

    scale_range: tuple[float, float] = (0.5, 2.0)
    """Per-frame scale ``s``, drawn log-uniformly (so 0.5 and 2 are equally likely)."""
    shift_range: tuple[float, float] = (-0.5, 0.5)
    """Per-frame shift ``t`` as a fraction of the frame's median ground-truth depth, drawn uniformly."""
    noise: float = 0.03
    """Standard deviation of the per-pixel multiplicative Gaussian noise (0.03 = 3 %)."""
    seed: int = 0
    """Seed of the draws (frame k uses the stream ``(seed, k)``)."""

    def validate(self) -> None:
        lo, hi = self.scale_range
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise ValueError(f"expected 0 < scale_range[0] <= scale_range[1], got {self.scale_range}")
        if not self.shift_range[0] <= self.shift_range[1]:
            raise ValueError(f"expected shift_range[0] <= shift_range[1], got {self.shift_range}")
        if not 0 <= self.noise < 1:
            raise ValueError(f"expected noise in [0, 1), got {self.noise}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrameCorruption:
    """What was applied to one frame: ``d = scale * gt * (1 + noise) + shift``; ``shift`` in depth units."""

    scale: float
    shift: float
    shift_fraction: float
    median_depth: float


def corrupt_depth(
    gt: np.ndarray, frame: int, config: CorruptionConfig | None = None
) -> tuple[np.ndarray, FrameCorruption]:
    """Corrupt one ground-truth depth map (see the module docstring).

    Args:
        gt: (H, W) float depth, 0 or non-finite = missing.
        frame: frame index (selects the random stream, so frames are corrupted independently of order).
        config: corruption parameters.
    Returns:
        (H, W) float32 corrupted depth (NaN where gt is missing) and the applied :class:`FrameCorruption`.
    """
    config = config or CorruptionConfig()
    config.validate()
    g = np.asarray(gt, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"expected an (H, W) depth map, got shape {g.shape}")
    valid = np.isfinite(g) & (g > 0)
    if not valid.any():
        raise ValueError("expected a depth map with some valid (> 0) pixels, got none")
    rng = np.random.default_rng([int(config.seed), int(frame)])
    lo, hi = config.scale_range
    scale = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    fraction = float(rng.uniform(*config.shift_range))
    noise = rng.standard_normal(g.shape)
    median = float(np.median(g[valid]))
    shift = fraction * median
    out = np.full(g.shape, np.nan, dtype=np.float64)
    out[valid] = scale * g[valid] * (1.0 + config.noise * noise[valid]) + shift
    return out.astype(np.float32), FrameCorruption(scale, shift, fraction, median)


def write_corrupted_priors(
    scene, out, config: CorruptionConfig | None = None, focal_offset: float = 0.30
) -> dict:
    """Corrupt every ground-truth depth map of an RGB-D ``scene`` (SceneData with depth files) into
    ``out/<colour image stem>.npy`` and write ``out/corruption.json`` (recipe, per-frame draws, the true
    focal length and the starting one, ``(1 + focal_offset)`` times it).  Returns that summary."""
    from pathlib import Path

    from fields3d.errors import InputError
    from fields3d.io.atomic import atomic_path, write_json
    from fields3d.io.images import read_depth_png

    config = config or CorruptionConfig()
    config.validate()
    if scene.depth_paths is None:
        raise InputError("expected a capture with ground-truth depth maps, got none", scene.source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for k, (image, depth_path) in enumerate(zip(scene.image_paths, scene.depth_paths, strict=True)):
        gt = read_depth_png(depth_path, scene.depth_scale)
        try:
            prior, applied = corrupt_depth(gt, k, config)
        except ValueError as e:
            raise InputError(str(e), depth_path) from None
        target = out / f"{Path(image).stem}.npy"
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, prior)
        frames.append({"image": Path(image).name, "prior": target.name, **asdict(applied)})
    focal = float(scene.cameras.K[0, 0, 0])
    summary = {
        "recipe": config.to_dict(),
        "focal_true": focal,
        "focal_offset": float(focal_offset),
        "focal_init": focal * (1.0 + focal_offset),
        "frames": frames,
    }
    write_json(out / "corruption.json", summary)
    return summary
