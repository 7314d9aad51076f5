"""UniSDF (Wang et al. 2023) and NeuS as one model: an SDF on a hash grid, NeuS volume rendering,
camera-view and reflection colour branches blended by a learned weight field, an optional background.

The model works in the normalised frame of a capture (``SceneData.normalization``): the surface to
reconstruct lies inside the unit sphere.  Rays are sampled by an occupancy grid (empty space costs
nothing, see :mod:`fields3d.render.occupancy_grid`), opacities come from NeuS's discrete formula
(:mod:`fields3d.render.volume`), colours are evaluated only at samples whose weight is not negligible,
and the SDF gradient (eikonal and normal losses) only at a few points per step
(:meth:`UniSDFModel.geometry_losses`), because predicted normals stand in for it in the colour branches.
``--method neus`` is the same model with the camera-view branch only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from fields3d.fields.color_heads import ColorHeads, ColorHeadsConfig
from fields3d.fields.sdf_field import SDFField, SDFFieldConfig
from fields3d.render.background import BackgroundField, BackgroundFieldConfig
from fields3d.render.occupancy_grid import OccupancyGrid, OccupancyGridConfig, RaySamples
from fields3d.render.volume import (
    accumulate,
    blend_colors,
    compositing_weights,
    neus_alpha,
    sphere_intersection,
)


@dataclass
class SamplingConfig:
    """How rays are sampled inside the unit sphere."""

    grid: OccupancyGridConfig = field(default_factory=OccupancyGridConfig)
    """The occupancy grid that skips empty space."""
    min_step: float = 2.0 / 256
    """Smallest marching step, normalised units (the sphere's diameter is 2)."""
    step_scale: float = 1.0
    """The marching step is ``step_scale / s`` (NeuS's s), clamped to [min_step, max_step]: about
    ``2 band_scale / step_scale`` samples per crossing of the surface band at any s."""
    max_step: float = 2.0 / 32
    """Largest marching step, normalised units."""
    prune_transmittance: float = 1e-2
    """Training: a gradient-free pass over the marched samples drops those behind the point where the
    transmittance falls below this (0: keep all)."""
    max_samples: int = 64
    """Most occupied samples kept per ray (the nearest)."""
    n_uniform: int | None = None
    """Stratified samples over the whole segment added to every ray, so that the surface can appear
    where the occupancy grid sees none; None: 0 with masks (the mask rescues such rays, see n_rescue),
    8 with a background field (captures without masks)."""
    n_rescue: int = 16
    """Stratified samples for rays a mask marks as object but that meet no occupied cell."""
    weight_threshold: float = 1e-3
    """Colour branches run only at samples with at least this weight."""

    def validate(self) -> None:
        if not 0 < self.min_step <= self.max_step:
            raise ValueError(f"expected 0 < min_step <= max_step, got {self.min_step}, {self.max_step}")
        if not self.step_scale >= 0:
            raise ValueError(f"expected step_scale >= 0, got {self.step_scale}")
        if not 0 <= self.prune_transmittance < 1:
            raise ValueError(f"expected prune_transmittance in [0, 1), got {self.prune_transmittance}")
        if self.max_samples < 1:
            raise ValueError(f"expected max_samples >= 1, got {self.max_samples}")
        if (self.n_uniform is not None and self.n_uniform < 0) or self.n_rescue < 0:
            raise ValueError(f"expected n_uniform, n_rescue >= 0, got {self.n_uniform}, {self.n_rescue}")
        if not 0 <= self.weight_threshold < 1:
            raise ValueError(f"expected weight_threshold in [0, 1), got {self.weight_threshold}")
        self.grid.validate()


@dataclass
class UniSDFConfig:
    """The model: SDF field, colour heads, sampling, background, NeuS variance."""

    sdf: SDFFieldConfig = field(default_factory=SDFFieldConfig)
    color: ColorHeadsConfig = field(default_factory=ColorHeadsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    background: Literal["auto", "none", "nerf"] = "auto"
    """auto: a background field when the capture has no masks; none: a constant colour; nerf: always."""
    background_field: BackgroundFieldConfig = field(default_factory=BackgroundFieldConfig)
    color_normals: Literal["predicted", "gradient"] = "gradient"
    """Normals the colour branches see: the field's predicted normals (cheap; tied to the SDF gradient by
    the normal loss), or the SDF gradient itself at the colour samples (NeuS / UniSDF; a second-order
    gradient at those samples, which also serve the eikonal loss)."""
    init_variance: float = 0.3
    """NeuS variance parameter v at the start; s = exp(10 v)."""
    max_inv_s: float = 4000.0
    """Upper clamp of s."""

    def validate(self) -> None:
        if self.color_normals not in ("predicted", "gradient"):
            raise ValueError(f"expected color_normals predicted or gradient, got {self.color_normals!r}")
        if self.background not in ("auto", "none", "nerf"):
            raise ValueError(f"expected background auto, none or nerf, got {self.background!r}")
        if not self.max_inv_s > 1:
            raise ValueError(f"expected max_inv_s > 1, got {self.max_inv_s}")
        self.sdf.validate()
        self.color.validate()
        self.sampling.validate()
        self.background_field.validate()


@dataclass
class RenderOutput:
    """Per-ray results of :meth:`UniSDFModel.render_rays` for R rays.

    Attributes:
        rgb: (R, 3) final colour (foreground blend, then background or the constant colour behind it).
        opacity: (R,) foreground opacity (the mask prediction).
        depth: (R,) expected distance along the ray of the foreground (normalised units; 0 where empty).
        normals: (R, 3) rendered predicted normals (premultiplied by opacity).
        blend_weight: (R,) rendered W (premultiplied), or None without the blended mode.
        rgb_cam, rgb_ref: (R, 3) rendered branch colours, or None.
        orientation: (R,) sum of w max(0, n . d)^2 (Ref-NeRF's orientation penalty).
        num_samples: valid samples evaluated.
        sample_points: (K, 3) positions of the samples that got colour (detached), for the regularisers.
        sample_weights: (K,) their weights (detached).
        sample_gradients: (K, 3) SDF gradients at those samples (differentiable) with
            ``color_normals="gradient"`` in training, else None.
        sample_predicted_normals: (K, 3) predicted normals at those samples (with sample_gradients).
    """

    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    normals: torch.Tensor
    blend_weight: torch.Tensor | None
    rgb_cam: torch.Tensor | None
    rgb_ref: torch.Tensor | None
    orientation: torch.Tensor
    num_samples: int
    sample_points: torch.Tensor
    sample_weights: torch.Tensor
    sample_gradients: torch.Tensor | None = None
    sample_predicted_normals: torch.Tensor | None = None


@dataclass
class GeometryLosses:
    """Regularisers from SDF gradients at a few points (scalars): eikonal, predicted-normal consistency."""

    eikonal: torch.Tensor
    normal: torch.Tensor
    mean_gradient_norm: float


class UniSDFModel(nn.Module):
    """See the module docstring.  ``use_background`` decides the background model when config says auto."""

    def __init__(self, config: UniSDFConfig | None = None, use_background: bool = False):
        super().__init__()
        self.config = config = config or UniSDFConfig()
        config.validate()
        self.field = SDFField(config.sdf)
        self.heads = ColorHeads(config.sdf.feature_dim, config.color)
        self.variance = nn.Parameter(torch.tensor(float(config.init_variance)))
        self.occupancy = OccupancyGrid(config.sampling.grid, bound=config.sdf.bound)
        want_bg = config.background == "nerf" or (config.background == "auto" and use_background)
        self.background = BackgroundField(config.background_field) if want_bg else None
        n_uniform = config.sampling.n_uniform
        self.n_uniform = n_uniform if n_uniform is not None else (8 if self.background is not None else 0)

    # ----------------------------------------------------------------------------------------------
    @property
    def inv_s(self) -> torch.Tensor:
        """NeuS's s = exp(10 v), clamped to [1, max_inv_s]."""
        return torch.exp(10.0 * self.variance).clamp(1.0, self.config.max_inv_s)

    @property
    def device(self) -> torch.device:
        return self.variance.device

    def update_step(self, step: int) -> None:
        """Advance the coarse-to-fine schedules."""
        self.field.update_step(step)
        if self.background is not None:
            self.background.update_step(step)

    def marching_step(self) -> float:
        """The current marching step: ``step_scale / s`` clamped to [min_step, max_step]."""
        cfg = self.config.sampling
        return min(max(cfg.step_scale / float(self.inv_s.detach()), cfg.min_step), cfg.max_step)

    def occupancy_band(self) -> float:
        cfg = self.config.sampling.grid
        return max(cfg.band_scale / float(self.inv_s.detach()), cfg.min_band)

    @torch.no_grad()
    def update_occupancy(self) -> float:
        """Recompute the occupancy grid from the current SDF; returns the occupied fraction."""
        return self.occupancy.update(self.field.sdf, self.occupancy_band())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role (for per-group learning rates): grid, mlp, variance."""
        grid = [self.field.encoding.table]
        if self.background is not None:
            grid.append(self.background.encoding.table)
        ids = {id(p) for p in grid} | {id(self.variance)}
        mlp = [p for p in self.parameters() if id(p) not in ids]
        return {"grid": grid, "mlp": mlp, "variance": [self.variance]}

    # ----------------------------------------------------------------------------------------------
    def render_rays(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        *,
        train: bool,
        background_color: torch.Tensor | None = None,
        rescue: torch.Tensor | None = None,
        color_rays: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> RenderOutput:
        """Render R rays of the normalised frame.

        Args:
            origins, directions: (R, 3) ray origins and unit directions.
            train: jittered samples (True) or deterministic midpoints (False).
            background_color: (3,) colour behind the foreground when there is no background model
                (default black).
            rescue: optional (R,) bool rays that should be sampled even where the occupancy grid is
                empty (mask pixels); see :meth:`OccupancyGrid.sample`.
            color_rays: optional (R,) bool: only these rays get colours (the others only opacity and
                depth; e.g. pixels outside a mask, where only the mask loss applies). Default: all.
        """
        cfg = self.config.sampling
        n_rays = origins.shape[0]
        near, far, hit = sphere_intersection(origins, directions, 1.0)
        with torch.profiler.record_function("unisdf.sample"):
            samples = self.occupancy.sample(
                origins,
                directions,
                near,
                far,
                hit,
                step=self.marching_step(),
                max_samples=cfg.max_samples,
                n_uniform=self.n_uniform,
                extra_uniform=rescue,
                n_extra_uniform=cfg.n_rescue,
                jitter=train,
                generator=generator,
            )
        if cfg.prune_transmittance > 0 and torch.is_grad_enabled() and samples.t.shape[1] > 1:
            with torch.profiler.record_function("unisdf.prune"):
                samples = self._prune(origins, directions, samples, cfg.prune_transmittance)
        rows, cols = samples.valid.nonzero(as_tuple=True)
        t = samples.t[rows, cols]
        points = origins[rows] + t[:, None] * directions[rows]
        zeros3 = origins.new_zeros(n_rays, 3)
        if len(points):
            with torch.profiler.record_function("unisdf.field"):
                geo = self.field(points)
            sdf = torch.zeros(samples.t.shape, dtype=geo.sdf.dtype, device=origins.device).index_put(
                (rows, cols), geo.sdf
            )
            alpha = neus_alpha(sdf, samples.valid, self.inv_s)
            weights, _ = compositing_weights(alpha)
            w = weights[rows, cols]
            keep = w.detach() > cfg.weight_threshold
            if color_rays is not None:
                keep &= color_rays[rows]
            sel = keep.nonzero()[:, 0]
        else:
            w = origins.new_zeros(0)
            sel = torch.zeros(0, dtype=torch.long, device=origins.device)
        opacity = accumulate(w, rows, torch.ones_like(w), n_rays)
        depth = accumulate(w, rows, t, n_rays)
        ray_sel = rows[sel]
        w_sel = w[sel]
        rgb_cam = rgb_ref = blend_weight = None
        grad_sel = None
        if len(sel):
            features_sel = geo.features[sel]
            normals_sel = geo.normals[sel]
            if self.config.color_normals == "gradient":
                with torch.profiler.record_function("unisdf.color_gradients"):
                    geo_c, grad_sel = self.field.forward_with_gradient(points[sel], torch.is_grad_enabled())
                normals_sel = nn.functional.normalize(grad_sel, dim=-1)
                features_sel = geo_c.features
            dirs_sel = directions[ray_sel]
            with torch.profiler.record_function("unisdf.heads"):
                colors = self.heads(features_sel, dirs_sel, normals_sel)
            normals = accumulate(w_sel, ray_sel, normals_sel, n_rays)
            facing = (normals_sel * dirs_sel).sum(-1).clamp_min(0.0) ** 2
            orientation = accumulate(w_sel, ray_sel, facing, n_rays)
            if colors.rgb_cam is not None:
                rgb_cam = accumulate(w_sel, ray_sel, colors.rgb_cam, n_rays)
            if colors.rgb_ref is not None:
                rgb_ref = accumulate(w_sel, ray_sel, colors.rgb_ref, n_rays)
            if colors.weight is not None:
                blend_weight = accumulate(w_sel, ray_sel, colors.weight, n_rays)
        else:
            normals, orientation = zeros3, origins.new_zeros(n_rays)
            if self.heads.use_cam:
                rgb_cam = zeros3
            if self.heads.use_ref:
                rgb_ref = zeros3
            if self.heads.config.mode == "blended":
                blend_weight = origins.new_zeros(n_rays)
        rgb = blend_colors(rgb_cam, rgb_ref, blend_weight, opacity)
        behind = (1.0 - opacity).clamp(0.0, 1.0)
        if self.background is not None:
            b = (origins * directions).sum(-1)
            start = torch.where(hit, far, (-b).clamp_min(1e-2)).clamp_min(1e-2)
            bg = self.background.render(origins, directions, start, jitter=train, generator=generator)
            rgb = rgb + behind[:, None] * bg.rgb
        else:
            color = background_color if background_color is not None else origins.new_zeros(3)
            rgb = rgb + behind[:, None] * color.to(rgb)
        return RenderOutput(
            rgb=rgb,
            opacity=opacity,
            depth=depth,
            normals=normals,
            blend_weight=blend_weight,
            rgb_cam=rgb_cam,
            rgb_ref=rgb_ref,
            orientation=orientation,
            num_samples=int(len(points)),
            sample_points=points[sel].detach(),
            sample_weights=w_sel.detach(),
            sample_gradients=grad_sel if torch.is_grad_enabled() else None,
            sample_predicted_normals=geo.normals[sel] if grad_sel is not None else None,
        )

    @torch.no_grad()
    def _prune(self, origins, directions, samples: RaySamples, threshold: float) -> RaySamples:
        """Drop the samples of each ray after the first one where the transmittance is below ``threshold``
        (evaluated without gradients); the kept samples stay a prefix of each row."""
        rows, cols = samples.valid.nonzero(as_tuple=True)
        if len(rows) == 0:
            return samples
        pts = origins[rows] + samples.t[rows, cols, None] * directions[rows]
        sdf = torch.zeros(samples.t.shape, device=origins.device).index_put(
            (rows, cols), self.field.sdf(pts).float()
        )
        alpha = neus_alpha(sdf, samples.valid, self.inv_s)
        survive = torch.cumprod(1.0 - alpha + 1e-7, dim=1)  # transmittance after each sample
        before = torch.cat([torch.ones_like(survive[:, :1]), survive[:, :-1]], dim=1)
        keep = samples.valid & (before > threshold)
        keep[:, 1:] |= (
            samples.valid[:, 1:] & keep[:, :-1] & ~(before[:, 1:] > threshold) & (before[:, :-1] > threshold)
        )
        width = int(keep.sum(1).max())
        return RaySamples(samples.t[:, :width].contiguous(), keep[:, :width].contiguous())

    # ----------------------------------------------------------------------------------------------
    def geometry_losses(
        self, out: RenderOutput, n_surface: int, n_space: int, generator: torch.Generator | None = None
    ) -> GeometryLosses:
        """Eikonal loss at ``n_surface`` samples drawn by rendering weight plus ``n_space`` uniform points in
        the cube, and predicted-normal consistency ``|n' - grad f / |grad f||^2`` at the surface samples
        (a weight-importance-sampled estimate of Ref-NeRF's weighted sum)."""
        device = self.device
        bound = self.config.sdf.bound
        if out.sample_gradients is not None and out.sample_gradients.shape[0] > 0:
            return self._losses_at_color_samples(out, n_space, generator)
        parts = []
        n_surf = 0
        if n_surface > 0 and out.sample_weights.numel() > 0 and float(out.sample_weights.sum()) > 0:
            idx = torch.multinomial(out.sample_weights, n_surface, replacement=True, generator=generator)
            parts.append(out.sample_points[idx])
            n_surf = n_surface
        if n_space > 0:
            parts.append((torch.rand(n_space, 3, device=device, generator=generator) * 2.0 - 1.0) * bound)
        if not parts:
            zero = self.variance.new_zeros(())
            return GeometryLosses(zero, zero, float("nan"))
        x = torch.cat(parts)
        geo, grad = self.field.forward_with_gradient(x, create_graph=True)
        norm = grad.norm(dim=-1)
        eikonal = ((norm - 1.0) ** 2).mean()
        if n_surf:
            g = grad[:n_surf] / norm[:n_surf, None].clamp_min(1e-6)
            normal = ((geo.normals[:n_surf] - g) ** 2).sum(-1).mean()
        else:
            normal = self.variance.new_zeros(())
        return GeometryLosses(eikonal, normal, float(norm.detach().mean()))

    def _losses_at_color_samples(
        self, out: RenderOutput, n_space: int, generator: torch.Generator | None
    ) -> GeometryLosses:
        """Eikonal and normal losses from the gradients already taken at the colour samples (weighted by
        their rendering weights), plus the eikonal loss at ``n_space`` uniform points."""
        grad = out.sample_gradients
        w = out.sample_weights / out.sample_weights.sum().clamp_min(1e-8)
        norm = grad.norm(dim=-1)
        eik_surface = (w * (norm - 1.0) ** 2).sum()
        g = grad / norm[:, None].clamp_min(1e-6)
        normal = (w * ((out.sample_predicted_normals - g) ** 2).sum(-1)).sum()
        eikonal = eik_surface
        norms = [norm.detach()]
        if n_space > 0:
            bound = self.config.sdf.bound
            x = (torch.rand(n_space, 3, device=self.device, generator=generator) * 2.0 - 1.0) * bound
            _, grad_space = self.field.forward_with_gradient(x, create_graph=True)
            n_sp = grad_space.norm(dim=-1)
            eikonal = 0.5 * (eik_surface + ((n_sp - 1.0) ** 2).mean())
            norms.append(n_sp.detach())
        return GeometryLosses(eikonal, normal, float(torch.cat(norms).mean()))

    # ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def surface_colors(
        self, points: torch.Tensor, normals: torch.Tensor, chunk: int = 1 << 16
    ) -> torch.Tensor:
        """(V, 3) colours of surface points seen head-on (view direction ``-normal``), blended per point.

        Args:
            points: (V, 3) normalised points on the surface.
            normals: (V, 3) unit outward normals.
        """
        out = []
        for p, n in zip(points.split(chunk), normals.split(chunk), strict=True):
            geo = self.field(p)
            normals = n if self.config.color_normals == "gradient" else geo.normals
            colors = self.heads(geo.features, -n, normals)
            out.append(colors.blended())
        return torch.cat(out) if out else points.new_zeros(0, 3)

    def render_chunked(
        self,
        origins: torch.Tensor,
        directions: torch.Tensor,
        chunk: int = 8192,
        background_color: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render many rays without gradients in chunks; returns rgb (R, 3), opacity (R,), depth (R,),
        normals (R, 3) (unit SDF gradients at the expected surface point where the opacity exceeds 0.5,
        else 0), blend_weight (R,) (W, or zeros without the blended mode)."""
        keys = ("rgb", "opacity", "depth", "normals", "blend_weight")
        acc: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        with torch.no_grad():
            for o, d in zip(origins.split(chunk), directions.split(chunk), strict=True):
                r = self.render_rays(o, d, train=False, background_color=background_color)
                acc["rgb"].append(r.rgb)
                acc["opacity"].append(r.opacity)
                acc["depth"].append(r.depth)
                acc["normals"].append(self._surface_normals(o, d, r))
                w = r.blend_weight if r.blend_weight is not None else torch.zeros_like(r.opacity)
                acc["blend_weight"].append((w / r.opacity.clamp_min(1e-6)).clamp(0, 1))
        return {k: torch.cat(v) for k, v in acc.items()}

    def _surface_normals(
        self, origins: torch.Tensor, directions: torch.Tensor, r: RenderOutput
    ) -> torch.Tensor:
        """(R, 3) unit SDF gradients at ``origin + depth / opacity * direction`` for opaque rays, else 0."""
        normals = origins.new_zeros(origins.shape)
        opaque = (r.opacity > 0.5).nonzero()[:, 0]
        if len(opaque):
            t = r.depth[opaque] / r.opacity[opaque]
            x = origins[opaque] + t[:, None] * directions[opaque]
            _, grad = self.field.sdf_and_gradient(x, create_graph=False)
            normals[opaque] = nn.functional.normalize(grad, dim=-1)
        return normals


def variance_from_inv_s(inv_s: float) -> float:
    """The variance parameter v with exp(10 v) = inv_s."""
    return math.log(inv_s) / 10.0
