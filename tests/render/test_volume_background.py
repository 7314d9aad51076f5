"""Scene contraction and the background field."""

from __future__ import annotations

import torch

from fields3d.render.background import BackgroundField, BackgroundFieldConfig, contract, inverse_depth_samples


def test_contraction():
    inside = torch.rand(100, 3) * 0.5
    assert torch.allclose(contract(inside), inside)
    far = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1) * 1e6
    assert torch.allclose(contract(far).norm(dim=-1), torch.full((100,), 2.0), atol=1e-5)
    mid = torch.tensor([[2.0, 0.0, 0.0]])
    assert torch.allclose(contract(mid), torch.tensor([[1.5, 0.0, 0.0]]))


def test_inverse_depth_samples_are_ordered_and_span_the_range():
    start = torch.tensor([1.0, 2.5])
    edges = inverse_depth_samples(start, 100.0, 8, jitter=True, generator=torch.Generator().manual_seed(0))
    assert edges.shape == (2, 9)
    assert torch.allclose(edges[:, 0], start) and torch.allclose(edges[:, -1], torch.full((2,), 100.0))
    assert bool((edges[:, 1:] >= edges[:, :-1]).all())


def test_render_is_a_valid_composite():
    field = BackgroundField(BackgroundFieldConfig(samples=8))
    o = torch.zeros(16, 3)
    d = torch.nn.functional.normalize(torch.randn(16, 3), dim=-1)
    out = field.render(o, d, torch.ones(16), jitter=False)
    assert out.rgb.shape == (16, 3) and out.opacity.shape == (16,)
    assert bool((out.opacity >= 0).all()) and bool((out.opacity <= 1 + 1e-5).all())
    assert bool((out.rgb <= out.opacity[:, None] + 1e-5).all())  # premultiplied colours
    out.rgb.sum().backward()
    assert field.encoding.table.grad is not None
