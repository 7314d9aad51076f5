import pytest
import torch

from fields3d.extract.case_tables import marching_cubes_table, tetrahedra_cube_table
from fields3d.extract.cell_marching import march_dense, straddling_blocks
from fields3d.extract.grid import SampleGrid

TABLES = [marching_cubes_table, tetrahedra_cube_table]


@pytest.mark.parametrize("make", TABLES)
@pytest.mark.parametrize("seed", range(4))
def test_random_fields_give_closed_consistently_wound_surfaces(make, seed, fields):
    """Every configuration mix (ambiguous faces included) closes up when the border is outside."""
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(9, 8, 10, generator=g, dtype=torch.float64)
    values[0], values[-1], values[:, 0], values[:, -1], values[:, :, 0], values[:, :, -1] = (1.0,) * 6
    grid = SampleGrid.create([[0, 0, 0], [1, 1, 1]], tuple(values.shape))
    surface = march_dense(values, 0.0, grid, make(), block=3)
    ok, why = fields.closed_and_oriented(surface.faces)
    assert ok, why
    # every vertex lies on its edge at the linear zero crossing
    flat = values.reshape(-1)
    fa, fb = flat[surface.endpoints[:, 0]], flat[surface.endpoints[:, 1]]
    assert torch.allclose(fa + surface.weights * (fb - fa), torch.zeros_like(fa), atol=1e-12)
    assert ((fa < 0) != (fb < 0)).all()


@pytest.mark.parametrize("shape,block", [((17, 9, 12), 4), ((5, 6, 7), 8), ((30, 31, 29), 8), ((3, 3, 3), 1)])
def test_straddling_blocks_match_brute_force(shape, block):
    g = torch.Generator().manual_seed(1)
    values = torch.randn(shape, generator=g) + 0.8
    origins = straddling_blocks(values, 0.0, block)
    expected = []
    for i in range(0, shape[0] - 1, block):
        for j in range(0, shape[1] - 1, block):
            for k in range(0, shape[2] - 1, block):
                w = values[i : i + block + 1, j : j + block + 1, k : k + block + 1]
                if (w < 0).any() and (w >= 0).any():
                    expected.append((i, j, k))
    assert sorted(map(tuple, origins.tolist())) == expected


def test_marching_cubes_matches_scikit_image_on_a_sphere():
    from skimage.measure import marching_cubes

    n = 40
    ax = torch.linspace(-1, 1, n, dtype=torch.float64)
    values = (ax[:, None, None] ** 2 + ax[None, :, None] ** 2 + ax[None, None, :] ** 2).sqrt() - 0.63
    grid = SampleGrid.create([[-1] * 3, [1] * 3], n)
    surface = march_dense(values, 0.0, grid, marching_cubes_table())
    ours = surface.grid_coordinates(grid).numpy()
    verts, faces, _, _ = marching_cubes(values.numpy(), 0.0)
    assert len(ours) == len(verts) and len(surface.faces) == len(faces)
    from scipy.spatial import cKDTree

    assert cKDTree(verts).query(ours)[0].max() < 1e-4  # the same vertices (skimage works in float32)
    assert cKDTree(ours).query(verts)[0].max() < 1e-4


def test_block_size_does_not_change_the_surface():
    g = torch.Generator().manual_seed(2)
    values = torch.nn.functional.avg_pool3d(torch.randn(1, 1, 23, 21, 19, generator=g), 3, 1).squeeze()
    grid = SampleGrid.create([[0, 0, 0], [1, 1, 1]], tuple(values.shape))
    ref = march_dense(values, 0.0, grid, marching_cubes_table(), block=4)
    for block in (1, 3, 8, 32):
        s = march_dense(values, 0.0, grid, marching_cubes_table(), block=block)
        assert torch.equal(s.endpoints, ref.endpoints)
        key = lambda f: sorted(map(tuple, torch.sort(f, dim=1).values.tolist()))  # noqa: E731
        assert key(s.faces) == key(ref.faces)
