"""Occupancy grid: coarse-to-fine update equals brute force, marching skips empty space."""

from __future__ import annotations

import math

import pytest
import torch

from fields3d.render.occupancy_grid import OccupancyGrid, OccupancyGridConfig
from fields3d.render.volume import sphere_intersection


def sphere_sdf(x: torch.Tensor) -> torch.Tensor:
    return x.norm(dim=-1) - 0.5


@pytest.mark.parametrize("band", [0.2, 0.05, 0.0])
def test_coarse_to_fine_update_matches_brute_force(band):
    grid = OccupancyGrid(OccupancyGridConfig(resolution=64, dilation=1))
    grid.update(sphere_sdf, band)
    half = 0.5 * math.sqrt(3) * grid.cell_size
    ref = (sphere_sdf(grid.cell_centers()).abs() <= band + 1.5 * half).view(64, 64, 64)
    ref = torch.nn.functional.max_pool3d(ref[None, None].float(), 3, 1, 1)[0, 0] > 0
    assert torch.equal(grid.occupied, ref)
    assert 0 < grid.occupied_fraction() < 0.5


def test_every_surface_point_is_in_an_occupied_cell():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=32, dilation=0))
    grid.update(sphere_sdf, 0.0)
    p = torch.nn.functional.normalize(torch.randn(5000, 3), dim=-1) * 0.5
    assert bool(grid.query(p).all())
    assert not bool(grid.query(torch.zeros(1, 3)).any())  # centre is far from the surface
    assert not bool(grid.query(torch.tensor([[1.5, 0.0, 0.0]])).any())  # outside the cube


def test_marching_keeps_only_occupied_samples_and_skips_empty_space():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=64))
    grid.update(sphere_sdf, 0.02)
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.9, -3.0], [0.0, 0.0, 0.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far, hit = sphere_intersection(o, d, 1.0)
    s = grid.sample(o, d, near, far, hit, step=0.01, max_samples=64, jitter=False)
    assert s.t.shape[0] == 3 and s.valid.any(1).tolist() == [True, False, True]
    t = s.t[s.valid]
    pts = o[s.valid.nonzero()[:, 0]] + t[:, None] * d[s.valid.nonzero()[:, 0]]
    assert bool(grid.query(pts).all())
    # ray 0 crosses the shell twice; ~ (2 * 2 * (band + cells)) / step samples, far fewer than 200
    assert 10 < int(s.valid[0].sum()) < 60
    # sorted along each ray, padding after the samples
    assert bool((s.t[0, 1 : int(s.valid[0].sum())] > s.t[0, : int(s.valid[0].sum()) - 1]).all())
    assert bool(torch.isinf(s.t[~s.valid]).all())


def test_rescue_samples_only_where_the_grid_is_empty():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=16))
    grid.update(sphere_sdf, 0.0)
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.8, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far, hit = sphere_intersection(o, d, 1.0)
    s = grid.sample(
        o,
        d,
        near,
        far,
        hit,
        step=0.05,
        max_samples=4,
        extra_uniform=torch.tensor([True, True]),
        n_extra_uniform=7,
        generator=torch.Generator().manual_seed(0),
    )
    assert int(s.valid[0].sum()) == 4  # capped occupied samples, no rescue
    assert int(s.valid[1].sum()) == 7  # nothing occupied: stratified samples over [near, far]
    t1 = s.t[1, :7]
    assert float(t1.min()) >= float(near[1]) and float(t1.max()) <= float(far[1])


def test_occupied_bounds_cover_the_surface():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=32, dilation=0))
    grid.update(sphere_sdf, 0.0)
    lo, hi = grid.occupied_bounds(margin_cells=0)
    assert bool((lo <= -0.5).all()) and bool((hi >= 0.5).all()) and bool((hi - lo < 1.3).all())


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by 4"):
        OccupancyGrid(OccupancyGridConfig(resolution=66))
    grid = OccupancyGrid(OccupancyGridConfig(resolution=8))
    with pytest.raises(ValueError, match="band"):
        grid.update(sphere_sdf, float("nan"))
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="positive step"):
        grid.sample(z, z, z[:, 0], z[:, 0], z[:, 0].bool(), step=0.0, max_samples=4)
