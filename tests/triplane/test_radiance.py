import numpy as np
import pytest
import torch

from fields3d.errors import InputError
from fields3d.triplane.radiance import (
    RadianceConfig,
    box_intervals,
    fit_radiance_dataset,
    list_captures,
    render_rays,
)


def test_box_intervals():
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 0.0, 0.0], [0.0, 5.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    near, far = box_intervals(o, d)
    assert torch.allclose(near[:2], torch.tensor([2.0, 0.0])) and torch.allclose(
        far[:2], torch.tensor([4.0, 1.0])
    )
    assert far[2] <= near[2]  # misses


def test_render_rays_opaque_and_empty():
    class Constant(torch.nn.Module):
        def __init__(self, raw_density):
            super().__init__()
            self.raw = raw_density

        def forward(self, x):
            out = torch.zeros(*x.shape[:-1], 4)
            out[..., 0] = self.raw
            out[..., 1:] = 10.0  # rgb -> sigmoid(10) ~ 1
            return out

    o = torch.tensor([[[0.0, 0.0, -3.0], [0.0, 5.0, -3.0]]])
    d = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    bg = torch.tensor([[0.0, 0.5, 0.0]])
    color, opacity = render_rays(Constant(8.0), o, d, bg, 16, stratified=False)
    assert opacity[0, 0] > 0.999 and torch.allclose(color[0, 0], torch.ones(3), atol=1e-3)
    assert opacity[0, 1] == 0 and torch.allclose(color[0, 1], bg[0])  # the ray misses the box
    color, opacity = render_rays(Constant(-20.0), o, d, bg, 16, stratified=False)
    assert opacity[0, 0] < 1e-6 and torch.allclose(color[0, 0], bg[0], atol=1e-5)


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    import trimesh

    from fields3d.data.synthetic import SynthConfig, render_capture

    root = tmp_path_factory.mktemp("captures")
    trimesh.creation.box((1.0, 0.6, 0.8)).export(root / "box.ply")
    render_capture(
        root / "box.ply",
        root / "caps" / "box",
        SynthConfig(views=6, resolution=20, supersample=1),
        progress=False,
    )
    return root / "caps"


def test_radiance_dataset_from_a_synthetic_capture(capture, tmp_path, fit_config):
    from fields3d.triplane.field_batch import TriplaneFieldConfig
    from fields3d.triplane.fitting import FitConfig

    sources = list_captures(capture)
    assert [s.path.name for s in sources] == ["box"]
    cfg = fit_config(
        planes=TriplaneFieldConfig(
            channels=4, resolution=16, hidden=16, hidden_layers=1, out_dim=4, backend="torch"
        ),
        fit=FitConfig(steps=60, points_per_step=256),
    )
    m = fit_radiance_dataset(
        sources, tmp_path / "rad", cfg, "cpu", RadianceConfig(samples_per_ray=16, holdout=4), progress=False
    )
    o = m["objects"][0]
    assert m["field"] == "radiance" and o["kind"] == "capture"
    assert o["fit"]["psnr"] > 12 and o["fit"]["loss"] < 0.08
    assert m["summary"]["median_psnr"] == pytest.approx(o["fit"]["psnr"])
    from fields3d.triplane import dataset_files

    t = dataset_files.load_tensors(tmp_path / "rad", m)
    assert t["planes"].shape == (1, 3, 4, 16, 16) and np.abs(t["surface_points"].numpy()).max() < 1.0
    with pytest.raises(InputError, match="capture folders"):
        list_captures(tmp_path / "rad" / "shards")
