"""OpenCV lens distortion (k1, k2, p1, p2, k3, k4, k5, k6) on normalised image coordinates.

Coefficients are stored as (…, 8) float tensors in OpenCV order; missing ones are zero, so the 4-term
model of COLMAP's OPENCV camera and instant-ngp (k1, k2, p1, p2) and the 5-term model (+ k3) are the
same function.  ``x_d = x (1 + k1 r² + k2 r⁴ + k3 r⁶) / (1 + k4 r² + k5 r⁴ + k6 r⁶) + tangential``.
"""

from __future__ import annotations

import torch

NUM_COEFFS = 8
NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")


def as_coeffs(values, dtype=torch.float32) -> torch.Tensor:
    """Pad a sequence of OpenCV coefficients (k1, k2, p1, p2[, k3, ...]) to an (…, 8) tensor."""
    t = torch.as_tensor(values, dtype=dtype)
    if t.ndim == 0 or t.shape[-1] > NUM_COEFFS:
        raise ValueError(f"expected at most {NUM_COEFFS} distortion coefficients, got shape {tuple(t.shape)}")
    pad = torch.zeros(t.shape[:-1] + (NUM_COEFFS - t.shape[-1],), dtype=dtype, device=t.device)
    return torch.cat([t, pad], dim=-1)


def distort(xy: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Apply distortion to undistorted normalised coordinates ``xy`` (…, 2); ``coeffs`` (…, 8) broadcast."""
    k1, k2, p1, p2, k3, k4, k5, k6 = coeffs.to(xy.dtype).unbind(-1)
    x, y = xy.unbind(-1)
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], dim=-1)


def distortion_jacobian(xy: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Jacobian of :func:`distort` at ``xy`` (…, 2): (…, 2, 2), rows = (x_d, y_d), columns = (x, y)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = coeffs.to(xy.dtype).unbind(-1)
    x, y = xy.unbind(-1)
    r2 = x * x + y * y
    num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    dnum = k1 + r2 * (2 * k2 + 3 * r2 * k3)
    dden = k4 + r2 * (2 * k5 + 3 * r2 * k6)
    radial = num / den
    dradial = (dnum * den - num * dden) / (den * den)  # d radial / d r²
    dxx = radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x
    dxy = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    dyy = radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x
    return torch.stack([torch.stack([dxx, dxy], -1), torch.stack([dxy, dyy], -1)], -2)


def _solve2(jac: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    a, b, c, d = jac[..., 0, 0], jac[..., 0, 1], jac[..., 1, 0], jac[..., 1, 1]
    det = a * d - b * c
    det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
    return torch.stack(
        [(d * rhs[..., 0] - b * rhs[..., 1]) / det, (a * rhs[..., 1] - c * rhs[..., 0]) / det], -1
    )


def undistort(xy_distorted: torch.Tensor, coeffs: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Invert :func:`distort` by Newton's method: distorted (…, 2) -> undistorted (…, 2).

    Converges to float32 precision within a few steps for the distortions of real lenses.  Gradients
    with respect to ``xy_distorted`` and ``coeffs`` are exact (implicit function theorem: the last
    Newton step is taken with a detached Jacobian, which gives ``J^-1`` and ``-J^-1 dd/dc``).
    """
    coeffs = coeffs.to(xy_distorted.dtype)
    with torch.no_grad():
        xy = xy_distorted.detach().clone()
        for _ in range(iterations):
            residual = distort(xy, coeffs) - xy_distorted
            xy = xy - _solve2(distortion_jacobian(xy, coeffs), residual)
    jac = distortion_jacobian(xy, coeffs.detach()).detach()
    return xy - _solve2(jac, distort(xy, coeffs) - xy_distorted)
