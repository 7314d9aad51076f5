"""Image reading and writing with clear errors (Pillow)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fields3d.errors import InputError
from fields3d.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".JPG", ".JPEG", ".PNG", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name; raises when the folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            "no such folder" if not folder.exists() else "expected a folder of images, got a file", folder
        )
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in {s.lower() for s in IMAGE_SUFFIXES}
    )


def read_image(
    path: str | os.PathLike, *, mode: str | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Read an 8/16-bit image as float32 in [0, 1] (16-bit PNGs keep their range as in ``read_depth``).

    Args:
        mode: optional Pillow mode to convert to ("RGB", "RGBA", "L").
        size: optional expected (height, width); a mismatch raises :class:`InputError`.
    Returns:
        (H, W, C) float32 array (C = 1, 3 or 4).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError("image file not found", path)
    try:
        with Image.open(path) as im:
            im.load()
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"image does not decode ({e.__class__.__name__}: {e})", path) from None
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        out = arr.astype(np.float32)
    else:
        out = arr.astype(np.float32)
    if out.ndim == 2:
        out = out[..., None]
    if size is not None and out.shape[:2] != tuple(size):
        raise InputError(
            f"expected an image of {size[0]}x{size[1]} (HxW), got {out.shape[0]}x{out.shape[1]}", path
        )
    return out


def read_depth_png(path: str | os.PathLike, scale: float) -> np.ndarray:
    """Read a 16-bit depth PNG and divide by ``scale`` (e.g. 1000 for millimetres): (H, W) float32,
    0 = missing."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError("depth file not found", path)
    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"depth image does not decode ({e})", path) from None
    if arr.ndim != 2:
        raise InputError(f"expected a single-channel depth image, got shape {arr.shape}", path)
    return arr.astype(np.float32) / float(scale)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (H, W[, C]) -> uint8 with rounding and clipping."""
    return (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an image atomically; format from the suffix (.png, .jpg).

    ``image``: (H, W), (H, W, 1|3|4) float in [0, 1] or uint8, or (H, W) uint16 (16-bit PNG, e.g. depth).
    """
    from PIL import Image

    path = Path(path)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 and arr.dtype != np.uint16:
        arr = to_uint8(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    with atomic_path(path) as tmp:
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), "PNG")
        Image.fromarray(arr).save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path
