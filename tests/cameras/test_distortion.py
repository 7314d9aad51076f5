"""OpenCV distortion: round trips, Jacobian, gradients of the Newton inverse."""

from __future__ import annotations

import json

import pytest
import torch

from fields3d.cameras.distortion import as_coeffs, distort, distortion_jacobian, undistort

# a strong but realistic lens: barrel + tangential + rational terms
COEFFS = (-0.25, 0.08, 1e-3, -2e-3, -0.01, 0.02, 0.005, 0.001)


def _grid(n: int, extent: float, dtype) -> torch.Tensor:
    t = torch.linspace(-extent, extent, n, dtype=dtype)
    return torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)


def test_as_coeffs_pads_to_eight_and_rejects_more():
    c = as_coeffs([0.1, 0.2, 0.3, 0.4])
    assert c.shape == (8,) and c[4:].abs().sum() == 0 and c[3] == pytest.approx(0.4)
    assert as_coeffs(torch.zeros(5, 4)).shape == (5, 8)
    with pytest.raises(ValueError, match="at most 8"):
        as_coeffs(list(range(9)))


def test_round_trip_float64():
    xy = _grid(41, 0.6, torch.float64)
    coeffs = torch.tensor(COEFFS, dtype=torch.float64)
    xd = distort(xy, coeffs)
    assert (xd - xy).abs().max() > 1e-2  # the lens really distorts
    back = undistort(xd, coeffs, iterations=20)
    assert (back - xy).abs().max() < 1e-10
    # and the other way round: undistort then distort
    assert (distort(undistort(xy, coeffs, iterations=20), coeffs) - xy).abs().max() < 1e-10


def test_round_trip_float32_over_fox_image(shared_data):
    meta = json.loads((shared_data("nerf_fox") / "transforms.json").read_text())
    w, h = int(meta["w"]), int(meta["h"])
    fx, fy, cx, cy = meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"]
    coeffs = as_coeffs([meta["k1"], meta["k2"], meta["p1"], meta["p2"]])
    # pixel centres on a 3-pixel lattice spanning the whole 1080x1920 image, corners included
    rows = torch.linspace(0.5, h - 0.5, h // 3)
    cols = torch.linspace(0.5, w - 0.5, w // 3)
    v, u = torch.meshgrid(rows, cols, indexing="ij")
    pix = torch.stack([u, v], -1).reshape(-1, 2)
    f = torch.tensor([fx, fy])
    c = torch.tensor([cx, cy])
    xd = (pix - c) / f
    xu = undistort(xd, coeffs)
    redistorted = distort(xu, coeffs) * f + c
    err_px = (redistorted - pix).abs().max().item()
    assert err_px < 2e-3, f"float32 round trip error {err_px} px"
    assert ((xu - xd).abs().max() * fx).item() > 10  # the fox lens moves corners by many pixels


def test_jacobian_matches_autograd():
    xy = _grid(7, 0.5, torch.float64)
    coeffs = torch.tensor(COEFFS, dtype=torch.float64)
    jac = distortion_jacobian(xy, coeffs)
    auto = torch.stack([torch.autograd.functional.jacobian(lambda p: distort(p, coeffs), q) for q in xy])
    assert torch.allclose(jac, auto, atol=1e-12)


def test_undistort_gradcheck_points_and_coefficients():
    xd = (torch.rand(6, 2, dtype=torch.float64) - 0.5).requires_grad_()
    coeffs = torch.tensor(COEFFS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: undistort(a, b, iterations=20), (xd, coeffs), atol=1e-7)


def test_undistort_gradient_is_inverse_jacobian():
    xd = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    coeffs = torch.tensor(COEFFS, dtype=torch.float64)
    xu = undistort(xd, coeffs, iterations=20)
    rows = [torch.autograd.grad(xu[0, k], xd, retain_graph=True)[0][0] for k in range(2)]
    expected = torch.linalg.inv(distortion_jacobian(xu.detach(), coeffs)[0])
    assert torch.allclose(torch.stack(rows), expected, atol=1e-10)
