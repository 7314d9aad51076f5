"""Fixtures for the reconstruction tests: a tiny synthetic capture and a tiny configuration."""

from __future__ import annotations

import pytest


def tiny_config(steps: int = 30):
    """A configuration small enough for tests: 4-level grid, 256 rays, 32^3 occupancy and mesh grids."""
    from fields3d.encodings import HashGridEncodingConfig
    from fields3d.recon.presets import make_config

    c = make_config("unisdf", "fast")
    c.model.sdf.grid = HashGridEncodingConfig(
        n_levels=4,
        log2_table_size=12,
        base_resolution=8,
        finest_resolution=64,
        coarse_to_fine_start=2,
        coarse_to_fine_steps=10,
    )
    c.model.sdf.mlp.hidden_dim = 32
    c.model.color.mlp.hidden_dim = 32
    c.model.sampling.grid.resolution = 32
    c.model.sampling.grid.update_every = 8
    c.model.sampling.min_step = 2.0 / 64
    c.train.steps, c.train.rays_per_step, c.train.warmup_steps = steps, 256, 5
    c.train.eikonal_surface_points, c.train.eikonal_space_points = 64, 32
    c.train.checkpoint_every = 10
    c.data.holdout, c.data.max_image_size, c.data.eval_max_image_size = 1, None, None
    c.export.resolution = 32
    c.turntable_views, c.turntable_size = 2, 64
    c.threads = 1
    return c


@pytest.fixture(scope="session")
def tiny_capture(tmp_path_factory):
    """A synthetic capture of a capsule: 8 views of 32x32 with masks and the ground-truth mesh."""
    import trimesh

    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.io.mesh import write_mesh

    folder = tmp_path_factory.mktemp("tiny_capture")
    mesh = trimesh.creation.capsule(height=1.0, radius=0.5)
    write_mesh(folder / "capsule.ply", mesh.vertices, mesh.faces)
    capture = render_capture(
        folder / "capsule.ply", folder / "capture", SynthConfig(views=8, resolution=32), progress=False
    )
    return capture.out


@pytest.fixture
def make_tiny_config():
    return tiny_config


@pytest.fixture
def one_thread():
    """Run with one torch thread (two threads on a busy 2-core machine are several times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
