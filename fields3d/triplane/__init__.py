"""Tri-plane fitting, datasets (shards + manifest), classifier and segmenter models."""
