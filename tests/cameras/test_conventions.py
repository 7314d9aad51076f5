"""OpenGL <-> OpenCV axes and the OpenGL clip matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras, focal_from_fov, opencv_to_opengl, opengl_projection, opengl_to_opencv


def test_blender_camera_sees_a_point_in_front_with_positive_opencv_depth():
    # Blender / OpenGL camera at z = 5 with identity rotation looks down -z, y up in the image
    c2w_gl = np.eye(4)
    c2w_gl[2, 3] = 5.0
    K = torch.tensor([[100.0, 0, 64.0], [0, 100.0, 48.0], [0, 0, 1]])
    cams = Cameras.from_opengl(K, c2w_gl[None], 128, 96)
    uv, z = cams.project(torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), 0)
    assert z[0].item() == pytest.approx(5.0)  # the origin is 5 units in front
    assert torch.allclose(uv[0], torch.tensor([64.0, 48.0]))
    assert uv[1, 1] < 48.0  # world +y (Blender camera up) is in the upper half of the image
    assert uv[2, 0] > 64.0  # world +x (camera right) is in the right half
    # the optical axis (OpenCV +z) points from the camera towards the origin
    assert torch.allclose(cams.c2w[0, :3, 2], torch.tensor([0.0, 0.0, -1.0]))


def test_conversion_is_an_involution_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c2w = np.eye(4)
    c2w[:3, :3] = q
    c2w[:3, 3] = rng.normal(size=3)
    assert np.allclose(opencv_to_opengl(opengl_to_opencv(c2w)), c2w)
    t = torch.as_tensor(c2w)
    out = opengl_to_opencv(t)
    assert isinstance(out, torch.Tensor) and torch.allclose(out, torch.as_tensor(opengl_to_opencv(c2w)))
    # camera centre unchanged, y and z axes flipped
    assert np.allclose(out[:3, 3].numpy(), c2w[:3, 3]) and np.allclose(out[:3, 1].numpy(), -c2w[:3, 1])


def test_opengl_projection_maps_pixels_to_the_documented_ndc():
    w, h, near, far = 200, 150, 0.1, 20.0
    K = torch.tensor([[180.0, 0, 97.0], [0, 170.0, 80.0], [0, 0, 1]], dtype=torch.float64)
    proj = opengl_projection(K, w, h, near, far)
    rng = torch.Generator().manual_seed(0)
    p_cv = torch.rand(100, 3, generator=rng, dtype=torch.float64) * torch.tensor(
        [2.0, 2.0, 10.0]
    ) - torch.tensor([1.0, 1.0, -1.0])
    uv = p_cv[:, :2] / p_cv[:, 2:] * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]
    p_gl = p_cv * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)  # OpenCV -> OpenGL camera axes
    clip = torch.cat([p_gl, torch.ones(100, 1, dtype=torch.float64)], -1) @ proj.T
    ndc = clip[:, :3] / clip[:, 3:]
    assert torch.allclose(ndc[:, 0], 2 * uv[:, 0] / w - 1, atol=1e-12)
    assert torch.allclose(ndc[:, 1], 1 - 2 * uv[:, 1] / h, atol=1e-12)
    assert (ndc[:, 2].abs() <= 1).all()
    # depth range: near plane -> -1, far plane -> +1
    for depth, expected in ((near, -1.0), (far, 1.0)):
        c = proj @ torch.tensor([0.0, 0.0, -depth, 1.0], dtype=torch.float64)
        assert (c[2] / c[3]).item() == pytest.approx(expected)
    assert opengl_projection(K.expand(4, 3, 3), w, h, near, far).shape == (4, 4, 4)


def test_focal_from_fov_matches_blender_lego():
    assert focal_from_fov(0.6911112070083618, 800) == pytest.approx(1111.111, rel=1e-4)
    assert focal_from_fov(math.pi / 2, 100) == pytest.approx(50.0)
