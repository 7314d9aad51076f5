"""Input frames of FrozenRecon: a folder of images (7-Scenes ``frame-*.color.*`` layout recognised) or a
video file, checked to share one size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fields3d.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif")


@dataclass
class FrameSequence:
    """N frames of one size.

    Attributes:
        names: N file names (for a video: ``frame-000000`` ...), used to match priors and ground truth.
        paths: N image paths (for a video: the video file N times).
        images: N (H, W, 3) float32 RGB in [0, 1].
    """

    names: list[str]
    paths: list[Path]
    images: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def from_video(self) -> bool:
        return bool(self.paths) and self.paths[0].is_file() and self.paths[0].suffix.lower() in VIDEO_SUFFIXES

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.images[0].shape[:2]


def list_frame_files(folder: Path) -> list[Path]:
    """Colour frames of a folder: 7-Scenes ``frame-*.color.*`` when present, else every image file."""
    from fields3d.data.rgbd import color_frames
    from fields3d.io.images import list_images

    frames = color_frames(folder)
    return frames if frames else list_images(folder)


def read_frames(source: str | os.PathLike, max_frames: int | None = None, stride: int = 1) -> FrameSequence:
    """Read frames from a folder of images or a video file (every ``stride``-th, at most ``max_frames``).

    Raises InputError for a missing source, fewer than 2 frames, unreadable files or frames of
    different sizes (naming the first offending file).
    """
    from fields3d.io.images import read_image

    source = Path(source)
    if stride < 1:
        raise InputError(f"expected a frame stride >= 1, got {stride}", source)
    if not source.exists():
        raise InputError("no such folder or video file", source)
    if source.is_file():
        if source.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(
                f"expected a folder of images or a video ({', '.join(VIDEO_SUFFIXES)}), "
                f"got a {source.suffix or 'suffix-less'} file",
                source,
            )
        images = _read_video(source, max_frames, stride)
        names = [f"frame-{k:06d}" for k in range(len(images))]
        paths = [source] * len(images)
    else:
        paths = list_frame_files(source)[::stride]
        if max_frames is not None:
            paths = paths[:max_frames]
        if not paths:
            raise InputError("expected image files (.png, .jpg, ...) in the folder, found none", source)
        images = []
        for p in paths:
            img = read_image(p, mode="RGB")
            images.append(np.asarray(img, dtype=np.float32))
        names = [p.name for p in paths]
    if len(images) < 2:
        raise InputError(
            f"expected at least 2 frames to reconstruct from, got {len(images)}"
            + (f" ({names[0]})" if names else ""),
            source,
        )
    h, w = images[0].shape[:2]
    for name, path, img in zip(names, paths, images, strict=True):
        if img.shape[:2] != (h, w):
            raise InputError(
                f"expected every frame at the first frame's size {w}x{h} ({names[0]}), "
                f"got {img.shape[1]}x{img.shape[0]} for {name}",
                path,
            )
    return FrameSequence(names, paths, images)


def _read_video(path: Path, max_frames: int | None, stride: int) -> list[np.ndarray]:
    try:
        import imageio.v3 as iio
    except ImportError:
        raise InputError(
            "reading a video needs the imageio package (pip install imageio imageio-ffmpeg)", path
        ) from None
    frames = []
    try:
        for k, frame in enumerate(iio.imiter(path)):
            if k % stride:
                continue
            arr = np.asarray(frame)
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, -1)
            arr = arr[..., :3]
            frames.append(arr.astype(np.float32) / (65535.0 if arr.dtype == np.uint16 else 255.0))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except Exception as e:  # noqa: BLE001 - imageio raises many types for missing plugins/codecs
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise InputError(
            f"cannot decode the video ({first}); install a video plugin for imageio, "
            "e.g. pip install imageio-ffmpeg or av, or extract the frames to a folder",
            path,
        ) from None
    return frames
