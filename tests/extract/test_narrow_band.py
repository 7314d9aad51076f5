import pytest
import torch

from fields3d.extract import extract_mesh
from fields3d.extract.case_tables import marching_cubes_table
from fields3d.extract.cell_marching import march_dense, weld
from fields3d.extract.grid import SampleGrid
from fields3d.extract.narrow_band import narrow_band_cells
from fields3d.extract.surface_extraction import GridSampler


def _face_set(faces):
    f = faces.tolist()
    return {tuple(t[t.index(min(t)) :] + t[: t.index(min(t))]) for t in f}


def _sparse_and_dense(field, grid, **kwargs):
    sampler = GridSampler(field, grid, sign=1.0, dtype=torch.float64, device="cpu", chunk_size=1 << 16)
    cells, stats = narrow_band_cells(sampler, grid, 0.0, dtype=torch.float64, **kwargs)
    sparse = weld(cells, 0.0, grid, marching_cubes_table())
    dense = march_dense(sampler.dense(), 0.0, grid, marching_cubes_table())
    return sparse, dense, stats


@pytest.mark.parametrize(
    "shape,block,seed_cells",
    [((70, 45, 90), 8, 8), ((33, 33, 33), 4, 4), ((50, 61, 40), 5, 16), ((40, 40, 40), 16, 2)],
)
def test_sparse_search_finds_exactly_the_dense_surface(shape, block, seed_cells, fields):
    def two_spheres(x):
        return torch.minimum(
            fields.sphere(x, [-0.4, 0.0, 0.1], 0.35), fields.sphere(x, [0.45, 0.1, -0.2], 0.3)
        )

    grid = SampleGrid.create([[-1, -1, -1], [1, 1, 1]], shape)
    sparse, dense, stats = _sparse_and_dense(
        two_spheres, grid, block=block, seed_cells=seed_cells, lipschitz=1.0
    )
    assert dense.faces.shape[0] > 0
    assert torch.equal(sparse.endpoints, dense.endpoints)
    assert torch.equal(sparse.weights, dense.weights)
    assert _face_set(sparse.faces) == _face_set(dense.faces)
    assert stats["points_evaluated"] <= grid.num_points


def test_surface_following_completes_a_surface_seeded_in_one_place(fields):
    """A thin tube that touches the coarse seed grid at one end only still comes out whole."""
    p0 = torch.tensor([-0.2, -0.2, -0.2], dtype=torch.float64)  # a point of the 32-cell seed grid
    p1 = torch.tensor([0.5, 0.45, 0.35], dtype=torch.float64)

    def capsule(x):
        t = ((x - p0) @ (p1 - p0) / (p1 - p0).dot(p1 - p0)).clamp(0, 1)
        return (x - (p0 + t[:, None] * (p1 - p0))).norm(dim=1) - 0.06

    grid = SampleGrid.create([[-1, -1, -1], [1, 1, 1]], 81)
    sparse, dense, stats = _sparse_and_dense(capsule, grid, block=4, seed_cells=4)
    assert stats["rounds"] > 1  # the surface was followed from block to block
    assert _face_set(sparse.faces) == _face_set(dense.faces)


def test_small_isolated_blob_needs_the_lipschitz_bound(fields):
    def scene(x):  # a big sphere and a small one far from it
        return torch.minimum(fields.sphere(x, [-0.3, 0, 0], 0.5), fields.sphere(x, [0.71, 0.68, 0.69], 0.06))

    grid = SampleGrid.create([[-1, -1, -1], [1, 1, 1]], 129)
    sampler = GridSampler(scene, grid, sign=1.0, dtype=torch.float32, device="cpu", chunk_size=1 << 16)
    without, _ = narrow_band_cells(sampler, grid, 0.0, seed_cells=8)
    with_bound, _ = narrow_band_cells(sampler, grid, 0.0, seed_cells=8, lipschitz=1.0)
    dense = march_dense(sampler.dense(), 0.0, grid, marching_cubes_table())
    assert weld(without, 0.0, grid, marching_cubes_table()).endpoints.shape[0] < dense.endpoints.shape[0]
    complete = weld(with_bound, 0.0, grid, marching_cubes_table())
    assert torch.equal(complete.endpoints, dense.endpoints)


def test_noisy_field_still_gives_a_watertight_mesh(fields):
    """Every grid point is evaluated once, so a field that answers differently on every call (as
    batched GPU networks can in the last bits) cannot open cracks between blocks."""

    def noisy(x):
        return fields.sphere(x, [0, 0, 0], 0.6) + 1e-3 * torch.randn(x.shape[0], dtype=x.dtype)

    mesh = extract_mesh(noisy, [[-1, -1, -1], [1, 1, 1]], 97, seed_resolution=16, block_size=4)
    ok, why = fields.closed_and_oriented(mesh.faces)
    assert ok, why


def test_empty_band_returns_no_cells():
    grid = SampleGrid.create([[-1, -1, -1], [1, 1, 1]], 100)
    sampler = GridSampler(
        lambda x: x.norm(dim=1) + 1, grid, sign=1.0, dtype=torch.float32, device="cpu", chunk_size=1 << 16
    )
    cells, stats = narrow_band_cells(sampler, grid, 0.0)
    assert cells.lower.shape == (0,) and cells.values.shape == (0, 8)
    assert stats["blocks"] == 0
