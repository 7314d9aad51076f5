"""Colour heads: reflection direction, blend weight range, branch selection."""

from __future__ import annotations

import pytest
import torch

from fields3d.fields.color_heads import ColorHeads, ColorHeadsConfig, reflect


def unit(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)


def test_reflection_keeps_the_angle_to_the_normal():
    d, n = unit(500, 0), unit(500, 1)
    r = reflect(d, n)
    assert torch.allclose(r.norm(dim=-1), torch.ones(500), atol=1e-5)
    # the reflected ray leaves at the angle the view ray (-d) makes with n, on the same side
    assert torch.allclose((r * n).sum(-1), (-d * n).sum(-1), atol=1e-5)
    # in the plane of d and n
    assert torch.allclose((torch.cross(d, n, dim=-1) * r).sum(-1), torch.zeros(500), atol=1e-5)


def test_reflection_of_a_head_on_view_returns_to_the_camera():
    n = unit(10)
    assert torch.allclose(reflect(-n, n), n, atol=1e-6)


def test_reflection_shape_mismatch():
    with pytest.raises(ValueError, match="expected directions and normals of one shape"):
        reflect(torch.zeros(3, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("mode", ["blended", "view", "reflection"])
def test_branches_and_weight_range(mode):
    heads = ColorHeads(8, ColorHeadsConfig(mode=mode, ide_levels=3))
    torch.nn.init.normal_(heads.weight.weight, 0, 5.0) if mode == "blended" else None
    out = heads(torch.randn(200, 8) * 3, unit(200), unit(200, 2))
    assert (out.rgb_cam is not None) == (mode in ("blended", "view"))
    assert (out.rgb_ref is not None) == (mode in ("blended", "reflection"))
    assert (out.weight is not None) == (mode == "blended")
    for rgb in (out.rgb_cam, out.rgb_ref):
        if rgb is not None:
            assert rgb.shape == (200, 3) and float(rgb.min()) >= 0 and float(rgb.max()) <= 1  # noqa
    if out.weight is not None:
        assert float(out.weight.min()) >= 0 and float(out.weight.max()) <= 1
        assert float(out.weight.std()) > 0.05  # large weights spread W over [0, 1]
        assert out.roughness is not None and float(out.roughness.min()) >= 0
    assert out.blended().shape == (200, 3)


def test_blend_mixes_by_weight():
    heads = ColorHeads(4, ColorHeadsConfig(mode="blended"))
    out = heads(torch.randn(50, 4), unit(50), unit(50, 3))
    expected = out.weight[:, None] * out.rgb_ref + (1 - out.weight[:, None]) * out.rgb_cam
    assert torch.allclose(out.blended(), expected)


def test_reflection_branch_depends_on_the_normal():
    heads = ColorHeads(4, ColorHeadsConfig(mode="reflection"))
    f, d = torch.randn(20, 4), unit(20)
    a = heads(f, d, unit(20, 5)).rgb_ref
    b = heads(f, d, unit(20, 6)).rgb_ref
    assert float((a - b).abs().max()) > 1e-4


def test_bad_config():
    with pytest.raises(ValueError, match="color mode"):
        ColorHeads(4, ColorHeadsConfig(mode="specular"))
    with pytest.raises(ValueError, match="expected features of shape"):
        ColorHeads(4)(torch.zeros(3, 5), unit(3), unit(3))
