"""Table-driven marching over grid cells in vectorised PyTorch, with welded vertices on grid edges.

This is the specification and the CPU/GPU path of :func:`fields3d.extract.extract_mesh` (no host round
trip: every step runs on the values' device).  Cells come in **blocks**: a block is ``S**3`` cells
with its ``(S + 1)**3`` corner values, so that a dense grid, a narrow band of a callable field, or
a sparse set of blocks all feed the same code.  Only cells whose corners straddle the level (the
*active* cells) reach the case tables.

The result is an :class:`EdgeSurface`: each output vertex lies on one grid edge and is stored as the
edge's two end points (linear grid indices, see :class:`~fields3d.extract.grid.SampleGrid`) and the
interpolation weight ``t`` (vertex = ``(1 - t) * p_a + t * p_b``, ``t = (level - f_a) / (f_b - f_a)``).
Vertices are welded: all cells that share a grid edge refer to the same vertex, so a closed level set
gives a watertight mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.extract.case_tables import CORNER_OFFSETS, CellTable
from fields3d.extract.grid import SampleGrid


@dataclass
class ActiveCells:
    """Cells whose corners straddle the level.

    Attributes:
        lower: (M,) int64 linear grid index of each cell's lower corner (corner 0).
        values: (M, 8) corner values (corner order of :mod:`~fields3d.extract.case_tables`).
        codes: (M,) int64 case codes, ``sum((values[:, c] < level) << c)``, never 0 or 255.
    """

    lower: torch.Tensor
    values: torch.Tensor
    codes: torch.Tensor

    @staticmethod
    def cat(parts: list[ActiveCells]) -> ActiveCells:
        return ActiveCells(*(torch.cat([getattr(p, f) for p in parts]) for f in ("lower", "values", "codes")))


@dataclass
class EdgeSurface:
    """A triangle mesh whose vertices lie on grid edges (see the module docstring).

    Attributes:
        endpoints: (V, 2) int64 linear grid indices ``(a, b)`` of each vertex's edge, ``a < b``.
        weights: (V,) interpolation weight ``t`` in (0, 1], dtype of the values; detached.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside (``>= level``).
    """

    endpoints: torch.Tensor
    weights: torch.Tensor
    faces: torch.Tensor

    def grid_coordinates(self, grid: SampleGrid) -> torch.Tensor:
        """(V, 3) vertex positions in grid-index units, float64."""
        a = grid.unravel(self.endpoints[:, 0]).to(torch.float64)
        b = grid.unravel(self.endpoints[:, 1]).to(torch.float64)
        return a + self.weights.to(torch.float64)[:, None] * (b - a)


def _device_tables(table: CellTable, grid: SampleGrid, device) -> dict[str, torch.Tensor]:
    """Per-grid constants of ``table`` on ``device``: crossed edges per case, key offsets, steps."""
    corner_step = CORNER_OFFSETS @ np.array(grid.strides(), dtype=np.int64)  # linear step of each corner
    ea, eb = table.edges[:, 0], table.edges[:, 1]
    codes = np.arange(256)[:, None]
    crossed = ((codes >> ea) & 1) != ((codes >> eb) & 1)
    direction = table.direction_bits - 1  # 0..6
    # key of a grid edge = direction * num_points + linear index of its lower point
    key_offset = direction * grid.num_points + corner_step[ea]
    direction_step = corner_step[1:]  # linear step of direction bits 1..7 (bits name corners)
    arrays = dict(
        crossed=crossed,
        key_offset=key_offset,
        direction_step=direction_step,
        edge_a=ea,
        edge_b=eb,
        triangles=table.triangles,
        triangle_count=table.triangle_count,
    )
    return {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}


def block_active_cells(
    origins: torch.Tensor, block_values: torch.Tensor, level: float, grid: SampleGrid
) -> ActiveCells:
    """Active cells of a batch of blocks.

    Args:
        origins: (B, 3) int64 point index of each block's lower corner.
        block_values: (B, S + 1, S + 1, S + 1) values at the block's points; entries outside the grid
            may hold anything finite (their cells are dropped).
        level: iso-value.
        grid: the sample grid (for the bounds).
    """
    n = block_values.shape[1]
    S = n - 1
    device = block_values.device
    # case codes, one axis at a time: bit ox, then + 2 * oy, then + 4 * oz (corner c -> bit c)
    code = (block_values < level).to(torch.uint8)
    code = code[:, :-1] + code[:, 1:] * 2
    code = code[:, :, :-1] + code[:, :, 1:] * 4
    code = code[:, :, :, :-1] + code[:, :, :, 1:] * 16
    active = (code != 0) & (code != 255)
    limits = torch.as_tensor(grid.cells, device=device) - origins  # cells left before the grid ends
    if bool((limits < S).any()):
        r = torch.arange(S, device=device)
        active &= (
            (r[None, :, None, None] < limits[:, 0, None, None, None])
            & (r[None, None, :, None] < limits[:, 1, None, None, None])
            & (r[None, None, None, :] < limits[:, 2, None, None, None])
        )
    flat = torch.nonzero(active.reshape(-1), as_tuple=True)[0]  # (much faster than a 4-d nonzero)
    codes = code.reshape(-1)[flat].long()
    b, rest = flat // (S * S * S), flat % (S * S * S)
    local = torch.stack([rest // (S * S), (rest // S) % S, rest % S], dim=1)
    lower = grid.linear_index(origins)[b] + grid.linear_index(local)
    base = ((b * n + local[:, 0]) * n + local[:, 1]) * n + local[:, 2]
    corner = torch.as_tensor(CORNER_OFFSETS @ [n * n, n, 1], dtype=torch.int64, device=device)
    values = block_values.reshape(-1)[base[:, None] + corner[None, :]]
    return ActiveCells(lower, values, codes)


def weld(active: ActiveCells, level: float, grid: SampleGrid, table: CellTable) -> EdgeSurface:
    """Triangles of the active cells from ``table``, with one shared vertex per crossed grid edge."""
    device = active.lower.device
    tables = _device_tables(table, grid, device)
    E = table.edges.shape[0]
    crossed = tables["crossed"][active.codes]  # (M, E) bool
    flat = torch.nonzero(crossed.reshape(-1), as_tuple=True)[0]
    rows, cols = flat // E, flat % E
    keys = active.lower[rows] + tables["key_offset"][cols]
    unique_keys, inverse = torch.unique(keys, return_inverse=True)

    first = torch.empty(unique_keys.shape[0], dtype=torch.int64, device=device)
    first[inverse] = flat  # one (cell, edge) entry per vertex
    r, c = first // E, first % E
    values = active.values.reshape(-1)
    fa = values[r * 8 + tables["edge_a"][c]]
    fb = values[r * 8 + tables["edge_b"][c]]
    weights = (level - fa) / (fb - fa)

    P = grid.num_points
    a = unique_keys % P
    endpoints = torch.stack([a, a + tables["direction_step"][unique_keys // P]], dim=1)

    vertex_of = torch.empty(crossed.numel(), dtype=torch.int64, device=device)
    vertex_of[flat] = inverse
    count = tables["triangle_count"][active.codes]  # (M,)
    cell_of_face = torch.repeat_interleave(torch.arange(count.shape[0], device=device), count)
    start = torch.cumsum(count, 0) - count
    slot = torch.arange(cell_of_face.shape[0], device=device) - start[cell_of_face]
    face_edges = tables["triangles"].reshape(-1, 3)[
        active.codes[cell_of_face] * (tables["triangles"].shape[1] // 3) + slot
    ]
    faces = vertex_of[cell_of_face[:, None] * E + face_edges]
    return EdgeSurface(endpoints, weights, faces)


def _windowed(x: torch.Tensor, dim: int, S: int, reduce) -> torch.Tensor:
    """Reduce ``x`` over windows of S + 1 points with stride S along ``dim`` (last window clipped)."""
    n = x.shape[dim]
    blocks = -(-(n - 1) // S)
    full = (n - 1) // S
    parts = []
    if full:
        head = x.narrow(dim, 0, full * S)
        shape = list(head.shape)
        shape[dim : dim + 1] = [full, S]
        r = reduce(head.reshape(shape), dim + 1)
        ends = x[(slice(None),) * dim + (slice(S, full * S + 1, S),)]  # the windows' last points
        parts.append(torch.minimum(r, ends) if reduce is torch.amin else torch.maximum(r, ends))
    if blocks > full:
        parts.append(reduce(x.narrow(dim, full * S, n - full * S), dim).unsqueeze(dim))
    return torch.cat(parts, dim) if len(parts) > 1 else parts[0]


def straddling_blocks(values: torch.Tensor, level: float, block: int) -> torch.Tensor:
    """Origins (B, 3) int64 of the blocks of a dense (nx, ny, nz) grid whose points straddle ``level``.

    Block ``(i, j, k)`` holds the cells ``[i * block, (i + 1) * block)`` per axis and so the points
    ``[i * block, (i + 1) * block]``: it has an active cell exactly when its points contain values
    on both sides of the level.
    """
    with torch.no_grad():
        lo = hi = values
        for dim in (0, 1, 2):  # outermost first: each pass reduces contiguous slabs
            lo = _windowed(lo, dim, block, torch.amin)
            hi = _windowed(hi, dim, block, torch.amax)
    mask = (lo < level) & (hi >= level)
    return mask.nonzero() * block


def gather_blocks(values: torch.Tensor, origins: torch.Tensor, block: int) -> torch.Tensor:
    """(B, block + 1, block + 1, block + 1) windows of a dense grid at ``origins``; clamped at the far end."""
    device = values.device
    r = torch.arange(block + 1, device=device)
    shape = torch.as_tensor(values.shape, device=device)
    ix = (origins[:, 0, None] + r).clamp(max=shape[0] - 1)
    iy = (origins[:, 1, None] + r).clamp(max=shape[1] - 1)
    iz = (origins[:, 2, None] + r).clamp(max=shape[2] - 1)
    _, ny, nz = values.shape
    flat = (ix[:, :, None, None] * ny + iy[:, None, :, None]) * nz + iz[:, None, None, :]
    return values.reshape(-1)[flat]


def march_dense(
    values: torch.Tensor,
    level: float,
    grid: SampleGrid,
    table: CellTable,
    *,
    block: int = 8,
    batch_blocks: int = 1 << 15,
) -> EdgeSurface:
    """Extract the level set of a dense (nx, ny, nz) grid (detached), skipping blocks without a crossing."""
    values = values.detach()
    origins = straddling_blocks(values, level, block)
    parts = [
        block_active_cells(o, gather_blocks(values, o, block), level, grid)
        for o in origins.split(batch_blocks)
    ]
    if not parts:
        return empty_surface(values.dtype, values.device)
    return weld(ActiveCells.cat(parts), level, grid, table)


def empty_surface(dtype: torch.dtype, device) -> EdgeSurface:
    return EdgeSurface(
        torch.zeros((0, 2), dtype=torch.int64, device=device),
        torch.zeros((0,), dtype=dtype, device=device),
        torch.zeros((0, 3), dtype=torch.int64, device=device),
    )
