from pathlib import Path

import pytest

from fields3d.cli.overrides import apply_overrides
from fields3d.errors import InputError


def test_overrides_set_nested_fields_of_each_type():
    from fields3d.recon.gshell_reconstruct import gshell_config

    c = gshell_config("fast")
    apply_overrides(
        c,
        [
            "weights.residual_threshold=0.09",
            "weights.residual_open=false",
            "steps=12",
            "init=sphere",
            "max_image_size=null",
            "weights.open = 1",
        ],
    )
    assert c.weights.residual_threshold == 0.09 and c.weights.residual_open is False
    assert c.steps == 12 and c.init == "sphere" and c.max_image_size is None
    assert c.weights.open == 1.0 and isinstance(c.weights.open, float)
    apply_overrides(c, ["device=0"])  # a string field keeps text that also reads as a JSON number
    assert c.device == "0"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("steps", "expected --override KEY=VALUE"),
        ("weights.nope=1", "expected a key of weights ("),
        ("steps.x=1", "expected steps to be the last part of the key"),
        ("steps=1.5", "expected steps to be an integer, got '1.5'"),
        ("weights.residual_open=1", "expected weights.residual_open to be true or false"),
        ("init=cube", 'expected init to be one of "visual_hull", "sphere"'),
        ("max_image_size=big", "expected max_image_size to be an integer or null"),
    ],
)
def test_overrides_refuse_unknown_keys_and_values_of_the_wrong_type(item, message):
    from fields3d.recon.gshell_reconstruct import gshell_config

    c = gshell_config("fast")
    with pytest.raises(InputError) as info:
        apply_overrides(c, [item])
    assert message in str(info.value)


def test_reconstruct_cli_applies_overrides_to_either_method_and_validates_them(tmp_path, capsys):
    from fields3d.cli.main import main
    from fields3d.cli.reconstruct import Reconstruct

    cli = Reconstruct(Path("d"), Path("o"), method="gshell", override=("weights.residual_ratio=2.5",))
    assert cli.gshell_config().weights.residual_ratio == 2.5
    cli = Reconstruct(Path("d"), Path("o"), override=("train.weights.eikonal=0.05", "train.steps=9"))
    c = cli.config()
    assert c.train.weights.eikonal == 0.05 and c.train.steps == 9
    base = ["reconstruct", str(tmp_path / "none"), "--out", str(tmp_path / "o")]
    # the configuration's own range checks still apply after an override
    assert main([*base, "--method", "gshell", "--override", "steps=0"]) == 2
    assert "expected steps >= 1, got 0" in capsys.readouterr().err
    assert main([*base, "--resume", "--override", "train.steps=9"]) == 2
    assert "expected no --override with --resume" in capsys.readouterr().err
