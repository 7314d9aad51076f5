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


def write_boundary_views(vertices, faces, folder, up: np.ndarray, n_views: int = 4, size: int = 256):
    """``folder/boundaries.png``: the mesh in grey with its open boundaries in red, a row of views around
    ``up`` and a row around a horizontal axis (openings at the top and bottom face the camera there).

    Returns the report's captioned image ``("open boundaries (red) ...", path)``.
    """
    import trimesh

    from fields3d.io.images import write_image
    from fields3d.io.report import image_grid
    from fields3d.recon.previews import render_turntable

    mesh = trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), process=False)
    colors = boundary_colors(mesh)
    up = np.asarray(up, dtype=np.float64)
    side = np.cross(up, [1.0, 0.0, 0.0])
    if np.linalg.norm(side) < 1e-6:
        side = np.cross(up, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    frames = render_turntable(mesh.vertices, mesh.faces, colors, n_views, size, up=up)
    frames += render_turntable(mesh.vertices, mesh.faces, colors, n_views, size, up=side)
    labels = [f"around up {i}" for i in range(n_views)] + [f"over the top {i}" for i in range(n_views)]
    path = write_image(folder / "boundaries.png", image_grid(frames, columns=n_views, labels=labels))
    return ("open boundaries (red): around the up axis, then over the top and bottom", path)
