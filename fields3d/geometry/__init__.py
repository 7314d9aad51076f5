"""Geometry: similarity transforms, meshes, mesh -> distance fields, cleanup."""

from fields3d.geometry.similarity import Similarity

__all__ = ["Similarity"]
