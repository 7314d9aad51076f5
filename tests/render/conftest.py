"""Fixtures for the rasterizer tests: cameras looking at a point, icospheres, cubes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fields3d.cameras import Cameras


def _look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """(4, 4) camera-to-world pose (OpenCV axes: z towards ``target``, y roughly along ``up``)."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


@pytest.fixture
def look_at():
    """``look_at(eye, target=(0, 0, 0), up=(0, -1, 0))`` -> (4, 4) OpenCV camera-to-world pose."""
    return _look_at


@pytest.fixture
def orbit_cameras():
    """``orbit_cameras(n, width, height, radius=3, fov_deg=45)``: n cameras on a circle around the origin."""

    def make(n: int, width: int, height: int, radius: float = 3.0, fov_deg: float = 45.0) -> Cameras:
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        poses = np.stack([_look_at([radius * np.cos(a), 0.4 * radius, radius * np.sin(a)]) for a in angles])
        return Cameras.from_fov(np.radians(fov_deg), width, height, poses)

    return make


@pytest.fixture
def icosphere():
    """``icosphere(subdivisions, dtype=torch.float32)`` -> unit-sphere vertices (V, 3) and faces (F, 3)."""

    def make(subdivisions: int, dtype=torch.float32):
        import trimesh

        mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
        return torch.tensor(mesh.vertices, dtype=dtype), torch.tensor(mesh.faces, dtype=torch.long)

    return make
