"""Pinhole cameras with OpenCV distortion, in fields3d's one convention (see ``conventions``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.cameras import distortion as _dist
from fields3d.cameras.conventions import opengl_to_opencv
from fields3d.cameras.rays import RayBundle
from fields3d.geometry.similarity import Similarity


def _index_tensor(idx, n: int) -> torch.Tensor:
    if isinstance(idx, slice):
        return torch.arange(n)[idx]
    t = torch.as_tensor(idx, dtype=torch.long)
    return t.reshape(-1) if t.ndim == 0 else t


@dataclass
class Cameras:
    """N pinhole cameras (OpenCV axes, pixel origin at the image's top-left corner).

    Attributes:
        K: (N, 3, 3) float32 intrinsics in pixels.
        c2w: (N, 4, 4) float32 camera-to-world poses (OpenCV camera axes), world units.
        width: (N,) int64 image widths in pixels.
        height: (N,) int64 image heights in pixels.
        distortion: (N, 8) float32 OpenCV coefficients (k1, k2, p1, p2, k3, k4, k5, k6); zeros = none.
    """

    K: torch.Tensor
    c2w: torch.Tensor
    width: torch.Tensor
    height: torch.Tensor
    distortion: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.K = torch.as_tensor(self.K, dtype=torch.float32)
        self.c2w = torch.as_tensor(self.c2w, dtype=torch.float32, device=self.K.device)
        if self.K.ndim == 2:
            self.K = self.K.expand(self.c2w.shape[0], 3, 3).clone()
        n = self.c2w.shape[0]
        if self.c2w.shape != (n, 4, 4):
            raise ValueError(f"expected c2w of shape (N, 4, 4), got {tuple(self.c2w.shape)}")
        if self.K.shape != (n, 3, 3):
            raise ValueError(f"expected K of shape ({n}, 3, 3), got {tuple(self.K.shape)}")
        self.width = torch.as_tensor(self.width, dtype=torch.long).expand(n).clone()
        self.height = torch.as_tensor(self.height, dtype=torch.long).expand(n).clone()
        if self.distortion is None:
            self.distortion = torch.zeros(n, _dist.NUM_COEFFS, device=self.K.device)
        else:
            d = torch.as_tensor(self.distortion, dtype=torch.float32, device=self.K.device)
            d = _dist.as_coeffs(d) if d.shape[-1] < _dist.NUM_COEFFS else d
            self.distortion = d.expand(n, _dist.NUM_COEFFS).clone()
        if not torch.isfinite(self.K).all() or not torch.isfinite(self.c2w).all():
            raise ValueError("expected finite intrinsics and poses, got NaN or infinity")
        if (self.K[:, 0, 0] <= 0).any() or (self.K[:, 1, 1] <= 0).any():
            raise ValueError(f"expected positive focal lengths, got fx={self.K[:, 0, 0].min().item():.4g}")

    # ----------------------------------------------------------------------------------------------
    # construction
    @staticmethod
    def from_fov(fov_x: float, width: int, height: int, c2w, fov_y: float | None = None) -> Cameras:
        """Cameras with the principal point at the image centre from a horizontal field of view (radians)."""
        c2w = torch.as_tensor(np.asarray(c2w), dtype=torch.float32).reshape(-1, 4, 4)
        fx = 0.5 * width / np.tan(0.5 * fov_x)
        fy = fx if fov_y is None else 0.5 * height / np.tan(0.5 * fov_y)
        K = torch.tensor([[fx, 0, width / 2], [0, fy, height / 2], [0, 0, 1]], dtype=torch.float32)
        return Cameras(K, c2w, width, height)

    @staticmethod
    def from_opengl(K, c2w_opengl, width, height, distortion=None) -> Cameras:
        """Cameras from camera-to-world poses with OpenGL/Blender camera axes (x right, y up, z back)."""
        c2w = opengl_to_opencv(torch.as_tensor(np.asarray(c2w_opengl), dtype=torch.float32))
        return Cameras(K, c2w, width, height, distortion)

    # ----------------------------------------------------------------------------------------------
    # basic properties
    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, idx) -> Cameras:
        i = _index_tensor(idx, len(self)).to(self.K.device)
        return Cameras(self.K[i], self.c2w[i], self.width[i.cpu()], self.height[i.cpu()], self.distortion[i])

    @property
    def device(self) -> torch.device:
        return self.K.device

    def to(self, device) -> Cameras:
        return Cameras(
            self.K.to(device), self.c2w.to(device), self.width, self.height, self.distortion.to(device)
        )

    @property
    def w2c(self) -> torch.Tensor:
        """(N, 4, 4) world-to-camera matrices."""
        return torch.linalg.inv(self.c2w)

    @property
    def centers(self) -> torch.Tensor:
        """(N, 3) camera centres in world units."""
        return self.c2w[:, :3, 3]

    @property
    def has_distortion(self) -> bool:
        return bool((self.distortion != 0).any())

    def image_size(self, i: int = 0) -> tuple[int, int]:
        """(height, width) of camera ``i``."""
        return int(self.height[i]), int(self.width[i])

    # ----------------------------------------------------------------------------------------------
    # transforms
    def scaled(self, factor: float) -> Cameras:
        """Cameras for images resized by ``factor`` (e.g. 1/8 for LLFF ``images_8``); exact in this pixel
        convention."""
        K = self.K.clone()
        K[:, :2] *= factor
        w = torch.round(self.width.double() * factor).long()
        h = torch.round(self.height.double() * factor).long()
        return Cameras(K, self.c2w.clone(), w, h, self.distortion.clone())

    def transformed(self, sim: Similarity) -> Cameras:
        """Cameras moved by a similarity (e.g. scene normalisation); intrinsics are unchanged."""
        return Cameras(
            self.K.clone(), sim.apply_c2w(self.c2w), self.width, self.height, self.distortion.clone()
        )

    def without_distortion(self) -> Cameras:
        """The same cameras with zero distortion (for images undistorted by ``undistort_image``)."""
        return Cameras(self.K.clone(), self.c2w.clone(), self.width, self.height, None)

    # ----------------------------------------------------------------------------------------------
    # pixels <-> rays
    def pixel_grid(self, i: int = 0) -> torch.Tensor:
        """(H, W, 2) pixel-centre coordinates (u, v) of camera ``i`` (u = column + 0.5, v = row + 0.5)."""
        h, w = self.image_size(i)
        v, u = torch.meshgrid(
            torch.arange(h, device=self.device), torch.arange(w, device=self.device), indexing="ij"
        )
        return torch.stack([u, v], -1).float() + 0.5

    def rays(self, camera_index, pixels: torch.Tensor) -> RayBundle:
        """Rays through pixel coordinates.

        Args:
            camera_index: int or (R,) int64 camera index of each ray.
            pixels: (R, 2) float (u, v) pixel coordinates (pixel centres are at +0.5).
        Returns:
            RayBundle with (R, 3) origins, (R, 3) unit world directions, (R,) camera indices.
        """
        pixels = torch.as_tensor(pixels, dtype=torch.float32, device=self.device)
        if pixels.ndim != 2 or pixels.shape[-1] != 2:
            raise ValueError(f"expected pixels of shape (R, 2), got {tuple(pixels.shape)}")
        idx = torch.as_tensor(camera_index, dtype=torch.long, device=self.device).expand(pixels.shape[0])
        K = self.K[idx]
        xy = (pixels - K[:, :2, 2]) / torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)
        if self.has_distortion:
            xy = _dist.undistort(xy, self.distortion[idx])
        d_cam = torch.cat([xy, torch.ones_like(xy[:, :1])], -1)
        c2w = self.c2w[idx]
        d_world = torch.einsum("rij,rj->ri", c2w[:, :3, :3], d_cam)
        return RayBundle(c2w[:, :3, 3].clone(), torch.nn.functional.normalize(d_world, dim=-1), idx)

    def image_rays(self, i: int) -> RayBundle:
        """All H*W rays of camera ``i`` in row-major pixel order."""
        return self.rays(i, self.pixel_grid(i).reshape(-1, 2))

    def project(self, points: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points (P, 3) into camera ``i``: pixels (P, 2) and depth (P,) along the camera z
        axis."""
        points = torch.as_tensor(points, dtype=self.c2w.dtype, device=self.device)
        w2c = torch.linalg.inv(self.c2w[i])
        p_cam = points @ w2c[:3, :3].T + w2c[:3, 3]
        z = p_cam[:, 2]
        safe_z = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
        xy = p_cam[:, :2] / safe_z.unsqueeze(-1)  # points behind the camera (z <= 0) are the caller's to drop
        if self.has_distortion:
            xy = _dist.distort(xy, self.distortion[i])
        K = self.K[i]
        uv = xy * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]
        return uv, z

    # ----------------------------------------------------------------------------------------------
    # serialisation
    def to_dict(self) -> dict:
        return {
            "K": self.K.tolist(),
            "c2w": self.c2w.tolist(),
            "width": self.width.tolist(),
            "height": self.height.tolist(),
            "distortion": self.distortion.tolist(),
        }

    @staticmethod
    def from_dict(d: dict) -> Cameras:
        return Cameras(
            torch.tensor(d["K"]),
            torch.tensor(d["c2w"]),
            d["width"],
            d["height"],
            torch.tensor(d["distortion"]),
        )


def undistort_image(image: torch.Tensor, cameras: Cameras, i: int) -> torch.Tensor:
    """Resample an image of camera ``i`` as seen by the same camera without distortion.

    Args:
        image: (H, W, C) float image of camera ``i``.
    Returns:
        (H, W, C) image for ``cameras[i].without_distortion()`` (bilinear; pixels that fall outside the
        source image are zero).
    """
    h, w = cameras.image_size(i)
    if image.shape[:2] != (h, w):
        raise ValueError(f"expected an image of {h}x{w} for camera {i}, got {tuple(image.shape[:2])}")
    K = cameras.K[i]
    f = torch.stack([K[0, 0], K[1, 1]])
    xy = (cameras.pixel_grid(i) - K[:2, 2]) / f
    src = _dist.distort(xy, cameras.distortion[i]) * f + K[:2, 2]  # (H, W, 2) source pixel coordinates
    grid = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1)
    img = image.permute(2, 0, 1).unsqueeze(0).to(grid.dtype)
    out = torch.nn.functional.grid_sample(
        img, grid.unsqueeze(0), mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out[0].permute(1, 2, 0).to(image.dtype)
