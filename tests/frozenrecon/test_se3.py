import math

import pytest
import torch

from fields3d.frozenrecon.se3 import (
    absolute_to_chain,
    chain_to_absolute,
    invert_pose,
    pose_to_twist,
    so3_exp,
    so3_log,
    twist_to_pose,
)


def random_twists(n, angle_max=math.pi * 0.95):
    g = torch.Generator().manual_seed(1)
    axis = torch.randn(n, 3, generator=g, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * angle_max
    return torch.cat([axis * angle, torch.randn(n, 3, generator=g, dtype=torch.float64)], -1)


def test_exp_log_round_trip_including_tiny_and_near_pi_angles():
    xi = random_twists(64)
    xi[0, :3] = 0.0
    xi[1, :3] = torch.tensor([1e-9, -2e-9, 0.0], dtype=torch.float64)
    xi[2, :3] = torch.tensor([0.0, 0.0, math.pi - 1e-4], dtype=torch.float64)
    back = pose_to_twist(twist_to_pose(xi))
    assert torch.allclose(back, xi, atol=1e-7)


def test_rotations_are_orthonormal_and_proper():
    r = so3_exp(random_twists(32)[:, :3])
    eye = torch.eye(3, dtype=torch.float64).expand_as(r)
    assert torch.allclose(r.transpose(-1, -2) @ r, eye, atol=1e-12)
    assert torch.allclose(torch.det(r), torch.ones(32, dtype=torch.float64), atol=1e-12)


def test_so3_log_of_a_half_turn_has_angle_pi():
    r = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    w = so3_log(r)
    assert w.norm().item() == pytest.approx(math.pi, abs=1e-9)
    assert torch.allclose(so3_exp(w), r, atol=1e-9)


def test_exp_is_differentiable_at_zero():
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    so3_exp(w)[0, 1].backward()
    assert torch.isfinite(w.grad).all()
    assert w.grad[2].item() == pytest.approx(-1.0)


def test_chain_round_trip_and_inverse():
    poses = twist_to_pose(random_twists(6, 1.0))
    poses = invert_pose(poses[:1]) @ poses  # frame 0 at the identity
    chain = absolute_to_chain(poses)
    assert chain.shape == (5, 4, 4)
    assert torch.allclose(chain_to_absolute(chain), poses, atol=1e-10)
    assert torch.allclose(
        invert_pose(poses) @ poses, torch.eye(4, dtype=torch.float64).expand(6, 4, 4), atol=1e-12
    )


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="expected twists"):
        twist_to_pose(torch.zeros(5))
    with pytest.raises(ValueError, match="expected relative poses"):
        chain_to_absolute(torch.zeros(3, 3, 3))
