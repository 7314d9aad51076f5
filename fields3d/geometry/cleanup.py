"""Mesh cleanup: merge close vertices, drop degenerate and duplicate faces, drop small components.

Every function takes a ``trimesh.Trimesh`` and returns a cleaned copy (the input is not modified);
vertex colours, UVs and per-face attributes of the kept elements are carried along by trimesh.
:func:`clean_mesh` runs the steps in a fixed order from a :class:`CleanupConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fields3d.geometry.triangle_arrays import face_areas_normals, triangle_arrays


def merge_close_vertices(mesh, tolerance: float):
    """Merge vertices closer than ``tolerance`` (world units; 0 merges exactly coincident ones).

    Vertices are linked when their distance is <= ``tolerance`` and merged per connected group of
    links (so a chain of close vertices becomes one vertex even if its ends are farther apart); each
    group keeps the position and attributes of its lowest-index vertex.  Faces that collapse (two
    corners merged into one vertex) are removed.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"expected a finite tolerance >= 0, got {tolerance}")
    vertices, _ = triangle_arrays(mesh)
    out = mesh.copy()
    n = len(vertices)
    if n == 0:
        return out
    pairs = cKDTree(vertices).query_pairs(r=float(tolerance), output_type="ndarray")
    if len(pairs) == 0:
        return out
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    representative = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(representative, labels, np.arange(n))
    keep = representative[labels] == np.arange(n)
    new_index = np.cumsum(keep) - 1
    inverse = new_index[representative[labels]]
    out.update_vertices(keep, inverse)
    return _drop_collapsed_faces(out)


def remove_degenerate_faces(mesh, area_tolerance: float = 0.0):
    """Remove faces that repeat a vertex index or whose area is <= ``area_tolerance`` (world units²)."""
    if not (np.isfinite(area_tolerance) and area_tolerance >= 0):
        raise ValueError(f"expected a finite area tolerance >= 0, got {area_tolerance}")
    vertices, faces = triangle_arrays(mesh)
    areas, _ = face_areas_normals(vertices, faces)
    keep = ~_collapsed(faces) & (areas > area_tolerance)
    return _with_faces(mesh, keep)


def remove_duplicate_faces(mesh):
    """Remove faces that use the same three vertices as an earlier face, in any order (so a face and its
    flipped copy are duplicates); the first occurrence is kept."""
    _, faces = triangle_arrays(mesh)
    keep = np.zeros(len(faces), dtype=bool)
    if len(faces):
        _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
        keep[first] = True
    return _with_faces(mesh, keep)


CONNECTIVITIES = ("vertex", "edge")


