import numpy as np
import pytest

from fields3d.frozenrecon.fusion import FusionConfig, tsdf_fuse
from fields3d.frozenrecon.synthetic_room import DEFAULT_SPHERES

pytest.importorskip("open3d")

K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])  # the room fixture's camera


def distance_to_room(points, half=(2.0, 1.2, 2.5)):
    walls = np.abs(np.abs(points) - np.asarray(half)).min(1)
    spheres = [np.abs(np.linalg.norm(points - np.asarray(c), axis=1) - r) for c, r in DEFAULT_SPHERES]
    return np.minimum(walls, np.min(spheres, axis=0))


def test_fused_mesh_and_points_lie_on_the_room_surfaces(room):
    poses, depth, color, _ = room(4, 30.0)
    depth[0][:5, :5] = np.nan  # missing values are skipped
    fused = tsdf_fuse(depth, color, poses, K, FusionConfig(voxel_fraction=1 / 40))
    assert len(fused.faces) > 1000 and len(fused.points) > 1000
    d = distance_to_room(fused.vertices)
    assert np.median(d) < 0.5 * fused.voxel
    assert np.mean(d < 2 * fused.voxel) > 0.95
    assert fused.vertex_colors.shape == fused.vertices.shape
    assert fused.vertex_colors.min() >= 0 and fused.vertex_colors.max() <= 1


def test_fusion_refuses_mismatched_inputs(room):
    poses, depth, color, _ = room(2, 10.0)
    with pytest.raises(ValueError, match="poses"):
        tsdf_fuse(depth, color, poses[:1], K)
    with pytest.raises(ValueError, match="valid depth"):
        tsdf_fuse([np.full_like(d, np.nan) for d in depth], color, poses, K)
