"""``SynthConfig(camera_path="walkthrough")``: cameras inside a room mesh (added for FrozenRecon)."""

import numpy as np
import pytest

from fields3d.data.synthetic import SynthConfig, render_capture, synth_cameras
from fields3d.errors import InputError
from fields3d.frozenrecon.synthetic_room import room_mesh
from fields3d.io.mesh import write_mesh


def test_walkthrough_cameras_walk_an_arc_and_look_level():
    config = SynthConfig(views=9, camera_path="walkthrough", walk_radius=0.2, walk_sweep_deg=90.0)
    cams = synth_cameras(config)
    centers = cams.centers.double().numpy()
    radial = np.linalg.norm(centers[:, [0, 2]], axis=1)
    assert np.allclose(radial, 0.2, atol=1e-6)
    assert np.abs(centers[:, 1]).max() <= 0.02 + 1e-6
    forward = cams.c2w[:, :3, 2].double().numpy()
    assert np.abs(forward[:, 1]).max() < 1e-6  # level with the horizon (up = y)
    turn = np.degrees(np.arccos(np.clip((forward[0] * forward[-1]).sum(), -1, 1)))
    assert turn == pytest.approx(135.0, abs=1e-3)


def test_walkthrough_inside_a_room_sees_surface_everywhere(tmp_path):
    pytest.importorskip("open3d")
    vertices, faces = room_mesh(subdivisions=1)
    write_mesh(tmp_path / "room.ply", vertices, faces)
    config = SynthConfig(views=3, resolution=16, camera_path="walkthrough", supersample=1, fov_deg=60.0)
    capture = render_capture(tmp_path / "room.ply", tmp_path / "cap", config, progress=False)
    from fields3d.io.images import read_depth_png

    depth = read_depth_png(capture.depth_paths[1], 1000.0)
    assert (depth > 0).all()  # a closed room: every ray hits a wall or a sphere
    assert depth.max() < 2 * 0.9


def test_bad_walkthrough_settings_are_refused():
    with pytest.raises(InputError, match="walk_radius"):
        SynthConfig(camera_path="walkthrough", walk_radius=1.5).validate()
    with pytest.raises(InputError, match="camera_path"):
        SynthConfig(camera_path="spiral").validate()
