"""Cameras: projection, rays, resizing, similarity transforms, image undistortion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras, undistort_image
from fields3d.cameras.distortion import undistort
from fields3d.geometry.similarity import Similarity


def _look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV camera-to-world looking from ``eye`` at ``target`` (y of the image points down)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, y, z], 1)
    c2w[:3, 3] = eye
    return c2w


def _rig(distortion=None) -> Cameras:
    poses = np.stack([_look_at((3, 0.5, 1), (0, 0, 0)), _look_at((-1, 2.5, 0.5), (0.1, 0, 0.2))])
    K = torch.tensor(
        [[[300.0, 0, 161.3], [0, 310.0, 118.9], [0, 0, 1]], [[280.0, 0, 155.0], [0, 280.0, 125.0], [0, 0, 1]]]
    )
    return Cameras(K, poses, 320, 240, distortion)


DIST = torch.tensor([[-0.2, 0.05, 1e-3, -2e-3], [0.1, -0.03, -5e-4, 1e-3]])


def test_projection_of_a_known_point():
    K = torch.tensor([[100.0, 0, 50], [0, 120.0, 40], [0, 0, 1]])
    cams = Cameras(K, torch.eye(4)[None], 100, 80)
    uv, z = cams.project(torch.tensor([[1.0, 2.0, 10.0]]), 0)
    assert torch.allclose(uv, torch.tensor([[60.0, 64.0]])) and z.item() == pytest.approx(10.0)
    # moving the camera by +1 in x moves the point by -1 in the camera frame
    c2w = torch.eye(4)
    c2w[0, 3] = 1.0
    uv, _ = Cameras(K, c2w[None], 100, 80).project(torch.tensor([[1.0, 2.0, 10.0]]), 0)
    assert torch.allclose(uv, torch.tensor([[50.0, 64.0]]))


def test_pixel_grid_uses_corner_origin():
    cams = _rig()
    grid = cams.pixel_grid(0)
    assert grid.shape == (240, 320, 2)
    assert grid[0, 0].tolist() == [0.5, 0.5] and grid[2, 5].tolist() == [5.5, 2.5]


@pytest.mark.parametrize("distortion", [None, DIST], ids=["pinhole", "distorted"])
def test_pixel_ray_point_project_round_trip(distortion):
    cams = _rig(distortion)
    assert cams.has_distortion == (distortion is not None)
    pix = torch.rand(200, 2) * torch.tensor([320.0, 240.0])
    for i in range(2):
        rays = cams.rays(i, pix)
        assert torch.allclose(rays.directions.norm(dim=-1), torch.ones(200), atol=1e-6)
        assert torch.allclose(rays.origins, cams.centers[i].expand(200, 3))
        t = torch.rand(200) * 3 + 0.5
        uv, z = cams.project(rays.at(t), i)
        assert (uv - pix).abs().max() < 2e-3
        assert (z > 0).all()


def test_rays_with_per_ray_camera_index():
    cams = _rig(DIST)
    idx = torch.tensor([0, 1, 1, 0])
    pix = torch.tensor([[10.0, 20.0], [100.5, 30.5], [300.0, 200.0], [160.0, 120.0]])
    rays = cams.rays(idx, pix)
    for k in range(4):
        single = cams.rays(int(idx[k]), pix[k : k + 1])
        assert torch.allclose(rays.directions[k], single.directions[0])
    assert rays.camera_index.tolist() == idx.tolist()


def test_centre_ray_follows_the_optical_axis():
    cams = _rig()
    K = cams.K[0]
    rays = cams.rays(0, K[:2, 2][None])
    assert torch.allclose(rays.directions[0], cams.c2w[0, :3, 2], atol=1e-6)


def test_scaled_keeps_projections_in_corner_convention():
    cams = _rig(DIST)
    half = cams.scaled(0.5)
    assert half.image_size(0) == (120, 160) and cams.image_size(0) == (240, 320)
    pts = torch.randn(50, 3) * 0.3
    for i in range(2):
        uv, z = cams.project(pts, i)
        uv2, z2 = half.project(pts, i)
        assert torch.allclose(uv2, uv * 0.5, atol=1e-4) and torch.allclose(z, z2)
    # the image's corner maps to the corner: the whole frame is preserved
    assert torch.allclose(half.K[:, :2, 2], cams.K[:, :2, 2] / 2)
    eighth = Cameras(cams.K, cams.c2w, 4000, 4000).scaled(1 / 8)
    assert eighth.image_size(0) == (500, 500)


def test_transformed_by_similarity_keeps_projections():
    cams = _rig(DIST)
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    sim = Similarity.from_parts(0.25, rot, [1.0, -2.0, 0.5])
    moved = cams.transformed(sim)
    pts = torch.randn(40, 3, dtype=torch.float64) * 0.3
    pts_moved = sim.apply_points(pts)
    for i in range(2):
        uv, z = cams.project(pts.float(), i)
        uv2, z2 = moved.project(pts_moved.float(), i)
        assert torch.allclose(uv, uv2, atol=1e-3)
        assert torch.allclose(z2, 0.25 * z, atol=1e-5)
    r = moved.c2w[:, :3, :3]
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5)
    # and the inverse brings the cameras back
    back = moved.transformed(sim.inverse())
    assert torch.allclose(back.c2w, cams.c2w, atol=1e-5)


def test_indexing_and_serialisation():
    cams = _rig(DIST)
    one = cams[1]
    assert (
        len(one) == 1
        and torch.equal(one.K[0], cams.K[1])
        and torch.equal(one.distortion[0], cams.distortion[1])
    )
    again = Cameras.from_dict(cams.to_dict())
    for name in ("K", "c2w", "width", "height", "distortion"):
        assert torch.equal(getattr(again, name), getattr(cams, name))
    assert not cams.without_distortion().has_distortion


def test_constructor_validates():
    with pytest.raises(ValueError, match="expected c2w of shape"):
        Cameras(torch.eye(3), torch.eye(4)[None, :3], 10, 10)
    with pytest.raises(ValueError, match="positive focal"):
        Cameras(torch.diag(torch.tensor([-1.0, 1.0, 1.0])), torch.eye(4)[None], 10, 10)
    with pytest.raises(ValueError, match="finite"):
        Cameras(torch.eye(3), torch.full((1, 4, 4), float("nan")), 10, 10)
    with pytest.raises(ValueError, match="pixels of shape"):
        _rig().rays(0, torch.zeros(5, 3))


def _checkerboard(uv: torch.Tensor, square: float) -> torch.Tensor:
    cells = torch.floor(uv / square).long()
    return ((cells[..., 0] + cells[..., 1]) % 2).float()


def test_undistort_image_recovers_a_checkerboard():
    h, w, square = 120, 160, 12.0
    K = torch.tensor([[130.0, 0, 81.0], [0, 130.0, 59.0], [0, 0, 1]])
    coeffs = torch.tensor([-0.22, 0.06, 1.5e-3, -1e-3])
    cams = Cameras(K, torch.eye(4)[None], w, h, coeffs)
    f, c = torch.stack([K[0, 0], K[1, 1]]), K[:2, 2]
    # the distorted photo: pixel (u_d, v_d) shows the pattern at its undistorted position
    grid = cams.pixel_grid(0).double()
    xu = undistort((grid - c) / f, cams.distortion[0].double(), iterations=20)
    distorted = _checkerboard(xu * f + c, square)
    truth = _checkerboard(grid, square)
    assert (distorted != truth).float().mean() > 0.1  # distortion visibly bends the pattern
    out = undistort_image(distorted[..., None], cams, 0)[..., 0]
    assert out.shape == (h, w)
    # compare the interior away from square edges (bilinear resampling blurs edges by one pixel)
    phase = torch.remainder(grid, square)
    away = ((phase > 1.5) & (phase < square - 1.5)).all(-1)
    interior = torch.zeros(h, w, dtype=torch.bool)
    interior[h // 8 : -h // 8, w // 8 : -w // 8] = True
    sel = away & interior
    assert sel.sum() > 2000
    assert (out[sel] - truth[sel]).abs().max() < 1e-3
    with pytest.raises(ValueError, match="expected an image of 120x160"):
        undistort_image(torch.zeros(10, 10, 1), cams, 0)
