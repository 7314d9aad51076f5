"""The FrozenRecon optimisation: from N frames and their frozen depth priors to one focal length, N poses
and N rectified depth maps.

Steps (:func:`optimize_sequence`):

1. downsample priors and colours to a working grid and normalise each prior
   (:func:`fields3d.frozenrecon.frame_maps.build_frame_maps`);
2. keep keyframes (near-duplicates dropped, :func:`fields3d.frozenrecon.pairs.select_keyframes`);
3. run the staged schedule (:data:`DEFAULT_STAGES`), each stage a Levenberg-Marquardt run
   (:func:`fields3d.frozenrecon.solver.solve`) over a set of variable groups and frame pairs:
   near pairs first with poses, scales and shifts at a fixed focal length; then the focal length is
   released; then pairs chosen by relative rotation join; optionally (:data:`LOCAL_STAGE`) the per-frame
   grids of local scale corrections, with the focal length held (a radial pattern of local corrections
   mimics a focal change);
4. rectify the full-resolution priors with the result (:func:`rectify_full`).

The focal length starts from ``focal_init`` (see :func:`initial_focal`: EXIF, else a 60 degree horizontal
field of view).  The reconstruction's gauge is frame 0: its pose is the identity and its prior's scale 1
(in normalised units), so world units are arbitrary; metrics remove them with Sim(3) / one scale.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from fields3d.frozenrecon.frame_maps import FrameMaps, build_frame_maps, working_size
from fields3d.frozenrecon.pairs import near_pairs, rotation_pairs, select_keyframes
from fields3d.frozenrecon.parameters import ReconParameters
from fields3d.frozenrecon.solver import SolverOptions, solve
from fields3d.frozenrecon.warping import coarse_cell_means, coarse_weights, pixel_centers

DEFAULT_FOV_DEG = 60.0


@dataclass
class Stage:
    """One step of the schedule."""

    name: str
    active: tuple[str, ...]
    """Variable groups that move (see :data:`fields3d.frozenrecon.solver.GROUPS`)."""
    iterations: int = 15
    window: int = 2
    """Temporal neighbours paired with each frame."""
    rotation_pairs: int = 0
    """Extra pairs per frame chosen by relative rotation (needs poses from an earlier stage)."""
    photometric_weight: float = 0.0
    trim: float = 0.1


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("poses, scale, shift", ("poses", "scale", "shift"), iterations=20, window=2),
    Stage("+ focal", ("poses", "scale", "shift", "focal"), iterations=30, window=3),
    Stage(
        "+ rotation pairs", ("poses", "scale", "shift", "focal"), iterations=20, window=3, rotation_pairs=3
    ),
)
"""The default schedule (no local grids: see :data:`LOCAL_STAGE`)."""

LOCAL_STAGE = Stage(
    "local grids (focal fixed)",
    ("poses", "scale", "shift", "local"),
    iterations=10,
    window=3,
    rotation_pairs=3,
)
"""Optional last stage: per-frame grids of local scale corrections, for depth models whose errors are not
affine.  Off by default: on affine-corrupted priors (the acceptance recipe) it has nothing to correct and
was measured to degrade the synthetic room test case (AbsRel 0.025 -> 0.15)."""


@dataclass
class FrozenReconConfig:
    """Settings of :func:`optimize_sequence`."""

    working_cells: int = 64
    """Cells of the working grid along the image's longer side."""
    grid_size: tuple[int, int] = (4, 4)
    """Cells of each frame's grid of local scale corrections (rows, columns)."""
    keyframe_min_change: float = 0.02
    """Frames closer than this to the last keyframe are dropped (0 keeps all); see select_keyframes."""
    pixels_per_pair: int = 1024
    """Cells of frame i per pair (sampled once per stage); 0: every cell of the working grid."""
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    max_angle_deg: float = 30.0
    """Rotation pairs: largest relative rotation."""
    max_distance_fraction: float = 0.5
    """Rotation pairs: largest distance between the camera centres, as a fraction of the median depth."""
    normalizer: str = "scale"
    """Geometric residual: "scale" = (D_comp - D_proj) / (scale_i + scale_j) (default); "depth" =
    (D_comp - D_proj) / (D_comp + D_proj), the paper's, which also decreases when the whole scene is
    pushed far away (shifts grow), a degenerate minimum that the default avoids."""
    initial_shift: float = 3.0
    """Starting shift of every normalised prior (median 0, mean absolute deviation 1): depth = n + 3 is
    positive almost everywhere for ordinary scenes; raised per frame when not."""
    seed: int = 0
    resample: bool = False
    """Draw new pixels every iteration (True) or keep one sample per stage (False: the cost function
    stays the same between iterations, so Levenberg-Marquardt converges instead of wandering)."""
    incremental_init: bool = True
    """Before the stages, add frames one at a time: frame k's pose (constant-velocity start), scale and
    shift are fitted against the previous ``init_window`` frames, which stay fixed."""
    init_window: int = 3
    init_iterations: int = 8
    init_active: tuple[str, ...] = ("poses", "scale")
    """Groups frame k fits during the initialisation: its shift stays at its start value (fitting it
    frame by frame lets it drift along the chain)."""

    def validate(self) -> None:
        if self.working_cells < 8:
            raise ValueError(f"expected working_cells >= 8, got {self.working_cells}")
        if not self.stages:
            raise ValueError("expected at least one stage, got none")
        if 0 < self.pixels_per_pair < 16 or self.pixels_per_pair < 0:
            raise ValueError(f"expected pixels_per_pair 0 (every cell) or >= 16, got {self.pixels_per_pair}")


