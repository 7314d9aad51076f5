"""Multi-view reconstruction with G-Shell: open and closed surfaces from posed images through a rasterizer.

The surface is a :class:`~fields3d.fields.gshell_grid.GShellGrid` (SDF and mSDF on a tetrahedral grid,
optional grid offsets) in the capture's normalised frame, coloured by a
:class:`~fields3d.fields.gshell_appearance.GShellAppearance` (albedo volume, learned lights).  Each step
extracts the cut mesh (differentiable), rasterizes it into a few training views
(:class:`fields3d.render.Rasterizer`: nvdiffrast on CUDA, the PyTorch backend otherwise) and minimises

* **mask**: MSE between the antialiased silhouette (``coverage``) and the masks;
* **colour**: L1 between the antialiased render (surface colour, background elsewhere) and the photos;
* **mSDF mask**: where the mesh covers a background pixel (two pixels or more from the masks), the
  mSDF interpolated there is pushed below 0, so the surface in front of the background is cut away
  (this opens the see-through holes that the SDF of a silhouette leaves closed);
* **eikonal** (finite differences on the grid) and DMTet's **sign** regulariser (decaying) on the SDF;
* **hole opening**: the mSDF around surface that no training view sees (recounted every
  ``visibility_every`` steps) is pulled negative, so tunnel walls and bubbles left inside the visual
  hull disappear; so is the mSDF around surface whose colour residual stays large across the views
  (``residual_open``: end caps that every view sees over an opening, where the photos show the
  inside); optionally (``open_all``) the paper's pull on every vertex; **hole closing**
  (optional): at boundaries seen in the current views the negative mSDF just past the cut is pulled
  positive.

Initialisation: the SDF of the visual hull of the masks (or a sphere), mSDF positive everywhere (the
watertight template).  ``use_msdf=False`` is the watertight SDF-only baseline with the same pipeline.

Entry point: :func:`reconstruct_gshell` (a loaded :class:`~fields3d.data.SceneData`, a run folder, a
:class:`GShellReconstructionConfig`) writes the outputs of ``fields3d reconstruct``: ``mesh.ply`` in
world units with vertex colours, ``metrics.json``, ``previews/``, ``report.html``, plus ``gshell.pt``
and ``config.json``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from fields3d.data.scene import SceneData
from fields3d.errors import Fields3dError, InputError
from fields3d.fields.gshell_appearance import GShellAppearance, GShellAppearanceConfig
from fields3d.fields.gshell_grid import GShellGrid, GShellGridConfig


class EmptySurfaceError(Fields3dError):
    """The G-Shell lost its whole surface during optimisation."""


@dataclass
class GShellLossWeights:
    """Weights of the terms of the G-Shell reconstruction loss."""

    mask: float = 1.0
    """MSE of the antialiased silhouette against the masks."""
    color: float = 1.0
    """L1 of the antialiased render against the photos."""
    msdf_mask: float = 0.5
    """Positive mSDF (in cells) at pixels where the mesh covers the background."""
    eikonal: float = 0.1
    """Finite-difference (|grad sdf| - 1)^2 near the surface."""
    sign: float = 0.1
    """DMTet's sign regulariser at the start; decays linearly to ``sign_final`` over the first quarter."""
    sign_final: float = 0.01
    open: float = 0.1
    """Hole opening: the mSDF (in cells) at grid points around surface that no training view sees is
    pulled towards -0.5 (Huber); see :mod:`fields3d.recon.gshell_visibility`."""
    open_all: float = 0.0
    """Hole opening on every mesh vertex (the paper's form; makes visible holes flicker, off by default)."""
    residual_open: bool = True
    """Hole opening where the photos disagree: grid points around mesh vertices whose mean colour
    residual (L1, over the pixels of their faces in the views of one visibility interval) is above
    ``residual_threshold`` and ``residual_ratio`` times the median join the unseen points that ``open``
    pulls (end caps that every view sees, covering the inside that the photos show through an opening).
    Measured on the 48-view synthetic garment captures with the fast preset (grid 64, 400 steps):
    Chamfer pants 0.84 -> 0.61 %, shorts 1.04 -> 0.64 %, T-shirt 0.39 -> 0.21 % of the diagonal."""
    residual_threshold: float = 0.06
    """Mean colour residual (L1, colours in [0, 1]) above which a grid point counts as photo-inconsistent."""
    residual_ratio: float = 2.0
    """... and above this many times the median over the grid points that some face pixel reached."""
    residual_fraction: float = 0.0
    """... and with at least this fraction of their pixel residuals above ``residual_threshold`` (an end
    cap is wrong in every view that sees it, a highlight in a few; 0: off).  Measured (fast preset,
    seed 0): 0.5 leaves the garments within seed noise (T-shirt 0.22 %, pants 0.60 %, shorts 0.62 %)
    and trims a glossy spot's spurious holes 18 -> 14; 0.8 gets them to 10 but loses T-shirt openings
    (2/4) and shorts Chamfer (0.80 %), hence off by default."""
    close: float = 0.0
    """Hole closing: at visible boundaries, the template mSDF just past the cut pulled towards +0.1."""
    open_start: float = 0.1
    """Fraction of the steps before hole opening starts (the template settles first)."""
    open_end: float = 1.0
    """Fraction of the steps after which hole opening stops (the colour and mask losses alone then
    settle the boundaries; 1: until the end)."""
    msdf_eikonal: float = 0.0
    """(|grad msdf| - 1)^2 near the surface."""

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"expected a non-negative {f.name} weight, got {getattr(self, f.name)}")


