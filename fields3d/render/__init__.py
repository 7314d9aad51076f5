"""Volume rendering, samplers and rasterization."""
