"""SceneData: a posed capture as every parser returns it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.errors import InputError
from fields3d.geometry.similarity import Similarity
from fields3d.io.images import read_depth_png, read_image


@dataclass
class SceneData:
    """A posed capture: cameras in **original world units** plus files to load lazily.

    Attributes:
        cameras: N cameras (OpenCV convention, world units). ``cameras.width/height`` are the sizes of
            the image files as listed (after any ``images_<k>`` rescaling the parser applied).
        image_paths: N image files, one per camera.
        normalization: similarity that maps world coordinates into the normalised frame in which
            methods work (the region of interest inside the unit sphere).  Exported meshes are mapped
            back with ``normalization.inverse()``.
        format: name of the parser that read it ("transforms_json", "neus_npz", "llff", "colmap",
            "rgbd", "images").
        source: the DATA path the user gave.
        mask_paths: N foreground masks (white = object) or None.
        depth_paths: N depth images (16-bit PNG) or None; ``depth_scale`` units per world unit.
        background: RGB in [0, 1] that RGBA images are composited onto, or None (keep alpha).
        points: (P, 3) float32 sparse points in world units (e.g. COLMAP's), or None.
        metadata: free-form facts from the source (near/far bounds, aabb_scale, ...).
    """

    cameras: Cameras
    image_paths: list[Path]
    normalization: Similarity
    format: str
    source: Path
    mask_paths: list[Path] | None = None
    depth_paths: list[Path] | None = None
    depth_scale: float = 1000.0
    background: tuple[float, float, float] | None = None
    points: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.cameras)
        for name in ("image_paths", "mask_paths", "depth_paths"):
            paths = getattr(self, name)
            if paths is not None and len(paths) != n:
                raise InputError(
                    f"expected {n} {name.replace('_paths', '')} files (one per camera), got {len(paths)}",
                    self.source,
                )

    def __len__(self) -> int:
        return len(self.cameras)

    # ----------------------------------------------------------------------------------------------
    def load_image(self, i: int) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1]; RGBA images are composited on ``background`` when it is set,
        else returned as (H, W, 4)."""
        h, w = self.cameras.image_size(i)
        img = read_image(self.image_paths[i], size=(h, w))
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        if img.shape[2] == 4 and self.background is not None:
            alpha = img[..., 3:]
            img = img[..., :3] * alpha + np.asarray(self.background, dtype=np.float32) * (1.0 - alpha)
        return img

    def load_mask(self, i: int) -> np.ndarray | None:
        """(H, W) bool foreground mask, from the mask file or the image's alpha channel; None if neither."""
        h, w = self.cameras.image_size(i)
        if self.mask_paths is not None:
            m = read_image(self.mask_paths[i], size=(h, w))
            return m[..., :3].mean(-1) > 0.5
        img = read_image(self.image_paths[i], size=(h, w))
        return img[..., 3] > 0.5 if img.shape[2] == 4 else None

    def load_depth(self, i: int) -> np.ndarray | None:
        """(H, W) float32 depth along the camera z axis in world units (0 = missing), or None."""
        if self.depth_paths is None:
            return None
        d = read_depth_png(self.depth_paths[i], self.depth_scale)
        h, w = self.cameras.image_size(i)
        if d.shape != (h, w):
            raise InputError(
                f"expected a depth map of {h}x{w}, got {d.shape[0]}x{d.shape[1]}", self.depth_paths[i]
            )
        return d

    @property
    def has_masks(self) -> bool:
        return self.mask_paths is not None or self.metadata.get("alpha_masks", False)

    # ----------------------------------------------------------------------------------------------
    def normalized_cameras(self) -> Cameras:
        """Cameras in the normalised frame (``normalization`` applied)."""
        return self.cameras.transformed(self.normalization)

    def subset(self, indices) -> SceneData:
        """The capture restricted to the given camera indices (e.g. a train/test split)."""
        idx = [int(i) for i in torch.as_tensor(indices).reshape(-1)]
        pick = lambda paths: None if paths is None else [paths[i] for i in idx]  # noqa: E731
        return replace(
            self,
            cameras=self.cameras[idx],
            image_paths=pick(self.image_paths),
            mask_paths=pick(self.mask_paths),
            depth_paths=pick(self.depth_paths),
        )

    def summary(self) -> str:
        h, w = self.cameras.image_size(0)
        parts = [f"{self.format}: {len(self)} images {w}x{h}"]
        if self.mask_paths is not None:
            parts.append("masks")
        if self.depth_paths is not None:
            parts.append("depth")
        if self.cameras.has_distortion:
            parts.append("distortion")
        parts.append(f"normalisation scale {self.normalization.scale:.4g}")
        return ", ".join(parts)
