"""Volume rendering, samplers and rasterization."""

from fields3d.render.rasterize import (
    Rasterizer,
    RasterizerConfig,
    RasterOutput,
    antialias,
    coverage,
    interpolate,
)

__all__ = ["RasterOutput", "Rasterizer", "RasterizerConfig", "antialias", "coverage", "interpolate"]
