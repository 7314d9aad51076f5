"""Open boundaries of a triangle mesh: boundary edges (used by one face) and the loops they form.

Used to check that G-Shell keeps a garment's openings (neck, sleeves, waist) open: the number of
boundary loops of the extracted mesh is compared with the source mesh's.  Vertices are welded by
position first (``weld_tolerance``), so UV seams of OBJ files (duplicated vertices) are not counted as
boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoundaryReport:
    """Boundary structure of a mesh.

    Attributes:
        boundary_edges: number of edges used by exactly one face.
        nonmanifold_edges: number of edges used by three or more faces.
        loops: number of connected components of the boundary-edge graph (closed loops for a manifold).
        loop_lengths: (loops,) edges per loop, largest first.
        loop_perimeters: (loops,) summed edge lengths per loop (mesh units), in the order of loop_lengths.
    """

    boundary_edges: int
    nonmanifold_edges: int
    loops: int
    loop_lengths: tuple[int, ...]
    loop_perimeters: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "boundary_edges": self.boundary_edges,
            "nonmanifold_edges": self.nonmanifold_edges,
            "loops": self.loops,
            "loop_lengths": list(self.loop_lengths),
            "loop_perimeters": list(self.loop_perimeters),
        }


def weld_vertices(vertices: np.ndarray, faces: np.ndarray, tolerance: float) -> np.ndarray:
    """(F, 3) faces re-indexed so that vertices closer than ``tolerance`` (on a grid of that size) share
    one index (the first of their group)."""
    v = np.asarray(vertices, dtype=np.float64)
    if tolerance <= 0 or len(v) == 0:
        return np.asarray(faces, dtype=np.int64)
    keys = np.round(v / tolerance).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)][np.asarray(faces, dtype=np.int64)]


def boundary_report(vertices, faces, weld_tolerance: float | None = None) -> BoundaryReport:
    """Count boundary edges and loops of a triangle mesh.

    Args:
        vertices: (V, 3) float positions (numpy or torch).
        faces: (F, 3) int vertex indices.
        weld_tolerance: weld vertices closer than this first (default: 1e-7 of the bounding-box
            diagonal; 0 = use the indices as given).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v = _numpy(vertices).astype(np.float64)
    f = _numpy(faces).astype(np.int64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected faces of shape (F, 3), got {f.shape}")
    if len(f) == 0:
        return BoundaryReport(0, 0, 0, (), ())
    if weld_tolerance is None:
        weld_tolerance = 1e-7 * float(np.linalg.norm(np.ptp(v, axis=0)))
    f = weld_vertices(v, f, weld_tolerance)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]  # collapsed by welding
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    boundary = unique[counts == 1]
    nonmanifold = int((counts > 2).sum())
    if len(boundary) == 0:
        return BoundaryReport(0, nonmanifold, 0, (), ())
    nodes, local = np.unique(boundary, return_inverse=True)
    local = local.reshape(-1, 2)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(n, n))
    n_loops, label = connected_components(graph, directed=False)
    edge_label = label[local[:, 0]]
    lengths = np.bincount(edge_label, minlength=n_loops)
    edge_len = np.linalg.norm(v[boundary[:, 0]] - v[boundary[:, 1]], axis=1)
    perimeters = np.bincount(edge_label, weights=edge_len, minlength=n_loops)
    order = np.argsort(-lengths, kind="stable")
    return BoundaryReport(
        boundary_edges=int(len(boundary)),
        nonmanifold_edges=nonmanifold,
        loops=int(n_loops),
        loop_lengths=tuple(int(x) for x in lengths[order]),
        loop_perimeters=tuple(float(x) for x in perimeters[order]),
    )


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def boundary_loops(vertices, faces) -> list[tuple[np.ndarray, float]]:
    """(centroid (3,), perimeter) of every boundary loop of a triangle mesh (vertices welded as in
    :func:`boundary_report`), longest first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v = _numpy(vertices).astype(np.float64)
    f = _numpy(faces).astype(np.int64)
    if len(f) == 0:
        return []
    f = weld_vertices(v, f, 1e-7 * float(np.linalg.norm(np.ptp(v, axis=0))))
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    boundary = unique[counts == 1]
    if len(boundary) == 0:
        return []
    nodes, local = np.unique(boundary, return_inverse=True)
    local = local.reshape(-1, 2)
    n = len(nodes)
    count, label = connected_components(
        coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(n, n)), directed=False
    )
    perimeter = np.bincount(
        label[local[:, 0]],
        weights=np.linalg.norm(v[boundary[:, 0]] - v[boundary[:, 1]], axis=1),
        minlength=count,
    )
    centroid = np.zeros((count, 3))
    np.add.at(centroid, label, v[nodes])
    centroid /= np.bincount(label, minlength=count)[:, None]
    order = np.argsort(-perimeter, kind="stable")
    return [(centroid[k], float(perimeter[k])) for k in order]


def matched_openings(pred_vertices, pred_faces, gt_vertices, gt_faces) -> int:
    """How many boundary loops (openings) of the reference have a loop of the prediction nearby: a
    prediction loop whose centroid lies within half the reference loop's diameter (perimeter / 2 pi)
    of the reference loop's centroid, each prediction loop matched at most once (greedy, closest
    first).  A reconstruction can have as many loops as the reference and still match fewer (capped
    openings plus spurious holes)."""
    pred = boundary_loops(pred_vertices, pred_faces)
    gt = boundary_loops(gt_vertices, gt_faces)
    pairs = sorted(
        (float(np.linalg.norm(cp - cg)), i, j)
        for j, (cg, pg) in enumerate(gt)
        for i, (cp, _) in enumerate(pred)
        if np.linalg.norm(cp - cg) <= pg / (2 * np.pi)
    )
    used_pred, used_gt = set(), set()
    for _, i, j in pairs:
        if i not in used_pred and j not in used_gt:
            used_pred.add(i)
            used_gt.add(j)
    return len(used_gt)
