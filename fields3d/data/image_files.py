"""Image files of a capture: resolving listed names, reading sizes from headers, pairing masks.

Parsers check every listed image when they read a capture, but only its header (Pillow reads a few
hundred bytes), so a missing or undecodable file is reported at load time, naming the file, while the
pixels themselves are read lazily by :class:`fields3d.data.scene.SceneData`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fields3d.errors import InputError
from fields3d.io.images import IMAGE_SUFFIXES

# suffixes tried, in this order, for a listed image name without one (Blender: "./train/r_0")
GUESSED_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".PNG",
    ".JPG",
    ".JPEG",
    ".exr",
    ".tif",
    ".tiff",
    ".webp",
    ".bmp",
)


@dataclass(frozen=True)
class ImageHeader:
    """Size and Pillow mode of an image file, read from its header.

    Attributes:
        width, height: size in pixels.
        mode: Pillow mode ("RGB", "RGBA", "L", "I;16", ...).
    """

    width: int
    height: int
    mode: str

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA", "PA", "RGBa", "La")


def read_header(path: str | os.PathLike) -> ImageHeader:
    """Read an image's size and mode without decoding its pixels.

    Raises:
        InputError: naming the file when it is missing or is not an image Pillow can decode.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(
            "image file not found" if not path.exists() else "expected an image file, got a folder", path
        )
    try:
        with Image.open(path) as im:
            return ImageHeader(int(im.size[0]), int(im.size[1]), str(im.mode))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"image does not decode ({e.__class__.__name__}: {e})", path) from None


def resolve_image(base: Path, name: str, what: str = "image", listed_in: Path | None = None) -> Path:
    """The file that ``name`` (relative to ``base``, with or without a suffix) refers to.

    Args:
        base: folder that relative names are relative to.
        name: the name as listed ("images/0001.jpg", "./train/r_0", an absolute path).
        what: word used in the error message ("image", "mask", "depth map").
        listed_in: file that lists ``name`` (named in the error message).
    Raises:
        InputError: naming the missing file (and the file that lists it).
    """
    p = Path(name)
    if not p.is_absolute():
        p = base / p
    p = Path(os.path.normpath(p))  # "./train/r_0" -> "train/r_0", "copy/../img" -> "img"
    if p.is_file():
        return p
    if not p.suffix or p.suffix not in GUESSED_SUFFIXES:
        for suffix in GUESSED_SUFFIXES:
            candidate = p.with_name(p.name + suffix)
            if candidate.is_file():
                return candidate
    where = f" (listed in {listed_in})" if listed_in is not None else ""
    tried = "" if p.suffix else f"; also tried the suffixes {', '.join(GUESSED_SUFFIXES[:6])}"
    raise InputError(f"{what} file not found{where}{tried}", p)


def check_images(paths: list[Path]) -> list[ImageHeader]:
    """Headers of all ``paths`` (each must exist and decode)."""
    return [read_header(p) for p in paths]


def check_same_size(paths: list[Path], headers: list[ImageHeader], width: int, height: int) -> None:
    """Raise an InputError naming the first image whose size is not ``width`` x ``height``."""
    for p, h in zip(paths, headers, strict=True):
        if (h.width, h.height) != (width, height):
            raise InputError(
                f"expected an image of {width}x{height} (WxH) like the others, got {h.width}x{h.height}", p
            )


def images_in(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted by name); empty when the folder does not exist."""
    if not folder.is_dir():
        return []
    suffixes = {s.lower() for s in IMAGE_SUFFIXES}
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )


def pair_by_stem(images: list[Path], folder: Path, what: str = "mask") -> list[Path]:
    """For each image, the file in ``folder`` with the same stem (any image suffix).

    Masks are matched by name (``DSC_0007.jpg`` <-> ``DSC_0007.png``); when no stems match but the
    counts agree, they are paired in sorted order (NeuS's ``000000.jpg`` <-> ``000.png``).

    Raises:
        InputError: naming ``folder`` when the files cannot be paired one to one.
    """
    candidates = images_in(folder)
    by_stem: dict[str, Path] = {}
    for c in candidates:
        by_stem.setdefault(c.stem, c)
    matched = [by_stem.get(p.stem) for p in images]
    if all(m is not None for m in matched):
        return matched  # type: ignore[return-value]
    if not any(m is not None for m in matched) and len(candidates) == len(images):
        return candidates
    missing = [p.name for p, m in zip(images, matched, strict=True) if m is None]
    raise InputError(
        f"expected one {what} per image ({len(images)}), got {len(candidates)} files and no {what} for "
        f"{len(missing)} images (first: {missing[0]})",
        folder,
    )
