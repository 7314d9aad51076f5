"""LLFF captures: ``poses_bounds.npy`` beside ``images/`` or downscaled ``images_<k>/`` folders.

``poses_bounds.npy`` is an (N, 17) float array.  Row i belongs to the i-th image in sorted name order:
its first 15 values reshape (row-major) to a 3x5 matrix ``[R | t | hwf]``, a camera-to-world pose whose
rotation columns are LLFF's camera axes (**x down, y right, z backward**) and whose last column is the
image height, width and focal length in pixels *at full resolution*; the last 2 values are the near
and far depth bounds of the scene seen by that camera (world units).

OpenCV axes are (right, down, forward) = (LLFF y, LLFF x, -LLFF z).  The principal point is the image
centre.  When only ``images_<k>/`` exists (or ``downscale=k`` is asked for), intrinsics are scaled by
the ratio of the actual image size to the ``hw`` in the file, after checking that ratio agrees with
the aspect ratio.  Masks come from ``masks_<k>/`` (else ``masks/``), greyscale, foreground >= 128.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.data.image_files import check_images, check_same_size, images_in, pair_by_stem
from fields3d.data.normalization import sphere_from_camera_views
from fields3d.data.scene import SceneData
from fields3d.errors import InputError

POSES_FILE = "poses_bounds.npy"


def llff_to_opencv(rotation: np.ndarray) -> np.ndarray:
    """(…, 3, 3) camera-to-world rotation, LLFF axes (down, right, back) -> OpenCV (right, down, forward)."""
    r = np.asarray(rotation)
    return np.stack([r[..., :, 1], r[..., :, 0], -r[..., :, 2]], axis=-1)


def _downscaled_folders(folder: Path, prefix: str) -> dict[int, Path]:
    out = {}
    for p in folder.iterdir() if folder.is_dir() else []:
        m = re.fullmatch(re.escape(prefix) + r"_(\d+)", p.name)
        if m and p.is_dir():
            out[int(m.group(1))] = p
    return out


def choose_image_folder(folder: Path, downscale: int | None) -> tuple[Path, int]:
    """The image folder to read and its nominal downscale factor.

    ``downscale=None``: ``images/`` when it has images, else the ``images_<k>/`` with the smallest k.
    """
    scaled = {k: p for k, p in _downscaled_folders(folder, "images").items() if images_in(p)}
    if downscale is None:
        if images_in(folder / "images"):
            return folder / "images", 1
        if scaled:
            k = min(scaled)
            return scaled[k], k
        raise InputError(
            "expected images in images/ or images_<k>/ beside poses_bounds.npy, found none", folder
        )
    if not isinstance(downscale, int) or downscale < 1:
        raise InputError(f"expected downscale to be a positive integer, got {downscale!r}", folder)
    if downscale == 1:
        if images_in(folder / "images"):
            return folder / "images", 1
    elif downscale in scaled:
        return scaled[downscale], downscale
    have = (["images (1)"] if images_in(folder / "images") else []) + [
        f"images_{k} ({k})" for k in sorted(scaled)
    ]
    raise InputError(
        f"expected a folder for downscale {downscale}, found {', '.join(have) or 'no image folder'}", folder
    )


def read_llff(path: str | os.PathLike, *, downscale: int | None = None) -> SceneData:
    """Read an LLFF capture (a folder with ``poses_bounds.npy``, or that file).

    Args:
        path: the folder or its ``poses_bounds.npy``.
        downscale: read ``images_<downscale>/`` (1 = ``images/``); default: full resolution when
            present, else the least downscaled folder.
    Returns:
        SceneData (format ``"llff"``) with OpenCV cameras in world units, ``metadata["near"]`` and
        ``metadata["far"]`` ((N,) float64 world units), ``metadata["downscale"]`` (the actual factor).
    """
    source = Path(path)
    folder = source.parent if source.is_file() else source
    if not folder.is_dir():
        raise InputError("no such file or folder", source)
    poses_file = folder / POSES_FILE
    if not poses_file.is_file():
        raise InputError(f"expected {POSES_FILE} in the folder", folder)
    try:
        arr = np.load(poses_file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"npy does not load ({e.__class__.__name__}: {e})", poses_file) from None
    if arr.ndim != 2 or arr.shape[1] != 17:
        raise InputError(f"expected an (N, 17) array, got shape {arr.shape}", poses_file)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError("expected finite numbers, got NaN or infinity", poses_file)

    image_dir, nominal = choose_image_folder(folder, downscale)
    images = images_in(image_dir)
    if len(images) != len(arr):
        raise InputError(
            f"{POSES_FILE} has {len(arr)} rows, {image_dir.name} has {len(images)} images", poses_file
        )

    mats = arr[:, :15].reshape(-1, 3, 5)
    hwf = mats[:, :, 4]
    bounds = arr[:, 15:17]
    headers = check_images(images)
    width, height = headers[0].width, headers[0].height
    check_same_size(images, headers, width, height)
    h_full, w_full = hwf[:, 0], hwf[:, 1]
    if (h_full <= 0).any() or (w_full <= 0).any() or (hwf[:, 2] <= 0).any():
        raise InputError(
            "expected positive height, width and focal length in column 5 of every pose", poses_file
        )
    sx, sy = width / w_full, height / h_full
    if np.abs(sx - sy).max() > 0.01 * sx.max():
        i = int(np.argmax(np.abs(sx - sy)))
        raise InputError(
            f"images in {image_dir.name} are {width}x{height} but row {i} says "
            f"{w_full[i]:g}x{h_full[i]:g} (WxH): "
            "the aspect ratios differ",
            poses_file,
        )
    if nominal > 1 and np.abs(sx * nominal - 1).max() > 0.05:
        raise InputError(
            f"images in {image_dir.name} are {width}x{height}, expected about "
            f"{w_full[0] / nominal:g}x{h_full[0] / nominal:g} "
            f"(1/{nominal} of the {w_full[0]:g}x{h_full[0]:g} in {POSES_FILE})",
            image_dir,
        )

    c2w = np.tile(np.eye(4), (len(arr), 1, 1))
    c2w[:, :3, :3] = llff_to_opencv(mats[:, :, :3])
    c2w[:, :3, 3] = mats[:, :, 3]
    K = np.zeros((len(arr), 3, 3))
    K[:, 0, 0] = hwf[:, 2] * sx
    K[:, 1, 1] = hwf[:, 2] * sy
    K[:, 0, 2] = width / 2.0
    K[:, 1, 2] = height / 2.0
    K[:, 2, 2] = 1.0
    cameras = Cameras(
        torch.tensor(K, dtype=torch.float32), torch.tensor(c2w, dtype=torch.float32), width, height
    )

    masks = None
    mask_dirs = _downscaled_folders(folder, "masks")
    mask_dir = mask_dirs.get(nominal) if nominal > 1 else None
    if mask_dir is None and images_in(folder / "masks"):
        mask_dir = folder / "masks"
    if mask_dir is not None and images_in(mask_dir):
        masks = pair_by_stem(images, mask_dir, "mask")
        check_same_size(masks, check_images(masks), width, height)

    near, far = bounds[:, 0], bounds[:, 1]
    if (near <= 0).any() or (far <= near).any():
        raise InputError("expected bounds 0 < near < far in the last two columns of every row", poses_file)
    sphere = sphere_from_camera_views(cameras, near, far)
    metadata = {
        "near": near.copy(),
        "far": far.copy(),
        "downscale": float(1.0 / sx.mean()),
        "image_folder": image_dir.name,
        "normalization_method": sphere.method + ", within near/far bounds",
    }
    return SceneData(
        cameras=cameras,
        image_paths=images,
        normalization=sphere.normalization(),
        format="llff",
        source=source,
        mask_paths=masks,
        metadata=metadata,
    )
