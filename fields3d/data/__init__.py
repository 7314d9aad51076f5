"""Capture parsers (transforms.json, COLMAP, NeuS npz, LLFF, RGB-D folders, bare image folders), SceneData, synthetic captures, structure from motion."""
