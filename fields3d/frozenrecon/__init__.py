"""FrozenRecon: depth priors, scale-shift/focal/pose optimisation, keyframes, TSDF fusion."""
