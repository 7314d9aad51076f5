"""Bad captures through load_scene: each an InputError naming the file and what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fields3d.data import load_scene
from fields3d.errors import InputError
from fields3d.io.images import write_image

POSE = np.eye(4).tolist()


def _transforms(folder, frames, **top):
    (folder / "transforms.json").write_text(json.dumps({"fl_x": 10.0, **top, "frames": frames}))


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no such file or folder") as e:
        load_scene(tmp_path / "nowhere")
    assert e.value.path == tmp_path / "nowhere"


def test_image_that_does_not_decode(tmp_path):
    write_image(tmp_path / "good.png", np.zeros((6, 8, 3), dtype=np.float32))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really a png" + bytes(range(256)))
    _transforms(
        tmp_path,
        [
            {"file_path": "good.png", "transform_matrix": POSE},
            {"file_path": "bad.png", "transform_matrix": POSE},
        ],
    )
    with pytest.raises(InputError, match="image does not decode") as e:
        load_scene(tmp_path)
    assert e.value.path == tmp_path / "bad.png"
    assert str(e.value).startswith(str(tmp_path / "bad.png"))


def test_frames_pointing_at_missing_images(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((6, 8, 3), dtype=np.float32))
    _transforms(
        tmp_path,
        [
            {"file_path": "a.png", "transform_matrix": POSE},
            {"file_path": "./sub/b", "transform_matrix": POSE},
        ],
    )
    with pytest.raises(InputError, match=r"image file not found \(listed in .*transforms.json\)") as e:
        load_scene(tmp_path)
    assert e.value.path == tmp_path / "sub" / "b"


def test_json_that_does_not_parse(tmp_path):
    (tmp_path / "transforms.json").write_text('{"fl_x": 10, "frames": [')
    with pytest.raises(InputError, match="JSON does not parse: .* line 1") as e:
        load_scene(tmp_path)
    assert e.value.path == tmp_path / "transforms.json"


def test_transforms_structure_errors(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((6, 8, 3), dtype=np.float32))
    cases = [
        ({"frames": []}, "non-empty list 'frames'"),
        ({"fl_x": 10.0, "frames": [{"file_path": "a.png"}]}, "expected 'transform_matrix' in frames\\[0\\]"),
        ({"fl_x": 10.0, "frames": [{"file_path": "a.png", "transform_matrix": [[1, 0], [0, 1]]}]}, "4x4"),
        ({"frames": [{"file_path": "a.png", "transform_matrix": POSE}]}, "'fl_x' or 'camera_angle_x'"),
        (
            {"fl_x": "wide", "frames": [{"file_path": "a.png", "transform_matrix": POSE}]},
            "expected a number for 'fl_x'",
        ),
    ]
    for doc, pattern in cases:
        (tmp_path / "transforms.json").write_text(json.dumps(doc))
        with pytest.raises(InputError, match=pattern) as e:
            load_scene(tmp_path)
        assert e.value.path == tmp_path / "transforms.json"


def test_pose_file_with_wrong_number_of_entries(tmp_path):
    write_image(tmp_path / "frame-000000.color.png", np.zeros((6, 8, 3), dtype=np.float32))
    (tmp_path / "frame-000000.pose.txt").write_text("1 0 0 0 0 1 0 0 0 0 1 0 0 0 0")
    np.savetxt(tmp_path / "camera-intrinsics.txt", np.eye(3))
    with pytest.raises(InputError, match="expected 16 numbers .* got 15") as e:
        load_scene(tmp_path)
    assert e.value.path == tmp_path / "frame-000000.pose.txt"


def test_llff_and_neus_files_that_do_not_load(tmp_path):
    llff = tmp_path / "llff"
    llff.mkdir()
    (llff / "poses_bounds.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="npy does not load") as e:
        load_scene(llff)
    assert e.value.path == llff / "poses_bounds.npy"
    np.save(llff / "poses_bounds.npy", np.zeros((2, 15)))
    with pytest.raises(InputError, match=r"expected an \(N, 17\) array, got shape \(2, 15\)"):
        load_scene(llff)
    neus = tmp_path / "neus"
    write_image(neus / "image" / "000.png", np.zeros((6, 8, 3), dtype=np.float32))
    (neus / "cameras_sphere.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="npz does not load") as e:
        load_scene(neus)
    assert e.value.path == neus / "cameras_sphere.npz"
