"""Seeded procedural appearance for synthetic captures: a solid 3D colour texture and an environment map.

The texture is defined in 3D (a *solid* texture), so every surface point has one colour whatever
view sees it: features match across views, which structure from motion needs.  It mixes

* coloured cells: a randomly rotated cubic lattice whose cells each carry a random colour (sharp
  corners where the surface cuts cell boundaries, good keypoints), and
* multi-octave value noise (fBm) per channel for texture inside the cells.

Octaves finer than the pixel footprint are faded out (``footprint``), so renders at any resolution
stay free of aliasing noise that would differ from view to view.

The environment map is a smooth function on the sphere of directions (a sky/ground gradient, a
low-frequency colour variation and a few bright lobes); glossy materials reflect it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TABLE = 256


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
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


class _LatticeHash:
    """Seeded hash of integer lattice points to random vectors in [0, 1]^channels."""

    def __init__(self, rng: np.random.Generator, channels: int):
        self.perm = rng.permutation(_TABLE).astype(np.int64)
        self.values = rng.random((_TABLE, channels)).astype(np.float32)

    def __call__(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) int64 lattice points -> (N, channels) float32."""
        p = self.perm
        h = p[ijk[:, 0] & (_TABLE - 1)]
        h = p[(h + ijk[:, 1]) & (_TABLE - 1)]
        h = p[(h + ijk[:, 2]) & (_TABLE - 1)]
        return self.values[h]


def _value_noise(points: np.ndarray, table: _LatticeHash) -> np.ndarray:
    """Trilinear (smoothstep-weighted) value noise at (N, 3) lattice-space points -> (N, C) in [0, 1]."""
    base = np.floor(points)
    f = (points - base).astype(np.float32)
    w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)  # quintic fade: no creases at cell faces
    ijk = base.astype(np.int64)
    out = 0.0
    for dx in (0, 1):
        wx = w[:, 0:1] if dx else 1.0 - w[:, 0:1]
        for dy in (0, 1):
            wy = w[:, 1:2] if dy else 1.0 - w[:, 1:2]
            for dz in (0, 1):
                wz = w[:, 2:3] if dz else 1.0 - w[:, 2:3]
                out = out + wx * wy * wz * table(ijk + np.array([dx, dy, dz]))
    return out


@dataclass(frozen=True)
class SolidTextureConfig:
    """Parameters of :class:`SolidTexture` (frequencies in cycles per unit of the normalised frame)."""

    cell_frequency: float = 5.0
    """Cells per unit length of the coloured-cell lattice."""
    color_frequency: float = 6.0
    """Frequency of the smooth colour variation (two octaves) mixed into the cell colours."""
    spot_frequency: float = 5.0
    """Spot cells per unit length of the coarsest spot layer; each further layer doubles it."""
    spot_layers: int = 3
    """Number of spot layers (scales)."""


def _fade(frequency: float, footprint: np.ndarray) -> np.ndarray:
    """Weight of a pattern of ``frequency`` for pixels of size ``footprint``: 1 while a period spans
    >= 4 pixels, 0 below 2 pixels (no aliasing)."""
    return np.clip((0.5 - np.float32(frequency) * footprint) / 0.25, 0.0, 1.0).astype(np.float32)


def _fbm(q: np.ndarray, tables: list, base_frequency: float, footprint: np.ndarray) -> np.ndarray:
    """Octave sum of value noise, centred at 0.5, octaves finer than ~2 pixels faded out."""
    out = 0.0
    total = 0.0
    for k, table in enumerate(tables):
        freq = base_frequency * 2.0**k
        amp = 0.5**k
        out = out + (amp * _fade(freq, footprint)) * (_value_noise(q * freq + 17.0 * k, table) - 0.5)
        total += amp
    return 0.5 + out / total


def _spots(q: np.ndarray, table: _LatticeHash) -> np.ndarray:
    """Random spots, one per lattice cell (random centre, ellipsoid radii, dark or bright): (N, 1) in [-1, 1].

    Ellipsoidal spots cut by a surface are ellipses of varied size and orientation with soft rims:
    blob features with a well-defined dominant orientation for SIFT-like detectors.  A spot stays
    within 0.25 cell of its cell, so a point can only be touched by the spots of its own cell and of
    the neighbours on the near side along each axis: 8 cells are visited, not 27.
    """
    base = np.floor(q)
    frac = (q - base).astype(np.float32)  # position inside the cell, in [0, 1)
    near = np.where(frac < 0.5, -1, 1).astype(np.int64)
    base = base.astype(np.int64)
    out = np.zeros((q.shape[0], 1), dtype=np.float32)
    for off in np.ndindex(2, 2, 2):
        step = near * np.array(off)
        h = table(base + step)  # (N, 7): centre jitter xyz, radii xyz, intensity
        rel = frac - (step.astype(np.float32) + 0.25 + 0.5 * h[:, :3])  # from the spot's centre
        radii = 0.5 * (0.35 + 0.65 * h[:, 3:6])  # <= 0.5: reaches at most 0.25 beyond the cell
        d = np.sqrt(((rel / radii) ** 2).sum(1, keepdims=True))
        bump = np.clip((1.0 - d) / 0.35, 0.0, 1.0)
        bump = bump * bump * (3.0 - 2.0 * bump)
        intensity = np.where(h[:, 6:7] < 0.5, -1.0, 1.0) * (0.55 + 0.9 * np.abs(h[:, 6:7] - 0.5))
        out += bump * intensity.astype(np.float32)
    return np.clip(out, -1.0, 1.0)


