"""NeuS volume rendering on dense per-ray sample arrays."""

from __future__ import annotations

import pytest
import torch

from fields3d.render.volume import (
    accumulate,
    blend_colors,
    compositing_weights,
    neus_alpha,
    sphere_intersection,
)


def test_sphere_intersection():
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 2.0, -3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    near, far, hit = sphere_intersection(o, d, 1.0)
    assert hit.tolist() == [True, False, True, False]
    assert torch.allclose(near[[0, 2]], torch.tensor([2.0, 0.0]))
    assert torch.allclose(far[[0, 2]], torch.tensor([4.0, 1.0]))
    assert float(near[1]) == 0 and float(far[3]) == 0


def plane_ray(t: torch.Tensor, surface: float) -> torch.Tensor:
    """SDF along a ray that crosses a plane head-on at distance ``surface``."""
    return surface - t


@pytest.mark.parametrize("step", [0.002, 0.02, 0.1])
def test_a_crossing_is_opaque_whatever_the_step(step):
    t = torch.arange(0.0, 2.0, step)[None]
    sdf = plane_ray(t, 1.0037)
    alpha = neus_alpha(sdf, torch.ones_like(sdf, dtype=torch.bool), 500.0)
    weights, behind = compositing_weights(alpha)
    assert abs(float(weights.sum()) - 1.0) < 2e-3
    assert float(behind) < 2e-3
    # the weight peaks at the interval that contains the surface
    k = int(weights.argmax())
    assert float(t[0, k]) <= 1.0037 <= float(t[0, k]) + step + 1e-6


def test_expected_depth_is_unbiased():
    t = torch.linspace(0.0, 2.0, 2001)[None]
    alpha = neus_alpha(plane_ray(t, 0.8), torch.ones_like(t, dtype=torch.bool), 200.0)
    w, _ = compositing_weights(alpha)
    depth = float((w * t).sum() / w.sum())
    assert abs(depth - 0.8) < 2e-3


def test_exits_and_padding_are_transparent():
    t = torch.linspace(0.0, 2.0, 101)[None]
    exiting = -plane_ray(t, 1.0)  # inside first, then outside: NeuS gives exits no opacity
    alpha = neus_alpha(exiting, torch.ones_like(t, dtype=torch.bool), 300.0)
    assert float(alpha.max()) < 1e-4
    sdf = torch.tensor([[0.3, 0.1, -0.1, 5.0, 5.0]])
    valid = torch.tensor([[True, True, True, False, False]])
    alpha = neus_alpha(sdf, valid, 100.0)
    assert float(alpha[0, 2:].abs().max()) == 0.0  # last valid sample and padding
    assert float(alpha[0, 1]) > 0.9


def test_weights_sum_to_at_most_one_and_accumulate():
    g = torch.Generator().manual_seed(0)
    alpha = torch.rand(16, 12, generator=g)
    w, behind = compositing_weights(alpha)
    assert torch.allclose(w.sum(1) + behind, torch.ones(16), atol=1e-5)
    rows = torch.arange(16).repeat_interleave(12)
    values = torch.rand(16 * 12, 3, generator=g)
    acc = accumulate(w.reshape(-1), rows, values, 16)
    assert torch.allclose(acc, (w[..., None] * values.view(16, 12, 3)).sum(1), atol=1e-6)


def test_blend_colors():
    cam, ref = torch.zeros(4, 3), torch.ones(4, 3)
    opacity = torch.tensor([1.0, 1.0, 0.5, 0.0])
    weight = torch.tensor([0.0, 0.25, 0.25, 0.0])  # premultiplied
    c = blend_colors(cam * opacity[:, None], ref * opacity[:, None], weight, opacity)
    assert torch.allclose(c[:, 0], torch.tensor([0.0, 0.25, 0.25, 0.0]))
    assert blend_colors(cam, None, None, opacity) is cam
    assert blend_colors(None, ref, None, opacity) is ref


def test_shape_errors():
    with pytest.raises(ValueError, match="expected sdf and valid"):
        neus_alpha(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.bool), 1.0)
    with pytest.raises(ValueError, match="expected origins and directions"):
        sphere_intersection(torch.zeros(2, 3), torch.zeros(3, 3))


@pytest.mark.parametrize("samples", [0, 1])
def test_rays_with_one_or_no_sample_are_transparent(samples):
    # the occupancy sampler can return a single sample column for a whole chunk of rays
    sdf = torch.full((5, samples), -0.1)
    alpha = neus_alpha(sdf, torch.ones(5, samples, dtype=torch.bool), 50.0)
    assert alpha.shape == (5, samples) and (alpha == 0).all()
    weights, transmittance = compositing_weights(alpha)
    assert weights.shape == (5, samples) and torch.allclose(transmittance, torch.ones(5))
