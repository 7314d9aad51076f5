"""SDFField: sphere initialisation, predicted normals, analytic vs finite-difference gradients."""

from __future__ import annotations

import pytest
import torch

from fields3d.encodings import HashGridEncodingConfig
from fields3d.fields.mlp import MLPConfig
from fields3d.fields.sdf_field import SDFField, SDFFieldConfig


def small_config(**kwargs) -> SDFFieldConfig:
    grid = HashGridEncodingConfig(
        n_levels=4, log2_table_size=12, base_resolution=8, finest_resolution=32, backend="torch"
    )
    return SDFFieldConfig(grid=grid, mlp=MLPConfig(hidden_dim=64, n_hidden_layers=1), **kwargs)


def test_starts_close_to_a_sphere():
    field = SDFField(small_config(init_radius=0.5))
    x = torch.randn(2000, 3)
    x = x / x.norm(dim=-1, keepdim=True) * torch.rand(2000, 1) * 0.95
    geo = field(x)
    err = (geo.sdf - (x.norm(dim=-1) - 0.5)).abs()
    assert geo.sdf.shape == (2000,) and geo.features.shape == (2000, 15) and geo.normals.shape == (2000, 3)
    assert float(err.mean()) < 0.01
    # inside negative, outside positive
    assert float(field.sdf(torch.zeros(1, 3))) < 0 < float(field.sdf(torch.tensor([[0.9, 0.0, 0.0]])))


def test_predicted_normals_are_unit():
    geo = SDFField(small_config())(torch.rand(100, 3) * 2 - 1)
    assert torch.allclose(geo.normals.norm(dim=-1), torch.ones(100), atol=1e-5)


def test_analytic_and_finite_difference_gradients_agree():
    torch.manual_seed(1)
    analytic = SDFField(small_config())
    fd = SDFField(small_config(gradient="finite_difference", finite_difference_step=1e-4))
    fd.load_state_dict(analytic.state_dict())
    for f in (analytic, fd):
        f.double()
    x = torch.rand(64, 3, dtype=torch.float64) * 1.6 - 0.8
    _, g_a = analytic.sdf_and_gradient(x)
    _, g_f = fd.sdf_and_gradient(x)
    # equal away from the kinks of the piecewise-linear grid and ReLUs (a stencil may straddle one)
    diff = (g_a - g_f).abs().max(dim=-1).values
    assert float(diff.median()) < 1e-6 and float((diff < 1e-3).float().mean()) > 0.8
    # near the initial sphere the gradient is close to the radial direction
    assert float((g_a.norm(dim=-1) - 1).abs().mean()) < 0.3


@pytest.mark.parametrize("gradient", ["analytic", "finite_difference"])
def test_gradient_is_differentiable_for_the_eikonal_loss(gradient):
    field = SDFField(small_config(gradient=gradient))
    with torch.no_grad():  # geometric init weights the grid features 0: give them a say
        field.mlp.linears[0].weight[:, 3:].normal_(0, 0.1)
    x = torch.rand(32, 3) * 2 - 1
    geo, grad = field.forward_with_gradient(x, create_graph=True)
    loss = ((grad.norm(dim=-1) - 1) ** 2).mean() + geo.sdf.abs().mean()
    loss.backward()
    assert field.encoding.table.grad is not None and float(field.encoding.table.grad.abs().sum()) > 0
    assert field.mlp.linears[0].weight.grad is not None


def test_bad_inputs():
    field = SDFField(small_config())
    with pytest.raises(ValueError, match="expected points of shape"):
        field(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="init_radius"):
        SDFField(small_config(init_radius=2.0))
    with pytest.raises(ValueError, match="gradient"):
        SDFField(small_config(gradient="numeric"))
