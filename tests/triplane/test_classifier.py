import torch

from fields3d.triplane.classifier import (
    ChannelTokenTransformer,
    ChannelTransformerConfig,
    TriplaneCNN,
    TriplaneCNNConfig,
)
from fields3d.triplane.pointnet import PointNet
from fields3d.triplane.segmenter import TriplaneSegmenter, plane_readings

SMALL = ChannelTransformerConfig(dim=32, layers=2, heads=2)


def test_shuffling_channels_leaves_the_transformer_logits_unchanged():
    model = ChannelTokenTransformer(5, 8, SMALL).eval()
    planes = torch.randn(3, 3, 6, 8, 8)
    logits = model(planes)
    for seed in range(3):
        perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(model(planes[:, :, perm]), logits, atol=1e-5)
    # sanity: the logits do depend on the content
    assert not torch.allclose(model(planes.flip(-1)), logits, atol=1e-3)


def test_segmenter_is_channel_order_invariant_and_point_equivariant():
    model = TriplaneSegmenter(7, 8, SMALL).eval()
    planes, points = torch.randn(2, 3, 6, 8, 8), torch.rand(2, 20, 3) * 2 - 1
    out = model(planes, points)
    assert out.shape == (2, 20, 7)
    perm = torch.randperm(6)
    assert torch.allclose(model(planes[:, :, perm], points), out, atol=1e-5)
    order = torch.randperm(20)
    assert torch.allclose(model(planes, points[:, order]), out[:, order], atol=1e-5)


def test_plane_readings_match_the_summed_lookup():
    from fields3d.ops.triplane import triplane_torch

    planes, points = torch.randn(2, 3, 4, 8, 8), torch.rand(2, 5, 3) * 2 - 1
    r = plane_readings(planes, points)  # (B, N, C, 3)
    idx = torch.arange(2)[:, None].expand(2, 5).reshape(-1)
    summed = triplane_torch(((points + 1) / 2).reshape(-1, 3), planes, idx, "sum").reshape(2, 5, 4)
    assert torch.allclose(r.sum(-1), summed, atol=1e-6)


def test_baselines_shapes_and_cnn_depends_on_order():
    cnn = TriplaneCNN(4, 6, 8, TriplaneCNNConfig(width=8)).eval()
    planes = torch.randn(2, 3, 6, 8, 8)
    assert cnn(planes).shape == (2, 4)
    assert not torch.allclose(cnn(planes[:, :, torch.tensor([1, 0, 2, 3, 4, 5])]), cnn(planes), atol=1e-6)
    pn = PointNet(4).eval()
    pts = torch.randn(2, 50, 3)
    assert torch.allclose(pn(pts[:, torch.randperm(50)]), pn(pts), atol=1e-5)
