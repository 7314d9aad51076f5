"""Real spherical harmonics of unit directions, and the encoding built on them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fields3d.encodings.base import Encoding


def _check_directions(directions: torch.Tensor) -> None:
    if directions.ndim < 1 or directions.shape[-1] != 3:
        raise ValueError(f"expected directions of shape (..., 3), got {tuple(directions.shape)}")
    if not directions.is_floating_point():
        raise ValueError(f"expected floating-point directions, got {directions.dtype}")


def sh_index(l: int, m: int) -> int:
    """Position of Y_l^m (|m| <= l) in the output of :func:`spherical_harmonics`: ``l^2 + l + m``."""
    if abs(m) > l:
        raise ValueError(f"expected |m| <= l, got l={l}, m={m}")
    return l * l + l + m


def spherical_harmonics(directions: torch.Tensor, degrees: list[int] | range | int) -> torch.Tensor:
    """Orthonormal real spherical harmonics Y_l^m of unit directions.

    Args:
        directions: (..., 3) unit vectors (x, y, z); not renormalised.
        degrees: the bands l to evaluate (an int n means l = 0 .. n - 1).

    Returns:
        (..., sum(2l + 1)) values; band l contributes m = -l .. l in that order. Convention (as
        Sloan's "Stupid SH tricks" and tiny-cuda-nn): Condon-Shortley phase, ``Y_l^m`` for m > 0 is
        ``sqrt(2) K_l^m P_l^m(z) cos(m phi)``, for m < 0 the same with ``sin(|m| phi)``; e.g.
        ``Y_1^{-1} = -0.4886 y``, ``Y_1^0 = 0.4886 z``, ``Y_1^1 = -0.4886 x``.

    Evaluated in float64 (stable to high bands, l = 16 for Ref-NeRF's IDE) with polynomials in
    (x, y, z): no trigonometry, differentiable everywhere.
    """
    _check_directions(directions)
    bands = list(range(degrees)) if isinstance(degrees, int) else list(degrees)
    if not bands:
        raise ValueError("expected at least one band l")
    if min(bands) < 0:
        raise ValueError(f"expected bands l >= 0, got {bands}")
    l_max = max(bands)
    d = directions.to(torch.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    # (x + i y)^m as real and imaginary parts: cos(m phi) sin^m(theta), sin(m phi) sin^m(theta)
    re, im = [torch.ones_like(x)], [torch.zeros_like(x)]
    for _ in range(l_max):
        re.append(re[-1] * x - im[-1] * y)
        im.append(re[-2] * y + im[-1] * x)
    # q[m][l] = d^m P_l / dz^m (z): P_l^m = (-1)^m sin^m(theta) q
    q: list[dict[int, torch.Tensor]] = []
    for m in range(l_max + 1):
        qm = {m: torch.full_like(z, float(math.prod(range(2 * m - 1, 0, -2))))}
        if m + 1 <= l_max:
            qm[m + 1] = (2 * m + 1) * z * qm[m]
        for l in range(m + 2, l_max + 1):
            qm[l] = ((2 * l - 1) * z * qm[l - 1] - (l + m - 1) * qm[l - 2]) / (l - m)
        q.append(qm)
    out = []
    for l in bands:
        row = [None] * (2 * l + 1)
        for m in range(l + 1):
            k = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - m) / math.factorial(l + m))
            if m == 0:
                row[l] = k * q[0][l]
            else:
                c = math.sqrt(2) * k * (-1) ** m
                row[l + m] = c * q[m][l] * re[m]
                row[l - m] = c * q[m][l] * im[m]
        out.extend(row)
    return torch.stack(out, dim=-1).to(directions.dtype)


@dataclass
class SphericalHarmonicsEncodingConfig:
    """Real spherical harmonics of a unit direction, bands l = 0 .. n_degrees - 1."""

    n_degrees: int = 4
    """Number of bands (4 -> 16 outputs, tiny-cuda-nn's default)."""


class SphericalHarmonicsEncoding(Encoding):
    """(..., 3) unit directions -> (..., n_degrees^2); see :func:`spherical_harmonics`."""

    def __init__(self, config: SphericalHarmonicsEncodingConfig | None = None):
        super().__init__()
        self.config = config = config or SphericalHarmonicsEncodingConfig()
        if config.n_degrees < 1:
            raise ValueError(f"expected n_degrees >= 1, got {config.n_degrees}")
        self.in_dim = 3
        self.out_dim = config.n_degrees**2

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        return spherical_harmonics(directions, self.config.n_degrees)
