"""Mesh export of a trained SDF: extraction, vertex colours, world units, cleanup.

The surface ``f = 0`` is extracted with :func:`fields3d.extract.extract_mesh` (marching cubes on a grid
over the occupied part of the normalised frame, intersected with the unit sphere so that the mesh of an
unbounded capture is closed where the reconstructed region ends), coloured by the colour branches seen
head-on at each vertex, mapped back to the capture's world units with ``normalization.inverse()``, and
cleaned (small components removed, see :mod:`fields3d.geometry.cleanup`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.errors import Fields3dError
from fields3d.geometry.similarity import Similarity
from fields3d.recon.unisdf import UniSDFModel


class EmptyMeshError(Fields3dError):
    """The trained field has no zero level set inside the reconstructed region."""


@dataclass
class ExportedMesh:
    """A mesh in world units: (V, 3) float64 vertices, (F, 3) int64 faces, (V, 3) unit normals,
    (V, 3) uint8 colours, plus what cleanup removed."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colors: np.ndarray
    removed_faces: int
    resolution: int
    boundary_fraction: float = 0.0
    """Fraction of the vertices on the unit sphere that bounds the reconstructed region (|x| > 0.98 in
    the normalised frame): near 1 when training failed and the whole region came out solid."""

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(
            self.vertices, self.faces, vertex_colors=self.colors, vertex_normals=self.normals, process=False
        )


def clipped_sdf(model: UniSDFModel):
    """The field's SDF intersected with the unit sphere: ``max(f(x), |x| - 1)`` ((N, 3) -> (N,))."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(model.field.sdf(x), x.norm(dim=-1) - 1.0)

    return fn


def extract_world_mesh(
    model: UniSDFModel,
    normalization: Similarity,
    resolution: int = 256,
    min_component_area: float = 0.01,
    chunk_size: int = 1 << 16,
    progress: bool = False,
) -> ExportedMesh:
    """Extract, colour, move to world units and clean the model's surface.

    Args:
        normalization: world -> normalised frame (``SceneData.normalization``).
        resolution: grid points per axis over the occupied box.
        min_component_area: remove components below this fraction of the total area.
    Raises:
        EmptyMeshError: no surface inside the unit sphere.
    """
    from fields3d.extract import extract_mesh
    from fields3d.geometry.cleanup import CleanupConfig, clean_mesh

    model.eval()
    aabb = model.occupancy.occupied_bounds(margin_cells=2).clamp(-1.0, 1.0)
    with torch.no_grad():
        mesh = extract_mesh(
            clipped_sdf(model),
            aabb.to(model.device),
            resolution,
            differentiable=False,
            chunk_size=chunk_size,
            device=model.device,
            progress=progress,
        )
    if mesh.num_faces == 0:
        raise EmptyMeshError(
            "the trained field has no surface inside the reconstructed region (an empty mesh); "
            "check the masks and camera poses, or train longer"
        )
    verts = mesh.vertices.detach()
    normals = torch.nn.functional.normalize(mesh.normals.detach(), dim=-1)
    colors = model.surface_colors(verts.to(model.device), normals.to(model.device), chunk=chunk_size)
    inverse = normalization.inverse()
    boundary_fraction = float((verts.norm(dim=-1) > 0.98).float().mean())
    v_world = inverse.apply_points(verts.cpu().double().numpy())
    n_world = inverse.apply_directions(normals.cpu().double().numpy())
    c8 = (colors.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    import trimesh

    tm = trimesh.Trimesh(
        v_world, mesh.faces.cpu().numpy(), vertex_colors=c8, vertex_normals=n_world, process=False
    )
    # marching cubes output is welded and closed: keep its zero-area faces (dropping them opens holes)
    cleaned, report = clean_mesh(
        tm, CleanupConfig(merge_tolerance=None, degenerate_area=None, min_area_fraction=min_component_area)
    )
    if len(cleaned.faces) == 0:
        raise EmptyMeshError("cleanup removed every face of the extracted mesh")
    colors_out = np.asarray(cleaned.visual.vertex_colors)[:, :3].astype(np.uint8)
    normals_out = np.asarray(cleaned.vertex_normals, dtype=np.float64)
    return ExportedMesh(
        vertices=np.asarray(cleaned.vertices, dtype=np.float64),
        faces=np.asarray(cleaned.faces, dtype=np.int64),
        normals=normals_out,
        colors=colors_out,
        removed_faces=int(report.component_faces + report.degenerate_faces + report.duplicate_faces),
        resolution=resolution,
        boundary_fraction=boundary_fraction,
    )


def write_exported_mesh(path, mesh: ExportedMesh):
    """Write atomically (.ply, .obj, .glb by suffix) with vertex colours and normals."""
    from fields3d.io.mesh import write_mesh

    return write_mesh(path, mesh.vertices, mesh.faces, vertex_colors=mesh.colors, vertex_normals=mesh.normals)
