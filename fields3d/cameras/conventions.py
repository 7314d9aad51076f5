"""Camera conventions.

fields3d uses one convention inside: **OpenCV** camera axes (x right, y down, z forward), camera-to-world
``c2w`` (4, 4) matrices and pinhole intrinsics ``K`` (3, 3) in pixels, with pixel coordinates whose
origin is the **top-left corner** of the image (the centre of pixel (row i, column j) is at
``(u, v) = (j + 0.5, i + 0.5)``; the COLMAP, instant-ngp and Blender convention).  Parsers convert into
this convention; the rasterizer converts out of it (OpenGL clip space) at its boundary.

OpenGL / Blender / NeRF camera axes are x right, y up, z backward: flipping the camera's y and z axes
converts between the two, in either direction.
"""

from __future__ import annotations

import numpy as np
import torch

_FLIP_YZ = (1.0, -1.0, -1.0, 1.0)


def _flip(c2w):
    if isinstance(c2w, torch.Tensor):
        return c2w * torch.tensor(_FLIP_YZ, dtype=c2w.dtype, device=c2w.device)
    return np.asarray(c2w) * np.asarray(_FLIP_YZ, dtype=np.asarray(c2w).dtype)


def opengl_to_opencv(c2w):
    """Camera-to-world (..., 4, 4) with OpenGL/Blender camera axes -> OpenCV axes (numpy or torch)."""
    return _flip(c2w)


def opencv_to_opengl(c2w):
    """Camera-to-world (..., 4, 4) with OpenCV camera axes -> OpenGL/Blender axes (numpy or torch)."""
    return _flip(c2w)


def opengl_projection(K: torch.Tensor, width: int, height: int, near: float, far: float) -> torch.Tensor:
    """OpenGL clip matrix (…, 4, 4) for intrinsics ``K`` (…, 3, 3) in fields3d's pixel convention.

    Use with view matrices in OpenGL camera axes (``inverse(opencv_to_opengl(c2w))``).  Clip-space y
    points up, so row 0 of an image rendered with it is the *bottom* row; rasterizers flip it back.
    NDC x = 2 u / W - 1 and NDC y = 1 - 2 v / H for a point projecting to pixel coordinates (u, v).
    """
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    cx, cy = K[..., 0, 2], K[..., 1, 2]
    proj = torch.zeros(K.shape[:-2] + (4, 4), dtype=K.dtype, device=K.device)
    proj[..., 0, 0] = 2.0 * fx / width
    proj[..., 0, 2] = 1.0 - 2.0 * cx / width
    proj[..., 1, 1] = 2.0 * fy / height
    proj[..., 1, 2] = 2.0 * cy / height - 1.0
    proj[..., 2, 2] = -(far + near) / (far - near)
    proj[..., 2, 3] = -2.0 * far * near / (far - near)
    proj[..., 3, 2] = -1.0
    return proj


def focal_from_fov(fov: float, size: float) -> float:
    """Focal length in pixels from a full field of view ``fov`` (radians) across ``size`` pixels."""
    return 0.5 * size / float(np.tan(0.5 * fov))
