import numpy as np
import pytest
import trimesh

from fields3d.errors import InputError
from fields3d.triplane.shapes import load_shape, mesh_is_closed
from fields3d.triplane.supervision import (
    ShapeDistance,
    SupervisionConfig,
    check_field_for_shape,
    field_supervision,
)


def _sphere(r=0.5):
    m = trimesh.creation.icosphere(subdivisions=4, radius=r)
    return np.asarray(m.vertices), np.asarray(m.faces)


def test_sdf_udf_occupancy_of_a_sphere():
    v, f = _sphere(0.5)
    d = ShapeDistance(v, f)
    pts = np.array([[0, 0, 0], [0.8, 0, 0], [0, -0.3, 0], [0.0, 0.0, 0.9]], np.float32)
    exact = np.linalg.norm(pts, axis=1) - 0.5
    assert np.allclose(d.signed(pts), exact, atol=5e-3)
    assert np.allclose(d.unsigned(pts), np.abs(exact), atol=5e-3)
    assert d.occupancy(pts).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_point_cloud_udf_and_errors():
    pts = np.random.default_rng(0).normal(size=(500, 3))
    d = ShapeDistance(pts, np.zeros((0, 3), np.int64))
    q = np.array([[10.0, 0, 0]], np.float32)
    assert d.unsigned(q)[0] == pytest.approx(np.linalg.norm(pts - q, axis=1).min(), rel=1e-5)
    with pytest.raises(ValueError, match="expected a mesh"):
        d.signed(q)


def test_supervision_pool_near_and_uniform():
    v, f = _sphere(0.5)
    s = field_supervision(
        ShapeDistance(v, f),
        "sdf",
        SupervisionConfig(samples=4000, near_fraction=0.75),
        np.random.default_rng(0),
    )
    assert s.points.shape == (4000, 3) and s.values.shape == (4000,)
    assert np.abs(s.points).max() <= 1.0
    near, uniform = np.abs(s.values[:3000]), np.abs(s.values[3000:])
    assert np.median(near) < 0.05 < np.median(uniform)


def test_closedness_and_field_checks(tmp_path):
    v, f = _sphere()
    assert mesh_is_closed(v, f)
    assert not mesh_is_closed(v, f[:-1])
    # an unwelded copy (STL-like: three vertices per face) is still closed
    assert mesh_is_closed(v[f].reshape(-1, 3), np.arange(len(f) * 3).reshape(-1, 3))
    trimesh.Trimesh(v, f[:-5]).export(tmp_path / "open.ply")
    shape = load_shape(tmp_path / "open.ply")
    assert shape.kind == "open-mesh"
    with pytest.raises(InputError, match="use --field udf"):
        check_field_for_shape("sdf", shape)
    check_field_for_shape("udf", shape)
    np.save(tmp_path / "pts.npy", v)
    assert load_shape(tmp_path / "pts.npy").kind == "points"


def test_torch_twin_matches_open3d():
    pytest.importorskip("open3d")
    from fields3d.triplane.procedural_shapes import generate_shape

    m = generate_shape("mug", seed=2, resolution=32, target_faces=400)  # concave, a hole through the handle
    pts = np.random.default_rng(0).uniform(-1, 1, size=(300, 3)).astype(np.float32)
    o3d = ShapeDistance(m.vertices, m.faces, backend="open3d")
    twin = ShapeDistance(m.vertices, m.faces, backend="torch")
    assert np.allclose(twin.unsigned(pts), o3d.unsigned(pts), atol=1e-5)
    assert np.allclose(twin.signed(pts), o3d.signed(pts), atol=1e-5)
    assert np.array_equal(twin.occupancy(pts), o3d.occupancy(pts))
