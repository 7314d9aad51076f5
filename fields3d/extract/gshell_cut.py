"""G-Shell's cut of a watertight template mesh along the zero level set of its manifold SDF (mSDF).

A template triangle mesh carries one mSDF value per vertex; the part where the linearly interpolated
mSDF is positive is kept, the rest removed ("marching triangles").  Each triangle is clipped against
``mSDF = 0`` with a case table on the signs of its three corners (keep = ``mSDF > 0``):

=========================  ===================================================================
positive corners           output (winding of the template triangle preserved)
=========================  ===================================================================
0                          nothing
1 (corner i)               triangle ``(v_i, x_(i,i+1), x_(i-1,i))``
2 (corners i, i+1)         quad ``(v_i, v_(i+1), x_(i+1,i+2), x_(i+2,i))`` as two triangles
3                          the triangle itself
=========================  ===================================================================

``x_(a,b)`` is the point on template edge ``(a, b)`` where the mSDF crosses 0, at
``t = m_a / (m_a - m_b)`` from the positive end.  Crossing points are welded by their undirected
template edge, so the two triangles beside an edge share its crossing vertex: the result is a manifold
whose new boundary edges form closed loops (each crossing vertex lies on exactly two of them).

Vertex positions are differentiable with respect to the template vertex positions and the mSDF values
(through ``t``); :meth:`MsdfCut.transfer` carries any other per-template-vertex attribute (colours,
values of a second field) to the cut mesh with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch


@cache
def msdf_cut_table() -> np.ndarray:
    """(8, 6) int64: the clipped polygon of a triangle per sign code, as two triangles of entries.

    The code is ``sum((m_k > 0) << k)`` over corners k = 0, 1, 2.  Entries 0..2 name corners, entries
    3..5 the crossing on edge ``(k, k + 1 mod 3)`` for k = entry - 3; -1 pads a missing triangle.
    Built by walking the corners 0 -> 1 -> 2 and emitting each positive corner and each sign change
    (Sutherland-Hodgman clipping), then fanning the polygon from its first entry.
    """
    table = np.full((8, 6), -1, dtype=np.int64)
    for code in range(8):
        positive = [bool((code >> k) & 1) for k in range(3)]
        polygon = []
        for k in range(3):
            if positive[k]:
                polygon.append(k)
            if positive[k] != positive[(k + 1) % 3]:
                polygon.append(3 + k)
        for n in range(len(polygon) - 2):
            table[code, 3 * n : 3 * n + 3] = (polygon[0], polygon[n + 1], polygon[n + 2])
    return table


@dataclass
class MsdfCut:
    """The part of a template mesh where its mSDF is positive.

    Output vertices come in two blocks: first the kept template vertices (``mSDF > 0``), then the
    crossing vertices on cut template edges (the new boundary, ``mSDF = 0``).

    Attributes:
        vertices: (V, 3) positions (differentiable w.r.t. template positions and mSDF values).
        faces: (F, 3) int64, wound like the template faces they come from.
        kept_vertices: (K,) int64 template vertex index of output vertices 0..K-1.
        crossing_edges: (C, 2) int64 template vertices ``(a, b)`` of the edge each output vertex K..V-1
            lies on, ``a`` the positive end.
        crossing_weights: (C,) detached ``t`` with ``vertex = (1 - t) * p[a] + t * p[b]``.
        template_faces_kept: (F,) int64 index of the template face each output face comes from.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    kept_vertices: torch.Tensor
    crossing_edges: torch.Tensor
    crossing_weights: torch.Tensor
    template_faces_kept: torch.Tensor

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def boundary_vertex_mask(self) -> torch.Tensor:
        """(V,) bool: True for crossing vertices (those on the cut, where the mSDF is 0)."""
        mask = torch.zeros(self.num_vertices, dtype=torch.bool, device=self.faces.device)
        mask[self.kept_vertices.shape[0] :] = True
        return mask

    def transfer(self, values: torch.Tensor) -> torch.Tensor:
        """Per-template-vertex values (Vt, ...) -> (V, ...) at the cut mesh's vertices (same weights).

        Differentiable w.r.t. ``values`` (the weights are constants).
        """
        a, b = self.crossing_edges.unbind(1)
        t = self.crossing_weights.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
        crossing = values[a] + t * (values[b] - values[a])
        return torch.cat([values[self.kept_vertices], crossing], dim=0)


