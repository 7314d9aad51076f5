"""Where a shape sits in a tri-plane: the normalised box [-1, 1]^3, and random rotated/scaled copies.

A shape is mapped by a similarity (world -> normalised) that centres its bounding box at the origin
and scales its largest half-extent to ``fill`` (< 1, so that near-surface samples stay inside the box).
An augmented copy is rotated first (about its own centre), the rotated shape is boxed the same way,
then shrunk by ``scale`` <= 1. The tri-plane reads normalised points ``x`` at ``(x + 1) / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fields3d.geometry.similarity import Similarity

ROTATIONS = ("none", "x", "y", "z", "so3")


def box_normalization(
    points: np.ndarray, fill: float = 0.9, rotation: np.ndarray | None = None, scale: float = 1.0
) -> Similarity:
    """World -> normalised similarity for (N, 3) ``points``: rotate by ``rotation`` (3, 3), centre the
    bounding box, scale the largest half-extent to ``fill * scale``."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"expected (N, 3) points with N >= 1, got shape {pts.shape}")
    if not 0 < fill <= 1 or not 0 < scale <= 1:
        raise ValueError(f"expected fill and scale in (0, 1], got {fill} and {scale}")
    r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    rotated = pts @ r.T
    lo, hi = rotated.min(0), rotated.max(0)
    half = float((hi - lo).max()) / 2
    if not half > 0:
        raise ValueError(f"expected a shape with a positive extent, got a bounding box of size {hi - lo}")
    s = fill * scale / half
    return Similarity.from_parts(s, r, -s * (lo + hi) / 2)


def random_rotation(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A (3, 3) rotation: identity ("none"), uniform about one axis ("x", "y", "z") or uniform in SO(3)."""
    if kind not in ROTATIONS:
        raise ValueError(f"expected rotation in {ROTATIONS}, got {kind!r}")
    if kind == "none":
        return np.eye(3)
    if kind == "so3":
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
    a = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[kind]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@dataclass(frozen=True)
class CopySpec:
    """An augmented copy of a source shape: ``copy`` 0 is the shape as given (unless ``rotate_first``)."""

    copy: int
    rotation: np.ndarray
    scale: float

    def to_dict(self) -> dict:
        return {"copy": self.copy, "rotation": self.rotation.tolist(), "scale": self.scale}


def copy_specs(
    copies: int, rotate: str, scale_range: tuple[float, float], seed: int, keep_original: bool = True
) -> list[CopySpec]:
    """``copies`` copies of one shape: the first as given (when ``keep_original``), the others randomly
    rotated (``rotate``) and scaled (uniform in ``scale_range``), seeded."""
    if copies < 1:
        raise ValueError(f"expected copies >= 1, got {copies}")
    lo, hi = scale_range
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"expected 0 < scale_min <= scale_max <= 1, got {scale_range}")
    rng = np.random.default_rng(seed)
    specs = []
    for k in range(copies):
        if k == 0 and keep_original:
            specs.append(CopySpec(0, np.eye(3), 1.0))
        else:
            specs.append(CopySpec(k, random_rotation(rotate, rng), float(rng.uniform(lo, hi))))
    return specs
