"""Multi-resolution hash grid lookup: layout, PyTorch twin (the specification), kernels, dispatch.

The grid follows tiny-cuda-nn's definition (``include/tiny-cuda-nn/encodings/grid.h``) so that a
parameter table means the same function on every backend (``torch``, ``cpp``, ``cuda``, ``tcnn``):

* level ``l`` has scale ``s_l = exp2(l * log2(per_level_scale)) * base_resolution - 1`` (evaluated in
  float32, once, on the host) and resolution ``ceil(s_l) + 1``;
* a point ``x`` in [0, 1]^D sits at grid position ``x * s_l + 0.5`` (rounded to float32 once, as
  tcnn's ``fmaf``); its cell is ``floor`` of that and ``t`` the fractional part; the value is the
  D-linear interpolation of the 2^D corner features (corner ``c`` takes ``cell_d + bit_d(c)``);
* a level whose dense grid ``resolution^D`` fits in the table is indexed densely
  (``i = c_0 + c_1 r + c_2 r^2``, modulo the level's size: the corners at ``resolution`` wrap, as in
  tcnn); finer levels hash the corner, ``(c_0 * 1) ^ (c_1 * 2654435761) ^ (c_2 * 805459861)`` in
  uint32, modulo the table size;
* level ``l`` owns ``min(next_multiple(resolution^D, 8), 2^log2_table_size)`` entries, levels are
  stored one after another, each entry holds ``F`` features: the table is ``(n_entries, F)``, and
  ``table.view(-1)`` is tcnn's parameter vector;
* ``per_level_scale = exp(log(finest / base) / (levels - 1))``.

Deviations from tcnn, the same on every fields3d backend: coordinates are clamped to [0, 1] (tcnn
wraps outside; the gradient with respect to a clamped coordinate is 0), a point with a NaN coordinate
gives NaN features (and no gradient), and levels ``>= active_levels`` output zeros (coarse-to-fine).

Second derivatives (analytic SDF normals in an eikonal loss) are supported by every fields3d backend:
the twin through autograd, the ``cpp`` and ``cuda`` kernels by a dedicated backward-of-backward kernel
(the gradient of ``dL/dx`` with respect to the table, the upstream gradient and ``x``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch

HASH_PRIMES = (1, 2654435761, 805459861, 3674653429)
"""tiny-cuda-nn's per-dimension hash multipliers (the first four)."""

MAX_LEVELS = 32
UINT32_MASK = 0xFFFFFFFF
BACKENDS = ("auto", "torch", "cpp", "cuda", "tcnn")
KERNEL_FEATURES = (1, 2, 4, 8)
KERNEL_DIMS = (2, 3)


