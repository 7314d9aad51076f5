"""HashGridEncoding: shapes, tcnn-compatible parameters, coarse-to-fine, backends agree, and the
eikonal loss (second derivatives) through the compiled CPU kernel."""

from __future__ import annotations

import pytest
import torch

from fields3d.encodings import HashGridEncoding, HashGridEncodingConfig

SMALL = dict(n_levels=6, features_per_level=2, log2_table_size=12, base_resolution=4, finest_resolution=128)


def test_shapes_parameters_and_init():
    enc = HashGridEncoding(HashGridEncodingConfig(**SMALL, backend="torch"))
    assert enc.in_dim == 3 and enc.out_dim == 12
    assert enc.table.shape == (enc.layout.n_entries, 2)
    assert enc.table.abs().max() <= 1e-4 and enc.table.std() > 0
    out = enc(torch.rand(4, 5, 3))
    assert out.shape == (4, 5, 12)
    with pytest.raises(ValueError, match=r"expected inputs of shape \(..., 3\)"):
        enc(torch.rand(4, 2))
    with pytest.raises(ValueError, match="expected backend"):
        HashGridEncoding(HashGridEncodingConfig(backend="gpu"))


def test_reference_config_has_tcnn_parameter_count():
    enc = HashGridEncoding()
    assert enc.table.numel() == 12196240 and enc.out_dim == 32


def test_coarse_to_fine_masks_fine_levels():
    enc = HashGridEncoding(HashGridEncodingConfig(**SMALL, coarse_to_fine_start=2, coarse_to_fine_steps=100))
    torch.nn.init.uniform_(enc.table, -1, 1)
    x = torch.rand(50, 3)
    enc.update_step(0)
    assert enc.active_levels == 2
    out = enc(x)
    assert (out[:, 4:] == 0).all() and (out[:, :4] != 0).all()
    enc.update_step(250)
    assert enc.active_levels == 4
    assert (enc(x)[:, 8:] == 0).all() and (enc(x)[:, :8] != 0).all()
    (grad,) = torch.autograd.grad(enc(x).sum(), enc.table)  # masked levels get no gradient
    split = enc.layout.offsets[4]
    assert grad[:split].abs().sum() > 0 and (grad[split:] == 0).all()
    enc.update_step(10_000)
    assert enc.active_levels == 6 and (enc(x) != 0).all()


def test_cpp_and_torch_backends_agree(cpu_kernels, rel_err):
    torch_enc = HashGridEncoding(HashGridEncodingConfig(**SMALL, backend="torch"))
    cpp_enc = HashGridEncoding(HashGridEncodingConfig(**SMALL, backend="cpp"))
    cpp_enc.load_state_dict(torch_enc.state_dict())  # weights are interchangeable
    torch.nn.init.uniform_(torch_enc.table, -0.5, 0.5)
    cpp_enc.table.data.copy_(torch_enc.table.data)
    x = torch.rand(2000, 3)
    assert rel_err(cpp_enc(x), torch_enc(x)) < 1e-6


def eikonal_step(enc: HashGridEncoding, head: torch.nn.Module, x: torch.Tensor):
    """One SDF-style step: value, analytic normal (create_graph), eikonal loss -> gradients."""
    x = x.clone().requires_grad_(True)
    sdf = head(enc(x)).squeeze(-1)
    (normal,) = torch.autograd.grad(sdf.sum(), x, create_graph=True)
    loss = sdf.abs().mean() + ((normal.norm(dim=-1) - 1) ** 2).mean()
    loss.backward()
    return normal.detach(), enc.table.grad.clone(), [p.grad.clone() for p in head.parameters()]


def test_eikonal_second_derivatives_through_cpp_kernel_match_twin(cpu_kernels, rel_err):
    """The compiled kernels support double backward (our choice over numerical gradients): an eikonal
    loss on analytic normals gives the twin's gradients for the table and the head."""
    results = []
    for backend in ("torch", "cpp"):
        torch.manual_seed(1)
        enc = HashGridEncoding(HashGridEncodingConfig(**SMALL, backend=backend))
        torch.nn.init.uniform_(enc.table, -0.1, 0.1)
        head = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1))
        results.append(eikonal_step(enc, head, torch.rand(3000, 3)))
    (n_ref, t_ref, h_ref), (n_got, t_got, h_got) = results
    assert rel_err(n_got, n_ref) < 1e-5
    assert t_ref.abs().sum() > 0 and rel_err(t_got, t_ref) < 1e-5
    for a, b in zip(h_got, h_ref, strict=True):
        assert rel_err(a, b) < 1e-5