def cut_by_msdf(vertices: torch.Tensor, faces: torch.Tensor, msdf: torch.Tensor) -> MsdfCut:
    """Keep the part of a triangle mesh where the per-vertex ``msdf`` (linearly interpolated) is > 0.

    Args:
        vertices: (Vt, 3) float template positions (may require grad).
        faces: (Ft, 3) integer template faces (a manifold template gives a manifold result).
        msdf: (Vt,) float mSDF at the template vertices (may require grad); positive = kept.
    Returns:
        :class:`MsdfCut`; an all-positive mSDF returns the template (vertices used by faces only).
    """
    if vertices.dim() != 2 or vertices.shape[1] != 3 or not vertices.is_floating_point():
        raise ValueError(
            f"expected float vertices of shape (V, 3), got {tuple(vertices.shape)} {vertices.dtype}"
        )
    if faces.dim() != 2 or faces.shape[1] != 3 or faces.is_floating_point():
        raise ValueError(f"expected integer faces of shape (F, 3), got {tuple(faces.shape)} {faces.dtype}")
    if msdf.shape != (vertices.shape[0],):
        raise ValueError(f"expected msdf of shape ({vertices.shape[0]},), got {tuple(msdf.shape)}")
    faces = faces.long()
    n = vertices.shape[0]
    if faces.numel() and (faces.min() < 0 or faces.max() >= n):
        raise ValueError(f"expected face indices in [0, {n}), got [{int(faces.min())}, {int(faces.max())}]")
    device = vertices.device
    positive = msdf.detach() > 0
    code = (positive[faces].long() << torch.arange(3, device=device)).sum(dim=1)
    active = torch.nonzero(code != 0, as_tuple=True)[0]
    faces_a, code_a = faces[active], code[active]

    # crossing vertices: one per undirected template edge whose ends differ in sign, welded
    corner_next = faces_a[:, [1, 2, 0]]
    lo, hi = torch.minimum(faces_a, corner_next), torch.maximum(faces_a, corner_next)  # (A, 3) edge k
    crossed = positive[lo] != positive[hi]
    keys = (lo * n + hi)[crossed]
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    ea, eb = unique_keys // n, unique_keys % n
    swap = ~positive[ea]  # orient every crossing edge from its positive end
    pos_end, neg_end = torch.where(swap, eb, ea), torch.where(swap, ea, eb)

    # kept template vertices, re-indexed compactly
    used = torch.zeros(n, dtype=torch.bool, device=device)
    used[faces_a.reshape(-1)] = True
    kept = torch.nonzero(used & positive, as_tuple=True)[0]
    remap = torch.full((n,), -1, dtype=torch.int64, device=device)
    remap[kept] = torch.arange(kept.shape[0], device=device)
    num_kept = kept.shape[0]

    # entry -> output vertex id per active face: corners 0..2 then edge crossings 3..5
    entry_vertex = torch.full((faces_a.shape[0], 6), -1, dtype=torch.int64, device=device)
    entry_vertex[:, :3] = remap[faces_a]
    crossing_id = torch.full(crossed.shape, -1, dtype=torch.int64, device=device)
    crossing_id[crossed] = num_kept + inverse
    entry_vertex[:, 3:] = crossing_id

    table = torch.as_tensor(msdf_cut_table(), device=device)[code_a].reshape(-1, 2, 3)
    valid = table[:, :, 0] >= 0
    tri_entries = table[valid]  # (F, 3)
    owner = torch.arange(faces_a.shape[0], device=device)[:, None].expand(-1, 2)[valid]
    out_faces = entry_vertex[owner[:, None], tri_entries]

    m_pos, m_neg = msdf[pos_end], msdf[neg_end]
    t = m_pos / (m_pos - m_neg)
    crossing_points = vertices[pos_end] + t[:, None].to(vertices.dtype) * (
        vertices[neg_end] - vertices[pos_end]
    )
    out_vertices = torch.cat([vertices[kept], crossing_points], dim=0)
    return MsdfCut(
        vertices=out_vertices,
        faces=out_faces,
        kept_vertices=kept,
        crossing_edges=torch.stack([pos_end, neg_end], dim=1),
        crossing_weights=t.detach(),
        template_faces_kept=active[owner],
    )
