"""Triangle meshes as plain arrays: turn a ``trimesh.Trimesh``, a ``(vertices, faces)`` pair (numpy or torch)
into validated ``(V, 3) float64`` vertices and ``(F, 3) int64`` faces."""

from __future__ import annotations

import numpy as np


def to_numpy(x) -> np.ndarray:
    """A numpy array from a numpy array, a torch tensor (detached, moved to the CPU) or a sequence."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def triangle_arrays(mesh, faces=None) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(vertices, faces)`` of a triangle mesh.

    Args:
        mesh: a ``trimesh.Trimesh`` (``faces`` omitted), or (V, 3) vertex positions with ``faces`` given,
            or a ``(vertices, faces)`` tuple; numpy arrays or torch tensors.
        faces: (F, 3) integer vertex indices when ``mesh`` is a vertex array.
    Returns:
        vertices (V, 3) float64, faces (F, 3) int64 (F may be 0).
    Raises:
        ValueError: wrong shapes, non-finite vertices, or face indices outside ``[0, V)``.
    """
    if faces is None:
        if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
            vertices, faces = mesh.vertices, mesh.faces
        elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
            vertices, faces = mesh
        else:
            raise ValueError(f"expected a Trimesh or a (vertices, faces) pair, got {type(mesh).__name__}")
    else:
        vertices = mesh
    v = to_numpy(vertices).astype(np.float64, copy=False)
    f = to_numpy(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {v.shape}")
    if f.size == 0:
        f = f.reshape(0, 3)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected triangle faces of shape (F, 3), got {f.shape}")
    if not (np.issubdtype(f.dtype, np.integer) or f.size == 0):
        raise ValueError(f"expected integer face indices, got dtype {f.dtype}")
    f = f.astype(np.int64, copy=False)
    if not np.isfinite(v).all():
        raise ValueError("expected finite vertex coordinates, got NaN or infinite values")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"expected face indices in [0, {len(v)}), got the range [{f.min()}, {f.max()}]")
    return v, f


def face_areas_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-face areas (F,) and unit normals (F, 3) (right-hand rule on the vertex order; zero for
    degenerate faces) of validated arrays from :func:`triangle_arrays`."""
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    normals = np.divide(cross, norm[:, None], out=np.zeros_like(cross), where=norm[:, None] > 0)
    return 0.5 * norm, normals
