"""The full configuration of a reconstruction run, its presets, and its JSON form.

Presets are plain Python: :func:`make_config` (method, preset) returns a :class:`ReconstructionConfig`.

================  ===========================================================================
preset            intent
================  ===========================================================================
``fast``          CPU, minutes: 12-level grid (2^16 rows, finest 512), 1024 rays x 1200 steps,
                  images downscaled to 400 px, mesh at 256^3.
``default``       GPU minutes (CPU: an hour or more): 16 levels (2^19, finest 2048), 4096 rays x
                  10k steps, images up to 1024 px, mesh at 512^3.
``quality``       GPU, longer: 16 levels (2^21, finest 4096), 8192 rays x 50k steps, full-size
                  images, mesh at 1024^3.
================  ===========================================================================

``unisdf`` uses both colour branches and their weight field; ``neus`` the camera-view branch only
(NeuS's colour), with the same field, sampler and losses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

from fields3d.encodings import HashGridEncodingConfig
from fields3d.recon.trainer import TrainConfig
from fields3d.recon.unisdf import UniSDFConfig

METHODS = ("unisdf", "neus")
PRESETS = ("fast", "default", "quality")


@dataclass
class DataConfig:
    """Which pixels train and which evaluate."""

    holdout: int = 5
    """Views held out of training (spread evenly) for PSNR; fewer when the capture is small."""
    max_image_size: int | None = 400
    """Training views are downscaled so that their longer side is at most this (None: full size)."""
    eval_max_image_size: int | None = 400
    """Held-out views are rendered at most this large (their longer side)."""
    use_masks: bool = True
    """Use the capture's masks (mask loss, colour loss inside the masks) when it has them."""
    min_views: int = 4
    """Fewer training views than this is an error."""
    background: tuple[float, float, float] | None = None
    """The colour behind the object in every photo (RGB in [0, 1]); set, the model has no background
    field.  None: the capture's own (RGBA, fields3d synth) with masks; without masks, the run sets it when
    the photos' borders are one colour (see fields3d.recon.plain_background), else a background field."""
    detect_background: bool = True
    """Without masks, look for a plain backdrop (one colour around every photo)."""


@dataclass
class ExportConfig:
    """Mesh extraction."""

    resolution: int = 256
    """Grid points per axis over the occupied box (normalised frame)."""
    min_component_area: float = 0.01
    """Connected components with less than this fraction of the total area are removed."""
    chunk_size: int = 1 << 16
    """Points per field evaluation."""


@dataclass
class ReconstructionConfig:
    """Everything that defines a run (written to RUN/config.json)."""

    method: Literal["unisdf", "neus"] = "unisdf"
    preset: Literal["fast", "default", "quality"] = "fast"
    model: UniSDFConfig = field(default_factory=UniSDFConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda, cuda:1, ..."""
    threads: int = 0
    """CPU threads for torch (0: the cores not busy with other work, from the load average)."""
    turntable_views: int = 8
    """Views of the mesh turntable preview."""
    turntable_size: int = 256
    """Pixels (width and height) of each turntable view."""

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"expected method in {METHODS}, got {self.method!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"expected preset in {PRESETS}, got {self.preset!r}")
        if self.data.holdout < 0 or self.data.min_views < 1:
            raise ValueError(
                f"expected holdout >= 0 and min_views >= 1, got {self.data.holdout}, {self.data.min_views}"
            )
        if self.data.background is not None and (
            len(self.data.background) != 3 or not all(0.0 <= float(v) <= 1.0 for v in self.data.background)
        ):
            raise ValueError(f"expected a background of 3 values in [0, 1], got {self.data.background}")
        if self.export.resolution < 8:
            raise ValueError(f"expected an export resolution >= 8, got {self.export.resolution}")
        self.model.validate()
        self.train.validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ReconstructionConfig:
        return _from_dict(ReconstructionConfig, d)


def make_config(method: str = "unisdf", preset: str = "fast") -> ReconstructionConfig:
    """The configuration of ``method`` ("unisdf" | "neus") with ``preset`` ("fast" | "default" |
    "quality")."""
    if method not in METHODS:
        raise ValueError(f"expected method in {METHODS}, got {method!r}")
    if preset not in PRESETS:
        raise ValueError(f"expected preset in {PRESETS}, got {preset!r}")
    c = ReconstructionConfig(method=method, preset=preset)
    m, t = c.model, c.train
    m.color.mode = "blended" if method == "unisdf" else "view"
    if method == "neus":
        t.weights.orientation = 0.0
    if preset == "fast":
        m.sdf.grid = HashGridEncodingConfig(
            n_levels=12,
            features_per_level=2,
            log2_table_size=16,
            base_resolution=16,
            finest_resolution=512,
            coarse_to_fine_start=4,
            coarse_to_fine_steps=75,
        )
        m.sdf.mlp.hidden_dim = 64
        m.color.mlp.hidden_dim = 64
        m.sampling.min_step = 2.0 / 256
        m.sampling.grid.resolution = 128
        t.steps, t.rays_per_step = 1200, 1024
        t.warmup_steps, t.checkpoint_every = 100, 300
        t.eikonal_surface_points, t.eikonal_space_points = 1024, 256
        c.data.max_image_size, c.data.eval_max_image_size = 400, 400
        c.export.resolution = 256
    elif preset == "default":
        m.sdf.grid = HashGridEncodingConfig(
            n_levels=16,
            features_per_level=2,
            log2_table_size=19,
            base_resolution=16,
            finest_resolution=2048,
            coarse_to_fine_start=4,
            coarse_to_fine_steps=500,
        )
        m.sampling.min_step = 2.0 / 512
        m.sampling.grid.resolution = 128
        t.steps, t.rays_per_step = 10000, 4096
        t.warmup_steps, t.checkpoint_every = 500, 2000
        t.eikonal_surface_points, t.eikonal_space_points = 4096, 1024
        c.data.max_image_size, c.data.eval_max_image_size = 1024, 800
        c.export.resolution = 512
    else:
        m.sdf.grid = HashGridEncodingConfig(
            n_levels=16,
            features_per_level=2,
            log2_table_size=21,
            base_resolution=16,
            finest_resolution=4096,
            coarse_to_fine_start=4,
            coarse_to_fine_steps=1500,
        )
        m.sdf.mlp.hidden_dim = 128
        m.color.mlp.hidden_dim = 128
        m.sampling.min_step = 2.0 / 1024
        m.sampling.grid.resolution = 256
        t.steps, t.rays_per_step = 50000, 8192
        t.warmup_steps, t.checkpoint_every = 1000, 5000
        t.eikonal_surface_points, t.eikonal_space_points = 8192, 2048
        c.data.max_image_size, c.data.eval_max_image_size = None, None
        c.export.resolution = 1024
    return c


def _from_dict(cls, d):
    """Rebuild dataclass ``cls`` from :func:`dataclasses.asdict` output (nested dataclasses, tuples)."""
    if not isinstance(d, dict):
        raise ValueError(f"expected a dict for {cls.__name__}, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(
            f"expected keys of {cls.__name__} ({', '.join(sorted(names))}), got unknown {sorted(unknown)}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        kwargs[f.name] = _convert(hints[f.name], d[f.name])
    return cls(**kwargs)


def _convert(tp, value):
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return _from_dict(tp, value)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _from_dict(arg, value)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value
