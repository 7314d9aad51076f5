import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from fields3d.metrics.image import gaussian_window, psnr, ssim, ssim_map


def _reference_ssim(x, y, data_range=1.0, mask=None):
    """Wang et al. 2004 SSIM written out with scipy: 11-tap Gaussian (sigma 1.5), valid interior."""

    def blur(z):
        return gaussian_filter(z, sigma=1.5, truncate=3.5)  # radius int(3.5 * 1.5 + 0.5) = 5

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for c in range(x.shape[2]):
        a, b = x[..., c].astype(np.float64), y[..., c].astype(np.float64)
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        s = s[5:-5, 5:-5]
        values.append(s[mask[5:-5, 5:-5]] if mask is not None else s.ravel())
    return float(np.concatenate(values).mean())


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64] / 48.0
    clean = np.stack([np.sin(6 * xx) * 0.4 + 0.5, yy * 0.8, (xx * yy) % 1.0], axis=-1)
    noisy = np.clip(clean + rng.normal(scale=0.08, size=clean.shape), 0, 1)
    return clean, noisy


def test_psnr_known_values(images):
    clean, _ = images
    assert psnr(clean, clean) == math.inf
    assert psnr(clean * 0 + 0.2, clean * 0 + 0.3) == pytest.approx(20.0)
    assert psnr(clean * 0 + 51, clean * 0 + 61, data_range=255) == pytest.approx(20 * math.log10(25.5))
    # mask: only the pixels with an error of 0.1 count
    a = np.zeros((8, 8))
    b = a.copy()
    b[:4] = 0.1
    mask = np.zeros((8, 8), dtype=bool)
    mask[:4] = True
    assert psnr(a, b, mask=mask) == pytest.approx(20.0)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / 0.005))
    assert psnr(torch.from_numpy(a), torch.from_numpy(b), mask=torch.from_numpy(mask)) == pytest.approx(20.0)


def test_ssim_identical_and_reference(images):
    clean, noisy = images
    assert ssim(clean, clean) == pytest.approx(1.0, abs=1e-12)
    value = ssim(noisy, clean)
    assert 0.2 < value < 0.95
    assert value == pytest.approx(_reference_ssim(noisy, clean), abs=1e-4)
    gray = _reference_ssim(noisy[..., :1], clean[..., :1])
    assert ssim(noisy[..., 0], clean[..., 0]) == pytest.approx(gray, abs=1e-4)
    scaled = ssim(noisy * 255, clean * 255, data_range=255)
    assert scaled == pytest.approx(value, abs=1e-9)
    t = ssim(torch.from_numpy(noisy).float(), torch.from_numpy(clean).float())
    assert t == pytest.approx(value, abs=1e-5)


def test_ssim_mask_matches_reference(images):
    clean, noisy = images
    mask = np.zeros(clean.shape[:2], dtype=bool)
    mask[10:30, 20:50] = True
    assert ssim(noisy, clean, mask=mask) == pytest.approx(_reference_ssim(noisy, clean, mask=mask), abs=1e-4)
    with pytest.raises(ValueError, match="5 pixels from the border"):
        edge = np.zeros_like(mask)
        edge[0] = True
        ssim(noisy, clean, mask=edge)


def test_ssim_map_is_differentiable_and_window_normalised():
    g = gaussian_window()
    assert g.shape == (11,) and float(g.sum()) == pytest.approx(1.0) and int(g.argmax()) == 5
    x = torch.rand(3, 20, 24, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 20, 24, dtype=torch.float64)
    m = ssim_map(x, y)
    assert m.shape == (3, 10, 14)
    (1 - m.mean()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_errors():
    a = np.zeros((16, 16, 3))
    with pytest.raises(ValueError, match="same shape|one shape"):
        psnr(a, np.zeros((16, 15, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="mask of shape"):
        psnr(a, a, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="empty mask"):
        psnr(a, a, mask=np.zeros((16, 16)))
    with pytest.raises(ValueError, match="finite"):
        psnr(a * np.nan, a)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\)"):
        psnr(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)))
