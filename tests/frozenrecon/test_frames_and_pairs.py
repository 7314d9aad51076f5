import numpy as np
import pytest
import torch

from fields3d.errors import InputError
from fields3d.frozenrecon.frame_maps import build_frame_maps
from fields3d.frozenrecon.frames import read_frames
from fields3d.frozenrecon.pairs import near_pairs, rotation_pairs, select_keyframes
from fields3d.io.images import write_image


def test_frames_of_different_sizes_name_the_odd_file(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((12, 16, 3)))
    write_image(tmp_path / "b.png", np.zeros((12, 16, 3)))
    write_image(tmp_path / "c.png", np.zeros((10, 16, 3)))
    with pytest.raises(InputError, match=r"16x12 \(a\.png\), got 16x10 for c\.png"):
        read_frames(tmp_path)


def test_a_single_frame_is_refused(tmp_path):
    write_image(tmp_path / "only.png", np.zeros((12, 16, 3)))
    with pytest.raises(InputError, match=r"at least 2 frames.*got 1 \(only\.png\)"):
        read_frames(tmp_path)
    with pytest.raises(InputError, match="no such"):
        read_frames(tmp_path / "missing")


def test_rgbd_folder_lists_only_colour_frames(rgbd_room):
    frames = read_frames(rgbd_room)
    assert len(frames) == 8 and frames.names[0] == "frame-000000.color.png"
    assert frames.size == (48, 64)
    assert read_frames(rgbd_room, max_frames=3, stride=2).names == [
        "frame-000000.color.png",
        "frame-000002.color.png",
        "frame-000004.color.png",
    ]


def test_near_pairs_both_directions():
    pairs = near_pairs(4, 2)
    got = set(map(tuple, pairs.T.tolist()))
    assert got == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)}


def test_rotation_pairs_pick_similar_views_beyond_the_window():
    from fields3d.frozenrecon.se3 import twist_to_pose

    yaw = torch.tensor([0.0, 0.3, 0.6, 0.9, 0.05, 1.5], dtype=torch.float64)
    xi = torch.zeros(6, 6, dtype=torch.float64)
    xi[:, 1] = yaw
    c2w = twist_to_pose(xi)
    got = set(map(tuple, rotation_pairs(c2w, window=1, per_frame=1, max_angle_deg=10.0).T.tolist()))
    assert (0, 4) in got and (4, 0) in got
    assert all(abs(i - j) > 1 for i, j in got)
    assert not any(5 in p for p in got)  # 1.5 rad away from everything else


def test_keyframes_drop_near_duplicates(room):
    _, _, color, prior = room(4, 30.0)
    color = [color[0], color[0], color[1], color[2]]
    prior = [prior[0], prior[0] * 1.0001, prior[1], prior[2]]
    maps = build_frame_maps(prior, color, (12, 16))
    assert select_keyframes(maps) == [0, 2, 3]
    assert select_keyframes(maps, 0.0) == [0, 1, 2, 3]


def test_video_file_frames_via_imageio(tmp_path, room):
    iio = pytest.importorskip("imageio.v3")
    _, _, color, _ = room(3, 20.0)
    frames = np.stack([(c * 255).astype(np.uint8) for c in color])
    try:
        iio.imwrite(tmp_path / "walk.gif", frames, duration=100, loop=0)
    except Exception as e:  # noqa: BLE001 - no GIF writer in this imageio install
        pytest.skip(f"imageio cannot write GIF here ({e})")
    seq = read_frames(tmp_path / "walk.gif")
    assert len(seq) == 3 and seq.size == (48, 64) and seq.from_video
    assert seq.names == ["frame-000000", "frame-000001", "frame-000002"]
    assert np.abs(seq.images[1] - color[1]).mean() < 0.05
    (tmp_path / "clip.txt").write_text("x")
    with pytest.raises(InputError, match="folder of images or a video"):
        read_frames(tmp_path / "clip.txt")
