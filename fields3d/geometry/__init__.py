"""Geometry: similarity transforms, meshes, mesh -> distance fields, cleanup.

Names are imported lazily (on first attribute access) so that importing one submodule, e.g.
``fields3d.geometry.triangle_arrays``, does not import torch.
"""

from __future__ import annotations

from fields3d.lazy_exports import lazy_exports

_EXPORTS = {
    "Similarity": "fields3d.geometry.similarity",
    "SurfaceSamples": "fields3d.geometry.mesh_sampling",
    "sample_surface": "fields3d.geometry.mesh_sampling",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
