"""LLFF poses_bounds.npy: axes, downscaled folders, masks, bounds (NeRD Ethiopian head)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.data.llff import llff_to_opencv, read_llff
from fields3d.errors import InputError
from fields3d.io.images import write_image


def test_llff_to_opencv_axes():
    # an LLFF camera at the origin whose "down" is world -z, "right" is world +x, "back" is world -y
    llff = np.stack([[0.0, 0, -1], [1.0, 0, 0], [0.0, -1, 0]], axis=1)  # columns: down, right, back
    cv = llff_to_opencv(llff)
    assert np.allclose(cv[:, 0], [1, 0, 0])  # OpenCV x = right
    assert np.allclose(cv[:, 1], [0, 0, -1])  # OpenCV y = down
    assert np.allclose(cv[:, 2], [0, 1, 0])  # OpenCV z = forward = -back
    assert np.isclose(np.linalg.det(cv), 1.0)


def test_ethiopian_head_intrinsics_bounds_masks(shared_data):
    scene = read_llff(shared_data("nerd_ethiopian_head"))
    assert len(scene) == 66 and scene.format == "llff" and scene.cameras.image_size(0) == (500, 500)
    K = scene.cameras.K[0]
    assert K[0, 0].item() == pytest.approx(7543.57 / 8, abs=0.01)
    assert K[1, 1].item() == pytest.approx(942.9, abs=0.1)
    assert K[:2, 2].tolist() == [250.0, 250.0]
    assert scene.metadata["downscale"] == pytest.approx(8.0) and scene.metadata["image_folder"] == "images_8"
    assert scene.metadata["near"].shape == (66,)
    assert scene.metadata["near"].min() == pytest.approx(3.325, abs=1e-3)
    assert scene.mask_paths[0].name == "DSC_0007.png" and scene.image_paths[0].name == "DSC_0007.jpg"
    r = scene.cameras.c2w[:, :3, :3]
    assert torch.allclose(torch.linalg.det(r), torch.ones(66), atol=1e-4)


def test_mask_centroids_surround_the_projected_scene_centre(shared_data):
    """Cameras look at the object: the projection of the scene centre lies near each mask's centroid, and
    the object is in front of every camera within its [near, far] bounds."""
    scene = read_llff(shared_data("nerd_ethiopian_head"))
    center = torch.tensor(scene.normalization.inverse().translation, dtype=torch.float32)[None]
    for i in (0, 9, 21, 33, 47, 60):
        mask = scene.load_mask(i)
        ys, xs = np.nonzero(mask)
        uv, z = scene.cameras.project(center, i)
        assert scene.metadata["near"][i] < z.item() < scene.metadata["far"][i]
        centroid = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
        assert np.linalg.norm(uv[0].numpy() - centroid) < 60, (
            f"view {i}: centre {uv[0].tolist()} vs mask {centroid}"
        )
        assert mask[int(uv[0, 1]), int(uv[0, 0])]


def _fake_llff(folder, n_rows: int, n_images: int, size=(40, 30), hwf=(320.0, 240.0, 300.0)) -> None:
    rows = []
    for i in range(n_rows):
        m = np.zeros((3, 5))
        m[:, :3] = np.stack([[0.0, 0, -1], [1.0, 0, 0], [0.0, -1, 0]], axis=1)
        m[:, 3] = [0.1 * i, -4.0, 0.0]
        m[:, 4] = hwf
        rows.append(np.concatenate([m.reshape(-1), [2.0, 6.0]]))
    np.save(folder / "poses_bounds.npy", np.array(rows))
    for i in range(n_images):
        write_image(folder / "images_8" / f"img_{i:02d}.jpg", np.full((*size, 3), 0.5, dtype=np.float32))


def test_row_count_mismatch_names_both(tmp_path):
    _fake_llff(tmp_path, 3, 2)
    with pytest.raises(InputError, match="poses_bounds.npy has 3 rows, images_8 has 2 images") as e:
        read_llff(tmp_path)
    assert e.value.path == tmp_path / "poses_bounds.npy"


def test_downscale_selection_and_size_check(tmp_path):
    _fake_llff(tmp_path, 2, 2)
    scene = read_llff(tmp_path)
    assert scene.cameras.K[0, 0, 0].item() == pytest.approx(300.0 / 8) and scene.cameras.image_size(0) == (
        40,
        30,
    )
    with pytest.raises(InputError, match="downscale 4"):
        read_llff(tmp_path, downscale=4)
    write_image(tmp_path / "images_8" / "img_01.jpg", np.full((40, 31, 3), 0.5, dtype=np.float32))
    with pytest.raises(InputError, match="like the others"):
        read_llff(tmp_path)


def test_image_size_must_agree_with_hwf(tmp_path):
    _fake_llff(tmp_path, 2, 2, size=(40, 40))
    with pytest.raises(InputError, match="aspect ratios differ"):
        read_llff(tmp_path)
