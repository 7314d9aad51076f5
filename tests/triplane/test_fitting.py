import dataclasses

import numpy as np
import torch
import trimesh

from fields3d.triplane.field_batch import TriplaneFieldConfig
from fields3d.triplane.fit_quality import QualityConfig, fit_quality
from fields3d.triplane.fitting import FitConfig, FitState, field_loss, fit_fields
from fields3d.triplane.supervision import ShapeDistance, SupervisionConfig, field_supervision

CFG = TriplaneFieldConfig(channels=4, resolution=16, hidden=16, hidden_layers=1, backend="torch")


def _spheres():
    out = []
    for r in (0.4, 0.6):
        m = trimesh.creation.icosphere(subdivisions=3, radius=r)
        out.append(ShapeDistance(np.asarray(m.vertices), np.asarray(m.faces)))
    return out


def _supervision(dists, field="sdf"):
    rng = np.random.default_rng(0)
    s = [field_supervision(d, field, SupervisionConfig(samples=3000), rng) for d in dists]
    return torch.from_numpy(np.stack([x.points for x in s])), torch.from_numpy(
        np.stack([x.values for x in s])
    )


def test_field_loss_values():
    pred = torch.tensor([[0.0, 0.5], [0.2, -0.2]])
    target = torch.tensor([[0.05, 0.3], [0.2, -0.2]])
    assert torch.allclose(field_loss(pred, target, "sdf", 0.1), torch.tensor([0.025, 0.0]))
    occ = field_loss(torch.tensor([[10.0, -10.0]]), torch.tensor([[1.0, 0.0]]), "occupancy", 0.1)
    assert occ.item() < 1e-3


def test_two_spheres_fit_and_decode():
    dists = _spheres()
    pts, vals = _supervision(dists)
    res = fit_fields(pts, vals, "sdf", CFG, FitConfig(steps=150, points_per_step=512), seeds=[0, 1])
    assert res.final_loss.shape == (2,) and float(res.final_loss.max()) < 0.02
    assert res.history[0][1] > res.history[-1][1]
    q = fit_quality(
        res.fields.object_field(1),
        "sdf",
        dists[1],
        QualityConfig(resolution=24, samples=2000, iou_points=4000),
        np.random.default_rng(0),
    )
    assert q["faces"] > 0 and q["chamfer"] < 0.05 and q["iou"] > 0.9


def test_resume_reproduces_the_uninterrupted_fit():
    pts, vals = _supervision(_spheres())
    cfg = FitConfig(steps=20, points_per_step=128)
    full = fit_fields(pts, vals, "sdf", CFG, cfg, seeds=[0, 1])
    saved = []
    fit_fields(pts, vals, "sdf", CFG, cfg, seeds=[0, 1], checkpoint=saved.append, checkpoint_every=8)
    assert [s.step for s in saved] == [8, 16]
    state = FitState(**dataclasses.asdict(saved[0]))
    resumed = fit_fields(pts, vals, "sdf", CFG, cfg, seeds=[0, 1], resume=state)
    assert torch.allclose(resumed.fields.planes, full.fields.planes, atol=1e-6)


def test_occupancy_fit_reaches_high_iou():
    dists = _spheres()[:1]
    pts, vals = _supervision(dists, "occupancy")
    res = fit_fields(pts, vals, "occupancy", CFG, FitConfig(steps=150, points_per_step=512), seeds=[0])
    q = fit_quality(
        res.fields.object_field(0),
        "occupancy",
        dists[0],
        QualityConfig(resolution=24, samples=2000, iou_points=4000),
        np.random.default_rng(0),
    )
    assert q["iou"] > 0.9
