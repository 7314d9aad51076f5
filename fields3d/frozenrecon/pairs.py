"""Which frames the optimiser compares: keyframe selection and pair sampling.

- :func:`select_keyframes` walks the sequence and drops a frame when it is a near-duplicate of the last
  kept one (low-resolution colour and normalised depth prior almost unchanged): a camera standing still
  adds nothing but cost, and pairs without parallax carry no information about depth.
- :func:`near_pairs` lists temporal neighbours (i, i + 1 .. i + window), both directions: they overlap
  most and are used first, while poses are still rough.
- :func:`rotation_pairs` adds, once poses are estimated, for each frame the non-neighbouring frames whose
  relative rotation is smallest (below a bound) and whose cameras are close: loop-closure-like pairs
  that tie the chain together.
"""

from __future__ import annotations

import numpy as np
import torch

from fields3d.frozenrecon.frame_maps import FrameMaps


def select_keyframes(maps: FrameMaps, min_change: float = 0.02) -> list[int]:
    """Indices of the frames kept (frame 0 always).

    A frame is dropped when both its mean absolute colour difference (RGB in [0, 1]) and its normalised
    prior difference (units of the prior's mean absolute deviation, divided by 10) to the last kept
    frame are below ``min_change``.  ``min_change = 0`` keeps every frame.
    """
    if min_change < 0:
        raise ValueError(f"expected min_change >= 0, got {min_change}")
    keep = [0]
    for k in range(1, len(maps)):
        last = keep[-1]
        both = maps.valid[k] & maps.valid[last]
        color = (maps.color[k] - maps.color[last]).abs().mean().item()
        prior = (maps.prior[k] - maps.prior[last]).abs()[both].mean().item() / 10.0 if both.any() else 1.0
        if max(color, prior) >= min_change:
            keep.append(k)
    return keep


def near_pairs(n: int, window: int) -> torch.Tensor:
    """(2, P) long ordered pairs (i, j) with 1 <= |i - j| <= window (both directions) of n frames."""
    if n < 2 or window < 1:
        raise ValueError(f"expected n >= 2 and window >= 1, got n={n}, window={window}")
    rows = [(i, j) for i in range(n) for j in range(max(0, i - window), min(n, i + window + 1)) if i != j]
    return torch.tensor(rows, dtype=torch.long).T.contiguous()


def rotation_pairs(
    c2w: torch.Tensor,
    window: int,
    per_frame: int,
    max_angle_deg: float = 30.0,
    max_distance: float | None = None,
) -> torch.Tensor:
    """(2, P) long extra ordered pairs beyond the temporal ``window``, chosen by relative rotation.

    For every frame i, up to ``per_frame`` frames j with |i - j| > window whose viewing directions differ
    by at most ``max_angle_deg`` (smallest first) and, when given, whose centres lie within
    ``max_distance``; each chosen pair is used in both directions.

    Args:
        c2w: (N, 4, 4) current camera-to-world poses.
    """
    n = c2w.shape[0]
    rot = c2w[:, :3, :3].detach().double().cpu()
    cos = ((rot.transpose(-1, -2)[:, None] @ rot[None]).diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    angle = torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))).numpy()
    centers = c2w[:, :3, 3].detach().double().cpu().numpy()
    dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    chosen = set()
    for i in range(n):
        order = np.argsort(angle[i], kind="stable")
        count = 0
        for j in order:
            j = int(j)
            if abs(i - j) <= window or angle[i, j] > max_angle_deg:
                continue
            if max_distance is not None and dist[i, j] > max_distance:
                continue
            chosen.add((i, j))
            chosen.add((j, i))
            count += 1
            if count >= per_frame:
                break
    if not chosen:
        return torch.zeros(2, 0, dtype=torch.long)
    return torch.tensor(sorted(chosen), dtype=torch.long).T.contiguous()
