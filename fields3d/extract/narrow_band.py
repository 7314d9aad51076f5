"""Sparse, coarse-to-fine evaluation of a field near its level set, feeding the cell marcher.

A callable field is never sampled on the whole fine grid.  Instead:

1. **Seeds.**  Cells of a coarse grid (the *top level*, at most ``seed_cells`` cells per axis, each
   a power of two of fine cells) are tested from their 8 corner values and the ones that may hold
   the level set are split into 8 children, level by level, until they are no larger than a block
   of ``block**3`` fine cells; the blocks holding the kept cells are the seeds.
   A cell is kept when its corners straddle the level or, with a Lipschitz bound ``L`` (1 for a true
   signed distance), when every corner lies within ``L * diagonal`` of the level (otherwise no
   surface point can be in the cell).
2. **Blocks.**  Each kept block is sampled densely.  Every fine grid point is evaluated at most
   once: it belongs to the block ``point // block``, and a block's cells read their far faces,
   edges and corner from the next blocks, of which only those points are evaluated (see
   :class:`BlockStore`).  (Evaluating a shared point twice could give two values on either side of
   the level, as batched networks on a GPU can in the last bits, and open a crack.)
3. **Surface following.**  Wherever the level set crosses a block's face or edge, the block across
   it is added and evaluated, until no crossing leads to an unevaluated block.  So every connected
   piece of the surface that one seed touches comes out complete and watertight, however the seeds
   were found.

Without a Lipschitz bound, a connected piece of the surface that produces no sign change on the seed
grid (a blob smaller than about one top-level cell, away from the rest) can be missed; give
``lipschitz`` for a guarantee, or extract densely.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from fields3d.extract.case_tables import CORNER_OFFSETS
from fields3d.extract.cell_marching import ActiveCells, block_active_cells
from fields3d.extract.grid import SampleGrid

Evaluate = Callable[[torch.Tensor], torch.Tensor]
"""(N, 3) grid point indices (int64, or integral float64) -> (N,) values, no gradients."""


def _neighbour_offsets() -> tuple[list[tuple[int, int, int]], list[tuple[slice | int, ...]]]:
    """The 6 face and 12 edge neighbours of a block, with the window region (face or line) they share."""
    offsets, regions = [], []
    for axis in range(3):
        for side in (0, -1):
            off = [0, 0, 0]
            off[axis] = -1 if side == 0 else 1
            region = [slice(None)] * 3
            region[axis] = side
            offsets.append(tuple(off))
            regions.append(tuple(region))
    for a, b in itertools.combinations(range(3), 2):
        for sa, sb in itertools.product((0, -1), repeat=2):
            off = [0, 0, 0]
            off[a] = -1 if sa == 0 else 1
            off[b] = -1 if sb == 0 else 1
            region = [slice(None)] * 3
            region[a], region[b] = sa, sb
            offsets.append(tuple(off))
            regions.append(tuple(region))
    return offsets, regions


class BlockStore:
    """Values of grid points, kept by owner block: block ``k`` owns the points ``k * S + [0, S)`` per axis.

    A cell block's ``(S + 1)**3`` window reads its own points and, on its far faces, edges and corner,
    points owned by the 7 blocks after it.  Of those neighbours only the shared *region* is evaluated
    (region ``d``, for the neighbour at offset ``d`` in {0, 1}^3: the owner's points whose local
    coordinate is 0 on every axis where ``d`` is 1; region 0 is the whole block).  Each point is
    evaluated at most once, whatever requests come later.
    """

    def __init__(self, grid: SampleGrid, block: int, evaluate: Evaluate, dtype: torch.dtype, device):
        self.grid, self.S, self.evaluate, self.device = grid, block, evaluate, device
        self.counts = [-(-n // block) for n in grid.shape]  # point blocks per axis
        S3 = block**3
        self.keys = torch.zeros(0, dtype=torch.int64, device=device)  # sorted linear block keys
        self.values = torch.zeros((0, S3), dtype=dtype, device=device)
        self.known = torch.zeros((0, S3), dtype=torch.bool, device=device)
        r = torch.arange(block, device=device)
        self.local = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), dim=-1).reshape(-1, 3)
        # the 8 regions as masks, then every set of regions (bit d = region d) as one mask
        offsets = torch.as_tensor(CORNER_OFFSETS, device=device).bool()
        region = ((self.local[None] == 0) | ~offsets[:, None, :]).all(dim=2)  # (8, S3); region 0: all
        bits = ((torch.arange(256, device=device)[:, None] >> torch.arange(8, device=device)) & 1).bool()
        self.region_sets = (bits[:, :, None] & region[None]).any(dim=1)  # (256, S3)
        self.points_evaluated = 0

    def key(self, blocks: torch.Tensor) -> torch.Tensor:
        _, cy, cz = self.counts
        return (blocks[..., 0] * cy + blocks[..., 1]) * cz + blocks[..., 2]

    def request_windows(self, blocks: torch.Tensor) -> None:
        """Evaluate what the windows of the cell blocks (K, 3) read and is not known yet."""
        delta = torch.as_tensor(CORNER_OFFSETS, device=self.device)
        owners = (blocks[:, None, :] + delta[None]).reshape(-1, 3)
        region = torch.arange(8, device=self.device).repeat(blocks.shape[0])
        inside = (owners < torch.as_tensor(self.counts, device=self.device)).all(dim=1)
        self.ensure(owners[inside], region[inside])

    def ensure(self, blocks: torch.Tensor, regions: torch.Tensor) -> None:
        """Evaluate the unknown points of region ``regions[i]`` (0..7) of block ``blocks[i]`` (in range)."""
        S, S3, device = self.S, self.S**3, self.device
        pairs = torch.unique(self.key(blocks) * 8 + regions)
        keys, inverse = torch.unique(pairs // 8, return_inverse=True)
        sets = torch.zeros(keys.shape[0], dtype=torch.int64, device=device)
        sets.index_add_(0, inverse, 1 << (pairs % 8))  # the pairs are unique: the sum is a bitwise or
        wanted = self.region_sets[sets]  # (U, S3)
        new = ~torch.isin(keys, self.keys)
        if bool(new.any()):
            all_keys = torch.cat([self.keys, keys[new]])
            order = torch.argsort(all_keys)
            pad = int(new.sum())
            self.keys = all_keys[order]
            self.values = torch.cat([self.values, self.values.new_zeros((pad, S3))])[order]
            self.known = torch.cat([self.known, self.known.new_zeros((pad, S3))])[order]
        rows = torch.searchsorted(self.keys, keys)
        _, cy, cz = self.counts
        origins = torch.stack([keys // (cy * cz), (keys // cz) % cy, keys % cz], dim=1) * S
        upper = torch.as_tensor(self.grid.shape, device=device) - 1
        need = wanted & ~self.known[rows]
        ends = (origins + S - 1 > upper).any(dim=1)  # the last blocks reach past the grid's end
        if bool(ends.any()):
            need[ends] &= (origins[ends][:, None, :] + self.local[None] <= upper).all(dim=2)
        full = need.all(dim=1)
        if bool(full.any()):  # whole blocks: coordinates by broadcasting
            ijk = origins[full].to(torch.float64)[:, None, :] + self.local.to(torch.float64)[None]
            self.values[rows[full]] = self.evaluate(ijk.reshape(-1, 3)).to(self.values.dtype).reshape(-1, S3)
            self.known[rows[full]] = True
            self.points_evaluated += ijk.shape[0] * S3
            need[full] = False
        r, l = torch.nonzero(need, as_tuple=True)
        if r.numel():  # parts of blocks (faces, edges, corners; the grid's end)
            ijk = origins[r].to(torch.float64) + self.local[l].to(torch.float64)
            self.values[rows[r], l] = self.evaluate(ijk).to(self.values.dtype)
            self.known[rows[r], l] = True
            self.points_evaluated += int(r.numel())

    def _window_template(self) -> tuple[torch.Tensor, torch.Tensor]:
        """For each of the (S + 1)**3 window points: which of the 8 blocks holds it, and where in it."""
        S = self.S
        r = torch.arange(S + 1, device=self.device)
        local = torch.stack(torch.meshgrid(r, r, r, indexing="ij"), dim=-1).reshape(-1, 3)
        d, w = local // S, local % S
        which = d[:, 0] + 2 * d[:, 1] + 4 * d[:, 2]
        within = (w[:, 0] * S + w[:, 1]) * S + w[:, 2]
        return which[None], within[None]

    def windows(self, origins: torch.Tensor) -> torch.Tensor:
        """(B, S + 1, S + 1, S + 1) values of the points of the cell blocks at ``origins`` (B, 3).

        ``request_windows`` must have been called for these blocks.  Window points past the grid's
        end hold arbitrary values (their cells are dropped).
        """
        S, device = self.S, self.device
        block = origins // S
        nb = block[:, None, :] + torch.as_tensor(CORNER_OFFSETS, device=device)[None]
        nb = torch.minimum(nb, torch.as_tensor(self.counts, device=device) - 1)
        slot = torch.searchsorted(self.keys, self.key(nb))  # (B, 8) rows of the store
        which, within = self._window_template()
        flat = slot.gather(1, which.expand(slot.shape[0], -1)) * S**3 + within
        return self.values.reshape(-1)[flat].reshape(-1, S + 1, S + 1, S + 1)


def seed_blocks(
    evaluate: Evaluate, grid: SampleGrid, level: float, block: int, seed_cells: int, lipschitz: float | None
) -> torch.Tensor:
    """(B, 3) int64 coordinates of the cell blocks that may hold the level set (step 1 of the module).

    The top level has cells of ``size`` fine cells, the smallest power of two with at most
    ``seed_cells`` cells per axis; kept cells are split until they are no larger than a block.
    """
    device = _device_of(evaluate)
    upper = torch.as_tensor(grid.cells, device=device)  # last point index per axis
    size = 1
    while math.ceil(max(grid.cells) / size) > seed_cells:
        size *= 2
    spacing = torch.as_tensor(grid.spacing, dtype=torch.float64)
    corner = torch.as_tensor(CORNER_OFFSETS, device=device)

    def keep(values: torch.Tensor, size: int) -> torch.Tensor:  # values (..., 8) -> (...,) bool
        below = values < level
        kept = below.any(dim=-1) & ~below.all(dim=-1)
        if lipschitz is not None:
            diagonal = float((spacing * size).norm())
            kept |= (values - level).abs().amax(dim=-1) <= lipschitz * diagonal
        return kept

    # top level: the whole coarse grid of points, evaluated at once
    counts = [-(-c // size) for c in grid.cells]
    axes = [torch.arange(n + 1, device=device) for n in counts]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) * size
    values = evaluate(torch.minimum(points, upper).reshape(-1, 3)).reshape(points.shape[:3])
    nx, ny, nz = counts
    corners = torch.stack(
        [values[ox : ox + nx, oy : oy + ny, oz : oz + nz] for ox, oy, oz in CORNER_OFFSETS.tolist()], dim=-1
    )
    candidates = keep(corners, size).nonzero()
    while size > block:
        size //= 2
        children = (candidates[:, None, :] * 2 + corner[None]).reshape(-1, 3)
        counts = torch.as_tensor([-(-c // size) for c in grid.cells], device=device)
        candidates = children[(children < counts).all(dim=1)]
        corners = torch.minimum((candidates[:, None, :] + corner[None]) * size, upper)  # (K, 8, 3)
        unique, inverse = torch.unique(grid.linear_index(corners), return_inverse=True)
        candidates = candidates[keep(evaluate(grid.unravel(unique))[inverse], size)]
    blocks = candidates * size // block
    counts = torch.as_tensor([-(-c // block) for c in grid.cells], device=device)
    keys = torch.unique((blocks[:, 0] * counts[1] + blocks[:, 1]) * counts[2] + blocks[:, 2])
    return torch.stack(
        [keys // (counts[1] * counts[2]), (keys // counts[2]) % counts[1], keys % counts[2]], dim=1
    )


def _device_of(evaluate: Evaluate):
    return getattr(evaluate, "device", torch.device("cpu"))


def narrow_band_cells(
    evaluate: Evaluate,
    grid: SampleGrid,
    level: float,
    *,
    block: int = 8,
    seed_cells: int = 64,
    lipschitz: float | None = None,
    dtype: torch.dtype = torch.float32,
    batch_blocks: int = 1 << 14,
) -> tuple[ActiveCells, dict]:
    """Active cells of a callable field, evaluated only near its level set (see the module docstring).

    Args:
        evaluate: (N, 3) int64 grid point indices -> (N,) values (no gradients); may carry a
            ``device`` attribute (where index tensors are made; default CPU).
        grid: the fine sample grid.
        level: iso-value (inside is ``< level``).
        block: fine cells per block edge.
        seed_cells: most cells per axis of the top (seed) level.
        lipschitz: optional bound on ``|f(x) - f(y)| / |x - y|`` (world units) for complete seeding.
        dtype: dtype of the stored values.
        batch_blocks: blocks marched at a time (bounds the temporary memory).
    Returns:
        the active cells, and statistics: ``points_evaluated``, ``blocks``, ``rounds``.
    """
    device = _device_of(evaluate)
    store = BlockStore(grid, block, evaluate, dtype, device)
    cell_counts = torch.as_tensor([-(-c // block) for c in grid.cells], device=device)
    offsets, regions = _neighbour_offsets()
    offsets_t = torch.as_tensor(offsets, device=device)

    todo = seed_blocks(evaluate, grid, level, block, seed_cells, lipschitz)
    done = torch.zeros(0, dtype=torch.int64, device=device)  # sorted keys of marched cell blocks
    parts, rounds = [], 0
    while todo.shape[0]:
        rounds += 1
        store.request_windows(todo)
        needed = []
        for batch in todo.split(batch_blocks):
            origins = batch * block
            windows = store.windows(origins)
            parts.append(block_active_cells(origins, windows, level, grid))
            below = windows < level
            for off, region in zip(offsets_t, regions, strict=True):
                face = below[(slice(None),) + region].reshape(below.shape[0], -1)
                crossing = face.any(dim=1) & ~face.all(dim=1)
                needed.append(batch[crossing] + off)
        done = torch.sort(torch.cat([done, _cell_block_key(todo, cell_counts)]))[0]
        if not needed:
            break
        needed = torch.cat(needed)
        needed = needed[((needed >= 0) & (needed < cell_counts)).all(dim=1)]
        keys = torch.unique(_cell_block_key(needed, cell_counts))
        keys = keys[~torch.isin(keys, done)]
        cy, cz = int(cell_counts[1]), int(cell_counts[2])
        todo = torch.stack([keys // (cy * cz), (keys // cz) % cy, keys % cz], dim=1)
    stats = {"points_evaluated": store.points_evaluated, "blocks": int(done.numel()), "rounds": rounds}
    if not parts:
        empty = ActiveCells(
            torch.zeros(0, dtype=torch.int64, device=device),
            torch.zeros((0, 8), dtype=dtype, device=device),
            torch.zeros(0, dtype=torch.int64, device=device),
        )
        return empty, stats
    return ActiveCells.cat(parts), stats


def _cell_block_key(blocks: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return (blocks[:, 0] * counts[1] + blocks[:, 1]) * counts[2] + blocks[:, 2]
