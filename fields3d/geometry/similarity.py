"""Similarity transforms ``x -> s R x + t``: scene normalisation and Sim(3) alignment.

A :class:`Similarity` is stored as one (4, 4) float64 matrix ``[[s R, t], [0, 1]]``.  Scene normalisation
is recorded as the similarity that maps original world coordinates into the normalised frame where a
method works (the object inside the unit sphere); its inverse takes exported meshes back to world units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Similarity:
    """``x' = scale * rotation @ x + translation``; ``matrix`` is (4, 4) float64."""

    matrix: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"expected a (4, 4) similarity matrix, got shape {m.shape}")
        object.__setattr__(self, "matrix", m)

    @staticmethod
    def identity() -> Similarity:
        return Similarity(np.eye(4))

    @staticmethod
    def from_parts(scale: float, rotation: np.ndarray | None = None, translation=None) -> Similarity:
        """Build from a positive ``scale``, a (3, 3) ``rotation`` and a (3,) ``translation``."""
        if not scale > 0:
            raise ValueError(f"expected a positive scale, got {scale}")
        m = np.eye(4)
        r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        m[:3, :3] = scale * r
        if translation is not None:
            m[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
        return Similarity(m)

    @staticmethod
    def normalizing(center, radius: float) -> Similarity:
        """The similarity mapping the sphere (``center``, ``radius``) onto the unit sphere at the origin."""
        center = np.asarray(center, dtype=np.float64).reshape(3)
        return Similarity.from_parts(1.0 / radius, None, -center / radius)

    @property
    def scale(self) -> float:
        return float(np.cbrt(np.linalg.det(self.matrix[:3, :3])))

    @property
    def rotation(self) -> np.ndarray:
        return self.matrix[:3, :3] / self.scale

    @property
    def translation(self) -> np.ndarray:
        return self.matrix[:3, 3].copy()

    def inverse(self) -> Similarity:
        s, r, t = self.scale, self.rotation, self.translation
        m = np.eye(4)
        m[:3, :3] = r.T / s
        m[:3, 3] = -(r.T @ t) / s
        return Similarity(m)

    def __matmul__(self, other: Similarity) -> Similarity:
        """Composition: ``(a @ b)(x) == a(b(x))``."""
        return Similarity(self.matrix @ other.matrix)

    def apply_points(self, points):
        """Map (..., 3) points (numpy or torch; dtype and device kept)."""
        if isinstance(points, torch.Tensor):
            m = torch.as_tensor(self.matrix, dtype=points.dtype, device=points.device)
            return points @ m[:3, :3].T + m[:3, 3]
        pts = np.asarray(points)
        out = pts.astype(np.float64) @ self.matrix[:3, :3].T + self.matrix[:3, 3]
        return out.astype(pts.dtype if np.issubdtype(pts.dtype, np.floating) else np.float64)

    def apply_directions(self, directions):
        """Rotate (..., 3) directions (no scale, no translation)."""
        r = self.rotation
        if isinstance(directions, torch.Tensor):
            return directions @ torch.as_tensor(r, dtype=directions.dtype, device=directions.device).T
        return np.asarray(directions) @ r.T

    def apply_c2w(self, c2w):
        """Map (..., 4, 4) camera-to-world poses into the new frame (rotation stays orthonormal)."""
        is_torch = isinstance(c2w, torch.Tensor)
        pose = c2w.detach().cpu().double().numpy() if is_torch else np.asarray(c2w, dtype=np.float64)
        out = pose.copy()
        out[..., :3, :3] = self.rotation @ pose[..., :3, :3]
        out[..., :3, 3] = pose[..., :3, 3] @ self.matrix[:3, :3].T + self.matrix[:3, 3]
        if is_torch:
            return torch.as_tensor(out, dtype=c2w.dtype, device=c2w.device)
        return out.astype(np.asarray(c2w).dtype)

    def to_dict(self) -> dict:
        return {"matrix": self.matrix.tolist(), "scale": self.scale}

    @staticmethod
    def from_dict(d: dict) -> Similarity:
        return Similarity(np.asarray(d["matrix"], dtype=np.float64))
