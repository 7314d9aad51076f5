"""SDF and mSDF of a G-Shell that represents a given triangle mesh (open or closed).

For an open surface (a garment, a sheet) the watertight template must *contain* the surface, and the
manifold SDF must be positive on it and negative on the rest of the template.  :class:`MeshShellTargets`
computes both at query points p from the nearest surface point q (open3d):

* **SDF**: where q lies inside the surface (not on its boundary), the signed distance ``±|p - q|`` with
  the sign of ``(p - q)·n`` for the angle-weighted pseudo-normal n at q (exact inside/outside for closed
  meshes).  Where q lies on the open boundary, the signed distance ``(p - q)·n`` to the surface's
  tangent plane there: past an opening the template continues the surface along its tangent, so its
  zero level set contains the surface and crosses the openings smoothly.
* **mSDF**: the distance from q to the boundary (positive) where q is inside the surface; minus the
  tangential distance of p past the boundary where q lies on it (negative, continuous through 0 at the
  boundary); capped by ``shell - |p - q|`` so that template parts farther than ``shell`` from the
  surface (closures, junk) are always cut away.  A closed mesh has no boundary: the mSDF is
  ``shell - |p - q|``, positive on the surface.

Vertices are welded by position first, so UV seams of OBJ files are not mistaken for boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.errors import InputError


@dataclass
class ShellTargets:
    """Values at query points: (N,) float32 ``sdf``, ``msdf``, ``udf`` (unsigned distance to the surface)
    and (N,) bool ``on_boundary`` (the nearest surface point lies on an open boundary)."""

    sdf: np.ndarray
    msdf: np.ndarray
    udf: np.ndarray
    on_boundary: np.ndarray


class MeshShellTargets:
    """Template SDF and mSDF of a triangle mesh (see the module docstring).

    Args:
        vertices: (V, 3) float positions.
        faces: (F, 3) int vertex indices (consistently wound; winding is repaired by trimesh).
        weld_tolerance: vertices closer than this are merged (default 1e-7 of the bbox diagonal).
    """

    def __init__(self, vertices, faces, weld_tolerance: float | None = None):
        import trimesh

        from fields3d.extract.gshell_boundary import weld_vertices

        v = np.asarray(vertices, dtype=np.float64)
        f = np.asarray(faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
            raise InputError(f"expected vertices (V, 3) and faces (F >= 1, 3), got {v.shape} and {f.shape}")
        diag = float(np.linalg.norm(np.ptp(v[np.unique(f)], axis=0)))
        if not diag > 0:
            raise InputError("expected a mesh with a nonzero extent, got all vertices at one point")
        tol = 1e-7 * diag if weld_tolerance is None else weld_tolerance
        f = weld_vertices(v, f, tol)
        mesh = trimesh.Trimesh(v, f, process=False)
        mesh.remove_unreferenced_vertices()
        mesh.update_faces(mesh.nondegenerate_faces(height=1e-12 * diag))
        mesh.remove_unreferenced_vertices()
        trimesh.repair.fix_winding(mesh)
        self.vertices = np.asarray(mesh.vertices, dtype=np.float64)
        self.faces = np.asarray(mesh.faces, dtype=np.int64)
        self.diagonal = diag
        self._prepare()

    # ----------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        import open3d as o3d

        v, f = self.vertices, self.faces
        tri = v[f]
        fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-300)
        self.face_normals = fn
        # edges (k, k+1) of each face, unique and counted
        corner_edges = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=1)  # (F, 3, 2)
        sorted_edges = np.sort(corner_edges.reshape(-1, 2), axis=1)
        unique, inverse, counts = np.unique(sorted_edges, axis=0, return_inverse=True, return_counts=True)
        self.face_edge = inverse.reshape(-1, 3)  # (F, 3) unique edge id of edge (k, k+1)
        self.edge_is_boundary = counts == 1
        edge_normal = np.zeros((len(unique), 3))
        np.add.at(edge_normal, inverse, np.repeat(fn, 3, axis=0))
        self.edge_normals = edge_normal / np.maximum(
            np.linalg.norm(edge_normal, axis=1, keepdims=True), 1e-300
        )
        # angle-weighted vertex pseudo-normals
        angles = np.zeros((len(f), 3))
        for k in range(3):
            a = tri[:, (k + 1) % 3] - tri[:, k]
            b = tri[:, (k + 2) % 3] - tri[:, k]
            cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
            angles[:, k] = np.arccos(np.clip(cos, -1.0, 1.0))
        vn = np.zeros_like(v)
        for k in range(3):
            np.add.at(vn, f[:, k], angles[:, k : k + 1] * fn)
        self.vertex_normals = vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-300)
        boundary_edges = unique[self.edge_is_boundary]
        self.vertex_is_boundary = np.zeros(len(v), dtype=bool)
        self.vertex_is_boundary[boundary_edges.reshape(-1)] = True
        self.boundary_segments = v[boundary_edges]  # (B, 2, 3)
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(v, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(f, dtype=np.uint32)),
        )

    @property
    def has_boundary(self) -> bool:
        return len(self.boundary_segments) > 0

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) min and max corners of the (welded) mesh."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    def boundary_distance(self, points: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
        """(N,) distance from each (N, 3) point to the nearest boundary segment (inf without boundary)."""
        p = torch.as_tensor(points, dtype=torch.float64)
        if not self.has_boundary:
            return np.full(len(p), np.inf)
        seg = torch.as_tensor(self.boundary_segments, dtype=torch.float64)
        a, d = seg[:, 0], seg[:, 1] - seg[:, 0]
        dd = (d * d).sum(1).clamp_min(1e-300)
        out = []
        for s in range(0, len(p), chunk):
            q = p[s : s + chunk, None, :] - a[None]  # (n, B, 3)
            t = ((q * d[None]).sum(-1) / dd).clamp(0.0, 1.0)
            dist = (q - t[..., None] * d[None]).norm(dim=-1)
            out.append(dist.min(dim=1).values)
        return torch.cat(out).numpy() if out else np.zeros(0)

    def query(self, points: np.ndarray, shell: float, chunk: int = 1 << 18) -> ShellTargets:
        """SDF, mSDF and UDF at (N, 3) points; ``shell``: distance past which template parts are cut."""
        import open3d as o3d

        p = np.asarray(points, dtype=np.float64)
        sdf = np.empty(len(p))
        msdf = np.empty(len(p))
        udf = np.empty(len(p))
        on_boundary = np.empty(len(p), dtype=bool)
        for s in range(0, len(p), chunk):
            pc = p[s : s + chunk]
            r = self.scene.compute_closest_points(o3d.core.Tensor(pc.astype(np.float32)))
            face = r["primitive_ids"].numpy().astype(np.int64)
            uv = r["primitive_uvs"].numpy().astype(np.float64)
            bary = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
            q = (bary[:, :, None] * self.vertices[self.faces[face]]).sum(1)  # float64 nearest points
            normal, boundary = self._pseudo_normal(face, bary)
            diff = pc - q
            dist = np.linalg.norm(diff, axis=1)
            along = (diff * normal).sum(1)
            tangential = np.sqrt(np.maximum(dist**2 - along**2, 0.0))
            signed = np.where(along >= 0, dist, -dist)
            sdf_c = np.where(boundary, along, signed)
            d_b = self.boundary_distance(q)
            m = np.where(boundary, -tangential, d_b)
            sl = slice(s, s + len(pc))
            sdf[sl] = sdf_c
            msdf[sl] = np.minimum(m, shell - dist)
            udf[sl] = dist
            on_boundary[sl] = boundary
        return ShellTargets(
            sdf.astype(np.float32), msdf.astype(np.float32), udf.astype(np.float32), on_boundary
        )

    def _pseudo_normal(self, face: np.ndarray, bary: np.ndarray, eps: float = 1e-5):
        """Pseudo-normal at the nearest points (face / edge / vertex by the barycentrics) and whether the
        point lies on an open boundary."""
        small = bary < eps
        n_small = small.sum(1)
        normal = self.face_normals[face].copy()
        boundary = np.zeros(len(face), dtype=bool)
        on_edge = n_small == 1
        if on_edge.any():
            k = np.argmax(small[on_edge], axis=1)  # the edge opposite corner k is (k + 1, k + 2)
            edge = self.face_edge[face[on_edge], (k + 1) % 3]
            normal[on_edge] = self.edge_normals[edge]
            boundary[on_edge] = self.edge_is_boundary[edge]
        on_vertex = n_small >= 2
        if on_vertex.any():
            k = np.argmax(bary[on_vertex], axis=1)
            vertex = self.faces[face[on_vertex], k]
            normal[on_vertex] = self.vertex_normals[vertex]
            boundary[on_vertex] = self.vertex_is_boundary[vertex]
        # a boundary edge has one face: its normal is the face's; use it for the tangent extension
        return normal, boundary
