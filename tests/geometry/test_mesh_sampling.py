import numpy as np
import pytest
import torch
import trimesh

from fields3d.geometry.mesh_sampling import sample_surface


def _unit_square():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def test_points_lie_on_the_square_with_its_normal():
    s = sample_surface(_unit_square(), 5000, seed=3)
    assert s.points.shape == (5000, 3) and s.normals.shape == (5000, 3)
    assert np.allclose(s.points[:, 2], 0.0)
    assert s.points[:, :2].min() >= 0.0 and s.points[:, :2].max() <= 1.0
    assert np.allclose(s.normals, [0, 0, 1])
    assert np.allclose(s.barycentric.sum(1), 1.0) and (s.barycentric >= 0).all()


def test_uniform_by_area_and_inside_faces():
    # two triangles with areas 1/2 and 3/2: picked 1:3
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 0, 1], [0, 1, 1]], dtype=np.float64)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    s = sample_surface((v, f), 40000, seed=0)
    assert abs((s.face_index == 1).mean() - 0.75) < 0.01
    # uniform inside the unit right triangle: mean of x is 1/3
    first = s.points[s.face_index == 0]
    assert abs(first[:, 0].mean() - 1 / 3) < 0.01
    # points equal barycentric combinations of their face's corners
    assert np.allclose(s.points, np.einsum("nk,nkd->nd", s.barycentric, v[f[s.face_index]]))


def test_sphere_normals_point_outwards_and_seed_reproduces():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    a = sample_surface(sphere, 2000, seed=7)
    b = sample_surface(sphere, 2000, seed=7)
    c = sample_surface(sphere, 2000, seed=8)
    assert np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)
    radial = a.points / np.linalg.norm(a.points, axis=1, keepdims=True)
    assert (np.einsum("nd,nd->n", radial, a.normals) > 0.95).all()
    assert np.allclose(np.linalg.norm(a.points, axis=1), 1.0, atol=0.02)


def test_torch_input_and_degenerate_faces_never_picked():
    v, f = _unit_square()
    v = np.vstack([v, [[5, 5, 5], [5, 5, 5]]])
    f = np.vstack([f, [[4, 5, 4]]])  # zero-area face
    s = sample_surface((torch.from_numpy(v), torch.from_numpy(f)), 3000, seed=1)
    assert (s.face_index < 2).all()


@pytest.mark.parametrize("count", [0, -3, 2.5])
def test_rejects_bad_counts(count):
    with pytest.raises(ValueError, match="expected a positive integer sample count"):
        sample_surface(_unit_square(), count)


def test_rejects_zero_area_and_bad_indices():
    v = np.zeros((3, 3))
    with pytest.raises(ValueError, match="positive surface area"):
        sample_surface((v, np.array([[0, 1, 2]])), 10)
    with pytest.raises(ValueError, match=r"face indices in \[0, 3\)"):
        sample_surface((v, np.array([[0, 1, 3]])), 10)
