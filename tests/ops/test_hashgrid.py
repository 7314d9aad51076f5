"""Hash grid op: layout (tiny-cuda-nn's), PyTorch twin vs a literal transcription of the definition,
gradients, the CPU kernel against the twin, dispatch; CUDA / tcnn parity on a GPU (marker gpu)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from fields3d.errors import MissingDependencyError
from fields3d.ops import extension
from fields3d.ops.hashgrid import (
    HASH_PRIMES,
    HashGridLayout,
    hash_grid,
    hash_grid_kernel,
    hash_grid_tcnn,
    hash_grid_torch,
    resolve_backend,
)

SMALL = dict(
    n_dims=3, n_levels=6, features_per_level=2, log2_table_size=10, base_resolution=4, finest_resolution=96
)


def small_layout(**overrides) -> HashGridLayout:
    return HashGridLayout.create(**{**SMALL, **overrides})


def random_inputs(layout, n, dtype=torch.float64, scale=1.0):
    x = torch.rand(n, layout.n_dims, dtype=dtype)
    table = (torch.rand(layout.n_entries, layout.features_per_level, dtype=dtype) * 2 - 1) * scale
    return x, table


# ------------------------------------------------------------------------------------------------ layout


def test_reference_layout_matches_tiny_cuda_nn_parameter_count():
    layout = HashGridLayout.create()  # 16 levels x 2, table 2^19, resolution 16 .. 2048 (Instant-NGP)
    assert layout.n_params == 12196240  # what tinycudann reports for this configuration
    assert layout.per_level_scale == pytest.approx(math.exp(math.log(2048 / 16) / 15))
    assert layout.resolutions[:6] == (16, 23, 31, 43, 59, 81)
    assert layout.dense == (True,) * 5 + (False,) * 11
    assert layout.sizes[:5] == (4096, 12168, 29792, 79512, 205384)  # res^3 rounded up to 8
    assert all(s == 2**19 for s in layout.sizes[5:])
    assert layout.offsets[1:] == tuple(np.cumsum(layout.sizes))
    assert layout.out_dim == 32


def test_layout_validates():
    with pytest.raises(ValueError, match="expected n_levels"):
        HashGridLayout.create(n_levels=33)
    with pytest.raises(ValueError, match="finest_resolution >= base_resolution"):
        HashGridLayout.create(base_resolution=16, finest_resolution=8)
    with pytest.raises(ValueError, match="got both"):
        HashGridLayout.create(per_level_scale=1.5, finest_resolution=64)
    assert HashGridLayout.create(n_levels=1, finest_resolution=16).scales == (15.0,)


def test_tcnn_config_describes_the_layout():
    layout = small_layout()
    cfg = layout.tcnn_config()
    assert cfg["otype"] == "HashGrid" and cfg["n_levels"] == 6 and cfg["log2_hashmap_size"] == 10
    assert cfg["per_level_scale"] == layout.per_level_scale


# ------------------------------------------------------------------------------------------------ twin


def literal_hash_grid(x: np.ndarray, table: np.ndarray, layout: HashGridLayout) -> np.ndarray:
    """The definition, one point, level and corner at a time (float64, Python integers)."""
    out = np.zeros((x.shape[0], layout.n_levels, layout.features_per_level))
    d = layout.n_dims
    for n in range(x.shape[0]):
        p = np.clip(x[n], 0.0, 1.0)
        for lv in range(layout.n_levels):
            s, res, size = layout.scales[lv], layout.resolutions[lv], layout.sizes[lv]
            pos = [float(p[i]) * s + 0.5 for i in range(d)]
            cell = [math.floor(v) for v in pos]
            t = [pos[i] - cell[i] for i in range(d)]
            for c in range(2**d):
                corner = [cell[i] + ((c >> i) & 1) for i in range(d)]
                w = math.prod(t[i] if (c >> i) & 1 else 1 - t[i] for i in range(d))
                if layout.dense[lv]:
                    index = sum(corner[i] * res**i for i in range(d)) % 2**32 % size
                else:
                    h = 0
                    for i in range(d):
                        h ^= (corner[i] * HASH_PRIMES[i]) % 2**32
                    index = h % size
                out[n, lv] += w * table[layout.offsets[lv] + index]
    return out.reshape(x.shape[0], -1)


@pytest.mark.parametrize("n_dims", [2, 3])
def test_twin_matches_literal_definition(n_dims):
    layout = small_layout(n_dims=n_dims)
    assert any(layout.dense) and not all(layout.dense)  # both kinds of level are exercised
    x, table = random_inputs(layout, 40)
    x[0] = 1.0  # the far corner: dense levels wrap there, as in tcnn
    x[1] = 0.0
    got = hash_grid_torch(x, table, layout)
    want = literal_hash_grid(x.numpy(), table.numpy(), layout)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_twin_clamps_masks_levels_and_marks_nan():
    layout = small_layout()
    x, table = random_inputs(layout, 8)
    x[0, 1] = 1.7
    x[1, 2] = -0.3
    x[2, 0] = float("nan")
    out = hash_grid_torch(x, table, layout, active_levels=4)
    clamped = hash_grid_torch(x.clamp(0, 1).nan_to_num(0.0), table, layout, active_levels=4)
    torch.testing.assert_close(out[[0, 1, 3]], clamped[[0, 1, 3]])
    assert torch.isnan(out[2]).all() and not torch.isnan(out[[0, 1, 3]]).any()
    assert (out[[0, 1, 3], 4 * 2 :] == 0).all()
    assert (out[[0, 1, 3], : 4 * 2] != 0).all()


def test_twin_chunks_give_the_same_result():
    layout = small_layout()
    x, table = random_inputs(layout, 100)
    torch.testing.assert_close(
        hash_grid_torch(x, table, layout, chunk_size=7), hash_grid_torch(x, table, layout)
    )


def test_twin_gradcheck_and_gradgradcheck():
    layout = small_layout(n_levels=3, base_resolution=2, finest_resolution=8, log2_table_size=4)
    assert layout.dense[0] and not layout.dense[-1]
    x, table = random_inputs(layout, 6)
    x.requires_grad_(True)
    table.requires_grad_(True)

    def fn(x, table):
        return hash_grid_torch(x, table, layout)

    assert torch.autograd.gradcheck(fn, (x, table))
    assert torch.autograd.gradgradcheck(fn, (x, table))


def test_twin_validates_inputs():
    layout = small_layout()
    x, table = random_inputs(layout, 4)
    with pytest.raises(ValueError, match="expected points of shape"):
        hash_grid_torch(x[:, :2], table, layout)
    with pytest.raises(ValueError, match="expected a table of shape"):
        hash_grid_torch(x, table[1:], layout)
    with pytest.raises(ValueError, match="one dtype"):
        hash_grid_torch(x.float(), table, layout)
    with pytest.raises(ValueError, match="active_levels"):
        hash_grid_torch(x, table, layout, active_levels=7)


# ------------------------------------------------------------------------------------------------ CPU kernel


@pytest.mark.parametrize("n_dims,features", [(3, 2), (2, 4), (3, 1), (3, 8)])
def test_cpu_kernel_matches_twin_float32(cpu_kernels, rel_err, n_dims, features):
    layout = small_layout(n_dims=n_dims, features_per_level=features)
    x, table = random_inputs(layout, 3000, torch.float32, scale=0.5)
    x.requires_grad_(True)
    table.requires_grad_(True)
    for active in (layout.n_levels, 3):
        ref = hash_grid_torch(x, table, layout, active)
        got = hash_grid_kernel(x, table, layout, active)
        assert rel_err(got, ref) < 1e-6
        g = torch.randn_like(ref, requires_grad=True)
        ref_dx, ref_dt = torch.autograd.grad(ref, (x, table), g, create_graph=True)
        got_dx, got_dt = torch.autograd.grad(got, (x, table), g, create_graph=True)
        assert rel_err(got_dx, ref_dx) < 1e-5
        assert rel_err(got_dt, ref_dt) < 1e-5
        v = torch.randn_like(x)  # second order: gradient of <v, dL/dx> w.r.t. x, table and dL/dy
        ref_gg = torch.autograd.grad((ref_dx * v).sum(), (x, table, g))
        got_gg = torch.autograd.grad((got_dx * v).sum(), (x, table, g))
        for a, b in zip(got_gg, ref_gg, strict=True):
            assert rel_err(a, b) < 1e-5


def test_cpu_kernel_float64_gradcheck_and_gradgradcheck(cpu_kernels):
    layout = small_layout(n_levels=3, base_resolution=2, finest_resolution=8, log2_table_size=4)
    x, table = random_inputs(layout, 6)
    x.requires_grad_(True)
    table.requires_grad_(True)

    def fn(x, table):
        return hash_grid_kernel(x, table, layout)

    torch.testing.assert_close(fn(x, table), hash_grid_torch(x, table, layout), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(fn, (x, table))
    assert torch.autograd.gradgradcheck(fn, (x, table))  # includes the gradient of the table gradient


def test_cpu_kernel_nan_and_clamp_like_twin(cpu_kernels):
    layout = small_layout()
    x, table = random_inputs(layout, 5)
    x[0, 0] = float("nan")
    x[1, 1] = 2.0
    x.requires_grad_(True)
    ref, got = hash_grid_torch(x, table, layout), hash_grid_kernel(x, table, layout)
    assert torch.equal(torch.isnan(ref), torch.isnan(got))
    torch.testing.assert_close(got[1:], ref[1:])
    (dx,) = torch.autograd.grad(got[1:].sum(), x)
    assert dx[1, 1] == 0 and dx[0].eq(0).all() and dx[2].ne(0).all()


def test_cpu_kernel_empty_input(cpu_kernels):
    layout = small_layout()
    _, table = random_inputs(layout, 1, torch.float32)
    assert hash_grid_kernel(torch.zeros(0, 3), table, layout).shape == (0, layout.out_dim)


# ------------------------------------------------------------------------------------------------ dispatch


def test_auto_uses_cpp_on_cpu_when_it_builds(cpu_kernels):
    layout = small_layout()
    x, _ = random_inputs(layout, 2, torch.float32)
    assert resolve_backend("auto", x, layout) == "cpp"
    assert resolve_backend("auto", x.half(), layout) == "torch"  # no half kernels: the twin
    assert resolve_backend("torch", x, layout) == "torch"


def test_auto_falls_back_to_torch_with_one_warning(monkeypatch):
    import fields3d.ops.hashgrid as hg

    monkeypatch.setattr(extension, "_failed", {"cpu": "no compiler (test)"})
    monkeypatch.setattr(extension, "_loaded", {})
    monkeypatch.setattr(hg, "_WARNED", set())
    layout = small_layout()
    x, table = random_inputs(layout, 3, torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = hash_grid(x, table, layout)
        hash_grid(x, table, layout)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "no compiler (test)" in messages[0] and "PyTorch twin" in messages[0]
    torch.testing.assert_close(out, hash_grid_torch(x, table, layout))
    with pytest.raises(extension.ExtensionUnavailable, match="no compiler"):
        hash_grid(x, table, layout, backend="cpp")


def test_explicit_backends_check_the_device():
    layout = small_layout()
    x, table = random_inputs(layout, 3, torch.float32)
    with pytest.raises(ValueError, match="expected CUDA tensors"):
        hash_grid(x, table, layout, backend="cuda")
    with pytest.raises(ValueError, match="expected backend"):
        hash_grid(x, table, layout, backend="fast")
    if not torch.cuda.is_available():
        with pytest.raises((MissingDependencyError, ValueError)):
            hash_grid_tcnn(x, table, layout)


# ------------------------------------------------------------------------------------------------ GPU


REFERENCE = dict(n_dims=3, n_levels=16, features_per_level=2, log2_table_size=19, base_resolution=16)


@pytest.mark.gpu
@pytest.mark.parametrize("features", [2, 4, 1, 8])
def test_cuda_kernel_matches_twin(cuda_kernels, rel_err, features):
    layout = HashGridLayout.create(**{**REFERENCE, "features_per_level": features}, finest_resolution=2048)
    x = torch.rand(1 << 16, 3, device="cuda", requires_grad=True)
    table = ((torch.rand(layout.n_entries, features, device="cuda") * 2 - 1) * 0.1).requires_grad_(True)
    for active in (16, 9):
        ref = hash_grid_torch(x, table, layout, active)
        got = hash_grid_kernel(x, table, layout, active)
        assert rel_err(got, ref) < 1e-5
        g = torch.randn_like(ref, requires_grad=True)
        ref_grads = torch.autograd.grad(ref, (x, table), g, create_graph=True)
        got_grads = torch.autograd.grad(got, (x, table), g, create_graph=True)
        for a, b in zip(got_grads, ref_grads, strict=True):
            assert rel_err(a, b) < 1e-5
        v = torch.randn_like(x)
        ref_gg = torch.autograd.grad((ref_grads[0] * v).sum(), (x, table, g))
        got_gg = torch.autograd.grad((got_grads[0] * v).sum(), (x, table, g))
        for a, b in zip(got_gg, ref_gg, strict=True):
            assert rel_err(a, b) < 1e-5


@pytest.mark.gpu
def test_cuda_kernel_float64_gradgradcheck(cuda_kernels):
    layout = small_layout(n_levels=3, base_resolution=2, finest_resolution=8, log2_table_size=4)
    x = torch.rand(6, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    table = torch.rand(layout.n_entries, 2, dtype=torch.float64, device="cuda", requires_grad=True)

    def fn(x, table):
        return hash_grid_kernel(x, table, layout)

    assert torch.autograd.gradcheck(fn, (x, table))
    assert torch.autograd.gradgradcheck(fn, (x, table))


@pytest.mark.gpu
def test_tcnn_backend_matches_twin(rel_err):
    from fields3d.ops import availability

    ok = availability.tinycudann()
    if not ok:
        pytest.skip(f"tinycudann unusable: {ok.reason}")
    layout = HashGridLayout.create(**REFERENCE, finest_resolution=2048)
    x = torch.rand(1 << 16, 3, device="cuda", requires_grad=True)
    table = ((torch.rand(layout.n_entries, 2, device="cuda") * 2 - 1) * 0.1).requires_grad_(True)
    ref = hash_grid_torch(x, table, layout)
    got = hash_grid_tcnn(x, table, layout)
    assert rel_err(got, ref) < 1e-5
    g = torch.randn_like(ref)
    for a, b in zip(
        torch.autograd.grad(got, (x, table), g), torch.autograd.grad(ref, (x, table), g), strict=True
    ):
        assert rel_err(a, b) < 1e-4
