"""Marching tetrahedra on an explicit tetrahedral mesh (DMTet / G-Shell style), and the tetrahedral
grid of a cube grid.

:func:`marching_tetrahedra` takes per-point values on any tetrahedral mesh; its vertices are
differentiable with respect to both the point positions and the values (edge interpolation, as in
DMTet), and it records, per output vertex, the mesh edge ``(a, b)`` it lies on and the weight ``t``,
so that a second per-point field (G-Shell's manifold SDF) can be interpolated with the same weights.
For implicit fields on a regular grid, ``extract_mesh(..., method="tetrahedra")`` produces the same
surface sparsely and with the DeepMesh gradient.
"""

from __future__ import annotations

import torch

from fields3d.extract.case_tables import CORNER_OFFSETS, KUHN_TETRAHEDRA, TET_EDGES, tetrahedron_table
from fields3d.extract.extracted_mesh import ExtractedMesh, vertex_normals
from fields3d.extract.grid import SampleGrid


def cube_tet_grid(
    aabb, resolution, *, device=None, dtype: torch.dtype = torch.float32, cells: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The conforming tetrahedral grid of a cube grid: 6 tetrahedra per cell around its body diagonal.

    Args:
        aabb: (2, 3) min and max corners, world units.
        resolution: points per axis (int or 3 ints), >= 2.
        cells: optional (C, 3) int64 cell indices (cell ``(i, j, k)`` spans points ``(i, j, k)`` to
            ``(i + 1, j + 1, k + 1)``): tetrahedra of these cells only (a narrow band); default all cells.
    Returns:
        points (P, 3) world positions of all grid points, in the linear order of
        :class:`~fields3d.extract.grid.SampleGrid`; tets (T, 4) int64 point indices, T = 6 * cells, all
        positively oriented (the tets of a cell subset are the same as in the full grid).
    """
    grid = SampleGrid.create(aabb, resolution)
    idx = torch.arange(grid.num_points, device=device)
    points = grid.points(idx, dtype)
    cx, cy, cz = grid.cells
    if cells is None:
        axes = [torch.arange(n, device=device) for n in (cx, cy, cz)]
        cells = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    else:
        cells = torch.as_tensor(cells, device=device)
        if cells.dim() != 2 or cells.shape[1] != 3 or cells.is_floating_point():
            got = f"{tuple(cells.shape)} {cells.dtype}"
            raise ValueError(f"expected integer cells of shape (C, 3), got {got}")
        cells = cells.long()
        upper = torch.tensor([cx, cy, cz], device=cells.device)
        if cells.numel() and ((cells < 0).any() or (cells >= upper).any()):
            got = f"[{cells.min(0).values.tolist()}, {cells.max(0).values.tolist()}]"
            raise ValueError(f"expected cell indices in [0, {(cx, cy, cz)}), got the range {got}")
    lower = grid.linear_index(cells)
    corner_step = torch.as_tensor(CORNER_OFFSETS @ list(grid.strides()), device=device)
    tets = []
    for tet in KUHN_TETRAHEDRA:
        t = lower[:, None] + corner_step[list(tet)][None]
        if _permutation_is_odd(tet):
            t = t[:, [0, 2, 1, 3]]  # make every tetrahedron positively oriented
        tets.append(t)
    return points, torch.stack(tets, dim=1).reshape(-1, 4)


def _permutation_is_odd(tet: tuple[int, int, int, int]) -> bool:
    first = (tet[1]).bit_length() - 1  # the axis stepped first
    second = (tet[2] ^ tet[1]).bit_length() - 1
    perm = (first, second, 3 - first - second)
    inversions = sum(perm[i] > perm[j] for i in range(3) for j in range(i + 1, 3))
    return inversions % 2 == 1


def marching_tetrahedra(
    points: torch.Tensor,
    tets: torch.Tensor,
    values: torch.Tensor,
    level: float = 0.0,
    *,
    positive_inside: bool = False,
) -> ExtractedMesh:
    """The level set of per-point values on a tetrahedral mesh.

    Args:
        points: (P, 3) point positions (may require grad).
        tets: (T, 4) int64 point indices, either orientation (it is read from the positions).
        values: (P,) values at the points (may require grad).
        level: iso-value.
        positive_inside: False for a signed distance (inside ``< level``), True for occupancy-like
            fields (inside ``> level``).
    Returns:
        An :class:`ExtractedMesh` with welded vertices, outward-wound faces, ``edge_endpoints`` (point
        indices) and ``edge_weights``; ``grid`` is None.  Vertices are differentiable with respect
        to ``points`` and ``values``.
    """
    if points.dim() != 2 or points.shape[1] != 3:
        raise ValueError(f"expected points of shape (P, 3), got {tuple(points.shape)}")
    if tets.dim() != 2 or tets.shape[1] != 4 or tets.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"expected integer tets of shape (T, 4), got {tuple(tets.shape)} {tets.dtype}")
    if values.shape != (points.shape[0],):
        raise ValueError(f"expected values of shape ({points.shape[0]},), got {tuple(values.shape)}")
    tets = tets.long()
    if tets.numel() and (tets.min() < 0 or tets.max() >= points.shape[0]):
        raise ValueError(
            f"expected tet indices in [0, {points.shape[0]}), got [{int(tets.min())}, {int(tets.max())}]"
        )
    device = points.device
    sign = -1.0 if positive_inside else 1.0
    internal = values.detach() * sign
    inside = internal < level * sign
    code = (inside[tets].long() << torch.arange(4, device=device)).sum(dim=1)
    active = torch.nonzero((code != 0) & (code != 15), as_tuple=True)[0]
    tets_a, code_a = tets[active], code[active]

    p = points.detach()
    tp = p[tets_a]
    det = torch.linalg.det(
        torch.stack([tp[:, 1] - tp[:, 0], tp[:, 2] - tp[:, 0], tp[:, 3] - tp[:, 0]], dim=1)
    )
    edges = torch.as_tensor(TET_EDGES, device=device)
    ends = tets_a[:, edges]  # (A, 6, 2)
    lo, hi = ends.min(dim=2).values, ends.max(dim=2).values
    crossed = inside[lo] != inside[hi]
    P = points.shape[0]
    keys = (lo * P + hi)[crossed]
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    a, b = unique_keys // P, unique_keys % P
    vertex_of = torch.full(crossed.shape, -1, dtype=torch.int64, device=device)
    vertex_of[crossed] = inverse

    table = torch.as_tensor(tetrahedron_table(), device=device)[code_a].reshape(-1, 2, 3)  # (A, 2, 3)
    flip = det < 0
    table[flip] = table[flip][:, :, [0, 2, 1]]
    valid = table[:, :, 0] >= 0
    tri = table[valid]  # (F, 3) tet-edge ids
    owner = torch.arange(tets_a.shape[0], device=device)[:, None].expand(-1, 2)[valid]
    faces = vertex_of[owner[:, None], tri]

    fa, fb = values[a], values[b]
    t = (level - fa) / (fb - fa)
    vertices = points[a] + t[:, None].to(points.dtype) * (points[b] - points[a])
    return ExtractedMesh(
        vertices=vertices,
        faces=faces,
        normals=vertex_normals(vertices, faces),
        edge_endpoints=torch.stack([a, b], dim=1),
        edge_weights=t.detach(),
    )
