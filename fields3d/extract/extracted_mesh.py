"""The mesh that iso-surface extraction returns, and its vertex normals."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fields3d.extract.grid import SampleGrid


@dataclass
class ExtractedMesh:
    """A triangle mesh extracted from a field.

    Attributes:
        vertices: (V, 3) world positions (float32 unless another dtype was asked for).  With
            ``differentiable=True`` they carry the DeepMesh gradient to the field's parameters (or the
            exact gradient to a dense grid's values).
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside, so right-hand face
            normals point outwards (from inside to outside; see ``extract_mesh`` for the sign convention).
        normals: (V, 3) unit vertex normals (area-weighted face normals; differentiable like ``vertices``).
        colors: (V, 3) colours from ``color_fn`` at the vertices, or None.
        edge_endpoints: (V, 2) int64 linear indices of the grid points (or tetrahedral-mesh points) at
            the two ends of the edge each vertex lies on, or None (scikit-image backend).
        edge_weights: (V,) interpolation weights ``t`` (detached): the vertex is
            ``(1 - t) * p[a] + t * p[b]`` for ``(a, b) = edge_endpoints``.  Interpolating another
            per-point field with the same ``t`` (``lerp``) gives its value on the surface.
        grid: the sample grid the indices refer to (None for a tetrahedral mesh given as arrays).
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    normals: torch.Tensor
    colors: torch.Tensor | None = None
    edge_endpoints: torch.Tensor | None = None
    edge_weights: torch.Tensor | None = None
    grid: SampleGrid | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def lerp(self, values_a: torch.Tensor, values_b: torch.Tensor) -> torch.Tensor:
        """Interpolate per-endpoint values (V, ...) at ``a`` and ``b`` with the vertices' edge weights.

        For a dense per-point tensor ``q`` (flattened, C order) use ``lerp(q[a], q[b])`` with
        ``a, b = edge_endpoints.unbind(1)``; for a callable evaluate it at ``endpoint_positions()``.
        Gradients flow to the values (the weights are constants).
        """
        if self.edge_weights is None:
            raise ValueError("expected a mesh with edge records (torch backend), got one from scikit-image")
        t = self.edge_weights.to(values_a.dtype).reshape(-1, *([1] * (values_a.dim() - 1)))
        return values_a + t * (values_b - values_a)

    def endpoint_positions(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(V, 2, 3) world positions of each vertex's edge endpoints (grid-based meshes only)."""
        if self.edge_endpoints is None or self.grid is None:
            raise ValueError("expected a mesh extracted on a sample grid with edge records, got none")
        return self.grid.points(self.edge_endpoints, dtype)

    def to_trimesh(self):
        """A ``trimesh.Trimesh`` (float64, detached, on the CPU; vertices not merged or reordered)."""
        import trimesh

        colors = None
        if self.colors is not None:
            colors = (self.colors.detach().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        return trimesh.Trimesh(
            self.vertices.detach().cpu().double().numpy(),
            self.faces.cpu().numpy(),
            vertex_normals=self.normals.detach().cpu().double().numpy() if self.num_vertices else None,
            vertex_colors=colors,
            process=False,
        )

    def write(self, path):
        """Write the mesh (with normals and colours) atomically; the format comes from the suffix."""
        from fields3d.io.mesh import write_mesh

        return write_mesh(
            path, self.vertices, self.faces, vertex_colors=self.colors, vertex_normals=self.normals
        )


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    """(V, 3) unit area-weighted vertex normals of a mesh; zero for vertices of no (or degenerate) faces."""
    normals = torch.zeros_like(vertices)
    if faces.shape[0]:
        tri = vertices[faces]
        face_normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
        normals = normals.index_add(0, faces.reshape(-1), face_normal.repeat_interleave(3, dim=0))
    length = normals.pow(2).sum(dim=1, keepdim=True).clamp_min(eps).sqrt()  # zero vectors stay zero
    return normals / length
