"""Iso-surface extraction: marching cubes / tetrahedra with DeepMesh gradients, G-Shell cutting.

- :func:`extract_mesh` — watertight, outward-wound mesh of ``field = level`` from a callable (sparse,
  coarse-to-fine evaluation) or a dense grid; vertices carry DeepMesh gradients.
- :func:`marching_tetrahedra` / :func:`cube_tet_grid` — explicit tetrahedral meshes (DMTet, G-Shell).
- :class:`ExtractedMesh` — vertices, faces, normals, colours and per-vertex edge records.
- :func:`gshell_extract` / :class:`GShellMesh` — the template of an SDF on a tetrahedral grid cut along
  its manifold SDF (open surfaces), differentiable in both fields.
- :func:`fit_sdf_to_silhouettes` / :class:`SilhouetteFitConfig` — an SDF fitted to masks alone through
  extraction and the rasterizer.
"""

from __future__ import annotations

from fields3d.lazy_exports import lazy_exports

_EXPORTS = {
    "extract_mesh": "fields3d.extract.surface_extraction",
    "ExtractedMesh": "fields3d.extract.extracted_mesh",
    "vertex_normals": "fields3d.extract.extracted_mesh",
    "SampleGrid": "fields3d.extract.grid",
    "marching_tetrahedra": "fields3d.extract.tetrahedral_mesh",
    "cube_tet_grid": "fields3d.extract.tetrahedral_mesh",
    "deepmesh_vertices": "fields3d.extract.deepmesh",
    "gshell_extract": "fields3d.extract.gshell_extraction",
    "GShellMesh": "fields3d.extract.gshell_extraction",
    "fit_sdf_to_silhouettes": "fields3d.extract.silhouette_fit",
    "SilhouetteFitConfig": "fields3d.extract.silhouette_fit",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
