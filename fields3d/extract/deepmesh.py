"""Gradients of extracted vertices: DeepMesh for callable fields, edge interpolation for dense grids.

DeepMesh (Remelli et al., MeshSDF, NeurIPS 2020; Guillard et al., DeepMesh, 2021): a vertex ``v`` on
the level set ``f(v; theta) = level`` moves with the parameters as

    dv/dtheta = -(grad_x f / |grad_x f|^2) * df/dtheta,

which follows from differentiating ``f(v(theta); theta) = level``.  It holds for any field (signed
distance or occupancy), moves vertices along the normal only, and needs neither the marching
cubes code nor its grid to be differentiable.  We build it as

    v_out = v - n / |n|^2 * (f(v) - f(v).detach()),   n = grad_x f(v) (detached),

whose value is ``v`` and whose gradient is the one above.

For a dense grid of values the extracted surface is that of the piecewise-linear field along grid
edges; its exact derivative comes from differentiating the edge interpolation
``v = p_a + (level - f_a) / (f_b - f_a) * (p_b - p_a)``, which moves vertices along their edges.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fields3d.extract.grid import SampleGrid

Field = Callable[[torch.Tensor], torch.Tensor]


def field_values(field: Field, points: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """(N,) values of ``field`` at (N, 3) points, called on chunks of at most ``chunk_size`` points.

    ``field`` must return (n,) or (n, 1) values for n points.
    """
    outs = []
    for chunk in points.split(chunk_size) if points.shape[0] else [points]:
        out = field(chunk)
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"expected field(points) to return a torch.Tensor, got {type(out).__name__}")
        if out.dim() == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (chunk.shape[0],):
            raise ValueError(
                f"expected field(points) to return ({chunk.shape[0]},) or ({chunk.shape[0]}, 1) values for "
                f"{chunk.shape[0]} points, got {tuple(out.shape)}"
            )
        outs.append(out)
    return torch.cat(outs) if len(outs) > 1 else outs[0]


def spatial_gradient(
    field: Field,
    points: torch.Tensor,
    *,
    method: str = "autograd",
    step: float = 1e-4,
    chunk_size: int = 1 << 18,
) -> torch.Tensor:
    """(N, 3) gradient of ``field`` with respect to the position, detached.

    Args:
        method: "autograd" (falls back to central differences when the field's output does not
            depend on its input through autograd) or "central" (central differences of ``step``).
        step: finite-difference step, world units.
    """
    if method not in ("autograd", "central"):
        raise ValueError(f"expected spatial_gradient 'autograd' or 'central', got {method!r}")
    if method == "autograd":
        grads = []
        for chunk in points.split(chunk_size):
            x = chunk.detach().requires_grad_(True)
            with torch.enable_grad():
                f = field_values(field, x, chunk_size)
                g = torch.autograd.grad(f.sum(), x, allow_unused=True)[0] if f.requires_grad else None
            if g is None:
                break
            grads.append(g.detach())
        else:
            return torch.cat(grads) if grads else points.new_zeros((0, 3))
    with torch.no_grad():
        grad = torch.empty_like(points)
        for axis in range(3):
            offset = torch.zeros(3, dtype=points.dtype, device=points.device)
            offset[axis] = step
            plus = field_values(field, points + offset, chunk_size)
            minus = field_values(field, points - offset, chunk_size)
            grad[:, axis] = (plus - minus) / (2 * step)
    return grad


def deepmesh_vertices(
    field: Field,
    vertices: torch.Tensor,
    *,
    method: str = "autograd",
    step: float = 1e-4,
    chunk_size: int = 1 << 18,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Vertices on the level set of ``field`` that carry the DeepMesh gradient to its parameters.

    Args:
        field: callable (N, 3) -> (N,) or (N, 1); its parameters receive the gradient.
        vertices: (V, 3) positions on the level set (detached).
        method, step: how the spatial gradient ``n`` is computed (see :func:`spatial_gradient`).
        eps: lower bound of ``|n|^2``.
    Returns:
        (V, 3) equal to ``vertices`` in value; differentiable when the field has parameters that
        require gradients (otherwise ``vertices`` detached).
    """
    v = vertices.detach()
    if v.shape[0] == 0:
        return v
    with torch.enable_grad():
        f = field_values(field, v, chunk_size)
    if not f.requires_grad:
        return v
    n = spatial_gradient(field, v, method=method, step=step, chunk_size=chunk_size).to(v.dtype)
    scale = n / n.pow(2).sum(dim=1, keepdim=True).clamp_min(eps)
    return v - scale * (f - f.detach()).to(v.dtype)[:, None]


def edge_interpolated_vertices(
    values: torch.Tensor, endpoints: torch.Tensor, level: float, grid: SampleGrid, dtype: torch.dtype
) -> torch.Tensor:
    """(V, 3) world vertices ``p_a + t (p_b - p_a)``, ``t = (level - f_a) / (f_b - f_a)``, differentiable
    with respect to the dense grid ``values`` (nx, ny, nz)."""
    flat = values.reshape(-1)
    fa, fb = flat[endpoints[:, 0]], flat[endpoints[:, 1]]
    t = ((level - fa) / (fb - fa)).to(dtype)
    pa, pb = grid.points(endpoints[:, 0], dtype), grid.points(endpoints[:, 1], dtype)
    return pa + t[:, None] * (pb - pa)
