"""NeRF's frequency (positional) encoding, with an optional coarse-to-fine window (Nerfies / BARF)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fields3d.encodings.base import Encoding


@dataclass
class FrequencyEncodingConfig:
    """sin / cos of the input at frequencies pi * 2^k, k = 0 .. n_frequencies - 1."""

    in_dim: int = 3
    """Dimensions of the input."""
    n_frequencies: int = 6
    """Number of octaves."""
    include_input: bool = True
    """Prepend the input itself."""
    anneal_steps: int | None = None
    """Open the octaves one after another over this many steps (Nerfies' window); None: all open."""


class FrequencyEncoding(Encoding):
    """(..., D) -> (..., D * (include_input + 2 * n_frequencies)).

    Layout: ``[x, sin(pi 2^0 x), ..., sin(pi 2^(K-1) x), cos(pi 2^0 x), ..., cos(pi 2^(K-1) x)]``,
    each block D wide. With ``anneal_steps``, octave k is weighted by
    ``(1 - cos(pi * clamp(alpha - k, 0, 1))) / 2`` where ``alpha = K * step / anneal_steps``.
    """

    def __init__(self, config: FrequencyEncodingConfig | None = None):
        super().__init__()
        self.config = config = config or FrequencyEncodingConfig()
        if config.n_frequencies < 0 or config.in_dim < 1:
            raise ValueError(
                f"expected n_frequencies >= 0 and in_dim >= 1, got {config.n_frequencies} and {config.in_dim}"
            )
        if config.anneal_steps is not None and config.anneal_steps < 1:
            raise ValueError(f"expected anneal_steps >= 1 or None, got {config.anneal_steps}")
        self.in_dim = config.in_dim
        self.out_dim = config.in_dim * (int(config.include_input) + 2 * config.n_frequencies)
        self.register_buffer(
            "frequencies",
            math.pi * 2.0 ** torch.arange(config.n_frequencies, dtype=torch.float32),
            persistent=False,
        )
        self.alpha = float(config.n_frequencies)

    def update_step(self, step: int) -> None:
        if self.config.anneal_steps is not None:
            self.alpha = self.config.n_frequencies * min(max(step, 0) / self.config.anneal_steps, 1.0)

    def window(self) -> torch.Tensor:
        """(K,) weight of each octave under the current schedule."""
        k = torch.arange(
            self.config.n_frequencies, dtype=self.frequencies.dtype, device=self.frequencies.device
        )
        return (1 - torch.cos(math.pi * (self.alpha - k).clamp(0.0, 1.0))) / 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flatten(x)
        angles = flat[:, None, :] * self.frequencies.to(flat.dtype)[None, :, None]  # (N, K, D)
        w = self.window().to(flat.dtype)[None, :, None]
        parts = [flat] if self.config.include_input else []
        parts += [(w * torch.sin(angles)).flatten(1), (w * torch.cos(angles)).flatten(1)]
        return torch.cat(parts, dim=-1).reshape(*lead, self.out_dim)
