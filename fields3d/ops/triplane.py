"""Tri-plane lookup: PyTorch twins (the specification), the fused kernel, dispatch.

Three axis-aligned feature planes, xy, xz and yz, each ``C x R x R`` (channel-first, the layout of
``torch.nn.functional.grid_sample`` and of tri-plane datasets). A point ``(x, y, z)`` in [0, 1]^3
(clamped) reads plane xy at (column x, row y), xz at (x, z) and yz at (y, z), bilinearly, with the
texel centres of the first and last column at 0 and 1 (``grid_sample(..., align_corners=True)`` on
``2 * u - 1``). The three (N, C) readings are reduced by ``sum``, ``product`` or ``concat``
(-> (N, 3C), plane-major).

A batched form holds the tri-planes of many objects, ``(B, 3, C, R, R)``, with an int64 object
index per point. Points with a NaN coordinate get NaN features; an object index outside [0, B)
raises.

Backends: ``torch`` (``grid_sample`` for one object, a gather for a batch), ``cpp`` (CPU kernel),
``cuda`` (fused kernel: the three planes in one pass, atomics in the backward). The kernels take the
planes channel-last (a permuted copy per call, cheap next to the lookup). Second derivatives through a
kernel (an eikonal loss on a tri-plane SDF) fall back to differentiating the twin inside the backward
pass: correct, at the twin's speed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("sum", "product", "concat")
BACKENDS = ("auto", "torch", "cpp", "cuda")
PLANE_AXES = ((0, 1), (0, 2), (1, 2))
"""(column axis, row axis) of the xy, xz and yz planes."""


def _check(
    x: torch.Tensor, planes: torch.Tensor, index: torch.Tensor | None, reduce: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate; return the planes as (B, 3, C, R, R) and the index (None when B == 1 and absent)."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"expected reduce in {REDUCTIONS}, got {reduce!r}")
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"expected points of shape (N, 3), got {tuple(x.shape)}")
    if planes.ndim == 4:
        planes = planes.unsqueeze(0)
    if planes.ndim != 5 or planes.shape[1] != 3 or planes.shape[3] != planes.shape[4] or planes.shape[3] < 2:
        raise ValueError(
            f"expected planes of shape (3, C, R, R) or (B, 3, C, R, R), R >= 2, got {tuple(planes.shape)}"
        )
    if not x.is_floating_point() or x.dtype != planes.dtype:
        raise ValueError(
            f"expected floating-point points and planes of one dtype, got {x.dtype} and {planes.dtype}"
        )
    if x.device != planes.device:
        raise ValueError(f"expected points and planes on one device, got {x.device} and {planes.device}")
    n_objects = planes.shape[0]
    if index is None:
        if n_objects != 1:
            raise ValueError(f"expected an object index per point for {n_objects} tri-planes, got none")
        return planes, None
    if index.shape != (x.shape[0],) or index.dtype != torch.int64:
        raise ValueError(
            f"expected an int64 object index of shape ({x.shape[0]},), got {index.dtype} {tuple(index.shape)}"
        )
    if index.device != x.device:
        raise ValueError(f"expected the object index on {x.device}, got {index.device}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_objects):
        raise ValueError(
            f"expected object indices in [0, {n_objects}), got [{int(index.min())}, {int(index.max())}]"
        )
    return planes, index


def _reduce(values: torch.Tensor, reduce: str) -> torch.Tensor:
    """(N, 3, C) plane readings -> (N, C) or (N, 3C)."""
    if reduce == "sum":
        return values.sum(dim=1)
    if reduce == "product":
        return values[:, 0] * values[:, 1] * values[:, 2]
    return values.reshape(values.shape[0], -1)


def _clamped(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    bad = torch.isnan(x).any(dim=-1)
    return torch.nan_to_num(x, nan=0.0).clamp(0.0, 1.0), bad


def _with_nan_rows(out: torch.Tensor, bad: torch.Tensor) -> torch.Tensor:
    return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)  # no device sync


def _plane_uv(xc: torch.Tensor) -> torch.Tensor:
    """(N, 3) -> (N, 3 planes, 2) (column, row) coordinates."""
    axes = torch.tensor(PLANE_AXES, device=xc.device)
    return xc[:, axes]


def triplane_grid_sample_torch(x: torch.Tensor, planes: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """One object's tri-plane through ``grid_sample``: (N, 3), (3, C, R, R) -> (N, C) or (N, 3C)."""
    planes5, _ = _check(x, planes, None, reduce)
    xc, bad = _clamped(x)
    grid = (_plane_uv(xc) * 2 - 1).permute(1, 0, 2).unsqueeze(1)  # (3, 1, N, 2)
    values = F.grid_sample(planes5[0], grid, mode="bilinear", padding_mode="border", align_corners=True)
    values = values[:, :, 0].permute(2, 0, 1)  # (3, C, 1, N) -> (N, 3, C)
    return _with_nan_rows(_reduce(values, reduce), bad)


