"""The regular sample grid that iso-surface extraction works on: points, cells, indices, world positions."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SampleGrid:
    """A regular grid of ``shape`` sample points spanning an axis-aligned box, corners included.

    Point ``(i, j, k)`` sits at ``aabb_min + (i, j, k) * spacing`` with
    ``spacing = (aabb_max - aabb_min) / (shape - 1)``; its linear index is ``(i * ny + j) * nz + k``
    (C order, the order of ``values.reshape(-1)`` for a dense ``(nx, ny, nz)`` grid).  Cell ``(i, j, k)``
    is the cube between points ``(i, j, k)`` and ``(i + 1, j + 1, k + 1)``.

    Attributes:
        aabb: ((3,), (3,)) float tuples: the box's min and max corners, world units.
        shape: (nx, ny, nz) points per axis, each >= 2.
    """

    aabb: tuple[tuple[float, float, float], tuple[float, float, float]]
    shape: tuple[int, int, int]

    @staticmethod
    def create(aabb, resolution: int | Sequence[int]) -> SampleGrid:
        """Validate ``aabb`` ((2, 3) min/max rows, or (6,) min then max) and ``resolution`` (points/axis)."""
        box = torch.as_tensor(aabb, dtype=torch.float64).detach().cpu()
        if box.numel() != 6 or box.shape not in ((2, 3), (6,)):
            raise ValueError(
                f"expected aabb of shape (2, 3) (min row, max row) or (6,), got {tuple(box.shape)}"
            )
        box = box.reshape(2, 3)
        if not torch.isfinite(box).all() or not (box[1] > box[0]).all():
            raise ValueError(f"expected a finite aabb with max > min on every axis, got {box.tolist()}")
        res = _resolution(resolution)
        if res is None:
            raise ValueError(f"expected resolution as an int or 3 ints, got {resolution!r}")
        if min(res) < 2:
            raise ValueError(f"expected resolution >= 2 points per axis, got {resolution!r}")
        lo, hi = box[0].tolist(), box[1].tolist()
        return SampleGrid((tuple(lo), tuple(hi)), res)

    @property
    def cells(self) -> tuple[int, int, int]:
        """Cells per axis, ``shape - 1``."""
        return tuple(n - 1 for n in self.shape)

    @property
    def num_points(self) -> int:
        nx, ny, nz = self.shape
        return nx * ny * nz

    @property
    def spacing(self) -> tuple[float, float, float]:
        """World size of a cell along each axis."""
        return tuple((hi - lo) / (n - 1) for lo, hi, n in zip(*self.aabb, self.shape, strict=True))

    def strides(self) -> tuple[int, int, int]:
        """Linear-index step of one grid step along x, y, z."""
        _, ny, nz = self.shape
        return (ny * nz, nz, 1)

    def linear_index(self, ijk: torch.Tensor) -> torch.Tensor:
        """(..., 3) int64 point indices -> (...,) int64 linear indices."""
        sx, sy, _ = self.strides()
        return (ijk[..., 0] * sx + ijk[..., 1] * sy + ijk[..., 2]).long()

    def unravel(self, linear: torch.Tensor) -> torch.Tensor:
        """(...,) int64 linear indices -> (..., 3) int64 point indices."""
        sx, sy, _ = self.strides()
        return torch.stack([linear // sx, (linear % sx) // sy, linear % sy], dim=-1)

    def to_world(self, ijk: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(..., 3) grid coordinates (int or fractional) -> (..., 3) world positions of ``dtype``.

        Computed in float64 and rounded once, so the same index always maps to the same position.
        """
        lo = torch.tensor(self.aabb[0], dtype=torch.float64, device=ijk.device)
        step = torch.tensor(self.spacing, dtype=torch.float64, device=ijk.device)
        return torch.addcmul(lo, ijk.to(torch.float64), step).to(dtype)

    def points(self, linear: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(...,) int64 linear point indices -> (..., 3) world positions."""
        return self.to_world(self.unravel(linear), dtype)


def _resolution(resolution) -> tuple[int, int, int] | None:
    """(nx, ny, nz) from an int or 3 ints (Python, numpy or 0-d tensors; not bools), else None."""

    def as_int(x) -> int | None:
        if isinstance(x, bool) or (isinstance(x, torch.Tensor) and x.dtype == torch.bool):
            return None
        try:
            return operator.index(x)
        except TypeError:
            return None

    single = as_int(resolution)
    if single is not None:
        return (single,) * 3
    if isinstance(resolution, str) or not hasattr(resolution, "__len__"):
        return None
    values = [as_int(r) for r in resolution]
    if len(values) != 3 or any(v is None for v in values):
        return None
    return tuple(values)
