"""7-Scenes-style RGB-D folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.data.rgbd import read_rgbd_folder
from fields3d.errors import InputError
from fields3d.io.images import write_image


def test_7scenes_subset(shared_data):
    root = shared_data("rgbd_7scenes_tsdf_fusion_subset")
    scene = read_rgbd_folder(root)
    assert len(scene) == 80 and scene.format == "rgbd" and scene.cameras.image_size(0) == (480, 640)
    assert scene.cameras.K[0].tolist() == [[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]]
    assert scene.depth_scale == 1000.0 and scene.depth_paths[5].name == "frame-000025.depth.png"
    assert scene.image_paths[5].name == "frame-000025.color.jpg"
    pose = np.loadtxt(root / "frame-000025.pose.txt")
    assert np.allclose(scene.cameras.c2w[5].double().numpy(), pose, atol=1e-6)
    depth = scene.load_depth(0)
    valid = depth > 0
    assert depth.shape == (480, 640) and 0.8 < valid.mean() < 0.95 and 0.3 < depth[valid].mean() < 3.7
    # a room: the cameras stay inside the normalised unit sphere, and most depth points do too
    cams = scene.normalized_cameras()
    assert (cams.centers.norm(dim=-1) < 1).all()
    pts = scene.cameras.rays(0, scene.cameras.pixel_grid(0)[::16, ::16].reshape(-1, 2))
    z = torch.as_tensor(depth[8::16, 8::16].reshape(-1))
    d_cam = (pts.directions @ scene.cameras.c2w[0, :3, :3])[:, 2]
    world = pts.at(z / d_cam)[z > 0]
    inside = scene.normalization.apply_points(world).norm(dim=-1) < 1
    assert inside.float().mean() > 0.95


def _fake_frames(folder, n=2):
    for i in range(n):
        stem = f"frame-{i:06d}"
        write_image(folder / f"{stem}.color.png", np.full((6, 8, 3), 0.5, dtype=np.float32))
        write_image(folder / f"{stem}.depth.png", np.full((6, 8), 1000 + i, dtype=np.uint16))
        pose = np.eye(4)
        pose[0, 3] = 0.1 * i
        np.savetxt(folder / f"{stem}.pose.txt", pose)
    np.savetxt(folder / "camera-intrinsics.txt", np.array([[5.0, 0, 4.0], [0, 5.0, 3.0], [0, 0, 1]]))


def test_pose_file_with_wrong_number_of_entries(tmp_path):
    _fake_frames(tmp_path)
    assert len(read_rgbd_folder(tmp_path)) == 2
    (tmp_path / "frame-000001.pose.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    with pytest.raises(InputError, match="expected 16 numbers") as e:
        read_rgbd_folder(tmp_path)
    assert e.value.path == tmp_path / "frame-000001.pose.txt"


def test_missing_pieces(tmp_path):
    _fake_frames(tmp_path)
    (tmp_path / "frame-000001.depth.png").unlink()
    with pytest.raises(InputError, match="depth map for every frame") as e:
        read_rgbd_folder(tmp_path)
    assert e.value.path == tmp_path / "frame-000001.depth.png"
    (tmp_path / "frame-000000.depth.png").unlink()
    assert read_rgbd_folder(tmp_path).depth_paths is None
    (tmp_path / "frame-000000.pose.txt").write_text(" ".join(["1"] * 16))
    with pytest.raises(InputError, match="last row"):
        read_rgbd_folder(tmp_path)
    (tmp_path / "camera-intrinsics.txt").unlink()
    with pytest.raises(InputError, match="intrinsics file not found"):
        read_rgbd_folder(tmp_path)
