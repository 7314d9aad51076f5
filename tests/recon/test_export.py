"""Mesh export: world units, and a flag when the whole reconstructed region came out solid."""

from __future__ import annotations

import numpy as np
import torch

from fields3d.geometry.similarity import Similarity
from fields3d.recon.export import extract_world_mesh
from fields3d.recon.unisdf import UniSDFModel


def test_a_solid_region_is_flagged_and_an_object_is_not(make_tiny_config):
    model = UniSDFModel(make_tiny_config().model)
    model.update_occupancy()
    normalization = Similarity.normalizing(np.array([1.0, 2.0, 3.0]), 10.0)  # world sphere: radius 10
    ball = extract_world_mesh(model, normalization, resolution=24)  # the initial SDF: a ball of radius 0.5
    assert ball.boundary_fraction == 0.0
    radii = np.linalg.norm(ball.vertices - [1.0, 2.0, 3.0], axis=1)
    assert abs(radii.mean() - 5.0) < 0.3  # world units
    model.field.sdf = lambda x: -torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    model.occupancy.occupied.fill_(True)  # as after an update of that field: the whole cube
    solid = extract_world_mesh(model, normalization, resolution=24)
    assert solid.boundary_fraction > 0.9
