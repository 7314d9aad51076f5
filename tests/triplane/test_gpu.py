"""Tri-plane fitting and networks on a CUDA device (run with -m gpu on the GPU machine)."""

import numpy as np
import pytest
import torch
import trimesh

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def test_mesh_distance_twin_on_cuda_matches_cpu():
    from fields3d.triplane import mesh_distance_torch as twin

    m = trimesh.creation.torus(0.5, 0.2)
    v, f = torch.from_numpy(np.asarray(m.vertices)), torch.from_numpy(np.asarray(m.faces))
    p = torch.rand(2000, 3, dtype=torch.float64) * 2 - 1
    cpu = twin.signed_distance(p, v, f, 128)
    gpu = twin.signed_distance(p.cuda().float(), v.cuda().float(), f.cuda(), 1024).double().cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)


def test_batched_fit_on_cuda():
    from fields3d.triplane.field_batch import TriplaneFieldConfig
    from fields3d.triplane.fit_quality import QualityConfig, fit_quality
    from fields3d.triplane.fitting import FitConfig, fit_fields
    from fields3d.triplane.supervision import ShapeDistance, SupervisionConfig, field_supervision

    m = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    d = ShapeDistance(np.asarray(m.vertices), np.asarray(m.faces), backend="torch", device="cuda")
    s = field_supervision(d, "sdf", SupervisionConfig(samples=8192), np.random.default_rng(0))
    pts = torch.from_numpy(s.points)[None].repeat(8, 1, 1).cuda()
    vals = torch.from_numpy(s.values)[None].repeat(8, 1).cuda()
    res = fit_fields(pts, vals, "sdf", TriplaneFieldConfig(), FitConfig(steps=200), seeds=list(range(8)))
    assert res.fields.planes.is_cuda and float(res.final_loss.max()) < 0.01
    q = fit_quality(
        res.fields.object_field(3), "sdf", d, QualityConfig(samples=5000), np.random.default_rng(1)
    )
    assert q["chamfer"] < 0.03 and q["iou"] > 0.9


def test_transformer_invariance_on_cuda():
    from fields3d.triplane.classifier import ChannelTokenTransformer

    model = ChannelTokenTransformer(10, 32).cuda().eval()
    planes = torch.randn(4, 3, 16, 32, 32, device="cuda")
    perm = torch.randperm(16, device="cuda")
    assert torch.allclose(model(planes), model(planes[:, :, perm]), atol=1e-4)
