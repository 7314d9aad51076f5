"""Preview cameras: the turntable shows the object upright (the world's up is up in the images)."""

from __future__ import annotations

import numpy as np
import pytest

from fields3d.recon.previews import orbit_cameras, render_turntable


@pytest.mark.parametrize("up", [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.3, -0.9, 0.1)])
def test_orbit_cameras_keep_up_at_the_top_of_the_image(up):
    up = np.asarray(up) / np.linalg.norm(up)
    cams = orbit_cameras(np.zeros(3), 1.0, 6, 32, up=up)
    c2w = cams.c2w.double().numpy()
    for pose in c2w:
        rotation = pose[:3, :3]
        assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-5)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-5)
        assert pose[:3, 1] @ up < -0.5  # image y (down) points against the world's up
        assert pose[:3, 2] @ (-pose[:3, 3]) > 0  # looking at the centre


def test_turntable_draws_the_top_of_a_mesh_in_the_upper_half():
    # a tall thin box: red cap on top (+z is up), grey elsewhere
    import trimesh

    box = trimesh.creation.box(extents=(0.4, 0.4, 2.0))
    colors = np.full((len(box.vertices), 3), 128, np.uint8)
    colors[box.vertices[:, 2] > 0] = (255, 0, 0)
    image = render_turntable(box.vertices, box.faces, colors, n_views=1, size=48, up=np.array([0, 0, 1.0]))[0]
    red = (image[..., 0] > 0.3) & (image[..., 1] < 0.1)
    rows = np.nonzero(red.any(axis=1))[0]
    assert len(rows) > 0 and rows.mean() < 24
