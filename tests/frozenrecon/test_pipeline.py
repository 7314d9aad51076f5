from dataclasses import replace

import numpy as np
import pytest

from fields3d.frozenrecon.evaluation import depth_abs_rel, global_scale
from fields3d.frozenrecon.pipeline import (
    LOCAL_STAGE,
    FrozenReconConfig,
    Stage,
    initial_focal,
    optimize_sequence,
    rectify_full,
)
from fields3d.metrics import ate_rmse

FAST_STAGES = (
    Stage("poses, scale, shift", ("poses", "scale", "shift"), iterations=8, window=2),
    Stage("+ focal", ("poses", "scale", "shift", "focal"), iterations=15, window=3),
)


def test_recovers_focal_scale_shift_and_poses_on_a_tiny_room(room):
    poses, depth, color, prior = room(8, 40.0)
    config = FrozenReconConfig(working_cells=32, stages=FAST_STAGES, pixels_per_pair=0)
    result = optimize_sequence(color, prior, 50.0 * 1.3, config, progress=False)
    assert result.keyframes == list(range(8))
    assert result.focal == pytest.approx(50.0, rel=0.08)
    rect = [rectify_full(result, i, prior[k]) for i, k in enumerate(result.keyframes)]
    s = global_scale(rect, depth)
    assert depth_abs_rel(prior, depth, global_scale(prior, depth)) > 0.2  # the corruption is strong
    assert depth_abs_rel(rect, depth, s) < 0.05
    spread = np.sqrt(((poses[:, :3, 3] - poses[:, :3, 3].mean(0)) ** 2).sum(1).mean())  # ATE of a point
    assert ate_rmse(result.c2w[:, :3, 3], poses[:, :3, 3]) < 0.25 * spread
    assert len(result.stage_reports) == 2 and result.stage_reports[1]["accepted"] > 0


def test_local_grid_stage_runs_and_keeps_the_focal_length(room):
    _, _, color, prior = room(4, 20.0)
    stages = FAST_STAGES[:1] + (replace(LOCAL_STAGE, iterations=3, window=2),)
    result = optimize_sequence(
        color,
        prior,
        60.0,
        FrozenReconConfig(working_cells=16, stages=stages, incremental_init=False),
        progress=False,
    )
    assert result.focal == pytest.approx(60.0, rel=1e-12)
    assert float(result.params.local.detach().abs().max()) > 0


def test_initial_focal_from_exif_or_field_of_view():
    assert initial_focal(640, 480) == pytest.approx(320 / np.tan(np.radians(30)))
    assert initial_focal(640, 480, exif_focal_35mm=36.0) == pytest.approx(640)


def test_too_few_frames_or_duplicates_only_are_refused(room):
    _, _, color, prior = room(2, 20.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        optimize_sequence(color[:1], prior[:1], 50.0, progress=False)
    with pytest.raises(ValueError, match="near-duplicates"):
        optimize_sequence([color[0], color[0]], [prior[0], prior[0]], 50.0, progress=False)
