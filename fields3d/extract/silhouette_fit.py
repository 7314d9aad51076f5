"""Fit a neural SDF to the multi-view silhouettes of a mesh, only through extract -> rasterize.

The end-to-end use of differentiable iso-surface extraction: the SDF (hash grid + small MLP,
:class:`fields3d.fields.SDFField`) never sees the reference mesh's geometry, only its silhouettes.
Every step

1. extracts the SDF's zero level set with marching cubes at a small resolution
   (:func:`fields3d.extract.extract_mesh`, DeepMesh vertex gradients ``dv/dtheta = -n/|n|^2 df/dtheta``),
2. rasterizes the mesh into a few random views of a fixed camera set (:class:`fields3d.render.Rasterizer`)
   and takes its antialiased coverage (:func:`fields3d.render.coverage`, gradients at silhouette edges),
3. compares the coverage with the reference mesh's coverage in the same views (mean squared error),
4. adds an eikonal regulariser ``(|grad f| - 1)^2`` on random points of the box,

and back-propagates through the rasterizer and DeepMesh into the hash grid and the MLP.  The field
starts as a sphere (``SDFField``'s geometric initialisation, refined by a short regression on the
sphere's signed distance).  Silhouettes determine the visual hull, not concavities that no view sees
edge-on: the fit converges to (roughly) the visual hull of the camera set.

Frames: the reference mesh is mapped into a normalised frame (its bounding-box centre at the origin, its
bounding-box half-diagonal ``config.object_radius``) where the field lives on ``[-1, 1]^3``; the meshes
returned and the Chamfer distances are in the reference mesh's own units.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from fields3d.cameras import Cameras
from fields3d.encodings import HashGridEncodingConfig
from fields3d.fields.mlp import MLPConfig
from fields3d.fields.sdf_field import SDFField, SDFFieldConfig, fibonacci_sphere


def small_sdf_grid() -> HashGridEncodingConfig:
    """A hash grid sized for extraction at 32-64 points per axis on a CPU (8 levels, 16 .. 128)."""
    return HashGridEncodingConfig(
        n_levels=8,
        features_per_level=2,
        log2_table_size=15,
        base_resolution=8,
        finest_resolution=128,
    )


@dataclass
class SilhouetteFitConfig:
    """Fit an SDF to multi-view silhouettes of a mesh (see the module docstring)."""

    steps: int = 400
    """Optimisation steps (one extraction and one rasterization of ``views_per_step`` views each)."""
    resolution: int = 40
    """Marching-cubes grid points per axis over [-1, 1]^3 in every step."""
    num_views: int = 32
    """Fixed cameras around the object (Fibonacci sphere) whose silhouettes are the training data."""
    views_per_step: int = 4
    """Random views of that set rasterized per step."""
    image_size: int = 64
    """Width and height of the silhouette images, pixels."""
    camera_distance: float = 2.6
    """Distance of the cameras from the centre, normalised units (the object fits in a sphere of
    ``object_radius``)."""
    fov_deg: float = 40.0
    """Horizontal and vertical field of view of the cameras, degrees."""
    object_radius: float = 0.8
    """Half-diagonal of the reference mesh's bounding box in the normalised frame (inside [-1, 1]^3)."""
    init_radius: float = 0.5
    """Radius of the initial sphere, normalised units."""
    sphere_pretrain_steps: int = 100
    """Steps regressing the field onto the sphere's signed distance before the fit (0: the geometric
    initialisation only)."""
    lr: float = 1e-2
    """Adam learning rate of the hash grid; the MLP gets ``lr * mlp_lr_scale``."""
    mlp_lr_scale: float = 0.1
    """MLP learning rate relative to the grid's."""
    final_lr_fraction: float = 0.1
    """The learning rate decays exponentially to this fraction of ``lr`` at the last step."""
    eikonal_weight: float = 0.1
    """Weight of the eikonal loss."""
    eikonal_points: int = 2048
    """Random points of the box per step for the eikonal loss."""
    grid: HashGridEncodingConfig = field(default_factory=small_sdf_grid)
    """The SDF's hash grid over [-1, 1]^3."""
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(hidden_dim=64, n_hidden_layers=1))
    """The SDF's MLP on [x, grid features]."""
    chamfer_samples: int = 20_000
    """Surface points per mesh for the Chamfer distance at the start and the end."""
    seed: int = 0
    """Seed of the view order, eikonal points and the field's initialisation."""

    def validate(self) -> None:
        for name in ("steps", "sphere_pretrain_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"expected {name} >= 0, got {getattr(self, name)}")
        if self.resolution < 8:
            raise ValueError(f"expected resolution >= 8, got {self.resolution}")
        if self.num_views < 1 or not 1 <= self.views_per_step <= self.num_views:
            raise ValueError(
                f"expected num_views >= 1 and 1 <= views_per_step <= num_views, got num_views="
                f"{self.num_views}, views_per_step={self.views_per_step}"
            )
        if self.image_size < 8:
            raise ValueError(f"expected image_size >= 8, got {self.image_size}")
        if not 0 < self.object_radius < 1:
            raise ValueError(
                f"expected 0 < object_radius < 1 (inside the field's box), got {self.object_radius}"
            )
        if not 0 < self.init_radius < 1:
            raise ValueError(f"expected 0 < init_radius < 1, got {self.init_radius}")
        if not 0 < self.fov_deg < 170:
            raise ValueError(f"expected 0 < fov_deg < 170, got {self.fov_deg}")
        min_distance = self.object_radius / math.sin(math.radians(self.fov_deg) / 2)
        if not self.camera_distance > min_distance:  # the object's bounding sphere must fit in every view
            raise ValueError(
                f"expected camera_distance > object_radius / sin(fov / 2) = {min_distance:.3f}, "
                f"got {self.camera_distance}"
            )
        if not self.lr > 0 or not self.mlp_lr_scale >= 0 or not 0 < self.final_lr_fraction <= 1:
            raise ValueError(
                f"expected lr > 0, mlp_lr_scale >= 0 and 0 < final_lr_fraction <= 1, got {self.lr}, "
                f"{self.mlp_lr_scale}, {self.final_lr_fraction}"
            )
        if self.eikonal_weight < 0 or self.eikonal_points < 1:
            raise ValueError(
                f"expected eikonal_weight >= 0 and eikonal_points >= 1, got {self.eikonal_weight}, "
                f"{self.eikonal_points}"
            )
        if self.chamfer_samples < 100:
            raise ValueError(f"expected chamfer_samples >= 100, got {self.chamfer_samples}")


@dataclass
class SilhouetteFitResult:
    """What :func:`fit_sdf_to_silhouettes` returns.

    Attributes:
        field: the fitted :class:`SDFField` (normalised frame, [-1, 1]^3).
        vertices, faces: (V, 3) float64 and (F, 3) int64 final mesh, reference units.
        initial_vertices, initial_faces: the mesh of the initial sphere, reference units.
        cameras: the fixed views (normalised frame), ``num_views`` cameras.
        target: (num_views, H, W) float32 reference coverage in [0, 1].
        chamfer_initial, chamfer_final: symmetric Chamfer distance (mean of accuracy and completeness)
            to the reference, reference units.
        chamfer_floor: the same distance between two independent samplings of the reference itself: what
            a perfect fit would score with ``chamfer_samples`` points (the metric's sampling floor).
        diagonal: the reference mesh's bounding-box diagonal, reference units.
        center, scale: normalised = (reference - center) * scale.
        history: per step ``{"step", "silhouette", "eikonal", "faces"}``.
        seconds: process CPU seconds of the fit (without the Chamfer evaluations).
    """

    field: SDFField
    vertices: np.ndarray
    faces: np.ndarray
    initial_vertices: np.ndarray
    initial_faces: np.ndarray
    cameras: Cameras
    target: torch.Tensor
    chamfer_initial: float
    chamfer_final: float
    chamfer_floor: float
    diagonal: float
    center: np.ndarray
    scale: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chamfer_ratio(self) -> float:
        """Initial over final Chamfer distance (how many times it fell)."""
        return self.chamfer_initial / max(self.chamfer_final, 1e-12)

    def summary(self) -> dict:
        """JSON-ready numbers: Chamfer before/after (reference units and % of the bbox diagonal), ratio."""
        return {
            "chamfer_initial": self.chamfer_initial,
            "chamfer_final": self.chamfer_final,
            "chamfer_initial_pct_diagonal": 100.0 * self.chamfer_initial / self.diagonal,
            "chamfer_final_pct_diagonal": 100.0 * self.chamfer_final / self.diagonal,
            "chamfer_ratio": self.chamfer_ratio,
            "chamfer_floor_pct_diagonal": 100.0 * self.chamfer_floor / self.diagonal,
            "bbox_diagonal": self.diagonal,
            "final_faces": int(len(self.faces)),
            "fit_cpu_seconds": self.seconds,
        }


# --------------------------------------------------------------------------------------------------
def look_at_poses(eyes: np.ndarray, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(N, 4, 4) float64 OpenCV camera-to-world poses at (N, 3) ``eyes`` looking at ``target``.

    The image's "down" (camera y) is as close to world -y as the view direction allows (world +z when
    looking straight along y).
    """
    eyes = np.asarray(eyes, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64)[None] - eyes
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    down = np.broadcast_to(np.array([0.0, -1.0, 0.0]), z.shape).copy()
    steep = np.abs(z[:, 1]) > 0.99
    down[steep] = [0.0, 0.0, 1.0]
    x = np.cross(z, down)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    poses = np.tile(np.eye(4), (len(eyes), 1, 1))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2], poses[:, :3, 3] = x, y, z, eyes
    return poses


def orbit_cameras(num_views: int, image_size: int, distance: float, fov_deg: float) -> Cameras:
    """``num_views`` square cameras evenly spread on a sphere of radius ``distance``, facing the origin."""
    eyes = fibonacci_sphere(num_views).double().numpy() * distance
    return Cameras.from_fov(math.radians(fov_deg), image_size, image_size, look_at_poses(eyes))


def normalization(vertices: np.ndarray, object_radius: float) -> tuple[np.ndarray, float, float]:
    """Centre (3,), scale and bounding-box diagonal so that ``(v - centre) * scale`` has a bounding-box
    half-diagonal of ``object_radius``."""
    lo, hi = vertices.min(0), vertices.max(0)
    diagonal = float(np.linalg.norm(hi - lo))
    if not diagonal > 0:
        raise ValueError(f"expected a mesh with a non-degenerate bounding box, got diagonal {diagonal}")
    return 0.5 * (lo + hi), 2.0 * object_radius / diagonal, diagonal


def make_sdf_field(config: SilhouetteFitConfig) -> SDFField:
    """The SDF to fit: ``config.grid`` + ``config.mlp``, no geometry features, starting as the sphere
    of radius ``config.init_radius`` (geometric initialisation)."""
    return SDFField(
        SDFFieldConfig(
            grid=config.grid, mlp=config.mlp, feature_dim=0, bound=1.0, init_radius=config.init_radius
        )
    )


def pretrain_sphere(sdf: SDFField, radius: float, steps: int, *, points: int = 4096, seed: int = 0) -> float:
    """Regress ``sdf`` onto the sphere's signed distance ``|x| - radius`` on [-1, 1]^3 (L1, Adam).

    Returns the mean absolute error on fresh points after the last step, normalised units.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(sdf.parameters(), lr=1e-3)

    def batch():
        x = torch.rand(points, 3, generator=gen) * 2 - 1
        return x, x.norm(dim=-1) - radius

    for _ in range(steps):
        x, d = batch()
        loss = (sdf.sdf(x) - d).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        x, d = batch()
        return float((sdf.sdf(x) - d).abs().mean())


def eikonal_loss(sdf: SDFField, points: torch.Tensor) -> torch.Tensor:
    """Mean ``(|grad f| - 1)^2`` at (N, 3) points (differentiable w.r.t. the field's parameters)."""
    _, grad = sdf.sdf_and_gradient(points, create_graph=True)
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean()


# --------------------------------------------------------------------------------------------------
def fit_sdf_to_silhouettes(
    vertices,
    faces,
    config: SilhouetteFitConfig | None = None,
    *,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> SilhouetteFitResult:
    """Fit an SDF to the silhouettes of a reference mesh through extract -> rasterize -> coverage loss.

    Args:
        vertices: (V, 3) reference mesh vertices (numpy or torch), any units.
        faces: (F, 3) integer faces (a closed mesh gives clean silhouettes; any mesh works).
        config: see :class:`SilhouetteFitConfig`.
        progress: show a tqdm bar.
        callback: called as ``callback(step, record)`` after every step.
        log: called with one line each for the Chamfer distance of the initial sphere and of the fit
            (reference units and % of the bounding-box diagonal), e.g. ``print``.
    Returns:
        :class:`SilhouetteFitResult` with the fitted field, the initial and final meshes (reference
        units) and the Chamfer distances before and after.
    Raises:
        ValueError: malformed mesh or configuration ("expected ..., got ...").
    """
    from fields3d.extract.surface_extraction import extract_mesh
    from fields3d.metrics.mesh_distance import chamfer_distance
    from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage

    config = config or SilhouetteFitConfig()
    config.validate()
    v_ref = np.asarray(vertices.detach().cpu() if isinstance(vertices, torch.Tensor) else vertices)
    v_ref = v_ref.astype(np.float64)
    f_ref = np.asarray(faces.detach().cpu() if isinstance(faces, torch.Tensor) else faces)
    if v_ref.ndim != 2 or v_ref.shape[1] != 3 or len(v_ref) < 3:
        raise ValueError(f"expected reference vertices of shape (V >= 3, 3), got {v_ref.shape}")
    if f_ref.ndim != 2 or f_ref.shape[1] != 3 or len(f_ref) < 1 or not np.issubdtype(f_ref.dtype, np.integer):
        raise ValueError(
            f"expected integer reference faces of shape (F >= 1, 3), got {f_ref.shape} {f_ref.dtype}"
        )
    if f_ref.min() < 0 or f_ref.max() >= len(v_ref):
        raise ValueError(f"expected face indices in [0, {len(v_ref)}), got [{f_ref.min()}, {f_ref.max()}]")
    if not np.isfinite(v_ref).all():
        raise ValueError("expected finite reference vertices, got NaN or infinity")
    center, scale, diagonal = normalization(v_ref, config.object_radius)

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rasterizer = Rasterizer(RasterizerConfig(backend="cpu"))
    cameras = orbit_cameras(config.num_views, config.image_size, config.camera_distance, config.fov_deg)
    ref_vertices = torch.from_numpy((v_ref - center) * scale).float()
    ref_faces = torch.from_numpy(f_ref.astype(np.int64))
    with torch.no_grad():
        target = coverage(rasterizer.rasterize(ref_vertices, ref_faces, cameras)).float()
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])

    def to_reference(v: torch.Tensor) -> np.ndarray:
        return v.detach().double().cpu().numpy() / scale + center

    def chamfer(v: np.ndarray, f: np.ndarray) -> float:
        if len(f) == 0:
            return float("inf")
        return chamfer_distance((v, f), (v_ref, f_ref), samples=config.chamfer_samples, seed=config.seed)[2]

    start = time.process_time()
    sdf = make_sdf_field(config)
    if config.sphere_pretrain_steps:
        pretrain_sphere(sdf, config.init_radius, config.sphere_pretrain_steps, seed=config.seed)
    with torch.no_grad():
        initial = extract_mesh(sdf.sdf, aabb, config.resolution, differentiable=False)
    initial_v, initial_f = to_reference(initial.vertices), initial.faces.cpu().numpy()
    seconds = time.process_time() - start
    chamfer_initial = chamfer(initial_v, initial_f)
    if log is not None:
        log(
            f"silhouette fit: initial sphere, Chamfer {chamfer_initial:.4g} "
            f"({100 * chamfer_initial / diagonal:.2f}% of the bbox diagonal)"
        )

    start = time.process_time()
    grid_params = list(sdf.encoding.parameters())
    mlp_params = list(sdf.mlp.parameters())
    optimizer = torch.optim.Adam(
        [
            {"params": grid_params, "lr": config.lr},
            {"params": mlp_params, "lr": config.lr * config.mlp_lr_scale},
        ],
        betas=(0.9, 0.99),
        eps=1e-15,
    )
    decay = config.final_lr_fraction ** (1.0 / max(config.steps, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, decay)
    history: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, desc="silhouette fit", unit="step")
    try:
        for step in range(config.steps):
            views = torch.from_numpy(rng.choice(config.num_views, config.views_per_step, replace=False))
            mesh = extract_mesh(sdf.sdf, aabb, config.resolution)
            if mesh.faces.shape[0] == 0:
                raise RuntimeError(
                    f"expected a surface in the field's box at step {step}, got none (the field has no zero "
                    f"crossing); lower lr (now {config.lr}) or raise eikonal_weight"
                )
            out = rasterizer.rasterize(mesh.vertices, mesh.faces, cameras[views])
            silhouette = ((coverage(out) - target[views]) ** 2).mean()
            points = torch.rand(config.eikonal_points, 3, generator=gen) * 2 - 1
            eikonal = eikonal_loss(sdf, points)
            loss = silhouette + config.eikonal_weight * eikonal
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            record = {
                "step": step,
                "silhouette": float(silhouette.detach()),
                "eikonal": float(eikonal.detach()),
                "faces": int(mesh.faces.shape[0]),
            }
            history.append(record)
            if callback is not None:
                callback(step, record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(silhouette=f"{record['silhouette']:.4f}", faces=record["faces"])
    finally:
        if bar is not None:
            bar.close()
    with torch.no_grad():
        final = extract_mesh(sdf.sdf, aabb, config.resolution, differentiable=False)
    seconds += time.process_time() - start
    final_v, final_f = to_reference(final.vertices), final.faces.cpu().numpy()
    chamfer_final, chamfer_floor = chamfer(final_v, final_f), chamfer(v_ref, f_ref)
    if log is not None:
        log(
            f"silhouette fit: after {config.steps} steps, Chamfer {chamfer_final:.4g} "
            f"({100 * chamfer_final / diagonal:.2f}% of the bbox diagonal; sampling floor "
            f"{100 * chamfer_floor / diagonal:.2f}%), "
            f"{chamfer_initial / max(chamfer_final, 1e-12):.1f}x lower, {seconds:.1f} s CPU"
        )
    return SilhouetteFitResult(
        field=sdf,
        vertices=final_v,
        faces=final_f,
        initial_vertices=initial_v,
        initial_faces=initial_f,
        cameras=cameras,
        target=target,
        chamfer_initial=chamfer_initial,
        chamfer_final=chamfer_final,
        chamfer_floor=chamfer_floor,
        diagonal=diagonal,
        center=center,
        scale=scale,
        history=history,
        seconds=seconds,
    )


def render_silhouettes(result: SilhouetteFitResult, views=None) -> torch.Tensor:
    """(N, H, W) float32 coverage of the fitted mesh in ``views`` (indices into ``result.cameras``)."""
    from fields3d.render.rasterize import Rasterizer, RasterizerConfig, coverage

    views = torch.arange(len(result.cameras)) if views is None else torch.as_tensor(views)
    v = torch.from_numpy((result.vertices - result.center) * result.scale).float()
    f = torch.from_numpy(result.faces.astype(np.int64))
    rasterizer = Rasterizer(RasterizerConfig(backend="cpu"))
    with torch.no_grad():
        return coverage(rasterizer.rasterize(v, f, result.cameras[views])).float()
