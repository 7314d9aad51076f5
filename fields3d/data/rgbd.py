"""RGB-D frame folders in the 7-Scenes layout (also the tsdf-fusion sample data).

A folder holds, for each frame ``frame-XXXXXX``:

- ``frame-XXXXXX.color.jpg`` (or ``.png``): the colour image;
- ``frame-XXXXXX.depth.png``: 16-bit depth in millimetres (``depth_scale`` = 1000 units per metre),
  0 = no measurement; optional, but then for every frame;
- ``frame-XXXXXX.pose.txt``: 4x4 camera-to-world matrix (OpenCV axes), metres, 16 numbers;

and one ``camera-intrinsics.txt`` with the 3x3 matrix K (pixels).

Pixel convention: ``cx``, ``cy`` are taken as written, in fields3d's corner-origin convention.  For the
nominal 7-Scenes values (fx = fy = 585, cx = 320, cy = 240 for 640x480 frames) this puts the principal
point exactly at the image centre, which is what nominal values mean; code that indexes pixels at
integer centres (tsdf-fusion) implies 320.5 instead: half a pixel, far below the accuracy of these
uncalibrated values (the colour and depth cameras are not even registered to each other).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.data.image_files import check_images, check_same_size
from fields3d.data.scene import SceneData
from fields3d.errors import InputError

INTRINSICS_FILE = "camera-intrinsics.txt"
FRAME_PATTERN = re.compile(r"(frame-\d+)\.color\.(jpg|jpeg|png)", re.IGNORECASE)
NOMINAL_7SCENES = "fx = fy = 585, cx = 320, cy = 240"


def color_frames(folder: Path) -> list[Path]:
    """``frame-*.color.{jpg,png}`` files in ``folder``, sorted by name (= by frame number)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and FRAME_PATTERN.fullmatch(p.name))


def read_matrix(path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    """A whitespace-separated text matrix with exactly ``rows * cols`` finite numbers."""
    if not path.is_file():
        raise InputError(f"{what} file not found", path)
    try:
        tokens = path.read_text(encoding="utf-8", errors="strict").split()
        values = [float(t) for t in tokens]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the {what} file ({e.__class__.__name__})", path) from None
    except ValueError as e:
        raise InputError(f"expected only numbers in the {what} file, got {e}", path) from None
    count = shape[0] * shape[1]
    if len(values) != count:
        raise InputError(
            f"expected {count} numbers (a {shape[0]}x{shape[1]} matrix) in the {what} file, "
            f"got {len(values)}",
            path,
        )
    m = np.asarray(values, dtype=np.float64).reshape(shape)
    if not np.isfinite(m).all():
        raise InputError(f"expected finite numbers in the {what} file, got NaN or infinity", path)
    return m


def read_pose(path: Path) -> np.ndarray:
    """A 4x4 camera-to-world pose file; checks the last row and that the rotation is proper."""
    m = read_matrix(path, (4, 4), "pose")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise InputError(f"expected the last row of the pose to be 0 0 0 1, got {m[3].tolist()}", path)
    det = float(np.linalg.det(m[:3, :3]))
    if abs(det - 1.0) > 0.05:
        raise InputError(f"expected a rotation (determinant 1) in the pose, got determinant {det:.4g}", path)
    return m


def _depth_points(
    cameras: Cameras, depth_paths: list[Path], depth_scale: float, frames: int, stride: int
) -> np.ndarray:
    from fields3d.io.images import read_depth_png

    pts = []
    for i in np.unique(
        np.linspace(0, len(depth_paths) - 1, min(frames, len(depth_paths))).round().astype(int)
    ):
        d = read_depth_png(depth_paths[i], depth_scale)[::stride, ::stride]
        v, u = np.nonzero(d > 0)
        if len(u) == 0:
            continue
        z = d[v, u].astype(np.float64)
        K = cameras.K[i].double().numpy()
        x = ((u * stride + 0.5) - K[0, 2]) / K[0, 0] * z
        y = ((v * stride + 0.5) - K[1, 2]) / K[1, 1] * z
        c2w = cameras.c2w[i].double().numpy()
        pts.append(np.stack([x, y, z], 1) @ c2w[:3, :3].T + c2w[:3, 3])
    return np.concatenate(pts) if pts else np.zeros((0, 3))


def read_rgbd_folder(
    path: str | os.PathLike,
    *,
    depth_scale: float = 1000.0,
    intrinsics_file: str = INTRINSICS_FILE,
) -> SceneData:
    """Read a 7-Scenes-style RGB-D folder (see the module docstring).

    Args:
        path: the folder of ``frame-*`` files.
        depth_scale: depth PNG units per world unit (1000: millimetres, poses in metres).
        intrinsics_file: name of the intrinsics file in the folder.
    Returns:
        SceneData (format ``"rgbd"``) with depth files, normalisation from back-projected depth of
        up to 16 frames (the cameras stay inside the sphere: this is a room, not an object).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(
            "no such folder" if not folder.exists() else "expected a folder of RGB-D frames, got a file",
            folder,
        )
    colors = color_frames(folder)
    if not colors:
        raise InputError("expected frame-XXXXXX.color.jpg/png files in the folder, found none", folder)
    K = read_matrix(folder / intrinsics_file, (3, 3), "intrinsics")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
        raise InputError(
            f"expected K with positive focal lengths and last row 0 0 1 (7-Scenes: {NOMINAL_7SCENES}), "
            f"got {K.tolist()}",
            folder / intrinsics_file,
        )
    prefixes = [FRAME_PATTERN.fullmatch(p.name).group(1) for p in colors]  # type: ignore[union-attr]
    poses = [read_pose(folder / f"{pre}.pose.txt") for pre in prefixes]
    depth = [folder / f"{pre}.depth.png" for pre in prefixes]
    have_depth = [p.is_file() for p in depth]
    if any(have_depth) and not all(have_depth):
        missing = depth[have_depth.index(False)]
        raise InputError(
            f"expected a depth map for every frame or for none, this one is missing "
            f"({sum(have_depth)} of {len(depth)} present)",
            missing,
        )
    depth_paths = depth if all(have_depth) else None

    headers = check_images(colors)
    width, height = headers[0].width, headers[0].height
    check_same_size(colors, headers, width, height)
    if depth_paths is not None:
        check_same_size(depth_paths, check_images(depth_paths), width, height)
    if not depth_scale > 0:
        raise InputError(f"expected a positive depth_scale, got {depth_scale}", folder)

    cameras = Cameras(
        torch.tensor(K, dtype=torch.float32),
        torch.tensor(np.stack(poses), dtype=torch.float32),
        width,
        height,
    )
    from fields3d.data.normalization import sphere_from_camera_views, sphere_from_points

    points = (
        _depth_points(cameras, depth_paths, depth_scale, frames=16, stride=8)
        if depth_paths
        else np.zeros((0, 3))
    )
    if len(points) >= 20:
        sphere = sphere_from_points(points, object_capture=False)
        method = "back-projected depth of up to 16 frames, " + sphere.method
    else:
        sphere = sphere_from_camera_views(cameras)
        method = sphere.method
    return SceneData(
        cameras=cameras,
        image_paths=colors,
        normalization=sphere.normalization(),
        format="rgbd",
        source=folder,
        depth_paths=depth_paths,
        depth_scale=float(depth_scale),
        metadata={
            "frame_ids": prefixes,
            "intrinsics_file": str(folder / intrinsics_file),
            "normalization_method": method,
        },
    )
