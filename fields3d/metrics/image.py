"""Image quality: PSNR and SSIM (Gaussian window 11x11, sigma 1.5, Wang et al. 2004), with optional masks.

Images are unbatched: (H, W) or (H, W, C) arrays or tensors with values in [0, ``data_range``] (fields3d
reads images as float32 in [0, 1]).  SSIM is computed per channel with 'valid' filtering (as Wang et
al.'s reference code): the SSIM map covers the (H - 10, W - 10) interior and is averaged over it (or over
the interior pixels where the mask is set); the window itself may reach into the unmasked region.  It
equals scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)``.  Everything is computed in float64 on the device of a torch input (an
800x800 RGB SSIM takes seconds on a 2-core CPU, milliseconds on a GPU).
"""

from __future__ import annotations

import math

import numpy as np
import torch

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(pred, target, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; ``inf`` for identical images.

    Args:
        pred, target: (H, W) or (H, W, C) images (numpy or torch), same shape.
        mask: optional (H, W) boolean (or 0/1) mask; the MSE is taken over the masked pixels, all channels.
        data_range: the value span of the images (1.0 for [0, 1], 255 for 8-bit).
    """
    x, y, m = _prepare(pred, target, mask)
    err = (x - y) ** 2  # (C, H, W)
    if m is not None:
        mse = float((err * m).sum() / (m.sum() * err.shape[0]))
    else:
        mse = float(err.mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64) -> torch.Tensor:
    """(size,) normalised 1-D Gaussian (sums to 1), centred on the middle tap."""
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
             window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Differentiable per-pixel SSIM of (C, H, W) tensors -> (C, H - window + 1, W - window + 1).

    Local statistics use a separable Gaussian window with 'valid' filtering and the population
    (biased) variance; constants C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = ``data_range``.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(
            f"expected two (C, H, W) tensors of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    c, h, w = pred.shape
    if h < window or w < window:
        raise ValueError(f"expected images of at least {window}x{window} pixels for SSIM, got {h}x{w}")
    g = gaussian_window(window, sigma, dtype=pred.dtype).to(pred.device)
    kh = g.view(1, 1, window, 1).expand(c, 1, window, 1)
    kw = g.view(1, 1, 1, window).expand(c, 1, 1, window)

    def blur(z: torch.Tensor) -> torch.Tensor:
        z = torch.nn.functional.conv2d(z[None], kh, groups=c)
        return torch.nn.functional.conv2d(z, kw, groups=c)[0]

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = blur(pred), blur(target)
    var_x = blur(pred * pred) - mu_x**2
    var_y = blur(target * target) - mu_y**2
    cov = blur(pred * target) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return num / den


def ssim(pred, target, mask=None, data_range: float = 1.0) -> float:
    """Mean structural similarity (1 for identical images), averaged over channels and the valid interior.

    Args:
        pred, target: (H, W) or (H, W, C) images (numpy or torch), same shape, H and W >= 11.
        mask: optional (H, W) mask; the SSIM map is averaged over the interior pixels where it is set.
        data_range: the value span of the images.
    """
    x, y, m = _prepare(pred, target, mask)
    with torch.no_grad():
        smap = ssim_map(x, y, data_range)
    if m is None:
        return float(smap.mean())
    r = (SSIM_WINDOW - 1) // 2
    m = m[:, r : m.shape[1] - r, r : m.shape[2] - r]
    if m.sum() == 0:
        raise ValueError("expected a mask with set pixels at least 5 pixels from the border, got none")
    return float((smap * m).sum() / (m.sum() * smap.shape[0]))


def _prepare(pred, target, mask):
    """float64 (C, H, W) tensors and an optional (1, H, W) float mask, on the first image's device."""
    x = _as_chw(pred)
    y = _as_chw(target).to(x.device)
    if x.shape != y.shape:
        shapes = f"{tuple(np.shape(pred))} and {tuple(np.shape(target))}"
        raise ValueError(f"expected images of one shape, got {shapes}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("expected finite image values, got NaN or infinite values")
    if mask is None:
        return x, y, None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach()
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if tuple(m.shape) != tuple(x.shape[1:]):
        raise ValueError(f"expected a mask of shape {tuple(x.shape[1:])} (H, W), got {tuple(m.shape)}")
    m = (m != 0).to(device=x.device, dtype=torch.float64)[None]
    if m.sum() == 0:
        raise ValueError("expected a mask with at least one set pixel, got an empty mask")
    return x, y, m


def _as_chw(image) -> torch.Tensor:
    t = image.detach() if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
    t = t.to(torch.float64)
    if t.ndim == 2:
        t = t[None]
    elif t.ndim == 3:
        t = t.permute(2, 0, 1)
    else:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {tuple(t.shape)}")
    return t
