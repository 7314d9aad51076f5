"""Distances to a triangle mesh in plain PyTorch: the twin of open3d's ray-casting queries.

Runs wherever torch does (GPU machines without open3d included). Brute force over all (point, triangle)
pairs in chunks, so cost grows with points x faces: on a CPU open3d's BVH is far faster, on a GPU this
is the path.

- :func:`unsigned_distance`: exact distance to the closest point of any triangle (closest point on the
  triangle's plane when it projects inside, else on an edge).
- :func:`winding_number`: generalised winding number (sum of the triangles' signed solid angles / 4 pi,
  Van Oosterom & Strackee): ~1 inside a closed, outward-wound mesh, ~0 outside; robust to
  self-intersecting or overlapping parts, unlike ray parity.
- :func:`signed_distance`: unsigned distance, negative where the winding number exceeds 1/2.
"""

from __future__ import annotations

import math

import torch


def _checked(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"expected points (M, 3), got {tuple(points.shape)}")
    if (
        vertices.ndim != 2
        or vertices.shape[1] != 3
        or faces.ndim != 2
        or faces.shape[1] != 3
        or len(faces) == 0
    ):
        raise ValueError(
            "expected vertices (V, 3) and faces (F >= 1, 3), "
            f"got {tuple(vertices.shape)}, {tuple(faces.shape)}"
        )
    return vertices.to(points)[faces.long().to(points.device)]  # (F, 3, 3)


def _segment_distance_sq(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(m, 1, 3) points, (F, 3) segment ends -> (m, F) squared distances."""
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-30)).clamp(0.0, 1.0)
    return ((p - (a + t[..., None] * ab)) ** 2).sum(-1)


def unsigned_distance(
    points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, chunk: int = 256
) -> torch.Tensor:
    """(M, 3) points, a mesh (V, 3) / (F, 3) -> (M,) distance to its surface (points' dtype and device)."""
    tri = _checked(points, vertices, faces)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = torch.cross(b - a, c - a, dim=-1)
    nn = (n * n).sum(-1)
    good = nn > 1e-30
    unit = n / nn.clamp_min(1e-30).sqrt()[:, None]
    out = []
    for p in points.split(chunk):
        p = p[:, None]  # (m, 1, 3)
        inside = good
        for u, v in ((a, b), (b, c), (c, a)):
            inside = inside & ((torch.cross((v - u).expand_as(p - u), p - u, dim=-1) * n).sum(-1) >= 0)
        plane = ((p - a) * unit).sum(-1) ** 2
        edges = torch.minimum(
            torch.minimum(_segment_distance_sq(p, a, b), _segment_distance_sq(p, b, c)),
            _segment_distance_sq(p, c, a),
        )
        out.append(torch.where(inside, plane, edges).amin(dim=1).sqrt())
    return torch.cat(out)


def winding_number(
    points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, chunk: int = 256
) -> torch.Tensor:
    """(M, 3) points -> (M,) generalised winding number of the mesh around each point."""
    tri = _checked(points, vertices, faces)
    out = []
    for p in points.split(chunk):
        r = tri[None] - p[:, None, None]  # (m, F, 3, 3)
        ra, rb, rc = r[..., 0, :], r[..., 1, :], r[..., 2, :]
        la, lb, lc = ra.norm(dim=-1), rb.norm(dim=-1), rc.norm(dim=-1)
        det = (ra * torch.cross(rb, rc, dim=-1)).sum(-1)
        den = la * lb * lc + (ra * rb).sum(-1) * lc + (rb * rc).sum(-1) * la + (rc * ra).sum(-1) * lb
        out.append(torch.atan2(det, den).sum(-1) / (2 * math.pi))
    return torch.cat(out)


def signed_distance(
    points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, chunk: int = 256
) -> torch.Tensor:
    """(M, 3) points -> (M,) signed distance to a closed mesh, negative inside (winding number > 1/2)."""
    d = unsigned_distance(points, vertices, faces, chunk)
    return torch.where(winding_number(points, vertices, faces, chunk) > 0.5, -d, d)
