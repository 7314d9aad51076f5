"""transforms.json: Blender lego, instant-ngp fox, nerfstudio keys, fields3d block, writer round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras
from fields3d.data.transforms_json import find_transforms_file, read_transforms_json, write_transforms_json
from fields3d.errors import InputError
from fields3d.geometry.similarity import Similarity
from fields3d.io.images import write_image

GL_POSE = [[1.0, 0.0, 0.0, 0.1], [0.0, 1.0, 0.0, -0.2], [0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0]]


def _images(folder: Path, names, size=(12, 16), channels=3) -> None:
    for name in names:
        write_image(folder / name, np.random.default_rng(0).random((*size, channels)).astype(np.float32))


def test_fox_instant_ngp_intrinsics_distortion_and_metadata(shared_data):
    scene = read_transforms_json(shared_data("nerf_fox"))
    assert len(scene) == 50 and scene.format == "transforms_json"
    K = scene.cameras.K[0]
    assert K[0, 0].item() == pytest.approx(1375.52) and K[1, 1].item() == pytest.approx(1374.49)
    assert K[0, 2].item() == pytest.approx(554.558) and K[1, 2].item() == pytest.approx(965.268)
    assert scene.cameras.image_size(0) == (1920, 1080)
    d = scene.cameras.distortion[0]
    assert d[:4].tolist() == pytest.approx([0.0578421, -0.0805099, -0.000980296, 0.00015575])
    assert scene.metadata["aabb_scale"] == 4 and scene.background is None and not scene.has_masks
    # OpenGL -> OpenCV: the OpenCV z axis is minus the file's third column
    raw = json.loads((shared_data("nerf_fox") / "transforms.json").read_text())["frames"][0][
        "transform_matrix"
    ]
    raw = np.asarray(raw)
    c2w = scene.cameras.c2w[0].double().numpy()
    assert np.allclose(c2w[:3, 2], -raw[:3, 2], atol=1e-6) and np.allclose(c2w[:3, 3], raw[:3, 3], atol=1e-5)
    img = scene.load_image(0)
    assert img.shape == (1920, 1080, 3) and img.dtype == np.float32 and 0.05 < img.mean() < 0.95
    # every camera looks at the scene centre (cameras face the object, not away from it)
    center = torch.tensor(scene.normalization.inverse().translation, dtype=torch.float32)[None]
    for i in range(0, 50, 7):
        uv, z = scene.cameras.project(center, i)
        assert z.item() > 0 and 0 < uv[0, 0] < 1080 and 0 < uv[0, 1] < 1920


def test_blender_lego_fov_rgba_and_suffixless_paths(shared_data):
    root = shared_data("nerf_synthetic_lego_subset")
    assert find_transforms_file(root).name == "transforms_train.json"
    scene = read_transforms_json(root)
    assert len(scene) == 34 and scene.cameras.image_size(0) == (800, 800)
    fx = 0.5 * 800 / math.tan(0.5 * 0.6911112070083618)
    assert fx == pytest.approx(1111.1, abs=0.1)
    assert scene.cameras.K[0, 0, 0].item() == pytest.approx(fx, rel=1e-6)
    assert scene.cameras.K[0, 1, 1].item() == pytest.approx(fx, rel=1e-6)
    assert scene.cameras.K[0, :2, 2].tolist() == [400.0, 400.0]
    assert scene.image_paths[0].name == "r_0.png"  # listed as "./train/r_0"
    assert scene.background == (1.0, 1.0, 1.0) and scene.metadata["alpha_masks"] and scene.has_masks
    assert scene.metadata["split"] == "train"
    img = scene.load_image(0)
    mask = scene.load_mask(0)
    assert img.shape == (800, 800, 3) and mask.shape == (800, 800)
    assert 0.05 < mask.mean() < 0.6
    rgba = read_transforms_json(root, background=None).load_image(0)
    assert rgba.shape == (800, 800, 4)
    clear = rgba[..., 3] == 0
    assert clear.mean() > 0.3 and np.all(img[clear] == 1.0)  # transparent background composited on white
    assert np.array_equal(mask, rgba[..., 3] > 0.5)


def test_split_selection(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    for split, names in (("train", ["a", "b"]), ("val", ["c"]), ("test", ["a"])):
        frames = [{"file_path": n, "transform_matrix": GL_POSE} for n in names]
        (tmp_path / f"transforms_{split}.json").write_text(
            json.dumps({"camera_angle_x": 0.8, "frames": frames})
        )
    assert len(read_transforms_json(tmp_path)) == 2
    val = read_transforms_json(tmp_path, split="val")
    assert len(val) == 1 and val.image_paths[0].name == "c.png" and val.metadata["split"] == "val"
    assert val.cameras.image_size(0) == (12, 16)  # w, h read from the image
    with pytest.raises(InputError, match="transforms_extra.json"):
        read_transforms_json(tmp_path, split="extra")


def test_nerfstudio_split_lists_per_frame_intrinsics_masks_depth(tmp_path):
    _images(tmp_path / "images", ["0.png", "1.png"])
    _images(tmp_path / "masks", ["0.png", "1.png"], channels=1)
    for name in ("0.png", "1.png"):
        write_image(tmp_path / "depth" / name, np.full((12, 16), 1500, dtype=np.uint16))
    frames = [
        {"file_path": "images/0.png", "fl_x": 20.0, "fl_y": 21.0, "cx": 8.0, "cy": 6.0, "k1": 0.1, "k3": 0.01,
         "mask_path": "masks/0.png", "depth_file_path": "depth/0.png", "transform_matrix": GL_POSE},
        {"file_path": "images/1.png", "fl_x": 30.0, "fl_y": 30.0, "cx": 7.5, "cy": 6.5,
         "mask_path": "masks/1.png", "depth_file_path": "depth/1.png", "transform_matrix": GL_POSE},
    ]  # fmt: skip
    meta = {"camera_model": "OPENCV", "w": 16, "h": 12, "depth_unit_scale_factor": 0.0005, "frames": frames,
            "train_filenames": ["images/1.png"], "applied_transform": np.eye(4)[:3].tolist()}  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    scene = read_transforms_json(tmp_path)
    assert scene.cameras.K[0].tolist() == [[20.0, 0, 8.0], [0, 21.0, 6.0], [0, 0, 1]]
    assert scene.cameras.K[1, 0, 0].item() == 30.0
    assert scene.cameras.distortion[0].tolist() == pytest.approx([0.1, 0, 0, 0, 0.01, 0, 0, 0])
    assert scene.mask_paths[1].name == "1.png" and scene.depth_scale == pytest.approx(2000.0)
    assert scene.load_depth(0)[0, 0] == pytest.approx(0.75)
    assert "applied_transform" in scene.metadata
    train = read_transforms_json(tmp_path, split="train")
    assert len(train) == 1 and train.image_paths[0].name == "1.png"


def test_unsupported_camera_models_and_nerfstudio_k4(tmp_path):
    _images(tmp_path, ["a.png"])
    base = {"fl_x": 10.0, "w": 16, "h": 12, "frames": [{"file_path": "a.png", "transform_matrix": GL_POSE}]}
    (tmp_path / "transforms.json").write_text(json.dumps({**base, "camera_model": "OPENCV_FISHEYE"}))
    with pytest.raises(InputError, match="OPENCV_FISHEYE") as e:
        read_transforms_json(tmp_path)
    assert e.value.path == tmp_path / "transforms.json"
    (tmp_path / "transforms.json").write_text(json.dumps({**base, "k4": 0.01}))
    with pytest.raises(InputError, match="k4"):
        read_transforms_json(tmp_path)
    (tmp_path / "transforms.json").write_text(json.dumps({**base, "k4": 0.01, "k5": 0.0, "k6": 0.002}))
    rational = read_transforms_json(tmp_path).cameras.distortion[0, 5:]
    assert rational.tolist() == pytest.approx([0.01, 0.0, 0.002])


def test_image_size_must_match_the_file(tmp_path):
    _images(tmp_path, ["a.png"])
    meta = {"fl_x": 10.0, "w": 20, "h": 12, "frames": [{"file_path": "a.png", "transform_matrix": GL_POSE}]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="expected an image of 20x12") as e:
        read_transforms_json(tmp_path)
    assert e.value.path == tmp_path / "a.png"


def _random_cameras(n: int, shared: bool) -> Cameras:
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=g))
    q = q * torch.sign(torch.linalg.det(q))[:, None, None]
    c2w = torch.eye(4).repeat(n, 1, 1)
    c2w[:, :3, :3] = q
    c2w[:, :3, 3] = torch.randn(n, 3, generator=g) * 3
    if shared:
        K = torch.tensor([[31.123456, 0, 8.1], [0, 29.98765, 5.9], [0, 0, 1]])
        dist = torch.tensor([0.0123, -0.00456, 1e-4, -2e-4, 0.0007, 0.001, -0.0002, 3e-5])
        return Cameras(K, c2w, 16, 12, dist)
    K = torch.tensor([[[30.0 + i * 0.37, 0, 8.0], [0, 30.5 + i, 6.25], [0, 0, 1]] for i in range(n)])
    dist = torch.zeros(n, 8)
    dist[:, 0] = torch.linspace(-0.1, 0.1, n)
    return Cameras(K, c2w, 16, 12, dist)


@pytest.mark.parametrize("shared", [True, False], ids=["shared-intrinsics", "per-frame-intrinsics"])
def test_writer_round_trip_is_exact(tmp_path, shared):
    n = 4
    cams = _random_cameras(n, shared)
    names = [f"img/{i:03d}.png" for i in range(n)]
    _images(tmp_path, names)
    _images(tmp_path, [f"mask/{i:03d}.png" for i in range(n)], channels=1)
    for i in range(n):
        write_image(tmp_path / f"depth/{i:03d}.png", np.full((12, 16), 700, dtype=np.uint16))
    sim = Similarity.from_parts(0.123456789, None, [0.1, -0.2, 0.3])
    out = write_transforms_json(
        tmp_path / "transforms.json",
        cams,
        [tmp_path / n_ for n_ in names],
        mask_paths=[tmp_path / f"mask/{i:03d}.png" for i in range(n)],
        depth_paths=[tmp_path / f"depth/{i:03d}.png" for i in range(n)],
        depth_scale=1000.0,
        normalization=sim,
        extra={"aabb_scale": 2, "fields3d": {"generator": "test"}},
        frame_extra=[{"normal_path": f"img/{i:03d}.png"} for i in range(n)],
    )
    doc = json.loads(out.read_text())
    assert ("fl_x" in doc) == shared and ("fl_x" in doc["frames"][0]) == (not shared)
    assert doc["frames"][0]["file_path"] == "img/000.png" and doc["fields3d"]["generator"] == "test"
    scene = read_transforms_json(tmp_path)
    for name in ("K", "c2w", "width", "height", "distortion"):
        assert torch.equal(getattr(scene.cameras, name), getattr(cams, name)), name
    assert np.array_equal(scene.normalization.matrix, sim.matrix)
    assert scene.image_paths == [tmp_path / n_ for n_ in names]
    assert scene.mask_paths[2] == tmp_path / "mask/002.png" and scene.depth_scale == 1000.0
    assert scene.metadata["aabb_scale"] == 2 and scene.metadata["normal_paths"][1] == tmp_path / "img/001.png"
    assert scene.metadata["normalization_method"].startswith("fields3d block")
    # and a SceneData writes itself back identically
    again = write_transforms_json(tmp_path / "copy" / "transforms.json", scene)
    scene2 = read_transforms_json(again)
    assert torch.equal(scene2.cameras.c2w, cams.c2w) and scene2.image_paths == scene.image_paths
    assert np.array_equal(scene2.normalization.matrix, sim.matrix)


def test_writer_validates(tmp_path):
    cams = _random_cameras(2, True)
    with pytest.raises(ValueError, match="expected 2 image paths"):
        write_transforms_json(tmp_path / "t.json", cams, [tmp_path / "a.png"])
    K = cams.K.clone()
    K[:, 0, 1] = 0.5
    with pytest.raises(ValueError, match="skew"):
        write_transforms_json(tmp_path / "t.json", Cameras(K, cams.c2w, 16, 12), ["a.png", "b.png"])
