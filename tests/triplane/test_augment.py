import pytest
import torch

from fields3d.triplane.augment import (
    permute_channels,
    random_symmetry,
    symmetry_group,
    transform_planes,
    transform_points,
)
from fields3d.triplane.field_batch import TriplaneFieldBatch, TriplaneFieldConfig


def test_group_sizes():
    assert len(symmetry_group("none")) == 1
    assert len(symmetry_group("yaw")) == 8
    assert len(symmetry_group("all")) == 48
    assert symmetry_group("all")[0] == ((0, 1, 2), (False, False, False))


@pytest.mark.parametrize("kind", ["yaw", "all"])
def test_symmetry_maps_the_field_onto_the_moved_points(kind):
    cfg = TriplaneFieldConfig(channels=3, resolution=8, hidden=8, hidden_layers=1, backend="torch")
    fields = TriplaneFieldBatch(1, cfg, seeds=[4])
    with torch.no_grad():
        fields.planes.normal_()
    x = torch.rand(1, 64, 3) * 2 - 1
    before = fields(x)
    for perm, flips in symmetry_group(kind):
        moved = TriplaneFieldBatch.from_tensors(
            transform_planes(fields.planes.detach(), perm, flips), fields.decoder_state(), cfg
        )
        after = moved(transform_points(x, perm, flips))
        assert torch.allclose(before, after, atol=1e-5), (perm, flips)


def test_channel_permutation_is_the_same_on_all_planes():
    planes = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 3, 4, 2, 2)
    planes[:, 1] = planes[:, 0]
    planes[:, 2] = planes[:, 0]
    out = permute_channels(planes, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    assert torch.equal(out.sort(dim=2).values, planes.sort(dim=2).values)


def test_random_symmetry_moves_points_with_planes():
    planes = torch.randn(4, 3, 2, 8, 8)
    points = torch.rand(4, 10, 3) * 2 - 1
    p2, x2 = random_symmetry(planes, points, "all", torch.Generator().manual_seed(1))
    assert p2.shape == planes.shape and x2.shape == points.shape
    assert torch.allclose(x2.abs().sort(-1).values, points.abs().sort(-1).values)
