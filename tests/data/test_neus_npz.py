"""NeuS / IDR cameras_sphere.npz: P decomposition, pixel convention, scale_mat normalisation (DTU scan 65)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.data.neus_npz import decompose_projection, read_neus_npz
from fields3d.errors import InputError
from fields3d.io.images import write_image


def _random_camera(seed: int):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    K = np.array([[rng.uniform(300, 3000), rng.uniform(-1, 1), rng.uniform(100, 900)],
                  [0, rng.uniform(300, 3000), rng.uniform(100, 700)], [0, 0, 1]])  # fmt: skip
    center = rng.normal(size=3) * 5
    P = K @ np.hstack([q, (-q @ center)[:, None]])
    return K, q, center, P


@pytest.mark.parametrize("scale", [1.0, 7.5, -0.3])
def test_decompose_projection_recovers_K_R_and_centre(scale):
    for seed in range(5):
        K, R, center, P = _random_camera(seed)
        K2, c2w = decompose_projection(scale * P)
        assert np.allclose(K2, K, rtol=1e-9, atol=1e-9)
        assert np.allclose(c2w[:3, :3], R.T, atol=1e-9) and np.isclose(np.linalg.det(c2w[:3, :3]), 1.0)
        assert np.allclose(c2w[:3, 3], center, atol=1e-9)
    with pytest.raises(ValueError, match="singular"):
        decompose_projection(np.zeros((3, 4)))


def test_dtu_scan65_intrinsics_and_convention(shared_data):
    scene = read_neus_npz(shared_data("dtu_scan65_neus"))
    assert len(scene) == 49 and scene.format == "neus_npz" and scene.cameras.image_size(0) == (1200, 1600)
    K = scene.cameras.K[0]
    assert K[0, 0].item() == pytest.approx(2892.33, abs=0.01)
    assert K[1, 1].item() == pytest.approx(2883.18, abs=0.01)
    # NeuS puts pixel centres at integers: +0.5 to reach fields3d's corner origin
    assert K[0, 2].item() == pytest.approx(823.21 + 0.5, abs=0.01)
    assert K[1, 2].item() == pytest.approx(619.07 + 0.5, abs=0.01)
    assert K[0, 1].item() == 0.0 and scene.metadata["max_abs_skew"] < 0.01
    assert scene.mask_paths is not None and scene.mask_paths[3].name == "003.png"
    assert scene.image_paths[3].name == "000003.jpg"
    # projection with the decomposed camera equals P applied to homogeneous points (+0.5 px)
    P = np.load(shared_data("dtu_scan65_neus") / "cameras_sphere.npz")["world_mat_7"][:3].astype(np.float64)
    pts = np.array([[-28.0, -27.9, 640.0], [10.0, -60.0, 600.0], [-80.0, 20.0, 700.0]])
    proj = (P @ np.hstack([pts, np.ones((3, 1))]).T).T
    uv, z = scene.cameras.project(torch.tensor(pts, dtype=torch.float32), 7)
    assert np.allclose(uv.numpy(), proj[:, :2] / proj[:, 2:] + 0.5, atol=0.05) and (z > 0).all()


def test_dtu_scale_mat_normalisation_and_masks(shared_data):
    root = shared_data("dtu_scan65_neus")
    scene = read_neus_npz(root)
    S = np.load(root / "cameras_sphere.npz")["scale_mat_0"].astype(np.float64)
    assert np.allclose(scene.normalization.inverse().matrix, S, atol=1e-4)
    center = torch.tensor(S[:3, 3], dtype=torch.float32)[None]
    for i in (0, 12, 25, 40, 48):
        uv, z = scene.cameras.project(center, i)
        mask = scene.load_mask(i)
        u, v = int(uv[0, 0]), int(uv[0, 1])
        assert z.item() > 0 and mask[v, u], f"scale_mat centre projects outside the mask of view {i}"
    large = read_neus_npz(root, cameras_file="cameras_large.npz")
    assert large.normalization.inverse().scale > scene.normalization.inverse().scale


def test_neus_folder_checks(tmp_path):
    K, R, center, P = _random_camera(0)
    for i in range(2):
        write_image(tmp_path / "images" / f"{i:06d}.png", np.zeros((20, 30, 3), dtype=np.float32))
    np.savez(tmp_path / "cameras_sphere.npz", world_mat_0=np.vstack([P, [0, 0, 0, 1]]))
    with pytest.raises(InputError, match="has 1 world_mat_i, images/ has 2 images") as e:
        read_neus_npz(tmp_path)
    assert e.value.path.name == "cameras_sphere.npz"
    np.savez(tmp_path / "cameras_sphere.npz", world_mat_0=P, world_mat_1=P)
    scene = read_neus_npz(tmp_path)  # no scale_mat: normalisation from the camera views
    assert len(scene) == 2 and "camera views" in scene.metadata["normalization_method"]
    assert scene.cameras.K[0, 0, 2].item() == pytest.approx(K[0, 2] + 0.5, rel=1e-5)
    np.savez(
        tmp_path / "cameras_sphere.npz",
        world_mat_0=P,
        world_mat_1=P,
        scale_mat_0=np.diag([1.0, 2.0, 1.0, 1.0]),
    )
    with pytest.raises(InputError, match="expected 'scale_mat_0' to be a similarity"):
        read_neus_npz(tmp_path)
