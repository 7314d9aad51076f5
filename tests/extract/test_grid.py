import pytest
import torch

from fields3d.extract.grid import SampleGrid


def test_indices_round_trip_and_world_positions():
    grid = SampleGrid.create([[-1, 0, 2], [1, 3, 4]], (5, 4, 3))
    assert grid.cells == (4, 3, 2) and grid.num_points == 60
    assert grid.spacing == pytest.approx((0.5, 1.0, 1.0))
    ijk = torch.stack(torch.meshgrid(*(torch.arange(n) for n in grid.shape), indexing="ij"), -1).reshape(
        -1, 3
    )
    lin = grid.linear_index(ijk)
    assert torch.equal(lin, torch.arange(60))  # C order, the order of values.reshape(-1)
    assert torch.equal(grid.unravel(lin), ijk)
    world = grid.points(lin, torch.float64)
    assert torch.allclose(world[0], torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64))
    assert torch.allclose(world[-1], torch.tensor([1.0, 3.0, 4.0], dtype=torch.float64))


def test_flat_aabb_and_tuple_resolution():
    grid = SampleGrid.create([0, 0, 0, 1, 2, 3], torch.Size([2, 3, 4]))
    assert grid.aabb == ((0.0, 0.0, 0.0), (1.0, 2.0, 3.0)) and grid.shape == (2, 3, 4)


@pytest.mark.parametrize(
    "aabb,resolution,match",
    [
        ([[0, 0, 0], [1, 1, 1]], 1, "expected resolution >= 2 points per axis, got 1"),
        ([[0, 0, 0], [1, 1, 1]], (4, 4, 1), "expected resolution >= 2"),
        ([[0, 0, 0], [1, 1, 1]], True, "expected resolution as an int or 3 ints, got True"),
        ([[0, 0, 0], [1, 1, 1]], (4, 4), "expected resolution as an int or 3 ints"),
        (
            [[0, 0], [1, 1]],
            4,
            r"expected aabb of shape \(2, 3\) \(min row, max row\) or \(6,\), got \(2, 2\)",
        ),
        ([[0, 0, 0], [1, 0, 1]], 4, "expected a finite aabb with max > min on every axis, got"),
        ([[0, 0, 0], [1, float("inf"), 1]], 4, "expected a finite aabb"),
    ],
)
def test_bad_grids(aabb, resolution, match):
    with pytest.raises(ValueError, match=match):
        SampleGrid.create(aabb, resolution)


def test_numpy_and_tensor_resolutions():
    import numpy as np

    assert SampleGrid.create([[0, 0, 0], [1, 1, 1]], np.int64(5)).shape == (5, 5, 5)
    assert SampleGrid.create([[0, 0, 0], [1, 1, 1]], np.array([3, 4, 5])).shape == (3, 4, 5)
    assert SampleGrid.create([[0, 0, 0], [1, 1, 1]], torch.tensor(6)).shape == (6, 6, 6)
    with pytest.raises(ValueError, match="expected resolution as an int or 3 ints"):
        SampleGrid.create([[0, 0, 0], [1, 1, 1]], "64")