def _gather_channel_last(
    x: torch.Tensor, planes_cl: torch.Tensor, index: torch.Tensor | None, reduce: str
) -> torch.Tensor:
    """Bilinear gather on channel-last planes (B, 3, R, R, C); the spec of the kernels."""
    n_obj, _, res, _, c = planes_cl.shape
    xc, bad = _clamped(x)
    pix = _plane_uv(xc) * (res - 1)  # (N, 3, 2)
    cell = torch.floor(pix).clamp(max=res - 2).detach()
    t = pix - cell
    cell = cell.to(torch.int64)
    obj = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device) if index is None else index
    plane_id = obj[:, None] * 3 + torch.arange(3, device=x.device)  # (N, 3)
    base = (plane_id * res + cell[..., 1]) * res + cell[..., 0]  # texel of the (col, row) corner
    offsets = torch.tensor([0, 1, res, res + 1], device=x.device)  # corners k = (row bit << 1) | col bit
    texels = base[..., None] + offsets  # (N, 3, 4)
    tu, tv = t[..., 0:1], t[..., 1:2]
    weights = torch.cat([(1 - tu) * (1 - tv), tu * (1 - tv), (1 - tu) * tv, tu * tv], dim=-1)  # (N, 3, 4)
    table = planes_cl.reshape(n_obj * 3 * res * res, c)
    corner_values = table.index_select(0, texels.reshape(-1)).view(*texels.shape, c)  # (N, 3, 4, C)
    values = (weights.unsqueeze(-1) * corner_values).sum(dim=2)  # (N, 3, C)
    return _with_nan_rows(_reduce(values, reduce), bad)


