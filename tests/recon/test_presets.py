"""Presets and the JSON form of the run configuration."""

from __future__ import annotations

import json

import pytest

from fields3d.recon.presets import METHODS, PRESETS, ReconstructionConfig, make_config


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_valid_and_round_trip_through_json(method, preset):
    c = make_config(method, preset)
    c.validate()
    assert c.model.color.mode == ("blended" if method == "unisdf" else "view")
    back = ReconstructionConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert back == c


def test_presets_grow():
    fast, default, quality = (make_config("unisdf", p) for p in PRESETS)
    assert fast.train.steps < default.train.steps < quality.train.steps
    assert fast.model.sdf.grid.log2_table_size < default.model.sdf.grid.log2_table_size
    assert fast.export.resolution < default.export.resolution < quality.export.resolution


def test_bad_values():
    with pytest.raises(ValueError, match="method"):
        make_config("nerf", "fast")
    with pytest.raises(ValueError, match="unknown"):
        ReconstructionConfig.from_dict({"method": "unisdf", "colour": "x"})