@dataclass(frozen=True)
class HashGridLayout:
    """Where each level of a hash grid lives in the parameter table, following tiny-cuda-nn.

    Build it with :meth:`create`; all other fields are derived.
    """

    n_dims: int
    n_levels: int
    features_per_level: int
    log2_table_size: int
    base_resolution: int
    per_level_scale: float

    @classmethod
    def create(
        cls,
        n_dims: int = 3,
        n_levels: int = 16,
        features_per_level: int = 2,
        log2_table_size: int = 19,
        base_resolution: int = 16,
        finest_resolution: float | None = 2048,
        per_level_scale: float | None = None,
    ) -> HashGridLayout:
        """Layout from tcnn's hyper-parameters; give ``finest_resolution`` or ``per_level_scale``."""
        if not 1 <= n_dims <= len(HASH_PRIMES):
            raise ValueError(f"expected n_dims in 1..{len(HASH_PRIMES)}, got {n_dims}")
        if not 1 <= n_levels <= MAX_LEVELS:
            raise ValueError(f"expected n_levels in 1..{MAX_LEVELS}, got {n_levels}")
        if features_per_level < 1:
            raise ValueError(f"expected features_per_level >= 1, got {features_per_level}")
        if not 3 <= log2_table_size <= 30:
            raise ValueError(f"expected log2_table_size in 3..30, got {log2_table_size}")
        if base_resolution < 2:
            raise ValueError(f"expected base_resolution >= 2, got {base_resolution}")
        if per_level_scale is None:
            if finest_resolution is None:
                raise ValueError("expected finest_resolution or per_level_scale, got neither")
            if finest_resolution < base_resolution:
                raise ValueError(
                    f"expected finest_resolution >= base_resolution ({base_resolution}), "
                    f"got {finest_resolution}"
                )
            per_level_scale = (
                1.0
                if n_levels == 1
                else math.exp(math.log(finest_resolution / base_resolution) / (n_levels - 1))
            )
        elif finest_resolution is not None:
            raise ValueError("expected one of finest_resolution and per_level_scale, got both")
        if per_level_scale < 1.0:
            raise ValueError(f"expected per_level_scale >= 1, got {per_level_scale}")
        layout = cls(
            n_dims, n_levels, features_per_level, log2_table_size, base_resolution, float(per_level_scale)
        )
        if layout.n_entries >= 2**31:
            raise ValueError(f"expected fewer than 2^31 table entries in all, got {layout.n_entries}")
        return layout

    @cached_property
    def scales(self) -> tuple[float, ...]:
        """Per-level scale ``s_l`` as float32 values (tcnn: ``exp2f(l * log2(pls)) * base - 1``)."""
        log2_scale = np.log2(np.float32(self.per_level_scale))
        levels = np.arange(self.n_levels, dtype=np.float32)
        s = np.exp2(levels * log2_scale).astype(np.float32) * np.float32(self.base_resolution) - np.float32(
            1.0
        )
        return tuple(float(v) for v in s.astype(np.float32))

    @cached_property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(int(math.ceil(s)) + 1 for s in self.scales)

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """Entries of each level: dense grid rounded up to a multiple of 8, at most the table size."""
        table = 1 << self.log2_table_size
        return tuple(min((r**self.n_dims + 7) // 8 * 8, table) for r in self.resolutions)

    @cached_property
    def dense(self) -> tuple[bool, ...]:
        """Whether a level is indexed densely (its ``resolution^D`` entries fit in its table)."""
        return tuple(r**self.n_dims <= s for r, s in zip(self.resolutions, self.sizes, strict=True))

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """First entry of each level, plus the total (length ``n_levels + 1``)."""
        out = [0]
        for s in self.sizes:
            out.append(out[-1] + s)
        return tuple(out)

    @property
    def n_entries(self) -> int:
        return self.offsets[-1]

    @property
    def n_params(self) -> int:
        return self.n_entries * self.features_per_level

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.features_per_level

    def tcnn_config(self) -> dict:
        """The tiny-cuda-nn encoding config that defines the same grid."""
        return {
            "otype": "HashGrid",
            "n_levels": self.n_levels,
            "n_features_per_level": self.features_per_level,
            "log2_hashmap_size": self.log2_table_size,
            "base_resolution": self.base_resolution,
            "per_level_scale": self.per_level_scale,
            "interpolation": "Linear",
        }

    def kernel_args(self) -> tuple[list[int], list[int], list[int], list[float], list[bool]]:
        """(offsets, sizes, resolutions, scales, dense) as the compiled kernels take them."""
        return (
            list(self.offsets[:-1]),
            list(self.sizes),
            list(self.resolutions),
            list(self.scales),
            list(self.dense),
        )


# --------------------------------------------------------------------------------------------------
# PyTorch twin: the specification of the op
# --------------------------------------------------------------------------------------------------


def _check_inputs(
    x: torch.Tensor, table: torch.Tensor, layout: HashGridLayout, active_levels: int | None
) -> int:
    if x.ndim != 2 or x.shape[1] != layout.n_dims:
        raise ValueError(f"expected points of shape (N, {layout.n_dims}), got {tuple(x.shape)}")
    if table.shape != (layout.n_entries, layout.features_per_level):
        raise ValueError(
            f"expected a table of shape ({layout.n_entries}, {layout.features_per_level}), "
            f"got {tuple(table.shape)}"
        )
    if not x.is_floating_point() or x.dtype != table.dtype:
        raise ValueError(
            f"expected floating-point points and table of one dtype, got {x.dtype} and {table.dtype}"
        )
    if x.device != table.device:
        raise ValueError(f"expected points and table on one device, got {x.device} and {table.device}")
    if active_levels is None:
        return layout.n_levels
    if not 0 <= active_levels <= layout.n_levels:
        raise ValueError(f"expected active_levels in 0..{layout.n_levels}, got {active_levels}")
    return int(active_levels)


def _level_constants(layout: HashGridLayout, levels: slice, device) -> dict[str, torch.Tensor]:
    """Per-level constants of ``levels`` as (L', 1) tensors (broadcast against (N, L', ...))."""
    return _level_constants_cached(layout, levels.start, levels.stop, str(torch.device(device)))


@lru_cache(maxsize=256)
def _level_constants_cached(
    layout: HashGridLayout, start: int, stop: int, device: str
) -> dict[str, torch.Tensor]:
    sl = range(layout.n_levels)[start:stop]

    def col(values, dtype):
        return torch.tensor([values[i] for i in sl], dtype=dtype, device=device)[:, None]

    return {
        "scale": col(layout.scales, torch.float64),
        "resolution": col(layout.resolutions, torch.int64),
        "size": col(layout.sizes, torch.int64),
        "offset": col(layout.offsets, torch.int64),
    }


def _corner_indices(cell: torch.Tensor, layout: HashGridLayout, levels: slice, dense: bool) -> torch.Tensor:
    """Table rows of the 2^D corners: (N, L', D) int64 cells -> (N, L', 2^D) int64 rows.

    Corner ``c`` adds ``bit_d(c)`` to dimension ``d`` (dimension 0 varies fastest). One (N, L', 2)
    term per dimension (the cell and the cell + 1), combined by broadcasting.
    """
    const = _level_constants(layout, levels, cell.device)
    n, n_lv, d = cell.shape
    size = const["size"]
    combined = None
    for dim in range(d):  # D <= 4 dimensions; the 2^D corners come from broadcasting, not a loop
        c = torch.stack([cell[..., dim], cell[..., dim] + 1], dim=-1) & UINT32_MASK  # (N, L', 2)
        if dense:
            term = c * const["resolution"] ** dim
        else:
            # uint32 product, then low bits: (a ^ b) mod 2^k == (a mod 2^k) ^ (b mod 2^k)
            term = ((c * HASH_PRIMES[dim]) & UINT32_MASK) & (size - 1)
        shape = [n, n_lv] + [1] * (d - 1 - dim) + [2] + [1] * dim
        term = term.view(shape)
        if combined is None:
            combined = term
        else:
            combined = combined + term if dense else combined ^ term
    rows = combined.reshape(n, n_lv, 2**d)
    if dense:
        rows = (rows & UINT32_MASK) % size
    return rows + const["offset"]


def _corner_weights(frac: torch.Tensor) -> torch.Tensor:
    """D-linear weights of the 2^D corners: (N, L', D) fractions -> (N, L', 2^D), same order as indices."""
    n, n_lv, d = frac.shape
    w = None
    for dim in range(d):
        t = frac[..., dim]
        pair = torch.stack([1 - t, t], dim=-1)
        shape = [n, n_lv] + [1] * (d - 1 - dim) + [2] + [1] * dim
        pair = pair.view(shape)
        w = pair if w is None else w * pair
    return w.reshape(n, n_lv, 2**d)


def _hash_grid_chunk(
    x: torch.Tensor, table: torch.Tensor, layout: HashGridLayout, active: int
) -> torch.Tensor:
    n = x.shape[0]
    f = layout.features_per_level
    bad = torch.isnan(x).any(dim=-1)
    xc = torch.nan_to_num(x, nan=0.0).clamp(0.0, 1.0)
    parts = []
    n_dense = sum(layout.dense[:active])
    for levels, dense in ((slice(0, n_dense), True), (slice(n_dense, active), False)):
        if levels.stop <= levels.start:
            continue
        scale = _level_constants(layout, levels, x.device)["scale"][:, 0]
        # grid position x * s + 0.5, computed in float64 and rounded once (tcnn's fmaf)
        pos = xc.to(torch.float64)[:, None, :] * scale[None, :, None] + 0.5
        pos = pos.to(x.dtype)
        cell = torch.floor(pos).detach()
        frac = pos - cell
        rows = _corner_indices(cell.to(torch.int64), layout, levels, dense)
        weights = _corner_weights(frac)
        values = table.index_select(0, rows.view(-1)).view(*rows.shape, f)  # (N, L', 2^D, F)
        parts.append((weights.unsqueeze(-1) * values).sum(dim=-2))
    if active < layout.n_levels:
        parts.append(x.new_zeros(n, layout.n_levels - active, f))
    out = torch.cat(parts, dim=1).reshape(n, layout.n_levels * f)
    # NaN rows for points with a NaN coordinate (no data-dependent branch: no device sync)
    return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)


def hash_grid_torch(
    x: torch.Tensor,
    table: torch.Tensor,
    layout: HashGridLayout,
    active_levels: int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Hash grid features of points, in plain PyTorch (differentiable to any order).

    Args:
        x: (N, D) points in [0, 1]^D (clamped), float32 or float64.
        table: (layout.n_entries, F) parameters, same dtype and device as ``x``.
        layout: the grid.
        active_levels: levels ``>= active_levels`` output zeros (default: all levels active).
        chunk_size: evaluate this many points at a time (bounds the (N, L, 2^D) temporaries; the
            autograd graph still keeps every chunk's saved tensors).

    Returns:
        (N, L * F) features, level-major (level 0's F features first).
    """
    active = _check_inputs(x, table, layout, active_levels)
    if chunk_size is None or x.shape[0] <= chunk_size:
        return _hash_grid_chunk(x, table, layout, active)
    if chunk_size < 1:
        raise ValueError(f"expected chunk_size >= 1, got {chunk_size}")
    return torch.cat([_hash_grid_chunk(c, table, layout, active) for c in x.split(chunk_size)], dim=0)


# --------------------------------------------------------------------------------------------------
# Compiled kernels (cpp on CPU tensors, cuda on CUDA tensors): autograd to second order
# --------------------------------------------------------------------------------------------------


class _HashGridKernel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, table, layout, active, module):
        ctx.layout, ctx.active, ctx.module = layout, active, module
        ctx.save_for_backward(x, table)
        return module.hashgrid_forward(x, table, *layout.kernel_args(), active)

    @staticmethod
    def backward(ctx, grad_out):
        x, table = ctx.saved_tensors
        grad_x, grad_table = _HashGridKernelBackward.apply(
            x,
            table,
            grad_out.contiguous(),
            ctx.layout,
            ctx.active,
            ctx.module,
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
        )
        return grad_x, grad_table, None, None, None


class _HashGridKernelBackward(torch.autograd.Function):
    """(x, table, dL/dy) -> (dL/dx, dL/dtable); its own backward is the backward-of-backward kernel."""

    @staticmethod
    def forward(ctx, x, table, grad_out, layout, active, module, need_x, need_table):
        ctx.layout, ctx.active, ctx.module = layout, active, module
        ctx.save_for_backward(x, table, grad_out)
        # the kernel returns None for a gradient that is not needed
        return module.hashgrid_backward(x, table, grad_out, *layout.kernel_args(), active, need_x, need_table)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gg_x, gg_table):
        x, table, grad_out = ctx.saved_tensors
        need_x, need_table, need_grad_out = ctx.needs_input_grad[:3]
        args = ctx.layout.kernel_args()
        out_x = out_table = out_grad_out = None
        if gg_x is not None:
            out_x, out_table, out_grad_out = ctx.module.hashgrid_double_backward(
                x, table, grad_out, gg_x.contiguous(), *args, ctx.active, need_x, need_table, need_grad_out
            )
        if gg_table is not None:
            # dtable = sum_c w_c g: its gradient w.r.t. g is a forward pass over gg_table, and
            # w.r.t. x the input gradient of that forward pass weighted by g.
            gg_table = gg_table.contiguous()
            if need_grad_out:
                term = ctx.module.hashgrid_forward(x, gg_table, *args, ctx.active)
                out_grad_out = term if out_grad_out is None else out_grad_out + term
            if need_x:
                term, _ = ctx.module.hashgrid_backward(x, gg_table, grad_out, *args, ctx.active, True, False)
                out_x = term if out_x is None else out_x + term
        return (
            out_x if need_x else None,
            out_table if need_table else None,
            out_grad_out if need_grad_out else None,
            None,
            None,
            None,
            None,
            None,
        )


def hash_grid_kernel(
    x: torch.Tensor, table: torch.Tensor, layout: HashGridLayout, active_levels: int | None = None
) -> torch.Tensor:
    """The compiled kernel (``cuda`` for CUDA tensors, ``cpp`` for CPU ones); same contract as the twin.

    Raises :class:`fields3d.ops.extension.ExtensionUnavailable` when the kernels cannot be built.
    """
    from fields3d.ops import extension

    active = _check_inputs(x, table, layout, active_levels)
    _check_kernel_support(x, layout)
    module = extension.load("cuda" if x.is_cuda else "cpu")
    return _HashGridKernel.apply(x.contiguous(), table.contiguous(), layout, active, module)


def _check_kernel_support(x: torch.Tensor, layout: HashGridLayout) -> None:
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"expected float32 or float64 for the compiled hash grid, got {x.dtype}")
    if layout.n_dims not in KERNEL_DIMS:
        raise ValueError(f"expected n_dims in {KERNEL_DIMS} for the compiled hash grid, got {layout.n_dims}")
    if layout.features_per_level not in KERNEL_FEATURES:
        raise ValueError(
            f"expected features_per_level in {KERNEL_FEATURES} for the compiled hash grid, "
            f"got {layout.features_per_level}"
        )


def _kernel_supports(x: torch.Tensor, layout: HashGridLayout) -> bool:
    try:
        _check_kernel_support(x, layout)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# tiny-cuda-nn (optional)
# --------------------------------------------------------------------------------------------------

_TCNN_MODULES: dict[HashGridLayout, object] = {}


def hash_grid_tcnn(
    x: torch.Tensor, table: torch.Tensor, layout: HashGridLayout, active_levels: int | None = None
) -> torch.Tensor:
    """tiny-cuda-nn's HashGrid on our table (float32, CUDA); same contract as the twin.

    Uses tcnn's autograd function with fields3d's parameter tensor (``table.view(-1)`` is tcnn's
    parameter vector), so weights stay interchangeable. Second derivatives are tcnn's.
    """
    from fields3d.errors import MissingDependencyError
    from fields3d.ops import availability

    active = _check_inputs(x, table, layout, active_levels)
    ok = availability.tinycudann()
    if not ok:
        raise MissingDependencyError("tinycudann", "backend='tcnn'", ok.reason)
    if not x.is_cuda or x.dtype != torch.float32:
        raise ValueError(f"expected float32 CUDA tensors for backend='tcnn', got {x.dtype} on {x.device}")
    if layout.n_dims not in (2, 3):
        raise ValueError(f"expected n_dims 2 or 3 for backend='tcnn', got {layout.n_dims}")
    import tinycudann
    from tinycudann.modules import _C as tcnn_c
    from tinycudann.modules import _module_function

    enc = _TCNN_MODULES.get(layout)
    if enc is None:
        enc = tinycudann.Encoding(layout.n_dims, layout.tcnn_config(), dtype=torch.float32)
        if enc.params.numel() != layout.n_params:
            raise RuntimeError(
                f"tinycudann's grid has {enc.params.numel()} parameters, "
                f"fields3d's layout {layout.n_params}: "
                "this tinycudann version defines the grid differently"
            )
        _TCNN_MODULES[layout] = enc
    n = x.shape[0]
    granularity = int(tcnn_c.batch_size_granularity())
    padded = (n + granularity - 1) // granularity * granularity
    bad = torch.isnan(x).any(dim=-1, keepdim=True)
    xc = torch.nan_to_num(x, nan=0.0).clamp(0.0, 1.0)
    if padded != n:
        xc = torch.nn.functional.pad(xc, (0, 0, 0, padded - n))
    out = _module_function.apply(enc.native_tcnn_module, xc.contiguous(), table.reshape(-1), enc.loss_scale)
    out = out[:n, : layout.out_dim].float()
    if active < layout.n_levels:
        mask = torch.zeros(layout.out_dim, dtype=out.dtype, device=out.device)
        mask[: active * layout.features_per_level] = 1
        out = out * mask
    return torch.where(bad, torch.full_like(out, float("nan")), out)


# --------------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------------

_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def resolve_backend(backend: str, x: torch.Tensor, layout: HashGridLayout) -> str:
    """The backend that ``hash_grid(..., backend)`` uses for points like ``x``.

    ``auto``: on CUDA tensors the ``cuda`` kernel, else ``tcnn``, else ``torch``; on CPU tensors the
    ``cpp`` kernel, else ``torch``. A kernel that cannot be built gives one warning, then the twin.
    """
    from fields3d.ops import availability, extension

    if backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    if not _kernel_supports(x, layout):
        return "torch"
    kind = "cuda" if x.is_cuda else "cpu"
    ok = extension.try_load(kind)
    if ok:
        return "cuda" if x.is_cuda else "cpp"
    if x.is_cuda and x.dtype == torch.float32 and availability.tinycudann():
        return "tcnn"
    _warn_once(
        f"hashgrid-{kind}",
        f"fields3d: the {kind} hash grid kernel is unavailable ({ok.reason}); using the PyTorch twin, "
        "which is much slower. Pass backend='torch' to choose it explicitly.",
    )
    return "torch"


def hash_grid(
    x: torch.Tensor,
    table: torch.Tensor,
    layout: HashGridLayout,
    active_levels: int | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """(N, D) points in [0, 1]^D -> (N, L * F) hash grid features; see :func:`hash_grid_torch`.

    ``backend``: ``auto`` | ``torch`` | ``cpp`` (CPU kernel) | ``cuda`` | ``tcnn``.
    """
    chosen = resolve_backend(backend, x, layout)
    if chosen == "torch":
        return hash_grid_torch(x, table, layout, active_levels)
    if chosen == "tcnn":
        return hash_grid_tcnn(x, table, layout, active_levels)
    if chosen == "cpp" and x.is_cuda:
        raise ValueError("expected CPU tensors for backend='cpp', got CUDA tensors")
    if chosen == "cuda" and not x.is_cuda:
        raise ValueError(f"expected CUDA tensors for backend='cuda', got tensors on {x.device}")
    return hash_grid_kernel(x, table, layout, active_levels)
