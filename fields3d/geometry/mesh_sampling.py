"""Uniform random points on a triangle mesh's surface, with their face normals.

This is the one sampler of fields3d: evaluation (Chamfer, F-score, normal consistency), tri-plane
fitting and synthetic captures all draw surface points through :func:`sample_surface`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fields3d.geometry.triangle_arrays import face_areas_normals, triangle_arrays


@dataclass(frozen=True)
class SurfaceSamples:
    """Points drawn on a mesh surface.

    Attributes:
        points: (N, 3) float64 positions, the mesh's units.
        normals: (N, 3) float64 unit normals of the faces the points lie on (right-hand rule on the
            face's vertex order; for an outward-oriented closed mesh they point outwards).
        face_index: (N,) int64 index of the face each point lies on (for per-face labels).
        barycentric: (N, 3) float64 barycentric coordinates of each point in its face (rows sum to 1);
            interpolate per-vertex attributes ``attr`` (V, D) with
            ``(barycentric[..., None] * attr[faces[face_index]]).sum(1)``.
    """

    points: np.ndarray
    normals: np.ndarray
    face_index: np.ndarray
    barycentric: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


def sample_surface(mesh, count: int, *, seed: int | np.random.Generator | None = 0) -> SurfaceSamples:
    """Draw ``count`` points uniformly by area on the surface of a triangle mesh.

    Faces are picked with probability proportional to their area (degenerate faces are never picked),
    and points are uniform inside each face (square-root barycentric warp).

    Args:
        mesh: a ``trimesh.Trimesh`` or a ``(vertices (V, 3), faces (F, 3))`` pair (numpy or torch).
        count: number of points N >= 1.
        seed: an int seed (same seed, same points), a ``numpy.random.Generator``, or None (fresh entropy).
    Returns:
        :class:`SurfaceSamples` with (N, 3) points and normals, (N,) face indices, (N, 3) barycentrics.
    Raises:
        ValueError: ``count < 1``, a malformed mesh, or a mesh whose total surface area is zero.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"expected a positive integer sample count, got {count!r}")
    vertices, faces = triangle_arrays(mesh)
    areas, normals = face_areas_normals(vertices, faces)
    total = float(areas.sum())
    if not total > 0:
        raise ValueError(f"expected a mesh with positive surface area, got {len(faces)} faces, area {total}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    cdf = np.cumsum(areas)
    face_index = np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right")
    face_index = np.minimum(face_index, len(faces) - 1).astype(np.int64)
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    bary = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)
    tri = vertices[faces[face_index]]
    points = np.einsum("nk,nkd->nd", bary, tri)
    return SurfaceSamples(points=points, normals=normals[face_index], face_index=face_index, barycentric=bary)