@dataclass
class GShellReconstructionConfig:
    """Everything that defines a G-Shell reconstruction run (written to RUN/config.json)."""

    grid: GShellGridConfig = field(default_factory=lambda: GShellGridConfig(resolution=64, deform=True))
    appearance: GShellAppearanceConfig = field(default_factory=GShellAppearanceConfig)
    weights: GShellLossWeights = field(default_factory=GShellLossWeights)
    steps: int = 500
    """Optimisation steps."""
    views_per_step: int = 4
    """Training views rasterized per step."""
    init: Literal["visual_hull", "sphere"] = "visual_hull"
    """Initial SDF: the visual hull of the masks (needs masks) or a sphere of radius 0.6."""
    hull_dilation_px: int = 1
    """The masks are dilated by this many pixels before carving the visual hull (slack for mask and pose
    errors; gaps between parts narrower than about twice this stay filled).  Measured with 0 (fast
    preset, seed 0, exact synthetic masks): pants 0.51 % (3/3 openings, 10 loops), shorts 0.58 % (2/3,
    10 loops) but T-shirt 0.28 % (4/4, 7 loops) — against 0.61 / 0.64 / 0.21 % with 1."""
    init_msdf_cells: float = 1.0
    """Initial mSDF everywhere, in cells (positive: start from the watertight template)."""
    margin_cells: float = 3.0
    """Margin of the grid around the visual hull's box, in cells."""
    lr_cells: float = 0.03
    """Adam learning rate of the SDF and mSDF values, in cells per step."""
    lr_final_fraction: float = 0.1
    """Learning rates decay (cosine) to this fraction of their start at the last step."""
    lr_deform: float = 0.01
    """Adam learning rate of the grid offsets (tanh pre-activations)."""
    lr_albedo: float = 0.05
    lr_lights: float = 0.01
    max_image_size: int | None = 128
    """Training views are downscaled so that their longer side is at most this (None: full size)."""
    eval_max_image_size: int | None = 256
    """Held-out views are rendered at most this large."""
    holdout: int = 5
    """Views held out of training (spread evenly) for PSNR."""
    min_views: int = 4
    use_masks: bool = True
    """Use the capture's masks (mask and mSDF-mask losses); without, the background colour decides."""
    min_component_area: float = 0.01
    """Exported mesh: components below this fraction of the total area are removed."""
    eval_samples: int = 100_000
    """Surface samples per mesh for Chamfer / F-score against a reference mesh."""
    device: str = "auto"
    threads: int = 0
    """CPU threads (0: the idle cores)."""
    seed: int = 0
    turntable_views: int = 8
    turntable_size: int = 256
    log_every: int = 10
    """Steps between entries of the loss history."""
    visibility_every: int = 20
    """Steps between recounts of which surface the training views see (for hole opening)."""
    seen_margin_cells: int = 0
    """Hole opening spares grid points within this many cells of surface that some view sees (2 kept
    the end caps of the garments measured in eval/bench_gshell.py: 0.94 % Chamfer on the T-shirt
    against 0.44 % with 0, whose extra pinholes the post-processing closes)."""
    visibility_tolerance_cells: float = 1.0
    """A vertex counts as seen by a view when its depth is within this many cells of the rendered depth."""
    unseen_recounts: int = 1
    """A grid point is opened only when this many successive visibility recounts found it unseen
    (2 or more: surface that one recount misses at a grazing angle is not punched through)."""
    strip_radius_cells: float = 2.0
    """After training: kept strips and fringes of the cut narrower than about twice this many cells are
    cut away (a morphological opening of the cut on the template, saved in gshell.pt; 0: off)."""
    fill_holes_cells: float = 4.0
    """After training: holes of the cut at most this many cells across are closed — by the template
    surface where the hole is a separate negative-mSDF patch (saved in gshell.pt), by a fan of triangles
    in mesh.ply otherwise (0: off).  A hole that small is below what the grid resolves reliably: the
    fast preset's 4 cells are ~6 % of the object's diagonal, real openings of the garments measured are
    >= 10 % across."""
    shading_gradients: bool = True
    """Colour gradients reach the geometry inside the surface too (not only at silhouette and hole edges)."""

    def validate(self) -> None:
        self.grid.validate()
        self.appearance.validate()
        self.weights.validate()
        checks = [
            (self.steps >= 1, f"expected steps >= 1, got {self.steps}"),
            (self.views_per_step >= 1, f"expected views_per_step >= 1, got {self.views_per_step}"),
            (self.init in ("visual_hull", "sphere"), f"expected init visual_hull or sphere, got {self.init}"),
            (self.lr_cells > 0, f"expected lr_cells > 0, got {self.lr_cells}"),
            (self.holdout >= 0 and self.min_views >= 1, f"expected holdout >= 0, got {self.holdout}"),
            (self.margin_cells >= 1, f"expected margin_cells >= 1, got {self.margin_cells}"),
            (self.unseen_recounts >= 1, f"expected unseen_recounts >= 1, got {self.unseen_recounts}"),
            (self.hull_dilation_px >= 0, f"expected hull_dilation_px >= 0, got {self.hull_dilation_px}"),
            (
                self.strip_radius_cells >= 0,
                f"expected strip_radius_cells >= 0, got {self.strip_radius_cells}",
            ),
            (self.fill_holes_cells >= 0, f"expected fill_holes_cells >= 0, got {self.fill_holes_cells}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


GSHELL_PRESETS = ("fast", "default", "quality")


def gshell_config(
    preset: str = "fast",
    *,
    watertight: bool = False,
    steps: int | None = None,
    resolution: int | None = None,
    holdout: int | None = None,
    max_image_size: int | None = None,
    use_masks: bool = True,
    device: str = "auto",
    threads: int = 0,
    seed: int = 0,
) -> GShellReconstructionConfig:
    """The G-Shell configuration of a preset with the overrides of ``fields3d reconstruct``.

    ================  =====================================================================
    preset            grid / steps / training image size
    ================  =====================================================================
    ``fast``          CPU minutes: grid 64, 400 steps of 4 views, images up to 128 px
    ``default``       GPU: grid 128, 2000 steps of 8 views, images up to 512 px
    ``quality``       GPU: grid 256, 5000 steps of 8 views, full-size images
    ================  =====================================================================

    Args:
        watertight: the SDF-only baseline (no mSDF cut).
        resolution: grid points along the longest side of the object's box.
        max_image_size: 0 = full size.
    Raises:
        InputError: an unknown preset or an invalid override.
    """
    if preset not in GSHELL_PRESETS:
        raise InputError(f"expected a preset in {GSHELL_PRESETS}, got {preset!r}")
    c = GShellReconstructionConfig()
    if preset == "fast":
        c.grid.resolution, c.steps, c.views_per_step, c.max_image_size = 64, 400, 4, 128
        c.appearance.resolution = 64
    elif preset == "default":
        c.grid.resolution, c.steps, c.views_per_step, c.max_image_size = 128, 2000, 8, 512
        c.appearance.resolution, c.eval_max_image_size = 128, 512
    else:
        c.grid.resolution, c.steps, c.views_per_step, c.max_image_size = 256, 5000, 8, None
        c.appearance.resolution, c.eval_max_image_size = 256, None
    c.grid.use_msdf = not watertight
    if steps is not None:
        c.steps = steps
    if resolution is not None:
        c.grid.resolution = resolution
    if holdout is not None:
        c.holdout = holdout
    if max_image_size is not None:
        c.max_image_size = max_image_size or None
    c.use_masks, c.device, c.threads, c.seed = use_masks, device, threads, seed
    try:
        c.validate()
    except ValueError as e:
        raise InputError(str(e)) from None
    return c


@dataclass
class GShellRunResult:
    """What :func:`reconstruct_gshell` wrote and measured."""

    run: Path
    mesh: Path
    metrics: dict
    report: Path
    previews: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# data
@dataclass
class TrainingViews:
    """Images of some views, in memory: (N, H, W, 3) float ``rgb`` in [0, 1], (N, H, W) float ``mask``
    (ones without masks), ``cameras`` in the normalised frame at this size, capture ``indices``."""

    rgb: torch.Tensor
    mask: torch.Tensor
    has_masks: bool
    cameras: object
    indices: list[int]
    background_margin: int = 2

    @property
    def background_core(self) -> torch.Tensor:
        """(N, H, W) bool: background pixels at least ``background_margin`` pixels from the masks."""
        if getattr(self, "_core", None) is None:
            k = 2 * self.background_margin + 1
            grown = torch.nn.functional.max_pool2d(
                self.mask[:, None], k, stride=1, padding=self.background_margin
            )
            self._core = grown[:, 0] < 0.5
        return self._core

    def __len__(self) -> int:
        return len(self.indices)


def load_views(
    scene: SceneData, indices: list[int], max_size: int | None, use_masks: bool, device, progress=False
) -> TrainingViews:
    """Load (and downscale) views of a capture; all views must share one size after downscaling.  Views
    of cameras with lens distortion are resampled as pinhole images (``undistort_image``)."""
    from fields3d.recon.dataset import RayDataset

    data = RayDataset(scene, indices, max_size, use_masks, device, progress)
    sizes = {data.image_size(k) for k in range(len(data))}
    if len(sizes) != 1:
        raise InputError(f"expected views of one image size for G-Shell, got {sorted(sizes)}", scene.source)
    h, w = sizes.pop()
    rgb = data.rgb.float().div(255.0).reshape(len(data), h, w, 3)
    if data.mask is not None:
        mask = data.mask.float().reshape(len(data), h, w)
    else:
        mask = torch.ones(len(data), h, w, device=rgb.device)
    cameras = data.cameras
    if cameras.has_distortion:  # the rasterizer is pinhole: resample the photos without distortion
        from fields3d.cameras import undistort_image

        rgb = torch.stack([undistort_image(rgb[k], cameras, k) for k in range(len(data))])
        mask = torch.stack(
            [undistort_image(mask[k, ..., None], cameras, k)[..., 0] for k in range(len(data))]
        )
        mask = (mask > 0.5).to(rgb.dtype) if data.mask is not None else torch.ones_like(mask)
        cameras = cameras.without_distortion()
    return TrainingViews(rgb, mask, data.mask is not None, cameras, list(indices))


def split_heldout(n_views: int, holdout: int, min_views: int, source) -> tuple[list[int], list[int]]:
    """(train, held-out) view indices as ``fields3d reconstruct`` splits them (fewer held out for small
    captures, never below ``min_views`` training views)."""
    from fields3d.recon.dataset import holdout_indices

    if n_views < min_views:
        raise InputError(f"expected at least {min_views} images to reconstruct from, got {n_views}", source)
    n_hold = min(holdout, max(0, n_views - min_views), max(0, n_views - 2))
    held = holdout_indices(n_views, n_hold)
    return [i for i in range(n_views) if i not in set(held)], held


# --------------------------------------------------------------------------------------------------
# initialisation
@torch.no_grad()
def carve_visual_hull(
    points: torch.Tensor, views: TrainingViews, dilation_px: int = 1, chunk: int = 1 << 18
) -> torch.Tensor:
    """(P,) bool: points inside the visual hull of the masks (inside every mask they project into;
    masks dilated by ``dilation_px`` pixels; views a point projects outside of do not carve it)."""
    cams = views.cameras
    n, h, w = views.mask.shape
    k = 2 * dilation_px + 1
    mask = torch.nn.functional.max_pool2d(views.mask[:, None], k, stride=1, padding=dilation_px)[:, 0] > 0.5
    w2c = torch.linalg.inv(cams.c2w.to(points.device))
    K = cams.K.to(points.device)
    inside = torch.ones(points.shape[0], dtype=torch.bool, device=points.device)
    for s in range(0, points.shape[0], chunk):
        p = points[s : s + chunk]
        ok = torch.ones(p.shape[0], dtype=torch.bool, device=p.device)
        for i in range(n):
            pc = p @ w2c[i, :3, :3].T + w2c[i, :3, 3]
            z = pc[:, 2]
            u = K[i, 0, 0] * pc[:, 0] / z.clamp_min(1e-9) + K[i, 0, 2]
            v = K[i, 1, 1] * pc[:, 1] / z.clamp_min(1e-9) + K[i, 1, 2]
            col, row = u.floor().long(), v.floor().long()
            visible = (z > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
            hit = torch.zeros_like(visible)
            hit[visible] = mask[i, row[visible], col[visible]]
            ok &= hit | ~visible
        inside[s : s + chunk] = ok
    return inside


def signed_distance_of_occupancy(occupied: np.ndarray, cell: float) -> np.ndarray:
    """(nx, ny, nz) bool occupancy -> float32 signed distance (world units, negative inside) by Euclidean
    distance transforms, the boundary half a cell from the occupied points."""
    from scipy.ndimage import distance_transform_edt

    if occupied.all() or not occupied.any():
        raise ValueError("expected an occupancy with both inside and outside points, got one kind only")
    outside = distance_transform_edt(~occupied)
    inside = distance_transform_edt(occupied)
    return (np.where(occupied, -(inside - 0.5), outside - 0.5) * cell).astype(np.float32)


def initial_shell(
    views: TrainingViews, config: GShellReconstructionConfig, device: torch.device, log=print
) -> GShellGrid:
    """The starting G-Shell: grid over the visual hull's box (or [-1, 1]^3), SDF of the hull (or a sphere)."""
    from fields3d.fields.gshell_grid import cubic_grid

    res = config.grid.resolution
    box = torch.tensor([[-1.0, -1, -1], [1.0, 1, 1]])
    use_hull = config.init == "visual_hull" and views.has_masks
    if config.init == "visual_hull" and not views.has_masks:
        log("no masks: starting from a sphere instead of the visual hull")
    if use_hull:
        coarse = cubic_grid(box, 96)
        pts = coarse.points(torch.arange(coarse.num_points), torch.float32).to(device)
        occ = carve_visual_hull(pts, views, config.hull_dilation_px)
        if bool(occ.any()):
            p = pts[occ]
            margin = 2 * 2.0 / 95
            lo, hi = p.min(0).values - margin, p.max(0).values + margin
            box = torch.stack([lo, hi]).cpu().clamp(-1.5, 1.5)
        else:
            log("the visual hull is empty (masks and cameras disagree?): starting from a sphere")
            use_hull = False
    grid = cubic_grid(box, res, padding_cells=config.margin_cells)
    shell = GShellGrid(grid, config.grid).to(device)
    h = shell.cell_size
    with torch.no_grad():
        pts = shell.base_points
        if use_hull:
            occ = carve_visual_hull(pts, views, config.hull_dilation_px).reshape(grid.shape).cpu().numpy()
            if occ.any() and not occ.all():
                sdf = torch.from_numpy(signed_distance_of_occupancy(occ, h)).reshape(-1)
                shell.sdf.copy_(sdf.to(device)[shell.point_index])
            else:
                use_hull = False
        if not use_hull:
            center = 0.5 * (torch.tensor(grid.aabb[0]) + torch.tensor(grid.aabb[1])).to(device)
            radius = 0.35 * float(np.max(np.subtract(grid.aabb[1], grid.aabb[0])))
            shell.sdf.copy_((pts - center).norm(dim=1) - radius)
        shell.msdf.fill_(config.init_msdf_cells * h)
    return shell


# --------------------------------------------------------------------------------------------------
# rendering
def render_views(
    mesh,
    appearance: GShellAppearance,
    cameras,
    background: torch.Tensor,
    rasterizer,
    shading_gradients: bool = False,
) -> dict:
    """Rasterize a G-Shell mesh into cameras: dict of (N, H, W, ...) tensors ``rgb`` (antialiased, on the
    background), ``coverage``, ``msdf`` (interpolated, 0 off the mesh), ``normals`` (camera-facing,
    world), ``depth``, ``mask`` (bool) and the :class:`RasterOutput` ``raster``.

    Args:
        shading_gradients: let the colour inside the surface pass gradients to the vertex positions
            (through the albedo lookup and the shading normals).  Off: the geometry learns from colour
            only at silhouette and hole edges (antialiasing) — a texture the albedo volume cannot hold
            then does not turn into bumps.
    """
    from fields3d.render import antialias, interpolate

    raster = rasterizer.rasterize(mesh.vertices, mesh.faces, cameras)
    vertices, normals = mesh.vertices, mesh.normals
    if not shading_gradients:
        vertices, normals = vertices.detach(), normals.detach()
    attrs = interpolate(torch.cat([vertices, normals, mesh.msdf[:, None]], dim=1), raster)
    pos, nrm, msdf = attrs[..., :3], attrs[..., 3:6], attrs[..., 6]
    if not shading_gradients:  # barycentrics still carry position gradients: cut them for the colour
        pos, nrm = pos.detach(), nrm.detach()
    centers = cameras.c2w[:, :3, 3].to(pos.device)[:, None, None, :]
    view = pos - centers
    nrm = torch.nn.functional.normalize(nrm, dim=-1)
    nrm = torch.where(((nrm * view).sum(-1, keepdim=True) > 0), -nrm, nrm)
    mask = raster.mask
    rgb = background.to(pos.device).expand(*mask.shape, 3).clone()
    if bool(mask.any()):
        rgb = rgb.masked_scatter(mask[..., None], appearance(pos[mask], nrm[mask]))
    smooth = antialias(torch.cat([rgb, mask.to(pos.dtype)[..., None]], dim=-1), raster)
    return {
        "rgb": smooth[..., :3],
        "coverage": smooth[..., 3],
        "msdf": torch.where(mask, msdf, torch.zeros_like(msdf)),
        "normals": torch.where(mask[..., None], nrm, torch.zeros_like(nrm)),
        "depth": raster.depth,
        "mask": mask,
        "raster": raster,
    }


# --------------------------------------------------------------------------------------------------
# losses
def hole_open_loss(mesh, cell: float, target: float = -0.1) -> torch.Tensor:
    """Huber pull of the mesh vertices' mSDF (in cells) towards ``target`` (only values above it)."""
    m = mesh.msdf / cell
    if m.numel() == 0:
        return m.sum()
    excess = (m - target).clamp_min(0.0)
    return torch.nn.functional.huber_loss(excess, torch.zeros_like(excess), reduction="mean")


def unseen_open_loss(shell: GShellGrid, unseen: torch.Tensor, target: float = -0.5) -> torch.Tensor:
    """Huber pull of the mSDF (in cells) at the ``unseen`` grid points towards ``target`` (only values
    above it); 0 when there are none."""
    if not bool(unseen.any()):
        return shell.msdf.sum() * 0.0
    excess = (shell.msdf[unseen] / shell.cell_size - target).clamp_min(0.0)
    return torch.nn.functional.huber_loss(excess, torch.zeros_like(excess), reduction="mean")


@torch.no_grad()
def accumulate_color_residual(
    mesh, out, target_rgb, residual_sum, residual_count, residual_bad=None, bad_above: float = 0.0
) -> None:
    """Adds the per-pixel colour residual (mean L1 over RGB) of each covered pixel to the grid points at
    the template edge ends of the kept vertices of its face.

    Args:
        mesh: the extracted :class:`~fields3d.extract.gshell_extraction.GShellMesh`; out: its
            :func:`render_views` dict; target_rgb: (N, H, W, 3) photos.
        residual_sum, residual_count: (P,) float32 per grid point, updated in place (sums of residuals
            and numbers of pixel contributions).
        residual_bad: optional (P,) float32, updated in place: the contributions above ``bad_above``.
    """
    if target_rgb.shape != out["rgb"].shape:
        raise ValueError(
            f"expected target_rgb of shape {tuple(out['rgb'].shape)}, got {tuple(target_rgb.shape)}"
        )
    mask = out["mask"]
    if not bool(mask.any()):
        return
    res = (out["rgb"] - target_rgb).abs().mean(-1)[mask].float()
    ids = out["raster"].triangle_id[mask].long()
    corners = mesh.faces[ids]  # (M, 3)
    kept = mesh.cut.kept_vertices.shape[0]
    ends = mesh.template.edge_endpoints[mesh.cut.kept_vertices]  # (K, 2)
    for c in range(3):
        v = corners[:, c]
        ok = v < kept
        pts = ends[v[ok]].reshape(-1)
        r = res[ok].repeat_interleave(2)
        residual_sum.index_add_(0, pts, r)
        residual_count.index_add_(0, pts, torch.ones_like(r))
        if residual_bad is not None:
            residual_bad.index_add_(0, pts, (r > bad_above).to(r.dtype))


def hole_close_loss(mesh, raster, cell: float, target: float = 0.1) -> torch.Tensor:
    """At cut boundaries seen in ``raster``, Huber pull of the template mSDF at the removed end of each
    cut edge (in cells) towards ``target`` (the surface grows where a boundary is visible)."""
    cut = mesh.cut
    num_kept = cut.kept_vertices.shape[0]
    if cut.crossing_edges.shape[0] == 0:
        return mesh.template_msdf.sum() * 0.0
    ids = raster.triangle_id[raster.mask]
    visible_faces = torch.unique(ids)
    corners = mesh.faces[visible_faces].reshape(-1)
    crossing = torch.unique(corners[corners >= num_kept]) - num_kept
    if crossing.numel() == 0:
        return mesh.template_msdf.sum() * 0.0
    removed_end = cut.crossing_edges[crossing, 1]
    m = mesh.template_msdf[removed_end] / cell
    deficit = (target - m).clamp_min(0.0)
    return torch.nn.functional.huber_loss(deficit, torch.zeros_like(deficit), reduction="mean")


def _lr_factor(step: int, steps: int, final_fraction: float) -> float:
    return final_fraction + (1 - final_fraction) * 0.5 * (
        1 + math.cos(math.pi * min(step / max(steps, 1), 1.0))
    )


# --------------------------------------------------------------------------------------------------
def train_gshell(
    shell: GShellGrid,
    appearance: GShellAppearance,
    views: TrainingViews,
    background: torch.Tensor,
    config: GShellReconstructionConfig,
    rasterizer,
    progress: bool = True,
) -> list[dict]:
    """Optimise ``shell`` and ``appearance`` on ``views`` (in place); returns the loss history."""
    from tqdm.auto import tqdm

    h = shell.cell_size
    w = config.weights
    groups = [
        {"params": [shell.sdf, shell.msdf], "lr": config.lr_cells * h, "base": config.lr_cells * h},
        {"params": [appearance.albedo_logits], "lr": config.lr_albedo, "base": config.lr_albedo},
        {
            "params": [appearance.light_directions, appearance.light_strength_raw, appearance.ambient_raw],
            "lr": config.lr_lights,
            "base": config.lr_lights,
        },
    ]
    if shell.deform is not None:
        groups.append({"params": [shell.deform], "lr": config.lr_deform, "base": config.lr_deform})
    if not shell.config.use_msdf:
        shell.msdf.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(config.seed)
    bg = background.to(shell.device)
    unseen = torch.zeros(shell.num_points, dtype=torch.bool, device=shell.device)
    unseen_streak = torch.zeros(shell.num_points, dtype=torch.int64, device=shell.device)
    residual_sum = torch.zeros(shell.num_points, device=shell.device)
    residual_count = torch.zeros(shell.num_points, device=shell.device)
    residual_bad = torch.zeros(shell.num_points, device=shell.device)
    inconsistent = torch.zeros(shell.num_points, dtype=torch.bool, device=shell.device)
    history = []
    bar = tqdm(range(config.steps), desc="G-Shell", unit="step", disable=not progress)
    for step in bar:
        factor = _lr_factor(step, config.steps, config.lr_final_fraction)
        for g in optimizer.param_groups:
            g["lr"] = g["base"] * factor
        mesh = shell.extract()
        if mesh.num_faces == 0:
            raise EmptySurfaceError(
                f"the G-Shell lost its whole surface at step {step}; check the masks and cameras, or "
                "lower the hole-opening weight"
            )
        opening = w.open_start * config.steps <= step < w.open_end * config.steps and shell.config.use_msdf
        if (
            opening
            and w.open > 0
            and (step - int(w.open_start * config.steps)) % config.visibility_every == 0
        ):
            from fields3d.recon.gshell_visibility import unseen_grid_points, vertex_view_counts

            counts = vertex_view_counts(
                mesh.vertices,
                mesh.faces,
                views.cameras,
                rasterizer,
                config.visibility_tolerance_cells * shell.cell_size,
            )
            now = unseen_grid_points(mesh, counts, shell, config.seen_margin_cells)
            unseen_streak = torch.where(now, unseen_streak + 1, torch.zeros_like(unseen_streak))
            unseen = unseen_streak >= config.unseen_recounts
            if w.residual_open and bool((residual_count > 0).any()):
                mean = residual_sum / residual_count.clamp_min(1.0)
                valid = residual_count > 0
                median = mean[valid].median()
                inconsistent = valid & (mean > w.residual_threshold) & (mean > w.residual_ratio * median)
                if w.residual_fraction > 0:
                    bad = residual_bad / residual_count.clamp_min(1.0)
                    inconsistent &= bad >= w.residual_fraction
                residual_sum.zero_()
                residual_count.zero_()
                residual_bad.zero_()
            unseen = unseen | inconsistent
        pick = torch.randperm(len(views), generator=generator)[: config.views_per_step]
        cams = views.cameras[pick.tolist()]
        out = render_views(mesh, appearance, cams, bg, rasterizer, config.shading_gradients)
        target_rgb = views.rgb[pick.to(views.rgb.device)]
        target_mask = views.mask[pick.to(views.mask.device)]
        color = (out["rgb"] - target_rgb).abs().mean()
        if opening and w.residual_open:
            with torch.no_grad():
                accumulate_color_residual(
                    mesh, out, target_rgb, residual_sum, residual_count, residual_bad, w.residual_threshold
                )
        terms = {"color": color}
        if views.has_masks:
            terms["mask"] = (out["coverage"] - target_mask).pow(2).mean()
            if shell.config.use_msdf:
                # background pixels away from the silhouette (where geometry error makes the surface
                # overshoot by a pixel, the SDF and the mask loss fix it; cutting there makes holes)
                core = views.background_core[pick.to(views.mask.device)]
                background_hit = out["mask"] & core
                terms["msdf_mask"] = (out["msdf"] / h).clamp_min(0.0)[
                    background_hit
                ].sum() / target_mask.numel()
        terms["eikonal"] = shell.eikonal()
        if shell.config.use_msdf and w.msdf_eikonal > 0:
            terms["msdf_eikonal"] = shell.msdf_eikonal()
        terms["sign"] = shell.sign_regularizer()
        if opening:
            terms["open"] = unseen_open_loss(shell, unseen)
            if w.open_all > 0:
                terms["open_all"] = hole_open_loss(mesh, h)
        if shell.config.use_msdf and w.close > 0:
            terms["close"] = hole_close_loss(mesh, out["raster"], h)
        sign_weight = w.sign - (w.sign - w.sign_final) * min(1.0, 4.0 * step / config.steps)
        weights = {
            "color": w.color,
            "mask": w.mask,
            "msdf_mask": w.msdf_mask,
            "eikonal": w.eikonal,
            "sign": sign_weight,
            "open": w.open,
            "open_all": w.open_all,
            "msdf_eikonal": w.msdf_eikonal,
            "close": w.close,
        }
        loss = sum(weights[k] * v for k, v in terms.items())
        if not bool(torch.isfinite(loss)):
            raise Fields3dError(f"the G-Shell loss became {float(loss)} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps - 1:
            with torch.no_grad():
                mse = (out["rgb"] - target_rgb).pow(2).mean()
            entry = {"step": step, "loss": float(loss.detach()), "psnr": float(-10 * torch.log10(mse))}
            entry.update({k: float(v.detach()) for k, v in terms.items()})
            entry["faces"] = mesh.num_faces
            entry["template_faces"] = mesh.template.num_faces
            entry["boundary_vertices"] = int(mesh.cut.crossing_edges.shape[0])
            entry["unseen_points"] = int(unseen.sum())
            history.append(entry)
            bar.set_postfix(loss=f"{entry['loss']:.4f}", psnr=f"{entry['psnr']:.1f}", faces=mesh.num_faces)
    return history


# --------------------------------------------------------------------------------------------------
def reconstruct_gshell(
    scene: SceneData,
    run: str | os.PathLike,
    config: GShellReconstructionConfig | None = None,
    *,
    gt_mesh: str | os.PathLike | None = None,
    progress: bool = True,
    log=print,
) -> GShellRunResult:
    """Reconstruct ``scene`` with G-Shell into the run folder ``run`` (see the module docstring).

    Args:
        scene: a loaded capture (``fields3d.data.load_scene`` or ``fields3d.recon.pipeline.prepare_scene``).
        config: default ``GShellReconstructionConfig()``; ``config.grid.use_msdf=False`` gives the
            watertight baseline.
        gt_mesh: a reference mesh in the capture's world units (Chamfer, F-score, boundary loops); by
            default the ``mesh_gt`` named in a synthetic capture's ``fields3d`` block when present.
    """
    from fields3d.io.atomic import atomic_path, write_json
    from fields3d.recon.cpu_threads import choose_threads
    from fields3d.recon.pipeline import background_color, choose_device
    from fields3d.render import Rasterizer, RasterizerConfig

    config = config or GShellReconstructionConfig()
    config.validate()
    log = log or (lambda *_: None)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    device = choose_device(config.device)
    threads = choose_threads(config.threads) if device.type == "cpu" else torch.get_num_threads()
    torch.manual_seed(config.seed)
    t0, c0 = time.perf_counter(), time.process_time()

    train_idx, held_idx = split_heldout(len(scene), config.holdout, config.min_views, scene.source)
    gt_path = gt_mesh if gt_mesh is not None else _capture_gt_mesh(scene)
    gt = _read_gt(gt_path) if gt_path is not None else None
    write_json(
        run / "config.json",
        {
            "data": str(Path(scene.source).resolve()),
            "format": scene.format,
            "method": "gshell" if config.grid.use_msdf else "gshell-watertight",
            "normalization": scene.normalization.to_dict(),
            "config": config.to_dict(),
        },
    )
    views = load_views(scene, train_idx, config.max_image_size, config.use_masks, device, progress)
    h, w = views.rgb.shape[1:3]
    log(
        f"{scene.summary()}; G-Shell{'' if config.grid.use_msdf else ' (watertight baseline, no mSDF)'} on "
        f"{len(train_idx)} views at {w}x{h}, {len(held_idx)} held out; {device} ({threads} threads)"
    )
    shell = initial_shell(views, config, device, log)
    appearance = GShellAppearance(torch.tensor(shell.grid.aabb), config.appearance).to(device)
    log(
        f"grid {'x'.join(map(str, shell.grid.shape))} (cell {shell.cell_size:.4g}), "
        f"{shell.num_points} points, {shell.tets.shape[0]} tetrahedra"
    )
    bg = background_color(scene)
    rasterizer = Rasterizer(RasterizerConfig(backend="auto", near=1e-3, far=1e3))
    t_init = time.perf_counter()
    history = train_gshell(shell, appearance, views, bg, config, rasterizer, progress)
    t_train = time.perf_counter()

    topology = tidy_cut_topology(shell, appearance, scene, config, log)
    with torch.no_grad():
        mesh = shell.extract()
    if mesh.num_faces == 0:
        raise EmptySurfaceError("the reconstructed G-Shell has an empty surface")
    fill_extent = config.fill_holes_cells * shell.cell_size * scene.normalization.inverse().scale
    exported = export_world_mesh(mesh, appearance, scene, config.min_component_area, fill_extent)
    topology["mesh_loops_filled"] = exported.filled_loops
    from fields3d.io.mesh import write_mesh

    mesh_path = write_mesh(
        run / "mesh.ply",
        exported.vertices,
        exported.faces,
        vertex_colors=exported.colors,
        vertex_normals=exported.normals,
    )
    with atomic_path(run / "gshell.pt") as tmp:
        torch.save(
            {
                "gshell": shell.to_state(),
                "appearance": {k: v.cpu() for k, v in appearance.state_dict().items()},
                "appearance_config": dataclasses.asdict(config.appearance),
                "world_from_grid": scene.normalization.inverse().to_dict(),
            },
            tmp,
        )
    t_export = time.perf_counter()
    metrics, previews, report = _evaluate_and_report(
        run,
        config,
        scene,
        shell,
        appearance,
        mesh,
        exported,
        held_idx,
        bg,
        rasterizer,
        gt,
        gt_path,
        history,
        len(train_idx),
        (h, w),
        progress,
        log,
    )
    metrics["topology"] = topology
    metrics["history"] = history
    metrics["timing"] = {
        "init_seconds": t_init - t0,
        "train_seconds": t_train - t_init,
        "seconds_per_step": (t_train - t_init) / config.steps,
        "export_seconds": t_export - t_train,
        "evaluate_seconds": time.perf_counter() - t_export,
        "total_seconds": time.perf_counter() - t0,
        "process_cpu_seconds": time.process_time() - c0,
        "device": str(device),
        "threads": threads,
    }
    write_json(run / "metrics.json", metrics)
    log(f"mesh: {mesh_path} ({len(exported.vertices)} vertices, {len(exported.faces)} faces)")
    log(f"G-Shell: {run / 'gshell.pt'}")
    log(f"metrics: {run / 'metrics.json'}")
    log(f"report: {report}")
    return GShellRunResult(run, mesh_path, metrics, report, previews)


def reconstruct_gshell_from_path(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: GShellReconstructionConfig | None = None,
    **kwargs,
) -> GShellRunResult:
    """:func:`reconstruct_gshell` of the capture at ``data`` (any format ``fields3d reconstruct`` reads;
    a bare image folder gets its poses by SfM into ``out/sfm``)."""
    from fields3d.recon.pipeline import prepare_scene

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scene = prepare_scene(Path(data), out, kwargs.get("log", print) or (lambda *_: None))
    return reconstruct_gshell(scene, out, config, **kwargs)


# --------------------------------------------------------------------------------------------------
def tidy_cut_topology(
    shell: GShellGrid, appearance: GShellAppearance, scene: SceneData, config: GShellReconstructionConfig, log
) -> dict:
    """Post-process the trained cut (in place, on ``shell.msdf``): cut away strips narrower than about
    ``2 * strip_radius_cells`` cells, then close holes at most ``fill_holes_cells`` cells across
    (:meth:`GShellGrid.remove_thin_strips`, :meth:`GShellGrid.fill_small_holes`).  Returns counts and
    the boundary loops of the exported surface before the post-processing (``loops_before``)."""
    from fields3d.extract.gshell_boundary import boundary_report

    report: dict = {
        "strip_radius_cells": config.strip_radius_cells,
        "fill_holes_cells": config.fill_holes_cells,
    }
    if not shell.config.use_msdf or (config.strip_radius_cells <= 0 and config.fill_holes_cells <= 0):
        return report
    with torch.no_grad():
        raw = shell.extract()
    if raw.num_faces:
        before = export_world_mesh(raw, appearance, scene, config.min_component_area)
        report["loops_before"] = boundary_report(before.vertices, before.faces).loops
    if config.strip_radius_cells > 0:
        report["strips"] = shell.remove_thin_strips(config.strip_radius_cells)
    if config.fill_holes_cells > 0:
        report["holes"] = shell.fill_small_holes(config.fill_holes_cells)
    log(
        f"cut post-processing: {report.get('strips', {}).get('removed_vertices', 0)} template vertices of "
        f"thin strips removed, {report.get('holes', {}).get('filled', 0)} small holes closed"
    )
    return report


@dataclass
class WorldMesh:
    """The exported surface: (V, 3) float64 world vertices, (F, 3) faces, (V, 3) normals, (V, 3) uint8
    colours, how many faces cleanup removed and how many small holes were closed by fans."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colors: np.ndarray
    removed_faces: int
    filled_loops: int = 0

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, vertex_colors=self.colors, process=False)


def export_world_mesh(
    mesh,
    appearance: GShellAppearance,
    scene: SceneData,
    min_component_area: float,
    fill_holes_extent: float = 0.0,
) -> WorldMesh:
    """The cut mesh in world units, coloured by the albedo, small components removed, then holes at
    most ``fill_holes_extent`` across (world units; 0: none) closed by fans
    (:func:`~fields3d.extract.gshell_topology.fill_small_loops`)."""
    import trimesh

    from fields3d.extract.gshell_topology import fill_small_loops
    from fields3d.geometry.cleanup import CleanupConfig, clean_mesh

    verts = mesh.vertices.detach()
    with torch.no_grad():
        colors = appearance.albedo(verts).clamp(0, 1).cpu().numpy()
    inverse = scene.normalization.inverse()
    v_world = inverse.apply_points(verts.cpu().double().numpy())
    c8 = (colors * 255 + 0.5).astype(np.uint8)
    tm = trimesh.Trimesh(v_world, mesh.faces.cpu().numpy(), vertex_colors=c8, process=False)
    cleaned, report = clean_mesh(
        tm, CleanupConfig(merge_tolerance=None, degenerate_area=None, min_area_fraction=min_component_area)
    )
    if len(cleaned.faces) == 0:
        raise EmptySurfaceError("cleanup removed every face of the reconstructed surface")
    colors = np.asarray(cleaned.visual.vertex_colors)[:, :3].astype(np.uint8)
    vertices, faces = (
        np.asarray(cleaned.vertices, dtype=np.float64),
        np.asarray(cleaned.faces, dtype=np.int64),
    )
    filled = 0
    if fill_holes_extent > 0:
        vertices, faces, colors, filled = fill_small_loops(vertices, faces, fill_holes_extent, colors)
    normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    return WorldMesh(
        vertices=vertices,
        faces=faces,
        normals=np.asarray(normals, dtype=np.float64),
        colors=colors,
        removed_faces=int(report.component_faces),
        filled_loops=filled,
    )


def _capture_gt_mesh(scene: SceneData) -> Path | None:
    block = scene.metadata.get("fields3d")
    if isinstance(block, dict) and isinstance(block.get("mesh_gt"), str):
        root = Path(scene.source)
        root = root if root.is_dir() else root.parent
        path = root / block["mesh_gt"]
        return path if path.is_file() else None
    return None


def _read_gt(path):
    from fields3d.io.mesh import read_mesh

    mesh = read_mesh(path)
    if not mesh.area > 0:
        raise InputError(f"expected a reference mesh with positive area, got area {mesh.area}", path)
    return mesh


@torch.no_grad()
def _evaluate_and_report(
    run,
    config,
    scene,
    shell,
    appearance,
    mesh,
    exported,
    held_idx,
    bg,
    rasterizer,
    gt,
    gt_path,
    history,
    n_train,
    train_size,
    progress,
    log,
):
    from fields3d.extract.gshell_boundary import boundary_report, matched_openings
    from fields3d.recon.evaluation import RenderedView, image_metrics, reference_metrics
    from fields3d.recon.pipeline import world_up
    from fields3d.recon.previews import write_turntable, write_view_previews
    from fields3d.recon.run_report import write_report

    previews_dir = run / "previews"
    rotation = torch.as_tensor(scene.normalization.inverse().rotation, dtype=torch.float32)
    method = "gshell" if config.grid.use_msdf else "gshell-watertight"
    metrics: dict = {
        "method": method,
        "data": str(scene.source),
        "format": scene.format,
        "views": len(scene),
        "train_views": n_train,
        "heldout_views": len(held_idx),
        "steps": config.steps,
        "train_image_size": list(train_size),
        "grid": shell.describe(),
    }
    view_previews: list[tuple[str, Path]] = []
    if held_idx:
        held = load_views(scene, held_idx, config.eval_max_image_size, config.use_masks, shell.device)
        rendered = []
        for k in range(len(held)):
            out = render_views(mesh, appearance, held.cameras[[k]], bg, rasterizer)
            normals = out["normals"][0].cpu() @ rotation.T
            rendered.append(
                RenderedView(
                    index=held.indices[k],
                    target=held.rgb[k].cpu().numpy(),
                    mask=(held.mask[k] > 0.5).cpu().numpy() if held.has_masks else None,
                    rgb=out["rgb"][0].clamp(0, 1).cpu().numpy(),
                    opacity=out["coverage"][0].cpu().numpy(),
                    normals=normals.numpy(),
                    depth=out["depth"][0].cpu().numpy(),
                    blend_weight=np.zeros(out["depth"][0].shape, dtype=np.float32),
                )
            )
        metrics["heldout"] = image_metrics(rendered)
        view_previews = write_view_previews(rendered, previews_dir)
        key = "psnr_masked" if "psnr_masked" in metrics["heldout"] else "psnr"
        metrics["heldout_psnr"] = metrics["heldout"].get(key)
        metrics["heldout_psnr_kind"] = "inside the masks" if key == "psnr_masked" else "whole image"
        if "mask_iou" in metrics["heldout"]:
            metrics["heldout_mask_iou"] = metrics["heldout"]["mask_iou"]
    tm = exported.to_trimesh()
    br = boundary_report(tm.vertices, tm.faces)
    metrics["mesh_stats"] = {
        "vertices": int(len(tm.vertices)),
        "faces": int(len(tm.faces)),
        "watertight": bool(tm.is_watertight),
        "components": int(len(tm.split(only_watertight=False))),
        "boundary_loops": br.loops,
        "boundary_edges": br.boundary_edges,
        "nonmanifold_edges": br.nonmanifold_edges,
        "removed_faces": exported.removed_faces,
        "template_faces": mesh.template.num_faces,
    }
    metrics["boundary_loops"] = br.loops
    if gt is not None:
        log("comparing the mesh with the reference")
        metrics.update(reference_metrics(tm, gt, gt_path, samples=config.eval_samples))
        metrics["gt_boundary_loops"] = boundary_report(gt.vertices, gt.faces).loops
        metrics["gt_openings_matched"] = matched_openings(tm.vertices, tm.faces, gt.vertices, gt.faces)
    turntable = write_turntable(
        exported.vertices,
        exported.faces,
        exported.colors,
        previews_dir,
        config.turntable_views,
        config.turntable_size,
        up=world_up(scene),
    )
    if exported.faces.shape[0] > 0:
        from fields3d.recon.gshell_previews import write_boundary_views

        turntable = turntable + [
            write_boundary_views(exported.vertices, exported.faces, previews_dir, world_up(scene))
        ]
    curves = _write_curves(history, previews_dir)
    summary = (
        f"{method} on {scene.source}: {scene.summary()}; {n_train} training views, {len(held_idx)} held out; "
        f"{config.steps} steps of {config.views_per_step} views; grid {'x'.join(map(str, shell.grid.shape))}."
    )
    report = write_report(
        run / "report.html",
        f"fields3d reconstruction (G-Shell): {run.name}",
        summary,
        metrics,
        curves,
        view_previews,
        turntable,
    )
    previews = [p for _, p in view_previews + turntable + curves]
    return metrics, previews, report


def _write_curves(history: list[dict], folder: Path) -> list[tuple[str, Path]]:
    from fields3d.io.images import write_image
    from fields3d.recon.run_report import line_plot

    if not history:
        return []
    steps = np.array([e["step"] for e in history], dtype=np.float64)
    keys = (
        "loss",
        "color",
        "mask",
        "msdf_mask",
        "eikonal",
        "msdf_eikonal",
        "sign",
        "open",
        "open_all",
        "close",
    )
    losses = {
        k: (steps, np.array([e.get(k, np.nan) for e in history], dtype=np.float64))
        for k in keys
        if any(e.get(k, 0) > 0 for e in history)
    }
    a = write_image(folder / "loss_curves.png", line_plot(losses, "losses (log scale)", log_y=True))
    psnr = {"train PSNR (dB)": (steps, np.array([e["psnr"] for e in history], dtype=np.float64))}
    b = write_image(folder / "psnr_curve.png", line_plot(psnr, "training PSNR"))
    faces = {"faces": (steps, np.array([e["faces"] for e in history], dtype=np.float64))}
    c = write_image(folder / "faces_curve.png", line_plot(faces, "mesh faces"))
    return [("losses", a), ("training PSNR", b), ("mesh faces", c)]
