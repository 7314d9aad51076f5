"""Loading a shape to fit: a mesh (closed or open) or a point cloud, in its own world units."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fields3d.errors import InputError

KINDS = ("closed-mesh", "open-mesh", "points")


@dataclass(frozen=True)
class Shape:
    """A shape in world units.

    Attributes:
        vertices: (V, 3) float64 positions (the points of a point cloud).
        faces: (F, 3) int64 triangles; (0, 3) for a point cloud.
        kind: "closed-mesh" (every edge shared by exactly two faces after welding equal positions),
            "open-mesh" or "points".
        path: the file it came from, if any.
    """

    vertices: np.ndarray
    faces: np.ndarray
    kind: str
    path: Path | None = None

    @property
    def is_mesh(self) -> bool:
        return self.kind != "points"


def mesh_is_closed(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """True when, after welding vertices at equal positions, every edge has exactly two faces."""
    if len(faces) == 0:
        return False
    _, inverse = np.unique(np.round(np.asarray(vertices, np.float64), 9), axis=0, return_inverse=True)
    f = inverse.reshape(-1)[np.asarray(faces)]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool(len(counts)) and bool(np.all(counts == 2))


def _read_points(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npy":
            pts = np.load(path)
        else:
            pts = np.loadtxt(path, ndmin=2)[:, :3]
    except (OSError, ValueError) as e:
        raise InputError(f"point cloud does not parse ({e})", path) from None
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3 or len(pts) == 0:
        raise InputError(f"expected an (N, 3) point cloud, got shape {pts.shape}", path)
    return pts[:, :3]


def load_shape(path: str | os.PathLike) -> Shape:
    """Read a mesh (OBJ/OFF/PLY/GLB/STL) or a point cloud (PLY without faces, .xyz text, .npy (N, 3)).

    Raises :class:`InputError` naming the file when it does not parse, is empty or holds NaN.
    """
    from fields3d.io.mesh import read_mesh

    path = Path(path)
    if path.suffix.lower() in (".xyz", ".npy"):
        pts = _read_points(path) if path.is_file() else None
        if pts is None:
            raise InputError("point cloud file not found", path)
        if not np.isfinite(pts).all():
            raise InputError("point cloud has NaN or infinite coordinates", path)
        return Shape(pts, np.zeros((0, 3), np.int64), "points", path)
    mesh = read_mesh(path, require_faces=False)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return Shape(vertices, faces, "points", path)
    kind = "closed-mesh" if mesh_is_closed(vertices, faces) else "open-mesh"
    return Shape(vertices, faces, kind, path)
