"""``fields3d demo`` end to end: the bundled object, synth, SfM, report."""

from __future__ import annotations

import json
import re

import pytest

from fields3d.cli.main import main


def _linked_files_exist(report):
    html = report.read_text()
    links = re.findall(r'<img src="([^"]+)"', html)
    assert links
    for link in links:
        assert (report.parent / link).is_file(), link
    return html


def test_demo_tiny_reports_sfm_failure(tmp_path, capsys):
    """At 4 views of 32² SfM cannot register: the report still appears, the error is one line, exit 2."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--views", "4", "--res", "32"]) == 2
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if ln.strip() and "rendering views" not in ln]  # no tqdm
    assert len(err) == 1 and err[0].startswith("error: ") and "structure from motion failed" in err[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "images to register" in metrics["sfm_error"]
    html = _linked_files_exist(out / "report.html")
    assert "sfm_error" in html
    assert (out / "capture" / "transforms.json").is_file() and (out / "object.ply").is_file()
    assert str(out / "report.html") in captured.out
    assert json.loads((out / "config.json").read_text())["views"] == 4


@pytest.mark.slow
def test_demo_default_registers_and_aligns(tmp_path, capsys):
    """The default demo (48 views of 128²): all but a few views register, rotations within 2 degrees."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["registered"] >= 0.9 * 48
    assert metrics["rotation_error_deg"]["max"] < 2.0
    html = _linked_files_exist(out / "report.html")
    assert "rotation_error_deg.max" in html
    printed = capsys.readouterr().out
    for name in ("report.html", "metrics.json", "cameras_top.png", "views.png"):
        assert name in printed
