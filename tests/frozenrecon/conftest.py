"""Fixtures of the FrozenRecon tests: ``room`` (an in-memory walk through the furnished synthetic room,
64x48 pixels, focal 50) and ``rgbd_room`` (the same as a 7-Scenes-style folder on disk)."""

from __future__ import annotations

import pytest

from fields3d.frozenrecon.synthetic_room import room_sequence, write_rgbd_folder


@pytest.fixture
def room():
    """``room(frames=8, sweep_deg=40)`` -> (poses, depth, color, prior)."""
    return room_sequence


@pytest.fixture(scope="module")
def rgbd_room(tmp_path_factory):
    """A 7-Scenes-style folder of 8 frames (64x48) of the furnished room."""
    return write_rgbd_folder(tmp_path_factory.mktemp("rgbd_room") / "scene")
