"""Which parts of a G-Shell surface the training cameras see.

G-Shell's hole-opening prior should remove surface that no image supports — tunnel walls and bubbles
left inside a visual hull, template parts hidden behind the object — without eating the visible
surface (where a prior on every vertex only makes holes flicker open and shut).  :func:`vertex_view_counts`
counts, per mesh vertex, the views in which it is unoccluded (its camera depth within ``tolerance`` of
the rasterized depth at its pixel); :func:`unseen_grid_points` turns the vertices no view sees into the
grid points their template edges join — away from any seen surface — where the prior then acts.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def vertex_view_counts(
    vertices: torch.Tensor, faces: torch.Tensor, cameras, rasterizer, tolerance: float, chunk: int = 8
) -> torch.Tensor:
    """(V,) int64: in how many of the cameras each vertex is visible.

    Args:
        vertices: (V, 3) mesh vertices (world units); faces: (F, 3) int64.
        cameras: N cameras sharing one image size; rasterizer: a :class:`fields3d.render.Rasterizer`.
        tolerance: a vertex counts as visible when its camera depth is at most the rendered depth at its
            pixel plus this (world units; about a grid cell).
    """
    v = vertices.detach()
    counts = torch.zeros(v.shape[0], dtype=torch.int64, device=v.device)
    if faces.shape[0] == 0:
        return counts
    h, w = cameras.image_size(0)
    for start in range(0, len(cameras), chunk):
        idx = list(range(start, min(len(cameras), start + chunk)))
        cams = cameras[idx]
        out = rasterizer.rasterize(v, faces, cams)
        w2c = torch.linalg.inv(cams.c2w.to(v.device, v.dtype))
        K = cams.K.to(v.device, v.dtype)
        for j in range(len(idx)):
            pc = v @ w2c[j, :3, :3].T + w2c[j, :3, 3]
            z = pc[:, 2]
            zs = z.clamp_min(1e-9)
            col = torch.floor(K[j, 0, 0] * pc[:, 0] / zs + K[j, 0, 2]).long()
            row = torch.floor(K[j, 1, 1] * pc[:, 1] / zs + K[j, 1, 2]).long()
            inside = (z > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
            depth = torch.zeros_like(z)
            depth[inside] = out.depth[j, row[inside], col[inside]].to(z.dtype)
            counts += (inside & (depth > 0) & (z <= depth + tolerance)).long()
    return counts


def unseen_grid_points(mesh, counts: torch.Tensor, shell, margin_cells: int = 2) -> torch.Tensor:
    """(P,) bool: grid points of ``shell`` at the ends of template edges of cut-mesh vertices that no view
    sees (``counts == 0``, one count per vertex of ``mesh``, a
    :class:`~fields3d.extract.gshell_extraction.GShellMesh`), except those within ``margin_cells`` cells
    of a grid point next to a seen vertex (pits of a bumpy visible surface stay)."""
    kept = mesh.cut.kept_vertices
    ends = mesh.template.edge_endpoints[kept]  # (K, 2)
    seen_vertex = counts[: kept.shape[0]] > 0
    unseen = torch.zeros(shell.num_points, dtype=torch.bool, device=counts.device)
    unseen[ends[~seen_vertex].reshape(-1)] = True
    seen = torch.zeros(shell.num_points, dtype=torch.bool, device=counts.device)
    seen[ends[seen_vertex].reshape(-1)] = True
    if margin_cells > 0 and bool(seen.any()):
        dense = shell.dense(seen.float(), 0.0)[None, None]
        k = 2 * margin_cells + 1
        grown = torch.nn.functional.max_pool3d(dense, k, stride=1, padding=margin_cells)[0, 0]
        near_seen = grown.reshape(-1)[shell.point_index] > 0
        unseen &= ~near_seen
    return unseen