@dataclass
class FrozenReconResult:
    """Result for the kept keyframes (indices into the input frames)."""

    keyframes: list[int]
    c2w: np.ndarray
    """(N, 4, 4) float64 camera-to-world poses (frame 0 = identity), OpenCV axes, arbitrary units."""
    focal: float
    """Focal length in full-resolution pixels; principal point at the image centre."""
    focal_init: float
    width: int
    height: int
    params: ReconParameters
    maps: FrameMaps
    stage_reports: list[dict] = field(default_factory=list)
    """Per stage: name, pairs, accepted/rejected steps, final cost, focal after it, seconds."""

    def intrinsics(self) -> np.ndarray:
        """(3, 3) float64 K."""
        return np.array([[self.focal, 0, self.width / 2], [0, self.focal, self.height / 2], [0, 0, 1.0]])


def initial_focal(
    width: int, height: int, exif_focal_35mm: float | None = None, fov_deg: float = DEFAULT_FOV_DEG
) -> float:
    """Starting focal length in pixels: from the EXIF 35 mm-equivalent focal length when known (a 36 mm
    wide frame along the image's longer side), else from a ``fov_deg`` field of view along the longer side."""
    side = max(width, height)
    if exif_focal_35mm is not None and exif_focal_35mm > 0:
        return float(exif_focal_35mm) / 36.0 * side
    return 0.5 * side / math.tan(math.radians(fov_deg) / 2.0)


