"""Tri-plane op: grid_sample twin vs gather twin vs a literal bilinear lookup, gradients, the CPU
kernel against the twin, the batched form, dispatch; CUDA parity on a GPU (marker gpu)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.ops import triplane as tp
from fields3d.ops.triplane import triplane_kernel, triplane_sample, triplane_torch

REDUCTIONS = ["sum", "product", "concat"]


def literal_triplane(x: np.ndarray, planes: np.ndarray, reduce: str) -> np.ndarray:
    """One point and plane at a time: planes (3, C, R, R), rows along the plane's second axis."""
    res = planes.shape[-1]
    rows = []
    for p in np.clip(x, 0, 1):
        values = []
        for plane, (a, b) in zip(planes, ((0, 1), (0, 2), (1, 2)), strict=True):
            u, v = p[a] * (res - 1), p[b] * (res - 1)
            i, j = min(int(np.floor(u)), res - 2), min(int(np.floor(v)), res - 2)
            tu, tv = u - i, v - j
            values.append(
                (1 - tu) * (1 - tv) * plane[:, j, i]
                + tu * (1 - tv) * plane[:, j, i + 1]
                + (1 - tu) * tv * plane[:, j + 1, i]
                + tu * tv * plane[:, j + 1, i + 1]
            )
        if reduce == "sum":
            rows.append(values[0] + values[1] + values[2])
        elif reduce == "product":
            rows.append(values[0] * values[1] * values[2])
        else:
            rows.append(np.concatenate(values))
    return np.stack(rows)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_twins_match_literal_lookup(reduce):
    planes = torch.randn(3, 5, 7, 7, dtype=torch.float64)
    x = torch.rand(50, 3, dtype=torch.float64)
    x[0] = 1.0
    x[1] = 0.0
    want = literal_triplane(x.numpy(), planes.numpy(), reduce)
    np.testing.assert_allclose(tp.triplane_grid_sample_torch(x, planes, reduce).numpy(), want, atol=1e-12)
    index = torch.zeros(50, dtype=torch.int64)  # the gather path (batched form) with one object
    np.testing.assert_allclose(triplane_torch(x, planes[None], index, reduce).numpy(), want, atol=1e-12)
    assert triplane_torch(x, planes, reduce=reduce).shape == (50, 15 if reduce == "concat" else 5)


def test_batched_twin_reads_each_points_object():
    planes = torch.randn(4, 3, 6, 5, 5, dtype=torch.float64)
    x = torch.rand(40, 3, dtype=torch.float64)
    index = torch.randint(0, 4, (40,))
    got = triplane_torch(x, planes, index, "concat", chunk_size=9)
    for b in range(4):
        sel = index == b
        torch.testing.assert_close(got[sel], tp.triplane_grid_sample_torch(x[sel], planes[b], "concat"))


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_twin_gradcheck_and_gradgradcheck(reduce):
    planes = torch.randn(2, 3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.rand(5, 3, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 1, 1, 0, 1])

    def fn(x, planes):
        return triplane_torch(x, planes, index, reduce)

    assert torch.autograd.gradcheck(fn, (x, planes))
    assert torch.autograd.gradgradcheck(fn, (x, planes))


def test_validation_and_nan_rows():
    planes = torch.randn(3, 4, 5, 5)
    x = torch.rand(6, 3)
    with pytest.raises(ValueError, match="expected reduce"):
        triplane_torch(x, planes, reduce="max")
    with pytest.raises(ValueError, match="object index per point"):
        triplane_torch(x, planes.expand(2, -1, -1, -1, -1))
    with pytest.raises(ValueError, match=r"object indices in \[0, 2\)"):
        triplane_torch(x, planes.expand(2, -1, -1, -1, -1), torch.tensor([0, 1, 2, 0, 0, 0]))
    with pytest.raises(ValueError, match="expected planes of shape"):
        triplane_torch(x, planes[:2])
    x[2, 1] = float("nan")
    out = triplane_torch(x, planes)
    assert torch.isnan(out[2]).all() and not torch.isnan(out[[0, 1, 3, 4, 5]]).any()


