"""Small holes of a G-Shell cut: negative-mSDF patches of the template too small to be real openings.

Multi-view reconstruction leaves pinholes in the cut surface: where the colour loss briefly prefers the
surface behind, the mSDF dips below 0 on a patch of a few template vertices and a small boundary loop
appears (a T-shirt reconstructed at grid 64 had ~90 such loops besides its 4 openings).  An opening the
grid can represent reliably is several cells across; a patch narrower than that is noise.

:func:`small_negative_patches` finds them on the template: connected components (through template
edges) of template vertices with ``mSDF <= 0`` whose extent (bounding-box diagonal of the vertices) is
at most ``max_extent``.  Components that touch protected vertices (the frontier of a narrow band, cut
by construction) are never reported.  Filling a patch means raising the mSDF of the grid points at the
ends of its vertices' grid edges (:meth:`~fields3d.fields.gshell_grid.GShellGrid.fill_small_holes`):
the template surface there, which already follows the SDF, comes back.  Islands (small kept
components) are left to the mesh clean-up of the export (``min_component_area``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class NegativePatches:
    """Negative-mSDF components of a template.

    Attributes:
        components: number of negative components (protected ones included).
        small: number of components at most ``max_extent`` across and not protected.
        small_vertices: (K,) int64 template vertex indices of the small components.
        extents: (components,) float64 bounding-box diagonal of each component, largest first.
    """

    components: int
    small: int
    small_vertices: torch.Tensor
    extents: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "negative_components": self.components,
            "small_components": self.small,
            "small_vertices": int(self.small_vertices.shape[0]),
        }


def small_negative_patches(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    msdf: torch.Tensor,
    max_extent: float,
    protected: torch.Tensor | None = None,
) -> NegativePatches:
    """Connected patches of template vertices with ``msdf <= 0`` at most ``max_extent`` across.

    Args:
        vertices: (V, 3) float template positions (world units).
        faces: (F, 3) integer template faces.
        msdf: (V,) float mSDF at the template vertices.
        max_extent: largest bounding-box diagonal of a reported patch (world units, >= 0).
        protected: optional (V,) bool: components containing any of these vertices are not reported.
    Returns:
        :class:`NegativePatches` (indices on ``vertices``' device).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if vertices.dim() != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {tuple(vertices.shape)}")
    if faces.dim() != 2 or faces.shape[1] != 3 or faces.is_floating_point():
        raise ValueError(f"expected integer faces of shape (F, 3), got {tuple(faces.shape)} {faces.dtype}")
    n = vertices.shape[0]
    if msdf.shape != (n,):
        raise ValueError(f"expected msdf of shape ({n},), got {tuple(msdf.shape)}")
    if protected is not None and (protected.shape != (n,) or protected.dtype != torch.bool):
        raise ValueError(
            f"expected bool protected of shape ({n},), got {tuple(protected.shape)} {protected.dtype}"
        )
    if not max_extent >= 0:
        raise ValueError(f"expected max_extent >= 0, got {max_extent}")
    device = vertices.device
    negative = (msdf.detach() <= 0).cpu().numpy()
    ids = np.nonzero(negative)[0]
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    if len(ids) == 0:
        return NegativePatches(0, 0, empty, ())
    f = faces.detach().cpu().numpy().astype(np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = edges[negative[edges[:, 0]] & negative[edges[:, 1]]]
    local = np.full(n, -1, dtype=np.int64)
    local[ids] = np.arange(len(ids))
    m = len(ids)
    graph = coo_matrix((np.ones(len(edges)), (local[edges[:, 0]], local[edges[:, 1]])), shape=(m, m))
    count, label = connected_components(graph, directed=False)
    p = vertices.detach().cpu().double().numpy()[ids]
    lo = np.full((count, 3), np.inf)
    hi = np.full((count, 3), -np.inf)
    np.minimum.at(lo, label, p)
    np.maximum.at(hi, label, p)
    extent = np.linalg.norm(hi - lo, axis=1)
    small = extent <= max_extent
    if protected is not None:
        hit = np.zeros(count, dtype=bool)
        hit[label[protected.detach().cpu().numpy()[ids]]] = True
        small &= ~hit
    chosen = ids[small[label]]
    return NegativePatches(
        components=int(count),
        small=int(small.sum()),
        small_vertices=torch.as_tensor(chosen, dtype=torch.int64, device=device),
        extents=tuple(float(x) for x in np.sort(extent)[::-1]),
    )


def thin_kept_vertices(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    msdf: torch.Tensor,
    radius: float,
) -> torch.Tensor:
    """(K,) int64 template vertices with ``msdf > 0`` that a morphological opening of radius ``radius``
    removes: kept strips and fringes narrower than about ``2 * radius`` (distances along template
    edges, world units).

    Erosion keeps the kept vertices farther than ``radius`` from every negative vertex; dilation brings
    back the kept vertices within ``radius`` (plus the longest template edge) of the eroded set.  What
    does not come back is reported.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = vertices.shape[0]
    if msdf.shape != (n,):
        raise ValueError(f"expected msdf of shape ({n},), got {tuple(msdf.shape)}")
    if not radius > 0:
        raise ValueError(f"expected radius > 0, got {radius}")
    device = vertices.device
    kept = (msdf.detach() > 0).cpu().numpy()
    if kept.all() or not kept.any():
        return torch.zeros(0, dtype=torch.int64, device=device)
    p = vertices.detach().cpu().double().numpy()
    f = faces.detach().cpu().numpy().astype(np.int64)
    e = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    length = np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1) + 1e-12

    # a virtual source linked (length 0+) to every vertex of a set gives the distance to the set
    def distance_to(members: np.ndarray) -> np.ndarray:
        src = np.nonzero(members)[0]
        rows = np.concatenate([e[:, 0], e[:, 1], np.full(len(src), n)])
        cols = np.concatenate([e[:, 1], e[:, 0], src])
        w = np.concatenate([length, length, np.full(len(src), 1e-12)])
        graph = coo_matrix((w, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
        return dijkstra(graph, directed=True, indices=n, limit=2.0 * radius + 2.0 * float(length.max()))[:n]

    eroded = kept & (distance_to(~kept) > radius)
    if not eroded.any():
        return torch.zeros(0, dtype=torch.int64, device=device)
    # the dilation reaches one longest edge further: distances to the negative *vertices* (not to the
    # cut between them) and along edges (not straight) would otherwise nibble every boundary
    opened = kept & (distance_to(eroded) <= radius + float(length.max()))
    removed = np.nonzero(kept & ~opened)[0]
    return torch.as_tensor(removed, dtype=torch.int64, device=device)


def small_hole_loops(vertices: torch.Tensor, faces: torch.Tensor, max_extent: float) -> torch.Tensor:
    """(B,) int64 vertices on boundary loops of a cut mesh that outline small holes.

    A loop outlines a small hole when its extent (bounding-box diagonal of its vertices) is at most
    ``max_extent`` and its connected component of the mesh has another loop with a longer perimeter
    (the loop is not the outline of an island, which is the longest loop of its own component).

    Args:
        vertices: (V, 3) float positions; faces: (F, 3) integer faces of a manifold mesh.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if vertices.dim() != 2 or vertices.shape[1] != 3:
        raise ValueError(f"expected vertices of shape (V, 3), got {tuple(vertices.shape)}")
    if faces.dim() != 2 or faces.shape[1] != 3 or faces.is_floating_point():
        raise ValueError(f"expected integer faces of shape (F, 3), got {tuple(faces.shape)} {faces.dtype}")
    if not max_extent >= 0:
        raise ValueError(f"expected max_extent >= 0, got {max_extent}")
    device = vertices.device
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    n = vertices.shape[0]
    f = faces.detach().cpu().numpy().astype(np.int64)
    if len(f) == 0:
        return empty
    p = vertices.detach().cpu().double().numpy()
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    boundary = unique[counts == 1]
    if len(boundary) == 0:
        return empty
    _, component = connected_components(
        coo_matrix((np.ones(len(unique)), (unique[:, 0], unique[:, 1])), shape=(n, n)), directed=False
    )
    nodes, local = np.unique(boundary, return_inverse=True)
    local = local.reshape(-1, 2)
    m = len(nodes)
    count, loop = connected_components(
        coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(m, m)), directed=False
    )
    length = np.linalg.norm(p[boundary[:, 0]] - p[boundary[:, 1]], axis=1)
    perimeter = np.bincount(loop[local[:, 0]], weights=length, minlength=count)
    lo = np.full((count, 3), np.inf)
    hi = np.full((count, 3), -np.inf)
    np.minimum.at(lo, loop, p[nodes])
    np.maximum.at(hi, loop, p[nodes])
    extent = np.linalg.norm(hi - lo, axis=1)
    loop_component = np.zeros(count, dtype=np.int64)
    loop_component[loop] = component[nodes]
    longest = np.zeros(component.max() + 1)
    np.maximum.at(longest, loop_component, perimeter)
    small = (extent <= max_extent) & (perimeter < longest[loop_component])
    return torch.as_tensor(nodes[small[loop]], dtype=torch.int64, device=device)


def fill_small_loops(
    vertices: np.ndarray, faces: np.ndarray, max_extent: float, colors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Close the small holes of a mesh (:func:`small_hole_loops`) with a fan of triangles around each
    loop's centroid, wound like the faces around it.

    Args:
        vertices: (V, 3) float positions; faces: (F, 3) int faces (manifold, consistently wound);
        max_extent: largest bounding-box diagonal of a loop to close (mesh units);
        colors: optional (V, C) per-vertex attribute; a centroid gets its loop's mean.
    Returns:
        (vertices, faces, colors, loops closed): new centroids appended after the input vertices.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    on_small = small_hole_loops(torch.from_numpy(v), torch.from_numpy(f), max_extent).numpy()
    if len(on_small) == 0:
        return v, f, colors, 0
    # directed boundary half-edges: (u, w) of a face whose twin (w, u) belongs to no face
    half = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = half[:, 0] * len(v) + half[:, 1]
    twin = half[:, 1] * len(v) + half[:, 0]
    open_half = half[~np.isin(twin, key)]
    small = np.zeros(len(v), dtype=bool)
    small[on_small] = True
    open_half = open_half[small[open_half[:, 0]] & small[open_half[:, 1]]]
    nodes, local = np.unique(open_half, return_inverse=True)
    local = local.reshape(-1, 2)
    count, loop = connected_components(
        coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(len(nodes),) * 2), directed=False
    )
    centroid = np.zeros((count, 3))
    np.add.at(centroid, loop, v[nodes])
    size = np.bincount(loop, minlength=count)[:, None]
    centroid /= size
    new_faces = np.stack([open_half[:, 1], open_half[:, 0], len(v) + loop[local[:, 0]]], axis=1)
    out_colors = colors
    if colors is not None:
        c = np.asarray(colors)
        mean = np.zeros((count, c.shape[1]))
        np.add.at(mean, loop, c[nodes].astype(np.float64))
        mean /= size
        if np.issubdtype(c.dtype, np.integer):
            mean = mean.round()
        out_colors = np.concatenate([c, mean.astype(c.dtype)])
    return np.concatenate([v, centroid]), np.concatenate([f, new_faces]), out_colors, int(count)
