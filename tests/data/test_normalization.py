"""Normalisation policy: object inside the unit sphere, cameras outside (lego, DTU, Ethiopian head)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.data import load_scene
from fields3d.data.normalization import (
    is_object_centric,
    optical_axes_center,
    sphere_from_camera_views,
    sphere_from_points,
)


def _look_at(eye, target):
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    c2w[:3, 3] = eye
    return c2w


def _ring(target, radius=4.0, n=12, fov_px=100.0):
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    eyes = np.stack([np.cos(angles), np.sin(angles), 0.4 * np.ones(n)], 1) * radius + target
    poses = np.stack([_look_at(e, target) for e in eyes])
    K = torch.tensor([[fov_px, 0, 64.0], [0, fov_px, 48.0], [0, 0, 1]])
    return Cameras(K, poses, 128, 96)


def test_axes_centre_and_camera_view_sphere_for_a_ring():
    target = np.array([1.0, -2.0, 0.5])
    cams = _ring(target)
    center, condition = optical_axes_center(cams)
    assert np.allclose(center, target, atol=1e-5) and condition > 0.1
    assert is_object_centric(cams, target)
    sphere = sphere_from_camera_views(cams)
    assert np.allclose(sphere.center, target, atol=1e-5)
    dist = np.linalg.norm(cams.centers.numpy() - target, axis=1)
    # the sphere is no bigger than the cameras' common view and leaves the cameras outside
    half_fov = np.arctan(48.0 / 100.0)
    assert dist.min() * np.sin(half_fov) * 0.9 < sphere.radius <= 0.95 * dist.min() + 1e-9


def test_forward_facing_capture_uses_the_bounds():
    poses = np.stack([_look_at((x, 0.0, 0.0), (x, 10.0, 0.0)) for x in np.linspace(-0.5, 0.5, 6)])
    cams = Cameras(torch.tensor([[100.0, 0, 64.0], [0, 100.0, 48.0], [0, 0, 1]]), poses, 128, 96)
    assert optical_axes_center(cams)[1] < 0.02 and not is_object_centric(cams, [0.0, -5.0, 0.0])
    sphere = sphere_from_camera_views(cams, near=np.full(6, 2.0), far=np.full(6, 6.0))
    assert "forward-facing" in sphere.method
    assert np.allclose(sphere.center, [0.0, 4.0, 0.0], atol=1e-6)
    assert 2.0 < sphere.radius < 8.0


def test_sphere_from_points_ignores_outliers():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, size=(2000, 3)) + [5.0, 0.0, 0.0]
    pts[:10] = 1000.0  # a few wild points
    sphere = sphere_from_points(pts)
    assert np.allclose(sphere.center, [5.0, 0.0, 0.0], atol=0.05)
    assert np.sqrt(3) * 0.95 < sphere.radius < np.sqrt(3) * 1.05
    normalized = sphere.normalization().apply_points(pts[10:])
    assert (np.linalg.norm(normalized, axis=1) <= 1.0 + 1e-9).mean() > 0.97
    with pytest.raises(ValueError, match="finite point"):
        sphere_from_points(np.full((3, 3), np.nan))


def _hull_check(scene, masks, carve_views, test_views, resolution=32):
    """Carve a visual hull from the masks inside the normalised unit sphere; return the hull points
    (normalised frame) and the fraction of them that land inside the mask of each held-out view."""
    t = np.linspace(-1, 1, resolution)
    grid = np.stack(np.meshgrid(t, t, t, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) <= 1]
    world = torch.tensor(scene.normalization.inverse().apply_points(grid), dtype=torch.float32)

    def in_mask(i):
        mask = torch.as_tensor(masks[i])
        uv, z = scene.cameras.project(world, i)
        u, v = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        ok = (z > 0) & (u >= 0) & (u < mask.shape[1]) & (v >= 0) & (v < mask.shape[0])
        out = torch.zeros(len(world), dtype=torch.bool)
        out[ok] = mask[v[ok], u[ok]]
        return out

    hull = torch.ones(len(world), dtype=torch.bool)
    for i in carve_views:
        hull &= in_mask(i)
    precision = [(in_mask(i) & hull).sum().item() / max(hull.sum().item(), 1) for i in test_views]
    return grid[hull.numpy()], precision


def _silhouette_inside_unit_sphere(scene, mask, i, stride=8):
    """Fraction of (strided) mask pixels of view i whose rays pass through the normalised unit sphere."""
    cams = scene.normalized_cameras()
    pix = cams.pixel_grid(i)[::stride, ::stride]
    sel = torch.as_tensor(mask[::stride, ::stride])
    rays = cams.rays(i, pix[sel])
    closest = rays.origins - (rays.origins * rays.directions).sum(-1, keepdim=True) * rays.directions
    return (closest.norm(dim=-1) < 1).float().mean().item()


@pytest.mark.parametrize(
    "item, carve, test",
    [
        ("nerf_synthetic_lego_subset", [0, 4, 8, 12, 16, 20, 24, 28], [2, 14, 31]),
        ("dtu_scan65_neus", [0, 6, 12, 18, 24, 30, 36, 42], [3, 21, 45]),
        ("nerd_ethiopian_head", [0, 8, 16, 24, 32, 40, 48, 56], [4, 20, 36, 60]),
    ],
)
def test_object_inside_cameras_outside(shared_data, item, carve, test):
    scene = load_scene(shared_data(item))
    cams = scene.normalized_cameras()
    dist = cams.centers.norm(dim=-1)
    assert (dist > 1).all(), f"{item}: a camera is inside the unit sphere ({dist.min():.3f})"
    # every camera's optical axis passes through the unit sphere
    axes = cams.c2w[:, :3, 2]
    closest = cams.centers - (cams.centers * axes).sum(-1, keepdim=True) * axes
    assert (closest.norm(dim=-1) < 1).all()
    # the object (the visual hull of the masks) is inside and consistent with held-out views
    masks = {i: scene.load_mask(i) for i in carve + test}
    hull, precision = _hull_check(scene, masks, carve, test)
    assert len(hull) > 100, f"{item}: empty visual hull"
    assert np.linalg.norm(hull.mean(0)) < 0.5, f"{item}: hull centroid at {hull.mean(0)}"
    # (an 8-view hull is larger than the object, so a few percent fall outside; wrong axes give < 0.9)
    assert min(precision) > 0.93, f"{item}: hull disagrees with held-out masks {precision}"
    # and every silhouette lies within the projection of the unit sphere
    for i in test:
        assert _silhouette_inside_unit_sphere(scene, masks[i], i) > 0.999
