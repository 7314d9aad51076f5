"""Depth priors for FrozenRecon: per-frame depth maps known only up to a scale and a shift.

Three sources, all giving (H, W) float depth (NaN = no prediction) for an (H, W, 3) image:

- :class:`FolderPrior`: precomputed maps in a folder, one per frame, matched by the image's file stem
  (``frame-000000.color.jpg`` -> ``frame-000000.color.npy`` or ``frame-000000.npy``; ``.npy`` float
  arrays, or 16-bit ``.png`` where 0 = missing);
- :func:`load_depth_model`: a monocular depth network from a **local** TorchScript file (nothing is
  downloaded; a missing file raises an InputError saying what to fetch and where to put it);
- :class:`CallablePrior`: any Python callable ``image (H, W, 3) float [0, 1] -> (H, W) depth``.

Models that predict inverse depth (disparity, e.g. MiDaS) are wrapped with ``output="disparity"``: the
prior is then ``1 / disparity`` (an affine-invariant disparity is not an affine depth, so this is an
approximation that FrozenRecon's local scale grids partly absorb).  :func:`check_prior` rejects maps of
the wrong size, without valid values, or constant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fields3d.errors import InputError

PRIOR_SUFFIXES = (".npy", ".png")
MODEL_HINT = (
    "FrozenRecon loads depth models only from local files. Export a monocular depth model to TorchScript "
    "on a machine with internet access, e.g. Depth Anything V2 Small "
    "(https://huggingface.co/depth-anything/Depth-Anything-V2-Small) or MiDaS DPT-Hybrid "
    "(https://github.com/isl-org/MiDaS): load it, then `torch.jit.trace(model, torch.rand(1, 3, 518, 518))"
    ".save('depth_model.pt')`, copy the .pt file to this path (or pass --depth DIR with precomputed maps)"
)
MIN_VALID_FRACTION = 0.05


def check_prior(depth, image_shape: tuple[int, int], path: str | os.PathLike | None = None) -> np.ndarray:
    """Validate one prior: (H, W) equal to ``image_shape``, at least 5 % finite values, not constant.

    Returns (H, W) float32 (non-finite values become NaN).  Raises InputError naming ``path``.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim != 2:
        raise InputError(f"expected an (H, W) depth map, got shape {tuple(d.shape)}", path)
    if tuple(d.shape) != tuple(image_shape):
        raise InputError(
            f"expected a depth map of the frame's size {image_shape[1]}x{image_shape[0]} (WxH), "
            f"got {d.shape[1]}x{d.shape[0]}",
            path,
        )
    d = np.where(np.isfinite(d), d, np.nan).astype(np.float32)
    valid = np.isfinite(d)
    if valid.mean() < MIN_VALID_FRACTION:
        raise InputError(
            f"expected at least {MIN_VALID_FRACTION:.0%} valid depth values, got "
            f"{valid.mean():.1%} (all NaN, infinite or missing)",
            path,
        )
    values = d[valid]
    if float(values.max() - values.min()) <= 1e-9 * max(1.0, float(np.abs(values).max())):
        raise InputError(f"expected a depth map that varies, got a constant one ({float(values[0]):g})", path)
    return d


class FolderPrior:
    """Precomputed priors in ``folder``, one per image, matched by file stem (see the module docstring).

    Args:
        folder: the folder.
        png_scale: divisor of 16-bit PNG values (any value works for affine priors; 1000 = millimetres).
    """

    def __init__(self, folder: str | os.PathLike, png_scale: float = 1000.0):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(
                "no such folder"
                if not self.folder.exists()
                else "expected a folder of depth maps, got a file",
                self.folder,
            )
        self.png_scale = float(png_scale)

    def path_for(self, image_path: str | os.PathLike) -> Path:
        """The depth file of an image; raises InputError when there is none."""
        stem = Path(image_path).stem
        stems = [stem] + ([stem.rsplit(".", 1)[0]] if "." in stem else [])
        candidates = [self.folder / f"{s}{suffix}" for s in stems for suffix in PRIOR_SUFFIXES]
        for c in candidates:
            if c.is_file() and c.resolve() != Path(image_path).resolve():
                return c
        raise InputError(
            f"expected a depth map for frame {Path(image_path).name} "
            f"({' or '.join(c.name for c in candidates)}), found none",
            self.folder,
        )

    def load(self, image_path: str | os.PathLike, image_shape: tuple[int, int]) -> np.ndarray:
        """(H, W) float32 prior of one image, checked with :func:`check_prior`."""
        path = self.path_for(image_path)
        if path.suffix == ".npy":
            try:
                raw = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read the depth array ({e})", path) from None
        else:
            from fields3d.io.images import read_depth_png

            raw = read_depth_png(path, self.png_scale)
            raw = np.where(raw > 0, raw, np.nan)
        return check_prior(raw, image_shape, path)


class CallablePrior:
    """Wrap ``fn(image (H, W, 3) float32 in [0, 1]) -> (H, W) depth`` (numpy or torch) as a prior.

    Args:
        fn: the user's model.
        output: "depth" (affine depth) or "disparity" (affine inverse depth; inverted, <= 0 = missing).
    """

    def __init__(self, fn: Callable, output: str = "depth", name: str = "depth model"):
        if output not in ("depth", "disparity"):
            raise ValueError(f"expected output 'depth' or 'disparity', got {output!r}")
        if not callable(fn):
            raise TypeError(f"expected a callable, got {type(fn).__name__}")
        self.fn, self.output, self.name = fn, output, name

    def __call__(self, image: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        out = self.fn(image)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        out = np.asarray(out, dtype=np.float32).squeeze()
        if self.output == "disparity":
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(out > 0, 1.0 / out, np.nan).astype(np.float32)
        return check_prior(out, image.shape[:2], path)


def load_depth_model(
    path: str | os.PathLike, output: str = "depth", device: str = "cpu", input_size: int | None = 518
) -> CallablePrior:
    """A monocular depth network from a local TorchScript file, as a :class:`CallablePrior`.

    The network takes a (1, 3, S, S) ImageNet-normalised float tensor (``input_size`` S, multiple of 14
    for ViT models; None keeps the image size) and returns (1, S, S) or (1, 1, S, S) depth (or
    disparity); the output is resized back to the image size bilinearly.

    Raises:
        InputError: the file is missing (the message says what to fetch and where to put it) or is not
            a TorchScript archive.
    """
    import torch
    import torch.nn.functional as F

    path = Path(path)
    if not path.is_file():
        raise InputError(f"depth model checkpoint not found. {MODEL_HINT}", path)
    try:
        net = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise InputError(
            f"expected a TorchScript depth model, got a file torch.jit.load rejects ({first}). {MODEL_HINT}",
            path,
        ) from None
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def run(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().to(device)
        if input_size is not None:
            x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
        with torch.no_grad():
            y = net((x - mean) / std)
        if isinstance(y, (tuple, list)):
            y = y[0]
        y = y.reshape(1, 1, *y.shape[-2:]).float()
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)[0, 0].cpu().numpy()

    return CallablePrior(run, output=output, name=path.name)
