import numpy as np
import pytest

from fields3d.triplane.normalization import box_normalization, copy_specs, random_rotation


def test_box_normalization_fills_the_box():
    pts = np.random.default_rng(0).uniform([2, 5, -1], [6, 7, 0], size=(1000, 3))
    sim = box_normalization(pts, fill=0.9)
    q = sim.apply_points(pts)
    assert np.abs(q).max() == pytest.approx(0.9)
    assert np.allclose((q.min(0) + q.max(0)) / 2, 0, atol=1e-9)
    assert np.allclose(sim.inverse().apply_points(q), pts)


def test_rotated_scaled_copy_stays_inside():
    pts = np.random.default_rng(1).normal(size=(500, 3)) * [3, 1, 0.5]
    rng = np.random.default_rng(0)
    for kind in ("x", "y", "z", "so3"):
        r = random_rotation(kind, rng)
        assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
        q = box_normalization(pts, 0.9, r, 0.7).apply_points(pts)
        assert np.abs(q).max() == pytest.approx(0.63)


def test_copy_specs_seeded():
    a = copy_specs(4, "so3", (0.7, 1.0), seed=5)
    b = copy_specs(4, "so3", (0.7, 1.0), seed=5)
    assert np.allclose(a[0].rotation, np.eye(3)) and a[0].scale == 1.0
    assert all(np.allclose(x.rotation, y.rotation) and x.scale == y.scale for x, y in zip(a, b, strict=True))
    assert 0.7 <= min(s.scale for s in a[1:]) and not np.allclose(a[1].rotation, a[2].rotation)
    with pytest.raises(ValueError, match="expected 0 < scale_min"):
        copy_specs(2, "so3", (0.0, 1.0), seed=0)
