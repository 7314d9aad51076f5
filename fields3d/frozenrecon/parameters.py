"""The few numbers FrozenRecon optimises: per-frame scale, shift and local scale grid, one focal length,
chained relative camera poses.

Rectified depth of frame i at pixel p, from its normalised prior ``n_i`` (see
:mod:`fields3d.frozenrecon.frame_maps`)::

    D_i(p) = exp(log_scale_i) * (n_i(p) + shift_i) * exp(L_i(p))

where ``L_i`` bilinearly interpolates a coarse (gh, gw) grid ``local_i`` of log scale corrections whose
corner cells sit on the image's corner pixel centres, minus its mean over the image
(:func:`fields3d.frozenrecon.warping.coarse_cell_means`): the grid bends the depth map
but cannot rescale it as a whole (that is ``scale_i``'s job; a free mean would let all frames shrink
together, which lowers every residual without making the frames agree).  Frame 0's log scale is
fixed at 0 and its pose at the identity: they fix the gauge (the reconstruction's scale and frame);
metrics remove it with a Sim(3) or one global scale.  Poses are a chain:
``c2w_i = c2w_{i-1} @ relative_i`` with ``relative_i = base_i @ exp(twist_i)``
(:mod:`fields3d.frozenrecon.se3`).
"""

from __future__ import annotations

import torch
from torch import nn

from fields3d.frozenrecon.se3 import absolute_to_chain, chain_to_absolute, twist_to_pose
from fields3d.frozenrecon.warping import coarse_cell_means, coarse_weights


class ReconParameters(nn.Module):
    """Optimised variables of one sequence of N >= 2 frames (float64 state, CPU or GPU).

    Args:
        shift_init: (N,) initial shifts (in units of each normalised prior).
        focal_init: initial focal length in full-resolution pixels.
        grid_size: (gh, gw) cells of the local scale grid per frame.
        relative_init: optional (N - 1, 4, 4) initial relative poses (identity by default).
    """

    def __init__(
        self,
        shift_init,
        focal_init: float,
        grid_size: tuple[int, int] = (4, 4),
        relative_init: torch.Tensor | None = None,
        dtype=torch.float64,
    ):
        super().__init__()
        shift_init = torch.as_tensor(shift_init, dtype=dtype).reshape(-1)
        n = shift_init.shape[0]
        if n < 2:
            raise ValueError(f"expected at least 2 frames, got {n}")
        if not focal_init > 0:
            raise ValueError(f"expected a positive focal length, got {focal_init}")
        gh, gw = int(grid_size[0]), int(grid_size[1])
        if gh < 1 or gw < 1:
            raise ValueError(f"expected a local grid of at least 1x1 cells, got {grid_size}")
        self.num_frames = n
        self.grid_size = (gh, gw)
        self.log_scale_rest = nn.Parameter(torch.zeros(n - 1, dtype=dtype))
        self.shift = nn.Parameter(shift_init.clone())
        self.local = nn.Parameter(torch.zeros(n, gh * gw, dtype=dtype))
        self.log_focal = nn.Parameter(torch.tensor(float(focal_init), dtype=dtype).log())
        self.twist = nn.Parameter(torch.zeros(n - 1, 6, dtype=dtype))
        eye = torch.eye(4, dtype=dtype).expand(n - 1, 4, 4).clone()
        base = eye if relative_init is None else torch.as_tensor(relative_init, dtype=dtype)
        if base.shape != (n - 1, 4, 4):
            raise ValueError(f"expected relative_init of shape ({n - 1}, 4, 4), got {tuple(base.shape)}")
        self.register_buffer("base_relative", base.clone())

    # ----------------------------------------------------------------------------------------------
    def log_scale(self) -> torch.Tensor:
        """(N,) log scales, frame 0's fixed at 0."""
        return torch.cat([self.log_scale_rest.new_zeros(1), self.log_scale_rest])

    def scale(self) -> torch.Tensor:
        return self.log_scale().exp()

    def focal(self) -> torch.Tensor:
        """0-d focal length in full-resolution pixels."""
        return self.log_focal.exp()

    def local_log(
        self, frames: torch.Tensor, uv: torch.Tensor, full_width: int, full_height: int
    ) -> torch.Tensor:
        """Local log scale corrections ``L`` (P, K) of ``frames`` (P,) at pixels ``uv`` (P, K, 2)."""
        idx, wts = coarse_weights(uv, *self.grid_size, full_width, full_height)
        cells = self.local[frames]  # (P, G)
        values = torch.gather(cells, 1, idx.reshape(idx.shape[0], -1)).reshape(idx.shape)
        omega = coarse_cell_means(*self.grid_size, dtype=cells.dtype, device=cells.device)
        return (values * wts).sum(-1) - (cells * omega).sum(1, keepdim=True)

    def rectify(
        self,
        prior: torch.Tensor,
        frames: torch.Tensor,
        uv: torch.Tensor,
        full_width: int,
        full_height: int,
        local: bool = True,
    ) -> torch.Tensor:
        """Rectified depth (P, K) of normalised prior values ``prior`` (P, K) of ``frames`` (P,) at pixels
        ``uv`` (P, K, 2)."""
        depth = self.log_scale()[frames].exp()[:, None] * (prior + self.shift[frames][:, None])
        if local:
            depth = depth * self.local_log(frames, uv, full_width, full_height).exp()
        return depth

    def relative_poses(self) -> torch.Tensor:
        """(N - 1, 4, 4) relative poses ``inv(c2w_{i-1}) @ c2w_i``."""
        return self.base_relative @ twist_to_pose(self.twist)

    def poses(self) -> torch.Tensor:
        """(N, 4, 4) camera-to-world poses, frame 0 at the identity."""
        return chain_to_absolute(self.relative_poses())

    @torch.no_grad()
    def set_poses(self, c2w: torch.Tensor) -> None:
        """Set the chain from (N, 4, 4) absolute poses (frame 0 must be the identity; twists become 0)."""
        c2w = torch.as_tensor(c2w, dtype=self.base_relative.dtype, device=self.base_relative.device)
        if c2w.shape != (self.num_frames, 4, 4):
            raise ValueError(f"expected ({self.num_frames}, 4, 4) poses, got {tuple(c2w.shape)}")
        eye = torch.eye(4, dtype=c2w.dtype, device=c2w.device)
        if not torch.allclose(c2w[0], eye, atol=1e-6):
            raise ValueError("expected frame 0 at the identity (the chain's gauge)")
        self.base_relative.copy_(absolute_to_chain(c2w))
        self.twist.zero_()

    @torch.no_grad()
    def rebase(self) -> None:
        """Fold the twists into ``base_relative`` (poses unchanged, twists back to 0)."""
        self.base_relative.copy_(self.relative_poses())
        self.twist.zero_()
