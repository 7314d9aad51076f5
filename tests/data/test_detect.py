"""Format detection and load_scene dispatch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fields3d.data import FORMATS, detect_format, load_scene
from fields3d.errors import InputError
from fields3d.io.images import write_image


@pytest.mark.parametrize(
    "item, expected",
    [
        ("nerf_fox", "transforms_json"),
        ("nerf_synthetic_lego_subset", "transforms_json"),
        ("dtu_scan65_neus", "neus_npz"),
        ("nerd_ethiopian_head", "llff"),
        ("rgbd_7scenes_tsdf_fusion_subset", "rgbd"),
    ],
)
def test_real_datasets(shared_data, item, expected):
    assert detect_format(shared_data(item)) == expected


def test_file_paths_select_their_format(shared_data):
    assert detect_format(shared_data("nerf_fox") / "transforms.json") == "transforms_json"
    assert detect_format(shared_data("dtu_scan65_neus") / "cameras_large.npz") == "neus_npz"
    assert detect_format(shared_data("nerd_ethiopian_head") / "poses_bounds.npy") == "llff"
    scene = load_scene(shared_data("dtu_scan65_neus") / "cameras_large.npz")
    assert scene.metadata["cameras_file"].endswith("cameras_large.npz")


def _touch_model(folder):
    folder.mkdir(parents=True)
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        (folder / name).write_text("# empty\n")


@pytest.mark.parametrize("layout", ["sparse/0", "sparse", "colmap/sparse/0", "."])
def test_colmap_layouts(tmp_path, layout):
    _touch_model(tmp_path / layout if layout != "." else tmp_path / "model")
    root = tmp_path if layout != "." else tmp_path / "model"
    assert detect_format(root) == "colmap"


def test_bare_image_folder_asks_for_sfm(tmp_path):
    write_image(tmp_path / "a.jpg", np.zeros((8, 8, 3), dtype=np.float32))
    assert detect_format(tmp_path) == "images"
    with pytest.raises(InputError, match="fields3d sfm IMAGES --out DIR") as e:
        load_scene(tmp_path)
    assert e.value.path == tmp_path
    nested = tmp_path / "nested"
    write_image(nested / "images" / "b.png", np.zeros((8, 8, 3), dtype=np.float32))
    assert detect_format(nested) == "images"


def test_nothing_recognised_lists_every_format(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as e:
        detect_format(tmp_path)
    message = str(e.value)
    for name in FORMATS:
        assert name in message
    for needs in (
        "transforms.json",
        "cameras_sphere.npz",
        "poses_bounds.npy",
        "sparse/0",
        "camera-intrinsics.txt",
    ):
        assert needs in message
    with pytest.raises(InputError, match="no capture format"):
        detect_format(tmp_path / "notes.txt")


def test_options_are_checked_and_forwarded(shared_data, tmp_path):
    with pytest.raises(
        InputError, match="option 'split' does not apply to llff captures; their options: downscale"
    ):
        load_scene(shared_data("nerd_ethiopian_head"), split="val")
    with pytest.raises(InputError, match="expected format to be one of"):
        load_scene(shared_data("nerd_ethiopian_head"), format="ply")
    write_image(tmp_path / "a.png", np.zeros((8, 8, 4), dtype=np.float32))
    pose = np.eye(4).tolist()
    (tmp_path / "transforms.json").write_text(
        json.dumps({"fl_x": 5.0, "frames": [{"file_path": "a.png", "transform_matrix": pose}]})
    )
    assert load_scene(tmp_path, background=(0.0, 0.0, 0.0)).background == (0.0, 0.0, 0.0)
    assert load_scene(tmp_path, format="transforms_json").format == "transforms_json"
    assert FORMATS["transforms_json"].options() == ["split", "background"]
