"""SE(3) in the Lie-algebra parameterisation used by the pose optimiser: exp/log maps and pose chains.

A twist ``xi`` is (..., 6) = (axis-angle rotation ``w`` (3,) in radians, translation ``t`` (3,)); its
pose is ``[[exp(w), t], [0, 1]]`` (the rotation and the translation are decoupled, which conditions a
gradient-based optimiser better than the coupled SE(3) exponential and spans the same poses).

Camera poses are camera-to-world ``c2w`` (4, 4) (OpenCV axes).  A *chain* stores frame 0's pose fixed at
the identity and, for every later frame ``i``, the relative pose ``inv(c2w[i-1]) @ c2w[i]``; absolute
poses are their running product (:func:`chain_to_absolute`).
"""

from __future__ import annotations

import torch


def _skew(w: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    zero = torch.zeros_like(w[..., 0])
    return torch.stack(
        [
            torch.stack([zero, -w[..., 2], w[..., 1]], -1),
            torch.stack([w[..., 2], zero, -w[..., 0]], -1),
            torch.stack([-w[..., 1], w[..., 0], zero], -1),
        ],
        -2,
    )


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices.

    Uses Taylor expansions below 1e-4 rad, so it is exact and differentiable at 0.
    """
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    k = _skew(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def so3_log(r: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle (radians), angle in [0, pi].

    Accurate near 0; near pi the axis is taken from the symmetric part (the sign is arbitrary at pi).
    """
    cos = ((r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2]) - 1.0) / 2.0
    vec = torch.stack(
        [r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1
    )
    sin = vec.norm(dim=-1) / 2.0
    theta = torch.atan2(sin, cos.clamp(-1.0, 1.0))
    scale = torch.where(sin > 1e-6, theta / (2.0 * sin.clamp_min(1e-12)), 0.5 + theta**2 / 12.0)
    out = vec * scale[..., None]
    near_pi = cos < -0.999
    if near_pi.any():
        # axis from R + I = 2 a a^T (1 - cos) near pi: the largest column
        sym = (r[near_pi] + torch.eye(3, dtype=r.dtype, device=r.device)) / 2.0
        col = sym.diagonal(dim1=-2, dim2=-1).argmax(-1)
        axis = sym[torch.arange(len(col)), :, col]
        axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        sign = torch.sign((axis * vec[near_pi]).sum(-1, keepdim=True))
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        out = out.clone()
        out[near_pi] = axis * theta[near_pi][..., None] * sign
    return out


def twist_to_pose(xi: torch.Tensor) -> torch.Tensor:
    """(..., 6) twists (rotation axis-angle, translation) -> (..., 4, 4) poses."""
    if xi.shape[-1] != 6:
        raise ValueError(f"expected twists of shape (..., 6), got {tuple(xi.shape)}")
    rot = so3_exp(xi[..., :3])
    top = torch.cat([rot, xi[..., 3:, None]], -1)
    bottom = torch.zeros(*xi.shape[:-1], 1, 4, dtype=xi.dtype, device=xi.device)
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], -2)


def pose_to_twist(pose: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) poses -> (..., 6) twists; inverse of :func:`twist_to_pose`."""
    return torch.cat([so3_log(pose[..., :3, :3]), pose[..., :3, 3]], -1)


def invert_pose(pose: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 4, 4) rigid poses (rotation transposed)."""
    rt = pose[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(pose)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ pose[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def chain_to_absolute(relative: torch.Tensor) -> torch.Tensor:
    """Running product of a pose chain.

    Args:
        relative: (N - 1, 4, 4) relative poses ``inv(c2w[i-1]) @ c2w[i]`` for i = 1..N-1.
    Returns:
        (N, 4, 4) absolute poses with ``c2w[0] = I``.
    """
    if relative.ndim != 3 or relative.shape[1:] != (4, 4):
        raise ValueError(f"expected relative poses of shape (N - 1, 4, 4), got {tuple(relative.shape)}")
    eye = torch.eye(4, dtype=relative.dtype, device=relative.device)
    poses = [eye]
    for k in range(relative.shape[0]):
        poses.append(poses[-1] @ relative[k])
    return torch.stack(poses)


def orthonormalize(pose: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) poses with their rotation blocks projected onto SO(3) (nearest rotation, by SVD).

    Round trips between absolute poses and chains multiply many matrices; without this projection the
    rounding errors in the rotations grow geometrically.
    """
    u, _, vt = torch.linalg.svd(pose[..., :3, :3])
    d = torch.det(u @ vt)
    fix = torch.ones_like(pose[..., 0, :3])
    fix[..., 2] = d
    out = pose.clone()
    out[..., :3, :3] = (u * fix[..., None, :]) @ vt
    return out


def absolute_to_chain(c2w: torch.Tensor) -> torch.Tensor:
    """(N, 4, 4) absolute poses -> (N - 1, 4, 4) relative poses ``inv(c2w[i-1]) @ c2w[i]``."""
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or c2w.shape[0] < 1:
        raise ValueError(f"expected poses of shape (N >= 1, 4, 4), got {tuple(c2w.shape)}")
    return orthonormalize(invert_pose(c2w[:-1]) @ c2w[1:])
