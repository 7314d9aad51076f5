import numpy as np
import pytest
import torch
import trimesh

from fields3d.geometry.triangle_arrays import face_areas_normals, triangle_arrays


def test_accepts_trimesh_pairs_and_tensors():
    box = trimesh.creation.box()
    v, f = triangle_arrays(box)
    assert v.dtype == np.float64 and f.dtype == np.int64 and f.shape == (12, 3)
    v2, f2 = triangle_arrays((torch.from_numpy(box.vertices).float(), torch.from_numpy(box.faces)))
    assert np.allclose(v, v2) and np.array_equal(f, f2)
    v3, f3 = triangle_arrays(box.vertices, box.faces)
    assert np.array_equal(f, f3)


def test_areas_and_normals():
    v = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [1, 1, 1]], dtype=np.float64)
    areas, normals = face_areas_normals(v, np.array([[0, 1, 2], [0, 2, 1], [0, 0, 3]]))
    assert np.allclose(areas, [2.0, 2.0, 0.0])
    assert np.allclose(normals, [[0, 0, 1], [0, 0, -1], [0, 0, 0]])


@pytest.mark.parametrize(
    "vertices, faces, message",
    [
        (np.zeros((3, 2)), np.array([[0, 1, 2]]), "vertices of shape"),
        (np.zeros((3, 3)), np.array([[0, 1]]), "triangle faces of shape"),
        (np.zeros((3, 3)), np.array([[0.0, 1.0, 2.0]]), "integer face indices"),
        (np.full((3, 3), np.nan), np.array([[0, 1, 2]]), "finite vertex"),
        (np.zeros((3, 3)), np.array([[0, 1, -1]]), "face indices in"),
    ],
)
def test_rejects_malformed_arrays(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        triangle_arrays(vertices, faces)
