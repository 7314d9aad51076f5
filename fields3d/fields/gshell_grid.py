"""G-Shell on a tetrahedral grid: per grid point an SDF value and an mSDF value (and an optional offset).

A :class:`GShellGrid` covers a box with a regular grid of cubic cells (6 tetrahedra per cell, see
:func:`~fields3d.extract.cube_tet_grid`).  Only *active* cells are stored — all of them (dense) or a
narrow band around a surface — and their corner points carry three learnable parameters:

* ``sdf`` (P,): signed distance, negative inside, world units; its zero level set is the watertight
  template (marching tetrahedra);
* ``msdf`` (P,): manifold signed distance, world units; the template is kept where it is positive;
* ``deform`` (P, 3) (optional): offsets of the points, bounded to ``max_deform`` cells by a tanh.

Points on the frontier of the active region (the grid's border, or the edge of a narrow band) are held
outside (``sdf >= eps``), and template vertices on grid edges that touch them are cut: the template is
always closed, and wherever it would leave the active region it is closed there and then cut away.

:meth:`GShellGrid.extract` returns a :class:`~fields3d.extract.gshell_extraction.GShellMesh` whose
vertices are differentiable with respect to all three parameters.  ``use_msdf=False`` keeps the whole
template (the watertight, SDF-only baseline).  Regularisers: :meth:`sign_regularizer` (DMTet's
cross-entropy on grid edges with a sign change, against floaters), :meth:`eikonal` (finite-difference
``(|grad sdf| - 1)^2``), and :meth:`msdf_eikonal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fields3d.extract.grid import SampleGrid


@dataclass
class GShellGridConfig:
    """Grid size and learnable parts of a :class:`GShellGrid`."""

    resolution: int = 64
    """Grid points along the longest side of the box (cells are cubes)."""
    deform: bool = False
    """Learn per-point offsets of the grid (bounded to ``max_deform`` cells)."""
    max_deform: float = 0.45
    """Largest offset of a grid point, in cells (< 0.5 keeps tetrahedra from inverting)."""
    use_msdf: bool = True
    """False: keep the whole watertight template (SDF only, the baseline without G-Shell's cut)."""

    def validate(self) -> None:
        if self.resolution < 4:
            raise ValueError(f"expected a grid resolution >= 4, got {self.resolution}")
        if not 0.0 <= self.max_deform < 0.5:
            raise ValueError(f"expected max_deform in [0, 0.5), got {self.max_deform}")


def cubic_grid(aabb, resolution: int, padding_cells: float = 0.0) -> SampleGrid:
    """A :class:`SampleGrid` of cubic cells covering ``aabb`` with ``resolution`` points along its longest
    side (plus ``padding_cells`` cells of margin on every side), centred on the box.

    Args:
        aabb: (2, 3) min and max corners, world units.
    """
    box = torch.as_tensor(aabb, dtype=torch.float64).reshape(2, 3)
    if not torch.isfinite(box).all() or not (box[1] >= box[0]).all():
        raise ValueError(f"expected a finite aabb with max >= min, got {box.tolist()}")
    if resolution < 4:
        raise ValueError(f"expected a resolution >= 4, got {resolution}")
    extent = box[1] - box[0]
    longest = float(extent.max())
    if not longest > 0:
        raise ValueError(f"expected an aabb with a nonzero extent, got {box.tolist()}")
    cell = longest / (resolution - 1 - 2 * padding_cells)
    if not cell > 0:
        raise ValueError(f"expected padding_cells < (resolution - 1) / 2, got {padding_cells}")
    counts = torch.clamp(torch.ceil(extent / cell - 1e-9).long() + int(math.ceil(2 * padding_cells)), min=1)
    counts = torch.minimum(counts, torch.tensor(resolution - 1))
    counts[extent.argmax()] = resolution - 1
    center = 0.5 * (box[0] + box[1])
    lo = center - 0.5 * counts.double() * cell
    hi = center + 0.5 * counts.double() * cell
    return SampleGrid.create(torch.stack([lo, hi]), [int(c) + 1 for c in counts])


def dilate_cells(mask: torch.Tensor, cells: int) -> torch.Tensor:
    """(cx, cy, cz) bool cells grown by ``cells`` in every direction (a cube structuring element)."""
    if cells <= 0:
        return mask
    x = mask[None, None].float()
    return torch.nn.functional.max_pool3d(x, 2 * cells + 1, stride=1, padding=cells)[0, 0] > 0


class GShellGrid(nn.Module):
    """SDF and mSDF values on the points of active cells of a cubic grid (see the module docstring).

    Args:
        grid: the full grid (:func:`cubic_grid`).
        config: :class:`GShellGridConfig` (its ``resolution`` is informative; ``grid`` decides).
        active_cells: (cx, cy, cz) bool mask of stored cells, or None for all (dense).
        sdf, msdf: optional (P,) initial values at the active points (default: sdf = +1 cell, msdf =
            +1 cell: an empty template).
    """

    def __init__(
        self,
        grid: SampleGrid,
        config: GShellGridConfig | None = None,
        active_cells: torch.Tensor | None = None,
        sdf: torch.Tensor | None = None,
        msdf: torch.Tensor | None = None,
    ):
        super().__init__()
        from fields3d.extract.case_tables import CORNER_OFFSETS
        from fields3d.extract.tetrahedral_mesh import cube_tet_grid

        self.config = config or GShellGridConfig()
        self.config.validate()
        self.grid = grid
        cx, cy, cz = grid.cells
        if active_cells is None:
            active_cells = torch.ones(cx, cy, cz, dtype=torch.bool)
        active_cells = torch.as_tensor(active_cells, dtype=torch.bool).cpu()
        if tuple(active_cells.shape) != (cx, cy, cz):
            raise ValueError(
                f"expected active_cells of shape {(cx, cy, cz)}, got {tuple(active_cells.shape)}"
            )
        if not bool(active_cells.any()):
            raise ValueError("expected at least one active cell, got none")
        self.active_cells = active_cells
        cells = torch.nonzero(active_cells)
        _, tets_dense = cube_tet_grid(torch.tensor(grid.aabb), grid.shape, cells=cells)
        point_index, tets = torch.unique(tets_dense, return_inverse=True)
        # frontier: active points that are also a corner of an inactive cell or on the grid's border
        nx, ny, nz = grid.shape
        inactive_padded = torch.ones(cx + 2, cy + 2, cz + 2, dtype=torch.bool)
        inactive_padded[1:-1, 1:-1, 1:-1] = ~active_cells
        ijk = grid.unravel(point_index)
        touches_inactive = torch.zeros(point_index.shape[0], dtype=torch.bool)
        for off in CORNER_OFFSETS:  # the 8 cells around point (i, j, k) are (i - 1 + o) for o in {0, 1}^3
            c = ijk - 1 + torch.as_tensor(off) + 1  # +1: padding
            touches_inactive |= inactive_padded[c[:, 0], c[:, 1], c[:, 2]]
        self.register_buffer("point_index", point_index, persistent=False)
        self.register_buffer("tets", tets.reshape(-1, 4), persistent=False)
        self.register_buffer("frontier", touches_inactive, persistent=False)
        self.register_buffer("base_points", grid.points(point_index, torch.float32), persistent=False)
        self.register_buffer("neighbors", self._neighbors(ijk, point_index), persistent=False)
        self.cell_size = float(grid.spacing[0])
        p = point_index.shape[0]
        init_sdf = (
            torch.full((p,), self.cell_size) if sdf is None else torch.as_tensor(sdf, dtype=torch.float32)
        )
        init_msdf = (
            torch.full((p,), self.cell_size) if msdf is None else torch.as_tensor(msdf, dtype=torch.float32)
        )
        for name, v in (("sdf", init_sdf), ("msdf", init_msdf)):
            if v.shape != (p,):
                raise ValueError(f"expected initial {name} of shape ({p},), got {tuple(v.shape)}")
        self.sdf = nn.Parameter(init_sdf.clone())
        self.msdf = nn.Parameter(init_msdf.clone())
        self.deform = nn.Parameter(torch.zeros(p, 3)) if self.config.deform else None
        self._edges: torch.Tensor | None = None

    # ----------------------------------------------------------------------------------------------
    def _neighbors(self, ijk: torch.Tensor, point_index: torch.Tensor) -> torch.Tensor:
        """(P, 3) compact index of each point's +x, +y, +z neighbour (-1 when not stored)."""
        lookup = torch.full((self.grid.num_points,), -1, dtype=torch.int64)
        lookup[point_index] = torch.arange(point_index.shape[0])
        out = torch.full((point_index.shape[0], 3), -1, dtype=torch.int64)
        for axis in range(3):
            nb = ijk.clone()
            nb[:, axis] += 1
            ok = nb[:, axis] < self.grid.shape[axis]
            out[ok, axis] = lookup[self.grid.linear_index(nb[ok])]
        return out

    @property
    def num_points(self) -> int:
        return int(self.point_index.shape[0])

    @property
    def device(self) -> torch.device:
        return self.sdf.device

    def points(self) -> torch.Tensor:
        """(P, 3) positions of the stored points (with offsets when ``deform`` is on)."""
        if self.deform is None:
            return self.base_points
        return self.base_points + self.config.max_deform * self.cell_size * torch.tanh(self.deform)

    def effective_values(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(sdf, msdf) (P,) as extraction uses them: frontier points held outside; msdf = +1 everywhere
        when ``use_msdf`` is off."""
        eps = 1e-3 * self.cell_size
        sdf = torch.where(self.frontier, self.sdf.clamp_min(eps), self.sdf)
        if not self.config.use_msdf:
            return sdf, torch.ones_like(self.msdf)
        return sdf, self.msdf

    def extract(self):
        """The G-Shell mesh of the current values (:class:`~fields3d.extract.gshell_extraction.GShellMesh`);
        template parts at the frontier are cut away (also with ``use_msdf`` off: a closure at the grid's
        border is not part of the object)."""
        from fields3d.extract.gshell_extraction import gshell_extract

        sdf, msdf = self.effective_values()
        return gshell_extract(self.points(), self.tets, sdf, msdf, cut_points=self.frontier)

    @torch.no_grad()
    def remove_thin_strips(self, radius_cells: float, level_cells: float = 0.1) -> dict:
        """Cut away kept strips and fringes of the cut narrower than about ``2 * radius_cells`` cells (in
        place, on ``msdf``): a morphological opening of the kept part of the template
        (:func:`~fields3d.extract.gshell_topology.thin_kept_vertices`); the grid points at both ends of the
        removed vertices' grid edges get their mSDF lowered to at most ``-level_cells`` cells.  Returns
        ``removed_vertices`` and ``points_lowered``."""
        from fields3d.extract.gshell_topology import thin_kept_vertices

        if not radius_cells > 0 or not level_cells > 0:
            raise ValueError(
                f"expected radius_cells > 0 and level_cells > 0, got {radius_cells}, {level_cells}"
            )
        report = {"radius_cells": float(radius_cells), "removed_vertices": 0, "points_lowered": 0}
        if not self.config.use_msdf:
            return report
        mesh = self.extract()
        if mesh.template.num_vertices == 0:
            return report
        v = thin_kept_vertices(
            mesh.template.vertices, mesh.template.faces, mesh.template_msdf, radius_cells * self.cell_size
        )
        if v.numel():
            a, b = mesh.template.edge_endpoints.unbind(1)
            points = torch.unique(torch.cat([a[v], b[v]]))
            self.msdf[points] = self.msdf[points].clamp_max(-level_cells * self.cell_size)
            report["removed_vertices"] = int(v.numel())
            report["points_lowered"] = int(points.numel())
        return report

    @torch.no_grad()
    def fill_small_holes(self, max_hole_cells: float, level_cells: float = 0.1, passes: int = 3) -> dict:
        """Close the cut's holes narrower than ``max_hole_cells`` cells (in place, on ``msdf``).

        Negative-mSDF patches of the template at most that wide (bounding-box diagonal, see
        :func:`~fields3d.extract.gshell_topology.small_negative_patches`; patches at the frontier
        excluded) get the mSDF of the grid points at both ends of their vertices' grid edges raised to
        at least ``level_cells`` cells, so the template surface there is kept.  Repeated up to
        ``passes`` times (raising points can split a larger patch).  Returns counts for logs:
        ``negative_components`` before, ``filled`` patches, ``points_raised``.
        """
        from fields3d.extract.gshell_topology import small_negative_patches

        if not max_hole_cells >= 0 or not level_cells > 0:
            raise ValueError(
                f"expected max_hole_cells >= 0 and level_cells > 0, got {max_hole_cells}, {level_cells}"
            )
        report = {"max_hole_cells": float(max_hole_cells), "filled": 0, "points_raised": 0}
        if not self.config.use_msdf:
            return report
        level = level_cells * self.cell_size
        for k in range(passes):
            mesh = self.extract()
            if mesh.template.num_vertices == 0:
                break
            a, b = mesh.template.edge_endpoints.unbind(1)
            protected = self.frontier[a] | self.frontier[b]
            patches = small_negative_patches(
                mesh.template.vertices,
                mesh.template.faces,
                mesh.template_msdf,
                max_hole_cells * self.cell_size,
                protected,
            )
            if k == 0:
                report["negative_components"] = patches.components
            if patches.small == 0:
                break
            v = patches.small_vertices
            points = torch.unique(torch.cat([a[v], b[v]]))
            self.msdf[points] = self.msdf[points].clamp_min(level)
            report["filled"] += patches.small
            report["points_raised"] += int(points.shape[0])
        return report

    # ----------------------------------------------------------------------------------------------
    # regularisers
    def edges(self) -> torch.Tensor:
        """(E, 2) int64 unique edges of the stored tetrahedra (compact point indices)."""
        if self._edges is None or self._edges.device != self.tets.device:
            from fields3d.extract.case_tables import TET_EDGES

            e = self.tets[:, torch.as_tensor(TET_EDGES, device=self.tets.device)].reshape(-1, 2)
            e = torch.sort(e, dim=1).values
            self._edges = torch.unique(e, dim=0)
        return self._edges

    def sign_regularizer(self) -> torch.Tensor:
        """DMTet's regulariser: binary cross-entropy pulling the two ends of each sign-changing edge
        towards each other's sign (in units of cells), mean over those edges (0 when none)."""
        e = self.edges()
        s = self.sdf / self.cell_size
        a, b = s[e[:, 0]], s[e[:, 1]]
        change = (a.detach() > 0) != (b.detach() > 0)
        if not bool(change.any()):
            return self.sdf.sum() * 0.0
        a, b = a[change], b[change]
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        return bce(a, (b.detach() > 0).float()) + bce(b, (a.detach() > 0).float())

    def _forward_differences(self, values: torch.Tensor, near: float | None) -> torch.Tensor:
        """(M, 3) forward-difference gradients of per-point values at points whose three + neighbours are
        stored (and, with ``near``, whose |sdf| < near), world units."""
        ok = (self.neighbors >= 0).all(dim=1)
        if near is not None:
            ok &= self.sdf.detach().abs() < near
        idx = torch.nonzero(ok, as_tuple=True)[0]
        nb = self.neighbors[idx]
        return (values[nb] - values[idx, None]) / self.cell_size

    def eikonal(self, near_cells: float | None = 3.0) -> torch.Tensor:
        """Mean ``(|grad sdf| - 1)^2`` by forward differences at points within ``near_cells`` cells of the
        surface (None: all points)."""
        near = None if near_cells is None else near_cells * self.cell_size
        g = self._forward_differences(self.sdf, near)
        if g.shape[0] == 0:
            return self.sdf.sum() * 0.0
        return (g.norm(dim=1) - 1.0).pow(2).mean()

    def msdf_eikonal(self, near_cells: float = 3.0) -> torch.Tensor:
        """Mean ``(|grad msdf| - 1)^2`` by forward differences at points within ``near_cells`` cells of the
        SDF's surface: a distance-like mSDF (its zero set a surface crossing the template at the
        boundaries) rather than one that hovers near 0."""
        g = self._forward_differences(self.msdf, near_cells * self.cell_size)
        if g.shape[0] == 0:
            return self.msdf.sum() * 0.0
        return (g.norm(dim=1) - 1.0).pow(2).mean()

    # ----------------------------------------------------------------------------------------------
    # dense views and resampling
    def dense(self, values: torch.Tensor, fill: float) -> torch.Tensor:
        """Per-point values (P,) -> (nx, ny, nz) dense grid, ``fill`` where no point is stored."""
        out = values.new_full((self.grid.num_points,), fill)
        out[self.point_index] = values
        return out.reshape(self.grid.shape)

    @torch.no_grad()
    def sample(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trilinear (sdf, msdf) at (N, 3) world positions (outside the stored points: sdf = +4 cells,
        msdf = -4 cells)."""
        fill = 4.0 * self.cell_size
        out = []
        for values, f in ((self.sdf, fill), (self.msdf, -fill)):
            out.append(trilinear(self.dense(values.detach(), f), self.grid, positions, f))
        return out[0], out[1]

    def to_state(self) -> dict:
        """Everything needed to rebuild the G-Shell (:meth:`from_state`): grid, active cells, values."""
        from dataclasses import asdict

        return {
            "format": "fields3d.gshell_grid/1",
            "aabb": [list(self.grid.aabb[0]), list(self.grid.aabb[1])],
            "shape": list(self.grid.shape),
            "config": asdict(self.config),
            "active_cells": self.active_cells.clone(),
            "sdf": self.sdf.detach().cpu().clone(),
            "msdf": self.msdf.detach().cpu().clone(),
            "deform": None if self.deform is None else self.deform.detach().cpu().clone(),
        }

    @staticmethod
    def from_state(state: dict) -> GShellGrid:
        """Rebuild a :class:`GShellGrid` from :meth:`to_state` output."""
        if not isinstance(state, dict) or state.get("format") != "fields3d.gshell_grid/1":
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"expected a fields3d.gshell_grid/1 state, got {got!r}")
        grid = SampleGrid.create(state["aabb"], state["shape"])
        module = GShellGrid(
            grid, GShellGridConfig(**state["config"]), state["active_cells"], state["sdf"], state["msdf"]
        )
        if module.deform is not None and state.get("deform") is not None:
            module.deform.data.copy_(state["deform"])
        return module

    def describe(self) -> dict:
        """Sizes for logs and metrics."""
        return {
            "grid_shape": list(self.grid.shape),
            "cell_size": self.cell_size,
            "active_cells": int(self.active_cells.sum()),
            "points": self.num_points,
            "tets": int(self.tets.shape[0]),
            "deform": self.deform is not None,
            "use_msdf": self.config.use_msdf,
        }


def trilinear(dense: torch.Tensor, grid: SampleGrid, positions: torch.Tensor, fill: float) -> torch.Tensor:
    """Trilinear interpolation of a (nx, ny, nz) or (C, nx, ny, nz) grid of ``grid`` at (N, 3) world
    positions -> (N,) or (N, C) (``fill`` outside the box; differentiable w.r.t. both inputs)."""
    lo = torch.tensor(grid.aabb[0], dtype=positions.dtype, device=positions.device)
    hi = torch.tensor(grid.aabb[1], dtype=positions.dtype, device=positions.device)
    u = 2.0 * (positions - lo) / (hi - lo) - 1.0  # [-1, 1] along (x, y, z) = dims (nx, ny, nz)
    # grid_sample's last coordinate indexes the input's last dim (W): reorder (x, y, z) -> (z, y, x)
    g = u[:, [2, 1, 0]].reshape(1, -1, 1, 1, 3).to(dense.dtype)
    volume = dense[None] if dense.dim() == 4 else dense[None, None]
    out = torch.nn.functional.grid_sample(
        volume, g, mode="bilinear", padding_mode="border", align_corners=True
    )
    out = out.reshape(volume.shape[1], -1).T  # (N, C)
    inside = ((u >= -1) & (u <= 1)).all(dim=1, keepdim=True)
    out = torch.where(inside, out, torch.full_like(out, fill))
    return out if dense.dim() == 4 else out[:, 0]


def cells_near_points(grid: SampleGrid, points: np.ndarray, dilation: int) -> torch.Tensor:
    """(cx, cy, cz) bool cells containing any of the (N, 3) points, grown by ``dilation`` cells."""
    lo = np.asarray(grid.aabb[0])
    spacing = np.asarray(grid.spacing)
    cells = np.floor((np.asarray(points, dtype=np.float64) - lo) / spacing).astype(np.int64)
    upper = np.asarray(grid.cells) - 1
    cells = np.clip(cells, 0, upper)
    mask = torch.zeros(grid.cells, dtype=torch.bool)
    c = torch.from_numpy(cells)
    mask[c[:, 0], c[:, 1], c[:, 2]] = True
    return dilate_cells(mask, dilation)