def exif_focal_35mm(path) -> float | None:
    """The EXIF ``FocalLengthIn35mmFilm`` of an image file, or None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(0x8769).get(0xA405) or exif.get(0xA405)
    except Exception:  # noqa: BLE001 - unreadable EXIF is simply absent
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def optimize_sequence(
    colors: list[np.ndarray],
    priors: list[np.ndarray],
    focal_init: float,
    config: FrozenReconConfig | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    debug=None,
) -> FrozenReconResult:
    """Recover focal length, poses and per-frame depth rectification.

    Args:
        colors: N (H, W, 3) float RGB in [0, 1].
        priors: N (H, W) float depth priors (any per-frame positive scale and shift; NaN = missing);
            checked beforehand (:func:`fields3d.frozenrecon.priors.check_prior`).
        focal_init: starting focal length in pixels.
        config: settings.
        progress: show a progress bar per stage.
        device: where the optimisation runs.
        debug: optional ``debug(stage_index, params, keyframes)`` called after every stage.
    Returns:
        FrozenReconResult for the keyframes.
    """
    config = config or FrozenReconConfig()
    config.validate()
    if len(colors) != len(priors):
        raise ValueError(f"expected as many colour images as priors, got {len(colors)} and {len(priors)}")
    if len(colors) < 2:
        raise ValueError(f"expected at least 2 frames, got {len(colors)}")
    height, width = np.asarray(priors[0]).shape
    size = working_size(width, height, config.working_cells)
    all_maps = build_frame_maps(priors, colors, size)
    keyframes = select_keyframes(all_maps, config.keyframe_min_change)
    if len(keyframes) < 2:
        raise ValueError("expected at least 2 distinct frames, got only near-duplicates of the first one")
    maps = build_frame_maps([priors[k] for k in keyframes], [colors[k] for k in keyframes], size).to(device)
    n = len(maps)
    low = torch.stack([torch.quantile(maps.prior[k][maps.valid[k]], 0.01) for k in range(n)])
    shift0 = torch.clamp(-low + 0.5, min=config.initial_shift)
    params = ReconParameters(shift0, focal_init, grid_size=config.grid_size).to(device)
    result = FrozenReconResult(
        keyframes, np.zeros((n, 4, 4)), float(focal_init), float(focal_init), width, height, params, maps
    )
    if config.incremental_init:
        initialize_incrementally(params, maps, config, progress)
        if debug is not None:
            debug(-1, params, keyframes)
    for index, stage in enumerate(config.stages):
        window = min(stage.window, n - 1)
        pairs = near_pairs(n, window)
        if stage.rotation_pairs > 0:
            with torch.no_grad():
                typical_depth = float((params.scale() * (maps.median_prior() + params.shift)).median())
            extra = rotation_pairs(
                params.poses(),
                window,
                stage.rotation_pairs,
                config.max_angle_deg,
                max_distance=config.max_distance_fraction * typical_depth,
            )
            if extra.shape[1]:
                pairs = torch.cat([pairs, extra], 1)
        options = SolverOptions(
            active=stage.active,
            iterations=stage.iterations,
            pixels_per_pair=config.pixels_per_pair,
            photometric_weight=stage.photometric_weight,
            trim=stage.trim,
            normalizer=config.normalizer,
            seed=config.seed + index,
            resample=config.resample,
        )
        bar = _bar(progress, stage.iterations, f"stage {index + 1}/{len(config.stages)}: {stage.name}")
        start = time.perf_counter()

        def tick(_iteration, cost, bar=bar):
            if bar is not None:
                bar.update(1)
                bar.set_postfix(cost=f"{cost:.3g}", focal=f"{params.focal().item():.1f}")

        report = solve(params, maps, pairs.to(device), options, progress=tick)
        if bar is not None:
            bar.close()
        result.stage_reports.append(
            {
                "name": stage.name,
                "pairs": int(pairs.shape[1]),
                "accepted": report.accepted,
                "rejected": report.rejected,
                "cost": report.costs[-1] if report.costs else float("nan"),
                "focal": float(params.focal().detach()),
                "seconds": time.perf_counter() - start,
            }
        )
        if debug is not None:
            debug(index, params, keyframes)
    with torch.no_grad():
        result.c2w = params.poses().double().cpu().numpy()
        result.focal = float(params.focal())
    return result


@torch.no_grad()
def initialize_incrementally(
    params: ReconParameters, maps: FrameMaps, config: FrozenReconConfig, progress: bool = False
) -> None:
    """Chain initialisation, one frame at a time (updates ``params`` in place; focal and grids held).

    For k = 1 .. N-1, the sub-sequence of frames ``k - init_window .. k`` is expressed in the frame of its
    first member (pose identity, scale 1), only frame k moves, and pairs between frame k and the others
    are solved for a few Levenberg-Marquardt iterations; frame k starts from its predecessor's relative
    pose (constant velocity).  Cheap, and it brings the chain into the basin of the global stages.
    """
    n = len(maps)
    bar = _bar(progress, n - 1, "initialisation (frame by frame)")
    for k in range(1, n):
        c2w = params.poses().detach()
        ls = params.log_scale().detach()
        if k >= 2:  # constant velocity: repeat the previous relative motion
            guess = c2w[k - 1] @ (torch.linalg.inv(c2w[k - 2]) @ c2w[k - 1])
            ls_k = ls[k - 1]
            c2w[k] = guess
            ls = ls.clone()
            ls[k] = ls_k
        frames = list(range(max(0, k - config.init_window), k + 1))
        s0 = frames[0]
        unit = torch.exp(-ls[s0])
        base = torch.linalg.inv(c2w[s0])
        local_c2w = base @ c2w[frames]
        local_c2w[:, :3, 3] *= unit
        sub = ReconParameters(
            params.shift.detach()[frames], float(params.focal()), grid_size=params.grid_size
        )
        sub = sub.to(params.shift.device)
        sub.log_scale_rest.copy_(ls[frames[1:]] - ls[s0])
        sub.local.copy_(params.local.detach()[frames])
        sub.set_poses(local_c2w)
        m = len(frames)
        pairs = torch.tensor(
            [[m - 1, a] for a in range(m - 1)] + [[a, m - 1] for a in range(m - 1)],
            dtype=torch.long,
            device=params.shift.device,
        ).T.contiguous()
        options = SolverOptions(
            active=config.init_active,
            iterations=config.init_iterations,
            pixels_per_pair=config.pixels_per_pair,
            normalizer=config.normalizer,
            fixed_frames=m - 1,
            seed=config.seed + 1000 + k,
            resample=config.resample,
        )
        solve(sub, maps.subset(frames), pairs, options)
        new_local = sub.poses().detach()[m - 1].clone()
        new_local[:3, 3] /= unit
        c2w[k] = c2w[s0] @ new_local
        for later in range(k + 1, n):  # not yet initialised: follow frame k
            c2w[later] = c2w[k]
        params.set_poses(c2w)
        params.log_scale_rest[k - 1] = sub.log_scale()[m - 1] + ls[s0]
        params.shift[k] = sub.shift[m - 1]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True)


@torch.no_grad()
def rectify_full(result: FrozenReconResult, index: int, prior: np.ndarray, local: bool = True) -> np.ndarray:
    """Rectified full-resolution depth of keyframe ``index`` from its raw prior (H, W) (NaN = missing).

    ``D = scale * ((prior - center) / spread + shift) * exp(L(p))`` in the reconstruction's units;
    returns (H, W) float32, NaN where the prior is missing or the result is not positive.
    """
    p, maps = result.params, result.maps
    h, w = np.asarray(prior).shape
    raw = torch.from_numpy(np.asarray(prior, dtype=np.float64)).to(p.shift.device)
    n = (raw - maps.center[index]) / maps.spread[index]
    depth = p.scale()[index] * (n + p.shift[index])
    if local:
        uv = pixel_centers(h, w, h, w, dtype=raw.dtype, device=raw.device)
        idx, wts = coarse_weights(uv, *p.grid_size, w, h)
        omega = coarse_cell_means(*p.grid_size, dtype=raw.dtype, device=raw.device)
        corr = ((p.local[index][idx] * wts).sum(-1) - (p.local[index] * omega).sum()).reshape(h, w)
        depth = depth * corr.exp()
    out = depth.cpu().numpy().astype(np.float32)
    out[~(np.isfinite(out) & (out > 0))] = np.nan
    return out
