"""Iso-surface extraction: marching cubes / tetrahedra with DeepMesh gradients, G-Shell cutting."""
