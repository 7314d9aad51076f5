"""Mesh reading and writing (trimesh): OBJ/OFF/PLY/GLB/STL in, PLY/OBJ/GLB out by suffix."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fields3d.errors import InputError
from fields3d.geometry.triangle_arrays import to_numpy, triangle_arrays
from fields3d.io.atomic import atomic_path

READ_SUFFIXES = (".obj", ".off", ".ply", ".glb", ".gltf", ".stl")
WRITE_SUFFIXES = (".ply", ".obj", ".glb")


def read_mesh(path: str | os.PathLike, *, require_faces: bool = True):
    """Read a mesh as one ``trimesh.Trimesh`` (scenes are concatenated; quads are triangulated).

    Vertices are not merged or reordered (``process=False``), so per-face data such as segmentation
    labels keep their meaning; vertex colours (PLY, GLB, OBJ ``v x y z r g b``) are in
    ``mesh.visual.vertex_colors`` as (V, 4) uint8.  With ``require_faces=False`` a file holding only
    points gives a mesh with no faces.  Raises :class:`InputError` naming the file when it is missing,
    does not parse, has NaN/infinite vertices or face indices out of range, or (with ``require_faces``)
    has no faces.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        message = "mesh file not found" if not path.exists() else "expected a mesh file, got a folder"
        raise InputError(message, path)
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
    elif isinstance(loaded, trimesh.PointCloud) and not require_faces:
        colors = loaded.colors if len(loaded.colors) == len(loaded.vertices) else None
        no_faces = np.zeros((0, 3), dtype=np.int64)
        mesh = trimesh.Trimesh(loaded.vertices, no_faces, vertex_colors=colors, process=False)
    else:
        raise InputError(f"mesh has no faces (the file holds a {type(loaded).__name__})", path)
    if len(mesh.vertices) == 0:
        raise InputError("mesh has no vertices", path)
    if require_faces and len(mesh.faces) == 0:
        raise InputError("mesh has no faces", path)
    if not np.isfinite(mesh.vertices).all():
        raise InputError("mesh has NaN or infinite vertex coordinates", path)
    faces = np.asarray(mesh.faces)
    if faces.size and (faces.min() < 0 or faces.max() >= len(mesh.vertices)):
        got = f"[{faces.min()}, {faces.max()}]"
        raise InputError(f"expected face indices in [0, {len(mesh.vertices)}), got the range {got}", path)
    return mesh


def write_mesh(path: str | os.PathLike, vertices, faces, vertex_colors=None, vertex_normals=None) -> Path:
    """Write a triangle mesh atomically; the format comes from the suffix (.ply, .obj, .glb).

    PLY and GLB store positions as float32 and colours as 8-bit RGBA (both read back by
    :func:`read_mesh` into ``mesh.visual.vertex_colors``); OBJ writes colours as ``v x y z r g b``.

    Args:
        vertices: (V, 3) float positions (numpy or torch).
        faces: (F, 3) int vertex indices in [0, V).
        vertex_colors: optional (V, 3|4) colours, float in [0, 1] (clipped) or uint8.
        vertex_normals: optional (V, 3) unit normals.
    Returns:
        ``path``.
    Raises:
        InputError: an unsupported suffix.  ValueError: malformed arrays.
    """
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        expected = ", ".join(WRITE_SUFFIXES)
        raise InputError(f"expected an output mesh suffix in {expected}, got '{path.suffix}'", path)
    v, f = triangle_arrays(vertices, faces)
    colors = None
    if vertex_colors is not None:
        c = to_numpy(vertex_colors)
        if c.ndim != 2 or c.shape[0] != len(v) or c.shape[1] not in (3, 4):
            raise ValueError(f"expected vertex colours of shape ({len(v)}, 3|4), got {c.shape}")
        colors = c if c.dtype == np.uint8 else (np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
    normals = None
    if vertex_normals is not None:
        normals = to_numpy(vertex_normals).astype(np.float64)
        if normals.shape != v.shape:
            raise ValueError(f"expected vertex normals of shape {v.shape}, got {normals.shape}")
    mesh = trimesh.Trimesh(v, f, vertex_colors=colors, vertex_normals=normals, process=False)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=suffix[1:])
    return path

