"""Volume rendering of signed distance fields (NeuS) on dense per-ray sample arrays.

Samples of R rays are held as dense ``(R, S)`` arrays sorted by distance along each ray, with a
``valid`` mask for the padding (rays have different numbers of samples; the field is evaluated on the
valid entries only, see :mod:`fields3d.render.occupancy_grid`).

NeuS's discrete opacity of the interval between consecutive samples ``i`` and ``i + 1`` of a ray is

    alpha_i = max((Phi_s(f_i) - Phi_s(f_{i+1})) / Phi_s(f_i), 0),    Phi_s(f) = sigmoid(s f),

with ``f`` the signed distance at the samples and ``s`` the learned inverse standard deviation.  It
needs SDF values only (no gradients), is unbiased (the weight peaks at the zero crossing), and a crossing
interval gets an opacity near 1 whatever its length; exits (``f`` increasing) get 0.  Weights are
``w_i = alpha_i prod_{j<i} (1 - alpha_j)`` and the colour of interval ``i`` is the colour at sample ``i``.
"""

from __future__ import annotations

import torch

_EPS = 1e-6


def sphere_intersection(
    origins: torch.Tensor, directions: torch.Tensor, radius: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where (R, 3) rays with unit directions cross the sphere of ``radius`` at the origin.

    Returns:
        near (R,), far (R,) distances along the rays (near >= 0: rays starting inside begin at 0), and
        hit (R,) bool (False for rays that miss the sphere or leave it behind them; their near/far are 0).
    """
    if origins.shape != directions.shape or origins.ndim != 2 or origins.shape[-1] != 3:
        raise ValueError(
            f"expected origins and directions of shape (R, 3), got {tuple(origins.shape)} and "
            f"{tuple(directions.shape)}"
        )
    b = (origins * directions).sum(-1)
    c = (origins * origins).sum(-1) - radius * radius
    disc = b * b - c
    hit = disc > 0
    root = torch.sqrt(disc.clamp_min(0.0))
    near = (-b - root).clamp_min(0.0)
    far = -b + root
    hit = hit & (far > 0)
    zero = torch.zeros_like(near)
    return torch.where(hit, near, zero), torch.where(hit, far, zero), hit


def neus_alpha(sdf: torch.Tensor, valid: torch.Tensor, inv_s: torch.Tensor | float) -> torch.Tensor:
    """NeuS's discrete opacity of each sample's interval (to the next valid sample of its ray).

    Args:
        sdf: (R, S) signed distances at samples sorted along each ray (padding entries: any value).
        valid: (R, S) bool, True for real samples (padding after them).
        inv_s: the inverse standard deviation s (scalar tensor or float), > 0.
    Returns:
        (R, S) alpha in [0, 1]; 0 for the last sample of each ray and for padding.
    """
    if sdf.shape != valid.shape or sdf.ndim != 2:
        raise ValueError(
            f"expected sdf and valid of one shape (R, S), got {tuple(sdf.shape)} and {tuple(valid.shape)}"
        )
    phi = torch.sigmoid(sdf * inv_s)
    prev, nxt = phi[:, :-1], phi[:, 1:]
    alpha = ((prev - nxt) / prev.clamp_min(_EPS)).clamp(0.0, 1.0)
    pair = valid[:, :-1] & valid[:, 1:]
    alpha = torch.where(pair, alpha, torch.zeros_like(alpha))
    # (R, S - 1) pairs, then the last sample; with S = 1 (one sample per ray) all of it is that column
    return torch.cat([alpha, alpha.new_zeros(alpha.shape[0], min(1, sdf.shape[1]))], dim=1)


def compositing_weights(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, S) opacities -> weights ``alpha_i T_i`` (R, S) and the transmittance left behind the last
    sample (R,)."""
    survive = torch.cumprod(torch.cat([alpha.new_ones(alpha.shape[0], 1), 1.0 - alpha + 1e-7], dim=1), dim=1)
    weights = alpha * survive[:, :-1]
    return weights, survive[:, -1].clamp(0.0, 1.0)


def blend_colors(
    rgb_cam: torch.Tensor | None,
    rgb_ref: torch.Tensor | None,
    weight: torch.Tensor | None,
    opacity: torch.Tensor,
) -> torch.Tensor:
    """UniSDF's blend of rendered colours: ``C = W C_ref + (1 - W) C_cam``.

    Args:
        rgb_cam, rgb_ref: (R, 3) volume-rendered (premultiplied) colours of each branch, or None.
        weight: (R,) volume-rendered blend weight (premultiplied by opacity), or None.
        opacity: (R,) accumulated opacity; the blend uses ``W / opacity`` (identical to UniSDF's for
            opaque rays, and keeps colours premultiplied for partly transparent ones).
    """
    if rgb_ref is None:
        return rgb_cam
    if rgb_cam is None:
        return rgb_ref
    w = (weight / opacity.clamp_min(1e-6)).clamp(0.0, 1.0)[:, None]
    return w * rgb_ref + (1.0 - w) * rgb_cam


def accumulate(
    weights: torch.Tensor, ray_index: torch.Tensor, values: torch.Tensor, n_rays: int
) -> torch.Tensor:
    """Sum ``weights[k] * values[k]`` of packed samples into their rays.

    Args:
        weights: (K,) sample weights.
        ray_index: (K,) int64 ray of each sample.
        values: (K,) or (K, C) per-sample values.
        n_rays: R.
    Returns:
        (R,) or (R, C).
    """
    contrib = weights * values if values.ndim == 1 else weights[:, None] * values
    out = torch.zeros((n_rays,) + tuple(values.shape[1:]), dtype=contrib.dtype, device=contrib.device)
    return out.index_add(0, ray_index, contrib)
