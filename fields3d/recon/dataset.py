"""Training and evaluation pixels of a capture, in memory, with rays in the normalised frame.

:class:`RayDataset` loads the chosen views of a :class:`~fields3d.data.SceneData` once (8-bit colour,
boolean masks, optionally downscaled so that the longer side is at most ``max_image_size``) and draws
random pixels from all of them; rays come from the capture's cameras moved into the normalised frame
(lens distortion handled by :meth:`fields3d.cameras.Cameras.rays`).  Views may have different sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.data.scene import SceneData
from fields3d.errors import InputError


def holdout_indices(n_views: int, n_holdout: int) -> list[int]:
    """Indices of ``n_holdout`` views spread evenly over ``n_views`` (none when n_holdout is 0).

    The first and last views stay in training; e.g. 48 views, 5 held out -> [4, 12, 20, 28, 36]
    (rounded midpoints of 5 equal parts, shifted into the range).
    """
    if n_holdout < 0:
        raise ValueError(f"expected n_holdout >= 0, got {n_holdout}")
    if n_holdout == 0:
        return []
    if n_views < n_holdout + 2:
        raise ValueError(f"expected at least {n_holdout + 2} views to hold out {n_holdout}, got {n_views}")
    picks = sorted({int((k + 0.5) * n_views / n_holdout) for k in range(n_holdout)})
    return [min(max(p, 1), n_views - 2) for p in picks]


def scaled_cameras(cameras: Cameras, max_size: int | None) -> tuple[Cameras, list[float]]:
    """Cameras for images downscaled so the longer side is at most ``max_size``; and each view's factor."""
    factors = []
    K = cameras.K.clone()
    width, height = cameras.width.clone(), cameras.height.clone()
    for i in range(len(cameras)):
        h, w = cameras.image_size(i)
        f = 1.0 if max_size is None or max(h, w) <= max_size else max_size / max(h, w)
        if f != 1.0:
            new_w, new_h = max(1, round(w * f)), max(1, round(h * f))
            K[i, 0] *= new_w / w
            K[i, 1] *= new_h / h
            width[i], height[i] = new_w, new_h
        factors.append(f)
    return Cameras(K, cameras.c2w.clone(), width, height, cameras.distortion.clone()), factors


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) float or (H, W) bool image -> (h, w) with a box filter (bool via > 0.5)."""
    from PIL import Image

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    if image.dtype == bool:
        im = Image.fromarray(image.astype(np.uint8) * 255).resize((w, h), Image.BOX)
        return np.asarray(im) > 127
    channels = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize((w, h), Image.BOX))
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


@dataclass
class RayBatch:
    """R training rays: (R, 3) origins and unit directions (normalised frame), (R, 3) target colours in
    [0, 1], (R,) target masks in {0, 1} (or None), (R,) camera index of each ray (in the dataset)."""

    origins: torch.Tensor
    directions: torch.Tensor
    rgb: torch.Tensor
    mask: torch.Tensor | None
    camera_index: torch.Tensor


class RayDataset:
    """Pixels of some views of a capture (see the module docstring).

    Args:
        scene: the capture.
        indices: which of its views to load.
        max_image_size: downscale views whose longer side exceeds this (None: full size).
        use_masks: load the masks when the capture has them.
        device: where the pixels and rays live.
    """

    def __init__(
        self,
        scene: SceneData,
        indices: list[int],
        max_image_size: int | None = None,
        use_masks: bool = True,
        device: str | torch.device = "cpu",
        progress: bool = False,
    ):
        from tqdm.auto import tqdm

        if not indices:
            raise ValueError("expected at least one view index, got none")
        self.scene = scene
        self.indices = [int(i) for i in indices]
        self.device = torch.device(device)
        cams = scene.normalized_cameras()[self.indices]
        self.cameras, self.factors = scaled_cameras(cams, max_image_size)
        self.has_masks = bool(use_masks and scene.has_masks)
        rgb, masks, offsets = [], [], [0]
        for k, i in enumerate(tqdm(self.indices, desc="loading images", unit="img", disable=not progress)):
            image = scene.load_image(i)
            if image.shape[2] == 4:  # RGBA without a background colour: composite on black
                image = image[..., :3] * image[..., 3:]
            h, w = self.cameras.image_size(k)
            image = _resize(image, (h, w))
            rgb.append(torch.from_numpy((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).reshape(-1, 3))
            if self.has_masks:
                mask = scene.load_mask(i)
                if mask is None:
                    raise InputError(
                        "expected a mask (or alpha channel) for every image, got none", scene.image_paths[i]
                    )
                masks.append(torch.from_numpy(_resize(mask, (h, w))).reshape(-1))
            offsets.append(offsets[-1] + h * w)
        self.rgb = torch.cat(rgb).to(self.device)
        self.mask = torch.cat(masks).to(self.device) if self.has_masks else None
        self.offsets = torch.tensor(offsets, dtype=torch.long, device=self.device)
        self.cameras = self.cameras.to(self.device)
        self.widths = self.cameras.width.to(self.device)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def num_pixels(self) -> int:
        return int(self.offsets[-1])

    def mask_fraction(self) -> float:
        return float(self.mask.float().mean()) if self.mask is not None else 1.0

    def _batch(self, pixel: torch.Tensor) -> RayBatch:
        cam = torch.searchsorted(self.offsets, pixel, right=True) - 1
        local = pixel - self.offsets[cam]
        w = self.widths[cam]
        uv = torch.stack([local % w, local // w], dim=-1).float() + 0.5
        rays = self.cameras.rays(cam, uv)
        rgb = self.rgb[pixel].float() / 255.0
        mask = self.mask[pixel].float() if self.mask is not None else None
        return RayBatch(rays.origins, rays.directions, rgb, mask, cam)

    def sample(self, n: int, generator: torch.Generator | None = None) -> RayBatch:
        """``n`` pixels drawn uniformly (with replacement) from all loaded views."""
        pixel = torch.randint(0, self.num_pixels, (n,), device=self.device, generator=generator)
        return self._batch(pixel)

    def image_size(self, k: int) -> tuple[int, int]:
        """(H, W) of loaded view ``k`` (after downscaling)."""
        return self.cameras.image_size(k)

    def view(self, k: int) -> RayBatch:
        """All pixels of loaded view ``k`` in row-major order."""
        start, stop = int(self.offsets[k]), int(self.offsets[k + 1])
        return self._batch(torch.arange(start, stop, device=self.device))

    def view_image(self, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(H, W, 3) float32 colours and (H, W) bool mask (or None) of loaded view ``k``."""
        h, w = self.image_size(k)
        start, stop = int(self.offsets[k]), int(self.offsets[k + 1])
        rgb = self.rgb[start:stop].float().div(255.0).reshape(h, w, 3).cpu().numpy()
        mask = self.mask[start:stop].reshape(h, w).cpu().numpy() if self.mask is not None else None
        return rgb, mask
