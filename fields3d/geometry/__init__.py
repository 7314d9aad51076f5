"""Geometry: similarity transforms, meshes, mesh -> distance fields, cleanup.

Names are imported lazily (on first attribute access) so that importing one submodule, e.g.
``fields3d.geometry.triangle_arrays``, does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Similarity": "fields3d.geometry.similarity",
    "SurfaceSamples": "fields3d.geometry.mesh_sampling",
    "sample_surface": "fields3d.geometry.mesh_sampling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fields3d.geometry' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
