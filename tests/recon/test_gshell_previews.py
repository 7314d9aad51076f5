import numpy as np
import trimesh

from fields3d.recon.gshell_previews import BOUNDARY_COLOR, boundary_colors, write_boundary_views


def _open_cylinder():
    """A closed cylinder (z in [-0.75, 0.75]) without its top cap: one open rim at z = 0.75."""
    closed = trimesh.creation.cylinder(radius=0.5, height=1.5, sections=24)
    top = np.isclose(closed.vertices[closed.faces][..., 2], 0.75).all(axis=1)
    return trimesh.Trimesh(closed.vertices, closed.faces[~top], process=False)


def test_boundary_colors_mark_exactly_the_open_rim():
    mesh = _open_cylinder()
    colors = boundary_colors(mesh)
    red = (colors == BOUNDARY_COLOR).all(axis=1)
    assert red.any()
    assert np.allclose(mesh.vertices[red, 2], 0.75) and red.sum() == 24


def test_boundary_views_show_the_rim_from_the_side_and_from_above(tmp_path):
    from PIL import Image

    mesh = _open_cylinder()
    caption, path = write_boundary_views(mesh.vertices, mesh.faces, tmp_path, np.array([0, 0, 1.0]), 4, 64)
    assert path == tmp_path / "boundaries.png" and "red" in caption
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    reddish = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    assert reddish.sum() > 20
