import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from fields3d.geometry.similarity import Similarity


def _sim(scale=2.0, seed=0):
    rng = np.random.default_rng(seed)
    return Similarity.from_parts(scale, Rotation.random(random_state=seed).as_matrix(), rng.normal(size=3))


def test_parts_inverse_and_composition():
    s = _sim()
    assert s.scale == pytest.approx(2.0)
    assert np.allclose(s.rotation @ s.rotation.T, np.eye(3))
    x = np.random.default_rng(1).normal(size=(5, 3))
    assert np.allclose(s.inverse().apply_points(s.apply_points(x)), x)
    t = _sim(0.5, seed=3)
    assert np.allclose((s @ t).apply_points(x), s.apply_points(t.apply_points(x)))
    assert np.allclose(Similarity.from_dict(s.to_dict()).matrix, s.matrix)
    with pytest.raises(ValueError, match="positive scale"):
        Similarity.from_parts(0.0)
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        Similarity(np.eye(3))


def test_normalizing_maps_sphere_to_unit_sphere():
    n = Similarity.normalizing([1.0, 2.0, 3.0], 4.0)
    assert np.allclose(n.apply_points(np.array([[1.0, 2.0, 3.0], [5.0, 2.0, 3.0]])), [[0, 0, 0], [1, 0, 0]])


def test_torch_points_directions_and_poses():
    s = _sim()
    x = torch.randn(4, 3, dtype=torch.float32)
    out = s.apply_points(x)
    assert out.dtype == torch.float32 and np.allclose(out.numpy(), s.apply_points(x.numpy()), atol=1e-5)
    d = s.apply_directions(np.array([[0.0, 0.0, 1.0]]))
    assert np.linalg.norm(d) == pytest.approx(1.0)
    pose = np.eye(4)
    pose[:3, :3] = Rotation.random(random_state=5).as_matrix()
    pose[:3, 3] = [1.0, 2.0, 3.0]
    mapped = s.apply_c2w(pose)
    assert np.allclose(mapped[:3, :3] @ mapped[:3, :3].T, np.eye(3))  # rotation stays orthonormal
    assert np.allclose(mapped[:3, 3], s.apply_points(pose[:3, 3]))
    assert torch.allclose(s.apply_c2w(torch.from_numpy(pose)), torch.from_numpy(mapped))