class SolidTexture:
    """A seeded solid colour texture: ``texture(points, footprint)`` -> albedo (N, 3) float32 in [0, 1]."""

    def __init__(self, seed: int = 0, config: SolidTextureConfig | None = None):
        self.config = config or SolidTextureConfig()
        rng = np.random.default_rng([int(seed), 0x7E47])
        self.rotation = _random_rotation(rng)
        self.offset = rng.random(3) * 100.0
        self.cells = _LatticeHash(rng, 3)
        self.colors = [_LatticeHash(rng, 3) for _ in range(2)]
        self.spots = [_LatticeHash(rng, 7) for _ in range(self.config.spot_layers)]

    def __call__(self, points: np.ndarray, footprint: np.ndarray | float = 0.0) -> np.ndarray:
        """Albedo at surface points.

        Args:
            points: (N, 3) float points in the normalised frame.
            footprint: (N,) or scalar size of one pixel on the surface (same units), used to fade out
                patterns finer than the pixel grid; 0 keeps every scale.
        Returns:
            (N, 3) float32 albedo in [0.02, 0.98].
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"expected points of shape (N, 3), got {pts.shape}")
        cfg = self.config
        q = pts @ self.rotation.T + self.offset
        foot = np.broadcast_to(np.asarray(footprint, dtype=np.float32), (pts.shape[0],))[:, None]
        cells = self.cells(np.floor(q * cfg.cell_frequency).astype(np.int64))
        colors = 0.5 + 2.5 * (_fbm(q, self.colors, cfg.color_frequency, foot) - 0.5)
        base = 0.3 + 0.7 * np.clip(0.5 * cells + 0.5 * colors, 0.0, 1.0)
        # spots at several scales give strong grey-level contrast (SIFT sees grey levels only);
        # scales finer than ~2 pixels fade out
        lum = 0.0
        for k, table in enumerate(self.spots):
            freq = cfg.spot_frequency * 2.0**k
            lum = lum + _fade(freq, foot) * _spots(q * freq + 31.0 * k, table)
        lum = 0.6 + 0.4 * np.clip(lum, -1.0, 1.0)
        return np.clip(base * lum, 0.02, 0.98).astype(np.float32)


class EnvironmentMap:
    """A seeded smooth environment: ``env(directions)`` -> radiance (N, 3) float32, roughly in [0, 4]
    (bright lobes: the highlights of glossy renders)."""

    def __init__(self, seed: int = 0, lobes: int = 6, up=(0.0, 1.0, 0.0)):
        rng = np.random.default_rng([int(seed), 0xE4F])
        self.up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        dirs = rng.normal(size=(lobes, 3))
        self.lobe_dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        self.lobe_sharpness = rng.uniform(8.0, 40.0, size=lobes)  # angular radius ~ 9 to 20 degrees
        self.lobe_colors = rng.uniform(0.7, 1.0, size=(lobes, 3)) * rng.uniform(2.0, 4.0, size=(lobes, 1))
        self.sky = rng.uniform(0.3, 0.6, size=3)
        self.ground = rng.uniform(0.02, 0.15, size=3)
        self.variation = _LatticeHash(rng, 3)

    def __call__(self, directions: np.ndarray) -> np.ndarray:
        """Radiance for (N, 3) directions (normalised inside)."""
        d = np.asarray(directions, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != 3:
            raise ValueError(f"expected directions of shape (N, 3), got {d.shape}")
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        height = d @ self.up
        t = 0.5 + 0.5 * np.tanh(4.0 * height)[:, None]
        rad = t * self.sky + (1.0 - t) * self.ground
        rad = rad * (0.7 + 0.6 * _value_noise(d * 2.0 + 50.0, self.variation))
        cos = d @ self.lobe_dirs.T  # (N, L)
        rad = rad + np.exp(self.lobe_sharpness * (cos - 1.0)) @ self.lobe_colors
        return rad.astype(np.float32)
