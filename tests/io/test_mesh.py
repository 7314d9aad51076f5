import numpy as np
import pytest
import torch
import trimesh

from fields3d.errors import InputError
from fields3d.io.mesh import read_mesh, write_mesh

# (file, vertices, triangles after quad splitting) from reference_meshes/SOURCE.md and garments_snug/SOURCE.md
REFERENCE = [
    ("armadillo_ngp.obj", 49990, 99976),
    ("beetle.obj", 1148, 2053),  # non-manifold edges, 2 components
    ("camelhead.off", 11381, 22704),  # open
    ("cow.obj", 2903, 5804),
    ("decimated-knight.off", 502, 1000),
    ("fandisk.obj", 6475, 12946),
    ("horse_quad.obj", 2400, 2 * 2398),  # pure quads
    ("planexy.off", 25, 32),
    ("spot.obj", 2930, 5856),  # UVs
    ("stanford-bunny.obj", 35947, 69451),  # holes, unreferenced vertices
    ("suzanne.obj", 507, 2 * 468 + 32),  # quads + triangles
    ("teapot.obj", 3644, 6320),
]
TRUNCATED_PLY = b"ply\nformat binary_little_endian 1.0\nelement vertex 9\nproperty float x\nend_header\n\x00"
GARMENTS = [("pants.obj", 3893, 7696), ("shorts.obj", 2235, 4380), ("tshirt.obj", 4424, 8710)]


@pytest.mark.parametrize("name, n_vertices, n_faces", REFERENCE)
def test_reads_reference_meshes(shared_data, name, n_vertices, n_faces):
    mesh = read_mesh(shared_data("reference_meshes") / name)
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.vertices.shape == (n_vertices, 3) and mesh.faces.shape == (n_faces, 3)
    assert np.isfinite(mesh.vertices).all() and mesh.faces.max() < n_vertices
    assert mesh.area > 0


@pytest.mark.parametrize("name, n_vertices, n_faces", GARMENTS)
def test_reads_open_garments(shared_data, name, n_vertices, n_faces):
    mesh = read_mesh(shared_data("garments_snug") / name)
    assert mesh.vertices.shape == (n_vertices, 3) and mesh.faces.shape == (n_faces, 3)
    assert not mesh.is_watertight


def test_planexy_is_flat(shared_data):
    mesh = read_mesh(shared_data("reference_meshes") / "planexy.off")
    assert np.allclose(mesh.vertices[:, 2], 0.0)


def _colored_box():
    box = trimesh.creation.box()
    rng = np.random.default_rng(0)
    return box.vertices, box.faces, rng.random((len(box.vertices), 3))


@pytest.mark.parametrize("suffix", [".ply", ".glb", ".obj"])
def test_write_read_round_trip_with_vertex_colours(tmp_path, suffix):
    v, f, colors = _colored_box()
    v_t, f_t = torch.from_numpy(v), torch.from_numpy(f)
    path = write_mesh(tmp_path / f"box{suffix}", v_t, f_t, vertex_colors=colors)
    assert path.is_file() and list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    mesh = read_mesh(path)
    assert np.allclose(mesh.vertices, v, atol=1e-6) and np.array_equal(mesh.faces, f)
    expected = (colors * 255 + 0.5).astype(np.uint8)
    assert mesh.visual.kind == "vertex"
    assert np.array_equal(mesh.visual.vertex_colors[:, :3], expected)


@pytest.mark.parametrize("suffix", [".ply", ".glb"])
def test_rgba_uint8_colours_round_trip(tmp_path, suffix):
    v, f, _ = _colored_box()
    rgba = np.random.default_rng(1).integers(0, 256, size=(len(v), 4), dtype=np.uint8)
    mesh = read_mesh(write_mesh(tmp_path / f"box{suffix}", v, f, vertex_colors=rgba))
    assert np.array_equal(mesh.visual.vertex_colors, rgba)


def test_glb_file_is_binary_gltf(tmp_path):
    v, f, _ = _colored_box()
    path = write_mesh(tmp_path / "box.glb", v, f)
    assert path.read_bytes()[:4] == b"glTF"


def test_real_mesh_round_trip(shared_data, tmp_path):
    mesh = read_mesh(shared_data("reference_meshes") / "suzanne.obj")
    for suffix in (".ply", ".obj", ".glb"):
        back = read_mesh(write_mesh(tmp_path / f"suzanne{suffix}", mesh.vertices, mesh.faces))
        assert np.allclose(back.vertices, mesh.vertices, atol=1e-5) and np.array_equal(back.faces, mesh.faces)


def test_read_errors(tmp_path):
    with pytest.raises(InputError, match="mesh file not found"):
        read_mesh(tmp_path / "missing.ply")
    with pytest.raises(InputError, match="got a folder"):
        read_mesh(tmp_path)
    (tmp_path / "mesh.xyz").write_text("0 0 0\n")
    with pytest.raises(InputError, match="expected a mesh with suffix"):
        read_mesh(tmp_path / "mesh.xyz")
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(InputError, match="no faces") as info:
        read_mesh(tmp_path / "points.obj")
    assert info.value.path == tmp_path / "points.obj"
    trimesh.PointCloud(np.random.default_rng(0).random((10, 3))).export(tmp_path / "cloud.ply")
    with pytest.raises(InputError, match="no faces"):
        read_mesh(tmp_path / "cloud.ply")
    (tmp_path / "empty.obj").write_text("")
    with pytest.raises(InputError, match="no faces"):
        read_mesh(tmp_path / "empty.obj")
    assert len(read_mesh(tmp_path / "points.obj", require_faces=False).vertices) == 3


@pytest.mark.parametrize(
    "name, content",
    [
        ("truncated.ply", TRUNCATED_PLY),
        ("garbage.glb", b"glTF" + b"\x07" * 40),
        ("bad.off", b"OFF\n3 1 0\n0 0 0\n1 0\n"),
        ("index.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n"),
        ("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n"),
        ("nan.off", b"OFF\n3 1 0\n0 0 nan\n1 0 0\n0 1 0\n3 0 1 2\n"),
    ],
)
def test_corrupt_files_raise_input_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_mesh(path)
    assert info.value.path == path


def test_out_of_range_ply_faces_are_rejected(tmp_path):
    header = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    header += "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    path = tmp_path / "index.ply"
    path.write_text(header + "0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n")
    with pytest.raises(InputError, match=r"face indices in \[0, 3\)"):
        read_mesh(path)


def test_write_errors(tmp_path):
    v, f, _ = _colored_box()
    with pytest.raises(InputError, match="output mesh suffix"):
        write_mesh(tmp_path / "box.stl", v, f)
    with pytest.raises(ValueError, match="face indices in"):
        write_mesh(tmp_path / "box.ply", v, f + 100)
    with pytest.raises(ValueError, match="vertex colours of shape"):
        write_mesh(tmp_path / "box.ply", v, f, vertex_colors=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="vertex normals of shape"):
        write_mesh(tmp_path / "box.ply", v, f, vertex_normals=np.zeros((3, 3)))
    assert not any(tmp_path.iterdir())  # nothing written on failure