def triplane_torch(
    x: torch.Tensor,
    planes: torch.Tensor,
    index: torch.Tensor | None = None,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Tri-plane features in plain PyTorch (differentiable to any order).

    Args:
        x: (N, 3) points in [0, 1]^3 (clamped), float32 or float64.
        planes: (3, C, R, R) one object's planes, or (B, 3, C, R, R) a batch of objects.
        index: (N,) int64 object of each point (needed when B > 1).
        reduce: ``sum`` | ``product`` -> (N, C); ``concat`` -> (N, 3C).
        chunk_size: for the batched gather, this many points at a time.

    One object without an index goes through ``grid_sample``; a batch through a gather of the four
    corner texels of each plane (same function).
    """
    planes5, index = _check(x, planes, index, reduce)
    if index is None:
        return triplane_grid_sample_torch(x, planes5[0], reduce)
    planes_cl = planes5.permute(0, 1, 3, 4, 2)
    if chunk_size is None or x.shape[0] <= chunk_size:
        return _gather_channel_last(x, planes_cl, index, reduce)
    return torch.cat(
        [
            _gather_channel_last(xs, planes_cl, ids, reduce)
            for xs, ids in zip(x.split(chunk_size), index.split(chunk_size), strict=True)
        ]
    )


_REDUCE_CODE = {"sum": 0, "product": 1, "concat": 2}


class _TriplaneKernel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, planes_cl, index, reduce, module):
        ctx.reduce, ctx.module = reduce, module
        ctx.save_for_backward(x, planes_cl, index)
        return module.triplane_forward(x, planes_cl, index, _REDUCE_CODE[reduce])

    @staticmethod
    def backward(ctx, grad_out):
        x, planes_cl, index = ctx.saved_tensors
        need_x, need_planes = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the twin so that the gradients are differentiable
            inputs = [t for t, need in ((x, need_x), (planes_cl, need_planes)) if need]
            out = _gather_channel_last(x, planes_cl, index, ctx.reduce)
            grads = iter(torch.autograd.grad(out, inputs, grad_out, create_graph=True))
            grad_x = next(grads) if need_x else None
            grad_planes = next(grads) if need_planes else None
            return grad_x, grad_planes, None, None, None
        grad_x, grad_planes = ctx.module.triplane_backward(
            x, planes_cl, index, grad_out.contiguous(), _REDUCE_CODE[ctx.reduce], need_x, need_planes
        )
        return grad_x, grad_planes, None, None, None


def triplane_kernel(
    x: torch.Tensor, planes: torch.Tensor, index: torch.Tensor | None = None, reduce: str = "sum"
) -> torch.Tensor:
    """The compiled kernel (``cuda`` for CUDA tensors, ``cpp`` for CPU ones); same contract as the twin.

    Raises :class:`fields3d.ops.extension.ExtensionUnavailable` when the kernels cannot be built.
    """
    from fields3d.ops import extension

    planes5, index = _check(x, planes, index, reduce)
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"expected float32 or float64 for the compiled tri-plane, got {x.dtype}")
    module = extension.load("cuda" if x.is_cuda else "cpu")
    planes_cl = planes5.permute(0, 1, 3, 4, 2).contiguous()
    return _TriplaneKernel.apply(x.contiguous(), planes_cl, index, reduce, module)


def resolve_backend(backend: str, x: torch.Tensor) -> str:
    """The backend ``triplane_sample(..., backend)`` uses for points like ``x``.

    ``auto``: the compiled kernel of the points' device (``cuda`` / ``cpp``), else ``torch`` with one
    warning when the kernel cannot be built.
    """
    from fields3d.ops import extension
    from fields3d.ops.hashgrid import _warn_once

    if backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    if x.dtype not in (torch.float32, torch.float64):
        return "torch"
    kind = "cuda" if x.is_cuda else "cpu"
    ok = extension.try_load(kind)
    if ok:
        return "cuda" if x.is_cuda else "cpp"
    _warn_once(
        f"triplane-{kind}",
        f"fields3d: the {kind} tri-plane kernel is unavailable ({ok.reason}); using the PyTorch twin. "
        "Pass backend='torch' to choose it explicitly.",
    )
    return "torch"


def triplane_sample(
    x: torch.Tensor,
    planes: torch.Tensor,
    index: torch.Tensor | None = None,
    reduce: str = "sum",
    backend: str = "auto",
) -> torch.Tensor:
    """(N, 3) points -> tri-plane features; see :func:`triplane_torch` for the contract.

    ``backend``: ``auto`` | ``torch`` | ``cpp`` (CPU kernel) | ``cuda``.
    """
    chosen = resolve_backend(backend, x)
    if chosen == "torch":
        return triplane_torch(x, planes, index, reduce)
    if chosen == "cpp" and x.is_cuda:
        raise ValueError("expected CPU tensors for backend='cpp', got CUDA tensors")
    if chosen == "cuda" and not x.is_cuda:
        raise ValueError(f"expected CUDA tensors for backend='cuda', got tensors on {x.device}")
    return triplane_kernel(x, planes, index, reduce)