# ------------------------------------------------------------------------------------------------ CPU kernel


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("channels", [32, 6, 3])
def test_cpu_kernel_matches_twin_float32(cpu_kernels, rel_err, reduce, channels):
    planes = torch.randn(3, channels, 33, 33, requires_grad=True)
    x = torch.rand(4000, 3, requires_grad=True)
    ref, got = triplane_torch(x, planes, reduce=reduce), triplane_kernel(x, planes, reduce=reduce)
    assert rel_err(got, ref) < 1e-6
    g = torch.randn_like(ref)
    for a, b in zip(
        torch.autograd.grad(got, (x, planes), g), torch.autograd.grad(ref, (x, planes), g), strict=True
    ):
        assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_cpu_kernel_batched_float64_gradcheck(cpu_kernels, reduce):
    planes = torch.randn(3, 3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.rand(7, 3, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([2, 0, 1, 1, 2, 0, 2])

    def fn(x, planes):
        return triplane_kernel(x, planes, index, reduce)

    torch.testing.assert_close(fn(x, planes), triplane_torch(x, planes, index, reduce))
    assert torch.autograd.gradcheck(fn, (x, planes))
    # second order goes through the twin inside the kernel's backward (create_graph)
    assert torch.autograd.gradgradcheck(fn, (x, planes))


def test_cpu_kernel_masks_clamped_and_nan_points(cpu_kernels):
    planes = torch.randn(3, 4, 6, 6, dtype=torch.float64)
    x = torch.rand(4, 3, dtype=torch.float64)
    x[0, 2] = 1.5
    x[1, 0] = float("nan")
    x.requires_grad_(True)
    ref, got = triplane_torch(x, planes), triplane_kernel(x, planes)
    assert torch.equal(torch.isnan(ref), torch.isnan(got))
    torch.testing.assert_close(got[[0, 2, 3]], ref[[0, 2, 3]])
    (dx,) = torch.autograd.grad(got[[0, 2, 3]].sum(), x)
    assert dx[0, 2] == 0 and dx[1].eq(0).all() and dx[2].ne(0).all()


def test_auto_uses_cpp_and_channel_last_planes_are_not_copied(cpu_kernels):
    x = torch.rand(10, 3)
    assert tp.resolve_backend("auto", x) == "cpp"
    planes = torch.randn(3, 6, 6, 4).permute(0, 3, 1, 2)  # (3, C, R, R) stored channel-last
    assert planes.unsqueeze(0).permute(0, 1, 3, 4, 2).is_contiguous()
    torch.testing.assert_close(triplane_sample(x, planes), triplane_torch(x, planes))


# ------------------------------------------------------------------------------------------------ GPU


@pytest.mark.gpu
@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("channels", [32, 6, 3])
def test_cuda_kernel_matches_twin(cuda_kernels, rel_err, reduce, channels):
    planes = torch.randn(3, channels, 256, 256, device="cuda", requires_grad=True)
    x = torch.rand(1 << 16, 3, device="cuda", requires_grad=True)
    ref, got = triplane_torch(x, planes, reduce=reduce), triplane_kernel(x, planes, reduce=reduce)
    assert rel_err(got, ref) < 1e-5
    g = torch.randn_like(ref)
    for a, b in zip(
        torch.autograd.grad(got, (x, planes), g), torch.autograd.grad(ref, (x, planes), g), strict=True
    ):
        assert rel_err(a, b) < 1e-5


@pytest.mark.gpu
@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_cuda_kernel_batched_matches_twin(cuda_kernels, rel_err, reduce):
    planes = torch.randn(8, 3, 16, 64, 64, device="cuda", requires_grad=True)
    x = torch.rand(1 << 15, 3, device="cuda", requires_grad=True)
    index = torch.randint(0, 8, (1 << 15,), device="cuda")
    ref, got = triplane_torch(x, planes, index, reduce), triplane_kernel(x, planes, index, reduce)
    assert rel_err(got, ref) < 1e-5
    g = torch.randn_like(ref)
    for a, b in zip(
        torch.autograd.grad(got, (x, planes), g), torch.autograd.grad(ref, (x, planes), g), strict=True
    ):
        assert rel_err(a, b) < 1e-5
