import numpy as np
import pytest

from fields3d.frozenrecon.evaluation import align_poses_sim3, depth_abs_rel, global_scale
from fields3d.geometry.similarity import Similarity


def rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_pose_alignment_recovers_the_rotation_about_a_straight_path():
    # cameras on a straight line: the centres alone leave the roll about the line free
    c2w = np.tile(np.eye(4), (5, 1, 1))
    c2w[:, 0, 3] = np.arange(5.0)
    for k in range(5):
        c2w[k, :3, :3] = rotation([0, 1, 0], 0.1 * k)
    truth = Similarity.from_parts(2.5, rotation([1, 0.2, 0], 0.7), np.array([1.0, -2.0, 0.5]))
    gt = np.asarray(truth.apply_c2w(c2w))
    sim = align_poses_sim3(c2w, gt)
    assert np.allclose(sim.matrix, truth.matrix, atol=1e-9)
    fixed = align_poses_sim3(c2w, gt, scale=1.0)
    assert fixed.scale == pytest.approx(1.0) and np.allclose(fixed.rotation, truth.rotation, atol=1e-9)
    with pytest.raises(ValueError, match="pose arrays"):
        align_poses_sim3(c2w[:1], gt[:1])


def test_abs_rel_after_one_global_scale_counts_missing_pixels_as_errors():
    gt = [np.full((4, 4), 2.0), np.full((4, 4), 4.0)]
    pred = [g / 3.0 for g in gt]
    assert global_scale(pred, gt) == pytest.approx(3.0)
    assert depth_abs_rel(pred, gt, 3.0) == pytest.approx(0.0)
    pred[0][0, 0] = np.nan
    assert depth_abs_rel(pred, gt, 3.0) == pytest.approx(1 / 32)
