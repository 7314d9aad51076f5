"""Augmentations that suit tri-planes: channel permutations, cube symmetries that map the planes onto each
other correctly, and noise.

A cube symmetry maps normalised points ``x' = s * x[perm]`` (``x'_i = s_i x_{perm[i]}``, s_i = +-1). For
tri-planes it moves and transposes/flips whole planes: new plane (i, j) is old plane
(perm[i], perm[j]) (transposed when perm[i] > perm[j]) flipped along axis i when s_i = -1 and along
axis j when s_j = -1. The field of the new planes with the same decoder at ``x'`` equals the old field at
``x`` (the three plane readings are summed, so their order does not matter).
"""

from __future__ import annotations

import itertools

import torch

from fields3d.ops.triplane import PLANE_AXES

SYMMETRIES = ("none", "yaw", "all")
"""none; yaw: the 8 symmetries that keep +y up (90-degree turns about y, mirrors of x and z); all: 48."""


def symmetry_group(kind: str) -> list[tuple[tuple[int, int, int], tuple[bool, bool, bool]]]:
    """The (perm, flips) pairs of a group of cube symmetries (identity first)."""
    if kind not in SYMMETRIES:
        raise ValueError(f"expected symmetries in {SYMMETRIES}, got {kind!r}")
    if kind == "none":
        return [((0, 1, 2), (False, False, False))]
    out = []
    for perm in itertools.permutations(range(3)):
        for flips in itertools.product((False, True), repeat=3):
            if kind == "yaw" and (perm[1] != 1 or flips[1]):
                continue
            out.append((perm, flips))
    out.sort(key=lambda pf: (pf[0] != (0, 1, 2), pf[1] != (False, False, False)))
    return out


def transform_planes(planes: torch.Tensor, perm, flips) -> torch.Tensor:
    """Apply a cube symmetry to tri-planes (..., 3, C, R, R) (planes xy, xz, yz; rows = second axis)."""
    if planes.ndim < 4 or planes.shape[-4] != 3 or planes.shape[-1] != planes.shape[-2]:
        raise ValueError(f"expected planes (..., 3, C, R, R), got {tuple(planes.shape)}")
    if sorted(perm) != [0, 1, 2] or len(flips) != 3:
        raise ValueError(f"expected a permutation of (0, 1, 2) and 3 flips, got {perm} and {flips}")
    index = {axes: k for k, axes in enumerate(PLANE_AXES)}
    out = []
    for i, j in PLANE_AXES:
        a, b = perm[i], perm[j]
        p = planes[..., index[(min(a, b), max(a, b))], :, :, :]
        if a > b:
            p = p.transpose(-1, -2)
        dims = [d for d, f in ((-1, flips[i]), (-2, flips[j])) if f]
        if dims:
            p = p.flip(dims)
        out.append(p)
    return torch.stack(out, dim=-4)


def transform_points(points: torch.Tensor, perm, flips) -> torch.Tensor:
    """The same symmetry on (..., 3) normalised points: ``x'_i = s_i x_{perm[i]}``."""
    sign = torch.tensor([-1.0 if f else 1.0 for f in flips], dtype=points.dtype, device=points.device)
    return points[..., list(perm)] * sign


def permute_channels(planes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of the C channels of each object's tri-planes (B, 3, C, R, R), the same on its
    three planes (channel c of every plane belongs to one decoder input)."""
    b, c = planes.shape[0], planes.shape[2]
    perms = torch.stack([torch.randperm(c, generator=generator) for _ in range(b)]).to(planes.device)
    idx = perms[:, None, :, None, None].expand(-1, 3, -1, planes.shape[3], planes.shape[4])
    return planes.gather(2, idx)


def random_symmetry(
    planes: torch.Tensor, points: torch.Tensor | None, kind: str, generator: torch.Generator | None = None
):
    """Each object (B, 3, C, R, R) (and its (B, N, 3) points) under a random symmetry of group ``kind``."""
    group = symmetry_group(kind)
    if len(group) == 1:
        return planes, points
    picks = torch.randint(0, len(group), (planes.shape[0],), generator=generator).tolist()
    new_planes = torch.stack([transform_planes(planes[k], *group[g]) for k, g in enumerate(picks)])
    new_points = None
    if points is not None:
        new_points = torch.stack([transform_points(points[k], *group[g]) for k, g in enumerate(picks)])
    return new_planes, new_points


def add_noise(planes: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise of ``std`` (in units of the planes' values) added to every texel."""
    if std <= 0:
        return planes
    return planes + std * torch.randn(planes.shape, generator=generator).to(planes.device)
