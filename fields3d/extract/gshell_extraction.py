"""G-Shell extraction: a watertight template from the SDF by marching tetrahedra, cut by the mSDF.

Every point of a tetrahedral grid holds two values: a signed distance (SDF) and a manifold signed
distance (mSDF).  :func:`gshell_extract`

1. runs :func:`~fields3d.extract.marching_tetrahedra` on the SDF: the watertight template, whose vertices
   lie on grid edges ``(a, b)`` at weights ``t``;
2. interpolates the mSDF onto the template vertices with the same edge weights;
3. cuts the template along mSDF = 0 with :func:`~fields3d.extract.gshell_cut.cut_by_msdf`, keeping the
   part where the mSDF is positive (an open surface, or the whole template where it is positive).

The mesh's vertices are differentiable with respect to the SDF values, the mSDF values and the point
positions (a deformable grid).  :meth:`GShellMesh.point_values` carries any other per-point field
(colours, features) to the mesh's vertices through both interpolations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fields3d.extract.extracted_mesh import ExtractedMesh, vertex_normals
from fields3d.extract.gshell_cut import MsdfCut, cut_by_msdf
from fields3d.extract.tetrahedral_mesh import marching_tetrahedra


@dataclass
class GShellMesh:
    """The result of :func:`gshell_extract`.

    Attributes:
        vertices: (V, 3) positions of the cut (open) mesh.
        faces: (F, 3) int64 faces, wound outwards like the template's.
        normals: (V, 3) unit area-weighted vertex normals (differentiable).
        msdf: (V,) mSDF at the vertices (0 on the cut boundary, > 0 elsewhere).
        template: the watertight template (an :class:`ExtractedMesh` with edge records).
        template_msdf: (Vt,) mSDF interpolated onto the template's vertices (differentiable).
        cut: the :class:`MsdfCut` that maps template vertices to the mesh's vertices.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    normals: torch.Tensor
    msdf: torch.Tensor
    template: ExtractedMesh
    template_msdf: torch.Tensor
    cut: MsdfCut

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def boundary_vertex_mask(self) -> torch.Tensor:
        """(V,) bool: vertices created by the cut (on the open boundary)."""
        return self.cut.boundary_vertex_mask

    def template_point_values(self, values: torch.Tensor) -> torch.Tensor:
        """Per-grid-point values (P, ...) -> (Vt, ...) at the template's vertices (edge interpolation)."""
        a, b = self.template.edge_endpoints.unbind(1)
        return self.template.lerp(values[a], values[b])

    def point_values(self, values: torch.Tensor) -> torch.Tensor:
        """Per-grid-point values (P, ...) -> (V, ...) at the cut mesh's vertices (differentiable)."""
        return self.cut.transfer(self.template_point_values(values))

    def to_trimesh(self):
        """A ``trimesh.Trimesh`` of the cut mesh (float64, detached, CPU, not merged)."""
        import trimesh

        return trimesh.Trimesh(
            self.vertices.detach().cpu().double().numpy(), self.faces.cpu().numpy(), process=False
        )


def gshell_extract(
    points: torch.Tensor,
    tets: torch.Tensor,
    sdf: torch.Tensor,
    msdf: torch.Tensor,
    cut_points: torch.Tensor | None = None,
) -> GShellMesh:
    """Extract the G-Shell surface of per-point SDF and mSDF values on a tetrahedral grid.

    Args:
        points: (P, 3) float point positions (may require grad: grid deformation).
        tets: (T, 4) integer point indices (e.g. from :func:`~fields3d.extract.cube_tet_grid`).
        sdf: (P,) signed distance values, negative inside (may require grad).
        msdf: (P,) manifold signed distance values, positive where the surface exists (may require grad).
        cut_points: optional (P,) bool: template vertices on grid edges that touch these points are
            always cut away (their mSDF is made negative), e.g. the frontier of a narrow band.
    Returns:
        :class:`GShellMesh`.
    """
    if msdf.shape != (points.shape[0],):
        raise ValueError(f"expected msdf of shape ({points.shape[0]},), got {tuple(msdf.shape)}")
    template = marching_tetrahedra(points, tets, sdf)
    if template.num_vertices:
        a, b = template.edge_endpoints.unbind(1)
        template_msdf = template.lerp(msdf[a], msdf[b])
        if cut_points is not None:
            if cut_points.shape != (points.shape[0],) or cut_points.dtype != torch.bool:
                raise ValueError(
                    f"expected bool cut_points of shape ({points.shape[0]},), got "
                    f"{tuple(cut_points.shape)} {cut_points.dtype}"
                )
            touch = cut_points[a] | cut_points[b]
            template_msdf = torch.where(touch, -(template_msdf.abs() + 1e-12), template_msdf)
    else:
        template_msdf = msdf.new_zeros(0)
    cut = cut_by_msdf(template.vertices, template.faces, template_msdf)
    return GShellMesh(
        vertices=cut.vertices,
        faces=cut.faces,
        normals=vertex_normals(cut.vertices, cut.faces),
        msdf=cut.transfer(template_msdf),
        template=template,
        template_msdf=template_msdf,
        cut=cut,
    )