def component_labels(mesh, connectivity: str = "vertex") -> np.ndarray:
    """(F,) int64 connected-component id (0, 1, ... in order of first face) of every face.

    ``connectivity="vertex"``: faces sharing a vertex index are connected; ``"edge"``: only faces
    sharing an edge (two vertex indices) are, also across non-manifold edges.  Indices, not positions,
    decide: merge coincident vertices first (:func:`merge_close_vertices`) on meshes with split seams.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"expected connectivity in {CONNECTIVITIES}, got {connectivity!r}")
    vertices, faces = triangle_arrays(mesh)
    n_faces = len(faces)
    if n_faces == 0:
        return np.zeros(0, dtype=np.int64)
    face_ids = np.repeat(np.arange(n_faces), 3)
    if connectivity == "vertex":
        nodes = faces.reshape(-1)
        n_nodes = len(vertices)
    else:
        edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        _, nodes = np.unique(edges, axis=0, return_inverse=True)
        nodes = nodes.reshape(-1)
        n_nodes = int(nodes.max()) + 1
    # bipartite graph faces <-> shared elements (vertices or edges)
    size = n_faces + n_nodes
    graph = coo_matrix((np.ones(len(face_ids)), (face_ids, n_faces + nodes)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels[:n_faces], return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse.reshape(-1)].astype(np.int64)


def remove_small_components(mesh, *, min_face_fraction: float = 0.0, min_area_fraction: float = 0.0,
                            keep_largest_only: bool = False, connectivity: str = "vertex"):
    """Remove connected components (see :func:`component_labels` for ``connectivity``) that are small.

    A component is removed when its share of the mesh's faces is below ``min_face_fraction``, or its
    share of the mesh's surface area is below ``min_area_fraction`` (both in [0, 1]; 0 disables the
    test), or, with ``keep_largest_only``, when it is not the component with the most area.
    Vertices no longer used by any face are removed too.
    """
    for name, value in (("min_face_fraction", min_face_fraction), ("min_area_fraction", min_area_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"expected {name} in [0, 1], got {value}")
    vertices, faces = triangle_arrays(mesh)
    if len(faces) == 0:
        return mesh.copy()
    labels = component_labels(mesh, connectivity)
    areas, _ = face_areas_normals(vertices, faces)
    face_share = np.bincount(labels).astype(np.float64) / len(faces)
    area_per = np.bincount(labels, weights=areas)
    area_share = area_per / area_per.sum() if area_per.sum() > 0 else np.zeros_like(area_per)
    keep_component = (face_share >= min_face_fraction) & (area_share >= min_area_fraction)
    if keep_largest_only:
        keep_component &= np.arange(len(area_per)) == int(np.argmax(area_per))
    out = _with_faces(mesh, keep_component[labels])
    out.remove_unreferenced_vertices()
    return out


@dataclass
class CleanupConfig:
    """Steps of :func:`clean_mesh`, run in this order."""

    merge_tolerance: float | None = 0.0
    """Merge vertices closer than this (world units); 0 merges coincident ones; None skips the step."""
    degenerate_area: float | None = 0.0
    """Remove faces with a repeated vertex or area <= this (squared world units); None skips the step."""
    remove_duplicates: bool = True
    """Remove faces that repeat the vertex set of an earlier face."""
    min_face_fraction: float = 0.0
    """Remove components holding less than this fraction of all faces (0 keeps all)."""
    min_area_fraction: float = 0.0
    """Remove components holding less than this fraction of the total area (0 keeps all)."""
    keep_largest_only: bool = False
    """Keep only the component with the most area."""
    connectivity: str = "vertex"
    """What connects faces into components: a shared "vertex" or a shared "edge"."""


@dataclass
class CleanupReport:
    """What :func:`clean_mesh` removed (counts)."""

    vertices_merged: int = 0
    degenerate_faces: int = 0
    duplicate_faces: int = 0
    component_faces: int = 0
    unreferenced_vertices: int = 0


def clean_mesh(mesh, config: CleanupConfig | None = None):
    """Run the cleanup steps of ``config`` (default: merge coincident vertices, drop degenerate and
    duplicate faces) and drop unreferenced vertices.  Returns ``(cleaned trimesh, CleanupReport)``."""
    config = config or CleanupConfig()
    report = CleanupReport()
    out = mesh
    if config.merge_tolerance is not None:
        before_v, before_f = len(out.vertices), len(out.faces)
        out = merge_close_vertices(out, config.merge_tolerance)
        report.vertices_merged = before_v - len(out.vertices)
        report.degenerate_faces += before_f - len(out.faces)
    if config.degenerate_area is not None:
        before = len(out.faces)
        out = remove_degenerate_faces(out, config.degenerate_area)
        report.degenerate_faces += before - len(out.faces)
    if config.remove_duplicates:
        before = len(out.faces)
        out = remove_duplicate_faces(out)
        report.duplicate_faces = before - len(out.faces)
    before_f, before_v = len(out.faces), len(out.vertices)
    if config.min_face_fraction > 0 or config.min_area_fraction > 0 or config.keep_largest_only:
        out = remove_small_components(out, min_face_fraction=config.min_face_fraction,
                                      min_area_fraction=config.min_area_fraction,
                                      keep_largest_only=config.keep_largest_only,
                                      connectivity=config.connectivity)
        report.component_faces = before_f - len(out.faces)
    else:
        out = out.copy()
        out.remove_unreferenced_vertices()
    report.unreferenced_vertices = before_v - len(out.vertices)
    return out, report


def _collapsed(faces: np.ndarray) -> np.ndarray:
    return (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])


def _drop_collapsed_faces(mesh):
    _, faces = triangle_arrays(mesh)
    mesh.update_faces(~_collapsed(faces))
    return mesh


def _with_faces(mesh, keep: np.ndarray):
    out = mesh.copy()
    out.update_faces(np.asarray(keep, dtype=bool))
    return out
