"""UniSDFModel: rendering outputs, colour-ray selection, gradient normals, occupancy, regularisers."""

from __future__ import annotations

import pytest
import torch

from fields3d.recon.unisdf import UniSDFModel

pytestmark = pytest.mark.usefixtures("one_thread")


def rays(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 2.5
    target = (torch.rand(n, 3, generator=g) - 0.5) * 0.6
    directions = torch.nn.functional.normalize(target - origins, dim=-1)
    # the first quarter looks perpendicular to the origin: closest approach 2.5, they miss the sphere
    side = torch.cross(origins[: n // 4], torch.randn(n // 4, 3, generator=g), dim=-1)
    directions[: n // 4] = torch.nn.functional.normalize(side, dim=-1)
    return origins, directions


@pytest.fixture
def model(make_tiny_config):
    torch.manual_seed(0)
    m = UniSDFModel(make_tiny_config().model)
    m.update_occupancy()
    return m


def test_render_outputs(model):
    o, d = rays()
    out = model.render_rays(o, d, train=True, generator=torch.Generator().manual_seed(1))
    n = o.shape[0]
    assert out.rgb.shape == (n, 3) and out.opacity.shape == (n,) and out.depth.shape == (n,)
    assert float(out.opacity.min()) >= 0 and float(out.opacity.max()) <= 1 + 1e-5
    assert float(out.opacity[: n // 4].abs().max()) == 0  # rays that miss the unit sphere
    assert float(out.opacity[n // 4 :].mean()) > 0.5  # the others meet the initial sphere
    assert out.blend_weight is not None and bool((out.blend_weight <= out.opacity + 1e-5).all())
    loss = out.rgb.sum() + out.opacity.sum()
    loss.backward()
    assert model.variance.grad is not None


def test_only_color_rays_get_colour(model):
    o, d = rays()
    sel = torch.zeros(o.shape[0], dtype=torch.bool)
    sel[-8:] = True
    out = model.render_rays(o, d, train=False, color_rays=sel)
    assert float(out.rgb[~sel].abs().max()) == 0.0
    assert float(out.rgb[sel].abs().sum()) > 0
    assert float(out.opacity[~sel][o.shape[0] // 4 :].mean()) > 0.5  # opacity for every ray


def test_gradient_normals_feed_the_geometry_losses(make_tiny_config):
    config = make_tiny_config().model
    config.color_normals = "gradient"
    torch.manual_seed(0)
    model = UniSDFModel(config)
    model.update_occupancy()
    o, d = rays()
    out = model.render_rays(o, d, train=True)
    assert out.sample_gradients is not None and out.sample_gradients.shape == out.sample_points.shape
    geo = model.geometry_losses(out, 0, 16)
    assert 0.5 < geo.mean_gradient_norm < 1.5
    (geo.eikonal + geo.normal + out.rgb.sum()).backward()
    assert float(model.field.mlp.linears[0].weight.grad.abs().sum()) > 0


def test_geometry_losses_with_predicted_normals(model):
    o, d = rays()
    out = model.render_rays(o, d, train=True)
    geo = model.geometry_losses(out, 32, 16, torch.Generator().manual_seed(0))
    assert geo.eikonal.requires_grad and float(geo.eikonal) < 0.1  # the initial sphere is a distance field
    assert float(geo.normal) >= 0


def test_occupancy_follows_the_field(model):
    frac = model.occupancy.occupied_fraction()
    assert 0.01 < frac < 0.9
    shell = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1) * model.config.sdf.init_radius
    assert bool(model.occupancy.query(shell).all())


def test_surface_colors_and_chunked_render(model):
    p = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1) * 0.5
    c = model.surface_colors(p, torch.nn.functional.normalize(p, dim=-1))
    assert c.shape == (10, 3) and float(c.min()) >= 0 and float(c.max()) <= 1
    o, d = rays(40)
    r = model.render_chunked(o, d, chunk=16)
    assert r["rgb"].shape == (40, 3) and r["normals"].shape == (40, 3)
    opaque = r["opacity"] > 0.5
    assert torch.allclose(r["normals"][opaque].norm(dim=-1), torch.ones(int(opaque.sum())), atol=1e-4)
