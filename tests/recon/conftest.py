"""Fixtures for the reconstruction tests: a tiny synthetic capture (the tiny configuration and
``one_thread`` are in tests/conftest.py, shared with tests/integration)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_capture(tmp_path_factory):
    """A synthetic capture of a capsule: 8 views of 32x32 with masks and the ground-truth mesh."""
    import trimesh

    from fields3d.data.synthetic import SynthConfig, render_capture
    from fields3d.io.mesh import write_mesh

    folder = tmp_path_factory.mktemp("tiny_capture")
    mesh = trimesh.creation.capsule(height=1.0, radius=0.5)
    write_mesh(folder / "capsule.ply", mesh.vertices, mesh.faces)
    capture = render_capture(
        folder / "capsule.ply", folder / "capture", SynthConfig(views=8, resolution=32), progress=False
    )
    return capture.out
