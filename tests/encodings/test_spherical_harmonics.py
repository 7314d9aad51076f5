"""Spherical harmonics (orthonormality, known closed forms) and Ref-NeRF's IDE."""

from __future__ import annotations

import math

import pytest
import torch

from fields3d.encodings import (
    IntegratedDirectionalEncoding,
    SphericalHarmonicsEncoding,
    SphericalHarmonicsEncodingConfig,
    integrated_directional_encoding,
    spherical_harmonics,
)
from fields3d.encodings.spherical_harmonics import sh_index


def sphere_quadrature(n_theta=96, n_phi=192):
    """Gauss-Legendre in cos(theta) x uniform in phi: exact for band-limited products up to high l."""
    import numpy as np

    z, wz = np.polynomial.legendre.leggauss(n_theta)
    phi = (np.arange(n_phi) + 0.5) * 2 * math.pi / n_phi
    zz, pp = np.meshgrid(z, phi, indexing="ij")
    r = np.sqrt(1 - zz**2)
    dirs = np.stack([r * np.cos(pp), r * np.sin(pp), zz], -1).reshape(-1, 3)
    weights = (wz[:, None] * np.full(n_phi, 2 * math.pi / n_phi)[None]).reshape(-1)
    return torch.from_numpy(dirs), torch.from_numpy(weights)


def test_orthonormal_up_to_band_16():
    dirs, w = sphere_quadrature()
    bands = [0, 1, 2, 3, 4, 8, 16]
    y = spherical_harmonics(dirs, bands)
    gram = (y * w[:, None]).T @ y
    torch.testing.assert_close(gram, torch.eye(y.shape[1], dtype=gram.dtype), atol=1e-9, rtol=0)


def test_closed_forms_match_tiny_cuda_nn_convention():
    d = torch.nn.functional.normalize(torch.randn(20, 3, dtype=torch.float64), dim=-1)
    x, y, z = d.unbind(-1)
    sh = spherical_harmonics(d, 4)
    torch.testing.assert_close(sh[:, 0], torch.full_like(x, 0.28209479177387814))
    torch.testing.assert_close(sh[:, sh_index(1, -1)], -0.48860251190291987 * y)
    torch.testing.assert_close(sh[:, sh_index(1, 0)], 0.48860251190291987 * z)
    torch.testing.assert_close(sh[:, sh_index(1, 1)], -0.48860251190291987 * x)
    torch.testing.assert_close(sh[:, sh_index(2, -2)], 1.0925484305920792 * x * y)
    torch.testing.assert_close(sh[:, sh_index(2, 0)], 0.94617469575755997 * z * z - 0.31539156525251999)
    torch.testing.assert_close(sh[:, sh_index(3, -3)], 0.59004358992664352 * y * (-3 * x * x + y * y))
    enc = SphericalHarmonicsEncoding(SphericalHarmonicsEncodingConfig(n_degrees=4))
    assert enc.out_dim == 16 and enc(d.float()).dtype == torch.float32
    with pytest.raises(ValueError, match=r"expected directions of shape \(..., 3\)"):
        spherical_harmonics(d[:, :2], 2)


def test_ide_attenuates_bands_by_roughness():
    d = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    enc = IntegratedDirectionalEncoding()
    assert enc.bands == [1, 2, 4, 8, 16] and enc.out_dim == 67
    sharp = enc(d, torch.zeros(10, 1))
    torch.testing.assert_close(sharp, spherical_harmonics(d, [1, 2, 4, 8, 16]))
    rough = integrated_directional_encoding(d, torch.full((10,), 0.1))
    ratio = rough / sharp
    torch.testing.assert_close(ratio[:, 0], torch.full((10,), math.exp(-0.5 * 2 * 0.1)))  # l = 1
    torch.testing.assert_close(ratio[:, -1], torch.full((10,), math.exp(-0.5 * 16 * 17 * 0.1)))  # l = 16
    with pytest.raises(ValueError, match="expected roughness of shape"):
        enc(d, torch.zeros(3, 1))
