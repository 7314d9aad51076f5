import numpy as np
import pytest
import torch
import trimesh

from fields3d.metrics.mesh_distance import (
    PointSample,
    as_point_sample,
    chamfer_distance,
    fscore,
    mesh_distances,
    nearest_distances,
    normal_consistency,
)


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=4, radius=1.0)


def _square(z=0.0):
    v = np.array([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def test_concentric_spheres(sphere):
    outer = trimesh.Trimesh(sphere.vertices * 1.1, sphere.faces, process=False)
    r = mesh_distances(outer, sphere, threshold=0.05, samples=30000)
    # nearest sample lies 0.1 radially away plus a little lateral sampling offset
    assert r["accuracy"] == pytest.approx(0.1, abs=2e-3)
    assert r["completeness"] == pytest.approx(0.1, abs=2e-3)
    assert r["chamfer"] == pytest.approx(0.5 * (r["accuracy"] + r["completeness"]))
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["fscore"] == 0.0
    assert r["normal_consistency"] == pytest.approx(1.0, abs=2e-3)
    loose = mesh_distances(outer, sphere, threshold=0.15, samples=30000)
    assert loose["fscore"] == 1.0


def test_identical_meshes(sphere):
    r = mesh_distances(sphere, sphere, threshold=0.05, samples=30000)
    spacing = np.sqrt(sphere.area / 30000)
    assert r["accuracy"] < spacing and r["completeness"] < spacing
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["fscore"] == 1.0
    assert r["normal_consistency"] > 0.99
    assert r["samples"] == 30000 and r["threshold"] == 0.05


def test_square_shifted_in_z():
    r = mesh_distances(_square(0.0), _square(0.05), threshold=0.06, samples=20000)
    assert r["accuracy"] == pytest.approx(0.05, abs=1e-3)
    assert r["completeness"] == pytest.approx(0.05, abs=1e-3)
    assert r["fscore"] == 1.0
    assert r["normal_consistency"] == pytest.approx(1.0)
    tight = mesh_distances(_square(0.0), _square(0.05), threshold=0.04, samples=20000)
    assert tight["precision"] == 0.0 and tight["recall"] == 0.0


def test_partial_prediction_precision_recall():
    # prediction = left half of the square: all of it is accurate, half of the gt is missed
    v, f = _square()
    half = (v * [0.5, 1, 1], f)
    r = mesh_distances(half, (v, f), threshold=0.02, samples=20000)
    assert r["precision"] == 1.0
    assert r["recall"] == pytest.approx(0.5, abs=0.02)
    assert r["fscore"] == pytest.approx(2 * 0.5 / 1.5, abs=0.02)
    # half the gt is 0 away, the other half on average 0.25 away (x uniform in [0.5, 1])
    assert r["completeness"] == pytest.approx(0.125, abs=0.01)


def test_normal_consistency_is_unsigned(sphere):
    flipped = trimesh.Trimesh(sphere.vertices, sphere.faces[:, ::-1], process=False)
    assert normal_consistency(sphere, sphere, samples=20000) == pytest.approx(1.0, abs=2e-3)
    assert normal_consistency(sphere, flipped, samples=20000) == pytest.approx(1.0, abs=2e-3)
    # a square against a perpendicular square: normals orthogonal everywhere
    v, f = _square()
    wall = (v[:, [0, 2, 1]], f)
    assert normal_consistency((v, f), wall, samples=5000) == pytest.approx(0.0, abs=1e-9)


def test_point_sets_and_tensors(sphere):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    r = mesh_distances(torch.from_numpy(pts * 1.2).float(), pts, threshold=0.01)
    assert r["accuracy"] == pytest.approx(0.2, abs=1e-5)  # same directions: nearest is the radial partner
    assert np.isnan(r["normal_consistency"])
    with pytest.raises(ValueError, match="expected normals on both shapes"):
        normal_consistency(pts, sphere)
    nc = mesh_distances((pts, pts), (pts * 1.2, -pts), threshold=0.3)["normal_consistency"]
    assert nc == pytest.approx(1.0)
    assert isinstance(as_point_sample(PointSample(pts)), PointSample)
    acc, comp, cham = chamfer_distance(pts * 1.2, pts)
    assert cham == pytest.approx(0.2, abs=1e-5) and acc == pytest.approx(comp)


def test_outlier_distance_and_seed(sphere):
    far = np.vstack([sphere.vertices, [[100.0, 0, 0]]])
    r = mesh_distances(far, sphere.vertices, threshold=0.01, outlier_distance=1.0)
    assert r["accuracy"] == pytest.approx(0.0)
    assert r["precision"] == pytest.approx(len(sphere.vertices) / len(far))
    a = mesh_distances(sphere, sphere, threshold=0.05, samples=2000, seed=1)
    b = mesh_distances(sphere, sphere, threshold=0.05, samples=2000, seed=1)
    c = mesh_distances(sphere, sphere, threshold=0.05, samples=2000, seed=2)
    assert a == b and a["accuracy"] != c["accuracy"]


def test_helpers_and_errors(sphere):
    d, i = nearest_distances(np.array([[0.0, 0, 2]]), np.array([[0.0, 0, 0], [0, 0, 1.5]]))
    assert d.tolist() == [0.5] and i.tolist() == [1]
    assert fscore(0.0, 0.0) == 0.0 and fscore(1.0, 0.5) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="positive finite threshold"):
        mesh_distances(sphere, sphere, threshold=0.0)
    with pytest.raises(ValueError, match=r"non-empty \(N, 3\) point set"):
        mesh_distances(np.zeros((0, 3)), sphere, threshold=0.1)
    with pytest.raises(ValueError, match="finite point"):
        mesh_distances(np.full((3, 3), np.nan), sphere, threshold=0.1)
