import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fields3d.geometry.similarity import Similarity
from fields3d.metrics.trajectory import (
    align_positions,
    ate_rmse,
    relative_pose_errors,
    rotation_angle_deg,
    rotation_errors_deg,
    umeyama,
)


def _random_similarity(rng, scale=2.5):
    rot = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
    return Similarity.from_parts(scale, rot, rng.normal(size=3) * 3)


def _trajectory(rng, n=20):
    """(n, 4, 4) camera-to-world poses along a curve with random orientations."""
    poses = np.tile(np.eye(4), (n, 1, 1))
    t = np.linspace(0, 2 * np.pi, n)
    poses[:, :3, 3] = np.stack([np.cos(t), np.sin(t), 0.3 * t], 1) + rng.normal(scale=0.05, size=(n, 3))
    poses[:, :3, :3] = Rotation.random(n, random_state=rng.integers(1 << 31)).as_matrix()
    return poses


def test_umeyama_recovers_a_random_sim3_exactly():
    rng = np.random.default_rng(1)
    s = _random_similarity(rng)
    src = rng.normal(size=(30, 3))
    est = umeyama(src, s.apply_points(src))
    assert np.allclose(est.matrix, s.matrix, atol=1e-10)
    assert est.scale == pytest.approx(2.5)


def test_umeyama_se3_mode_has_unit_scale_and_exact_rigid_fit():
    rng = np.random.default_rng(2)
    rigid = _random_similarity(rng, scale=1.0)
    src = rng.normal(size=(10, 3))
    est = umeyama(src, rigid.apply_points(src), with_scale=False)
    assert est.scale == pytest.approx(1.0) and np.allclose(est.matrix, rigid.matrix, atol=1e-10)
    # with a scaled target, the SE(3) fit keeps scale 1 but finds the rotation
    scaled = _random_similarity(rng, scale=3.0)
    est = umeyama(src, scaled.apply_points(src), with_scale=False)
    assert est.scale == pytest.approx(1.0)
    assert np.allclose(est.rotation, scaled.rotation, atol=1e-10)


def test_umeyama_never_returns_a_reflection():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(12, 3))
    est = umeyama(src, src * [1, 1, -1])  # a mirror image: best proper rotation instead
    assert np.linalg.det(est.rotation) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(N >= 3, 3\)"):
        umeyama(src[:2], src[:2])


def test_ate_zero_for_a_similarity_copy():
    rng = np.random.default_rng(4)
    gt = _trajectory(rng)[:, :3, 3]
    s = _random_similarity(rng, scale=0.3)
    est = s.inverse().apply_points(gt)
    assert ate_rmse(est, gt) == pytest.approx(0.0, abs=1e-10)
    assert ate_rmse(est, gt, align="se3") > 0.1  # the scale cannot be undone rigidly
    rigid = _random_similarity(rng, scale=1.0).apply_points(gt)
    assert ate_rmse(rigid, gt, align="se3") == pytest.approx(0.0, abs=1e-10)
    assert ate_rmse(gt + [1.0, 2.0, 2.0], gt, align="none") == pytest.approx(3.0)


def test_ate_known_value_for_a_perturbed_copy():
    rng = np.random.default_rng(5)
    gt = _trajectory(rng, 40)[:, :3, 3]
    centred = gt - gt.mean(0)
    # noise with zero mean and zero cross-covariance with the positions: the best rigid fit is identity
    basis = np.column_stack([np.ones(len(gt)), centred])
    noise = rng.normal(scale=0.05, size=gt.shape)
    noise -= basis @ np.linalg.lstsq(basis, noise, rcond=None)[0]
    est = gt + noise
    assert ate_rmse(est, gt, align="se3") == pytest.approx(np.sqrt((noise**2).sum(1).mean()), rel=1e-9)
    # Sim(3): rotation stays identity, scale shrinks to var_g / (var_g + var_e)
    var_g, var_e = (centred**2).sum(1).mean(), (noise**2).sum(1).mean()
    s = var_g / (var_g + var_e)
    expected = np.sqrt((1 - s) ** 2 * var_g + s**2 * var_e)
    assert ate_rmse(est, gt) == pytest.approx(expected, rel=1e-9)
    assert align_positions(est, gt).scale == pytest.approx(s)


def test_rotation_errors():
    rng = np.random.default_rng(6)
    gt = _trajectory(rng, 6)
    est = gt.copy()
    angles = np.array([0.0, 1e-4, 1.0, 30.0, 90.0, 179.9])
    axes = rng.normal(size=(6, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    est[:, :3, :3] = gt[:, :3, :3] @ Rotation.from_rotvec(np.radians(angles)[:, None] * axes).as_matrix()
    assert np.allclose(rotation_errors_deg(est, gt), angles, atol=1e-8)
    # a global similarity applied to the estimate is undone by passing it as the alignment
    s = _random_similarity(rng, scale=2.0)
    assert np.allclose(rotation_errors_deg(s.apply_c2w(est), gt, alignment=s.inverse()), angles, atol=1e-8)
    assert rotation_angle_deg(np.eye(3)) == 0.0
    with pytest.raises(ValueError, match=r"\(N, 4, 4\)"):
        rotation_errors_deg(est[:, :3], gt[:, :3])


def test_relative_pose_errors():
    rng = np.random.default_rng(7)
    gt = _trajectory(rng, 10)
    s = _random_similarity(rng, scale=1.7)
    est = s.apply_c2w(gt)
    t_err, r_err = relative_pose_errors(est, gt, alignment=s.inverse())
    assert t_err.shape == (9,) and np.allclose(t_err, 0, atol=1e-9) and np.allclose(r_err, 0, atol=1e-6)
    # without undoing the scale the relative translations are 1.7x too long
    t_err, r_err = relative_pose_errors(est, gt)
    step = np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1)
    assert np.allclose(t_err, 0.7 * step) and np.allclose(r_err, 0, atol=1e-6)
    # a constant extra rotation of the last camera shows up in the last pair only
    bent = gt.copy()
    bent[-1, :3, :3] = bent[-1, :3, :3] @ Rotation.from_euler("z", 5, degrees=True).as_matrix()
    _, r_err = relative_pose_errors(bent, gt, step=1)
    assert np.allclose(r_err[:-1], 0, atol=1e-6) and r_err[-1] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="step in"):
        relative_pose_errors(gt, gt, step=10)
