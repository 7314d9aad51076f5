"""Mesh reading and writing (trimesh): OBJ/OFF/PLY/GLB/STL in, PLY/OBJ/GLB out by suffix."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path

READ_SUFFIXES = (".obj", ".off", ".ply", ".glb", ".gltf", ".stl")
WRITE_SUFFIXES = (".ply", ".obj", ".glb")


def read_mesh(path: str | os.PathLike, *, require_faces: bool = True):
    """Read a mesh as one ``trimesh.Trimesh`` (scenes are concatenated; quads are triangulated).

    Vertices are not merged or reordered (``process=False``), so per-face data such as segmentation
    labels keep their meaning.  Raises :class:`InputError` naming the file when it is missing, does not
    parse, or (with ``require_faces``) has no faces.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise InputError("mesh file not found" if not path.exists() else "expected a mesh file, got a folder", path)
    if path.suffix.lower() not in READ_SUFFIXES:
        raise InputError(f"expected a mesh with suffix {', '.join(READ_SUFFIXES)}, got '{path.suffix}'", path)
    try:
        loaded = trimesh.load(path, process=False, maintain_order=True)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise InputError(f"mesh does not parse ({e.__class__.__name__}: {e})", path) from None
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)] if loaded.geometry else []
        if not geoms:
            raise InputError("mesh has no faces (no triangle geometry in the file)", path)
        mesh = trimesh.util.concatenate(geoms) if len(geoms) > 1 else geoms[0]
    elif isinstance(loaded, trimesh.Trimesh):
        mesh = loaded
    else:
        raise InputError(f"mesh has no faces (the file holds a {type(loaded).__name__})", path)
    if len(mesh.vertices) == 0:
        raise InputError("mesh has no vertices", path)
    if require_faces and len(mesh.faces) == 0:
        raise InputError("mesh has no faces", path)
    if not np.isfinite(mesh.vertices).all():
        raise InputError("mesh has NaN or infinite vertex coordinates", path)
    return mesh


def write_mesh(path: str | os.PathLike, vertices, faces, vertex_colors=None, vertex_normals=None) -> Path:
    """Write a triangle mesh atomically; the format comes from the suffix (.ply, .obj, .glb).

    Args:
        vertices: (V, 3) float positions.
        faces: (F, 3) int vertex indices.
        vertex_colors: optional (V, 3|4) colours, float in [0, 1] or uint8.
        vertex_normals: optional (V, 3) unit normals.
    """
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"expected an output mesh suffix in {', '.join(WRITE_SUFFIXES)}, got '{path.suffix}'", path)
    v = _numpy(vertices).astype(np.float64)
    f = _numpy(faces).astype(np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected vertices (V, 3) and faces (F, 3), got {v.shape} and {f.shape}")
    colors = None
    if vertex_colors is not None:
        c = _numpy(vertex_colors)
        colors = c if c.dtype == np.uint8 else (np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
    mesh = trimesh.Trimesh(v, f, vertex_colors=colors, vertex_normals=None if vertex_normals is None else _numpy(vertex_normals), process=False)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=suffix[1:])
    return path


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)
