"""Input encodings: hash grid, tri-plane, dense grid, frequency, spherical harmonics, integrated directional encoding."""
