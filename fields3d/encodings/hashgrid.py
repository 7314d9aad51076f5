"""Multi-resolution hash grid encoding (Instant-NGP), with tiny-cuda-nn's grid definition."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fields3d.encodings.base import Encoding
from fields3d.ops.hashgrid import BACKENDS, HashGridLayout, hash_grid


@dataclass
class HashGridEncodingConfig:
    """A multi-resolution hash grid; the defaults are Instant-NGP's (16 x 2 features, 2^19 rows)."""

    n_levels: int = 16
    """Number of resolution levels (at most 32)."""
    features_per_level: int = 2
    """Features stored per grid point and level (1, 2, 4 or 8 for the compiled kernels)."""
    log2_table_size: int = 19
    """log2 of the rows of each level's hash table."""
    base_resolution: int = 16
    """Grid resolution of the coarsest level."""
    finest_resolution: float = 2048
    """Grid resolution of the finest level (sets the growth factor per level)."""
    in_dim: int = 3
    """Dimensions of the input points."""
    init_scale: float = 1e-4
    """Initial table entries are uniform in [-init_scale, init_scale] (tiny-cuda-nn's choice)."""
    coarse_to_fine_start: int | None = None
    """Levels active at step 0 (the rest output zeros until enabled); None: all levels from the start."""
    coarse_to_fine_steps: int = 2000
    """Steps between enabling one more level (with coarse_to_fine_start)."""
    backend: str = "auto"
    """auto | torch | cpp | cuda | tcnn (see fields3d.ops.hashgrid)."""


class HashGridEncoding(Encoding):
    """(..., in_dim) points in [0, 1]^in_dim -> (..., n_levels * features_per_level) features.

    The parameter ``table`` is ``(n_entries, features_per_level)``; ``table.view(-1)`` is
    tiny-cuda-nn's parameter vector for the same configuration, so weights carry over between the
    ``torch``, ``cpp``, ``cuda`` and ``tcnn`` backends. Features are level-major (level 0 first).
    Analytic gradients with respect to the points are differentiable again on every backend (for an
    eikonal loss).
    """

    def __init__(self, config: HashGridEncodingConfig | None = None):
        super().__init__()
        self.config = config = config or HashGridEncodingConfig()
        if config.backend not in BACKENDS:
            raise ValueError(f"expected backend in {BACKENDS}, got {config.backend!r}")
        if config.coarse_to_fine_steps < 1:
            raise ValueError(f"expected coarse_to_fine_steps >= 1, got {config.coarse_to_fine_steps}")
        self.layout = HashGridLayout.create(
            n_dims=config.in_dim,
            n_levels=config.n_levels,
            features_per_level=config.features_per_level,
            log2_table_size=config.log2_table_size,
            base_resolution=config.base_resolution,
            finest_resolution=config.finest_resolution,
        )
        self.in_dim = config.in_dim
        self.out_dim = self.layout.out_dim
        self.table = nn.Parameter(
            torch.empty(self.layout.n_entries, config.features_per_level).uniform_(
                -config.init_scale, config.init_scale
            )
        )
        start = config.coarse_to_fine_start
        if start is not None and not 1 <= start <= config.n_levels:
            raise ValueError(f"expected coarse_to_fine_start in 1..{config.n_levels}, got {start}")
        self.active_levels = config.n_levels if start is None else start

    def update_step(self, step: int) -> None:
        """Enable one more level every ``coarse_to_fine_steps`` steps (with ``coarse_to_fine_start``)."""
        start = self.config.coarse_to_fine_start
        if start is not None:
            self.active_levels = min(
                self.config.n_levels, start + max(step, 0) // self.config.coarse_to_fine_steps
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flatten(x)
        out = hash_grid(
            flat.to(self.table.dtype), self.table, self.layout, self.active_levels, self.config.backend
        )
        return out.reshape(*lead, self.out_dim)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"levels={c.n_levels}, features={c.features_per_level}, table=2^{c.log2_table_size}, "
            f"resolution={c.base_resolution}..{c.finest_resolution}, active={self.active_levels}, "
            f"backend={c.backend}"
        )
