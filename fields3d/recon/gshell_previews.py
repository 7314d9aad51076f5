"""Preview helpers for G-Shell runs: meshes coloured to show their open boundaries."""

from __future__ import annotations

import numpy as np

BOUNDARY_COLOR = np.array([230, 40, 40], dtype=np.uint8)
SURFACE_COLOR = np.array([185, 185, 185], dtype=np.uint8)


def boundary_colors(mesh, base: np.ndarray | None = None) -> np.ndarray:
    """(V, 3) uint8 vertex colours of a ``trimesh.Trimesh``: ``base`` (default grey) with the vertices of
    boundary edges (used by one face) in red."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    n = len(mesh.vertices)
    colors = np.tile(SURFACE_COLOR, (n, 1)) if base is None else np.asarray(base, dtype=np.uint8).copy()
    if len(faces) == 0:
        return colors
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    colors[unique[counts == 1].reshape(-1)] = BOUNDARY_COLOR
    return colors
