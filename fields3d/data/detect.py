"""Recognise a capture's format from its files and read it: :func:`load_scene`, :func:`detect_format`.

``DATA`` (what a user passes to ``fields3d reconstruct``) may be any of the formats in :data:`FORMATS`,
checked in this order; a file path selects its format by name.  How each format is normalised into
the unit sphere is described in :mod:`fields3d.data.normalization`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fields3d.data.colmap import find_model_folder, read_colmap
from fields3d.data.image_files import images_in
from fields3d.data.llff import read_llff
from fields3d.data.neus_npz import CAMERA_FILES, read_neus_npz
from fields3d.data.rgbd import color_frames, read_rgbd_folder
from fields3d.data.scene import SceneData
from fields3d.data.transforms_json import read_transforms_json
from fields3d.errors import InputError


@dataclass(frozen=True)
class CaptureFormat:
    """A capture format: its name, the files that identify it, and its reader."""

    name: str
    needs: str
    reader: Callable[..., SceneData] | None

    def options(self) -> list[str]:
        """Keyword options the reader accepts (passed through :func:`load_scene`)."""
        if self.reader is None:
            return []
        params = inspect.signature(self.reader).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _read_images(path, **options):
    raise InputError(
        "a folder of images without camera poses: run `fields3d sfm IMAGES --out DIR` first to "
        "estimate the poses (it writes DIR/transforms.json), then pass DIR",
        path,
    )


FORMATS: dict[str, CaptureFormat] = {
    f.name: f
    for f in (
        CaptureFormat(
            "transforms_json",
            "transforms.json or transforms_<split>.json (Blender, instant-ngp, nerfstudio, fields3d)",
            read_transforms_json,
        ),
        CaptureFormat(
            "neus_npz",
            "cameras_sphere.npz (or cameras_large.npz / cameras.npz) with image/ or images/ (NeuS, IDR)",
            read_neus_npz,
        ),
        CaptureFormat("llff", "poses_bounds.npy with images/ or images_<k>/ (LLFF)", read_llff),
        CaptureFormat(
            "colmap",
            "a COLMAP model (cameras, images, points3D .bin/.txt) in sparse/0/, sparse/, colmap/sparse/0/ "
            "or the folder itself, with images/",
            read_colmap,
        ),
        CaptureFormat(
            "rgbd",
            "frame-XXXXXX.color.jpg/png + frame-XXXXXX.pose.txt (+ .depth.png) and camera-intrinsics.txt "
            "(7-Scenes)",
            read_rgbd_folder,
        ),
        CaptureFormat(
            "images",
            "image files directly in the folder or in images/ (no poses: run `fields3d sfm` first)",
            _read_images,
        ),
    )
}


def _nothing_matches(path: Path) -> InputError:
    looked = "; ".join(f"{f.name}: {f.needs}" for f in FORMATS.values())
    return InputError(f"no capture format recognised; looked for {looked}", path)


def detect_format(path: str | os.PathLike) -> str:
    """Name of the capture format at ``path`` (a key of :data:`FORMATS`).

    Raises:
        InputError: when ``path`` does not exist or no format matches (the message lists every
            format and the files it needs).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "transforms_json"
        if path.suffix.lower() == ".npz":
            return "neus_npz"
        if path.name == "poses_bounds.npy":
            return "llff"
        raise _nothing_matches(path)
    if (path / "transforms.json").is_file() or any(path.glob("transforms_*.json")):
        return "transforms_json"
    if any((path / name).is_file() for name in CAMERA_FILES):
        return "neus_npz"
    if (path / "poses_bounds.npy").is_file():
        return "llff"
    if find_model_folder(path) is not None:
        return "colmap"
    if any(f.with_name(f.name.split(".")[0] + ".pose.txt").is_file() for f in color_frames(path)[:1]):
        return "rgbd"
    if images_in(path) or images_in(path / "images"):
        return "images"
    raise _nothing_matches(path)


def load_scene(path: str | os.PathLike, *, format: str | None = None, **options) -> SceneData:
    """Read any supported capture into a :class:`SceneData` (cameras in world units, lazy images).

    Args:
        path: the capture folder (or a transforms*.json / cameras npz / poses_bounds.npy file).
        format: force a format (a key of :data:`FORMATS`) instead of detecting it.
        options: reader options, e.g. ``split="val"`` (transforms_json), ``background=None``
            (transforms_json), ``downscale=4`` (llff), ``cameras_file="cameras_large.npz"``
            (neus_npz), ``images="photos"`` (colmap), ``depth_scale=5000`` (rgbd).
    Raises:
        InputError: naming the offending file for anything wrong with the capture, or for an option
            the format does not take.
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise InputError(f"expected format to be one of {', '.join(FORMATS)}, got '{format}'", path)
    elif not path.exists():
        raise InputError("no such file or folder", path)
    spec = FORMATS[format]
    allowed = spec.options()
    for key in options:
        if key not in allowed:
            raise InputError(
                f"option '{key}' does not apply to {format} captures; "
                f"their options: {', '.join(allowed) or 'none'}",
                path,
            )
    return spec.reader(path, **options)
