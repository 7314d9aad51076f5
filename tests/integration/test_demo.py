"""``fields3d demo`` end to end: the bundled object, synth, reconstruct, SfM, report."""

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


def test_demo_tiny_reconstructs_and_reports_sfm_failure(tmp_path, capsys):
    """At 6 views of 32² the reconstruction still runs (a few steps) but SfM cannot register: the report
    appears with both, the error is one line, exit 2."""
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--views", "6", "--res", "32", "--steps", "10", "--threads", "1"]
    args += ["--resolution", "48"]
    assert main(args) == 2
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if ln.strip() and "it/s" not in ln and "/s]" not in ln]
    err = [ln for ln in err if ln.startswith("error")]
    assert len(err) == 1 and "structure from motion failed" in err[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "images to register" in metrics["sfm"]["sfm_error"]
    rec = metrics["reconstruction"]
    assert rec["chamfer_pct_diagonal"] > 0 and 0 <= rec["fscore"] <= 1 and rec["heldout_psnr"] > 0
    assert (out / "reconstruction" / "mesh.ply").is_file()
    html = _linked_files_exist(out / "report.html")
    assert "sfm_error" in html and "chamfer_pct_diagonal" in html
    assert (out / "capture" / "transforms.json").is_file() and (out / "object.ply").is_file()
    assert str(out / "report.html") in captured.out
    assert json.loads((out / "config.json").read_text())["views"] == 6


@pytest.mark.slow
def test_demo_default_reconstructs_registers_and_aligns(tmp_path, capsys):
    """The default demo (48 views of 128², preset fast): a close mesh; all but a few views register with
    SfM, rotations within 2 degrees."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reconstruction"]["chamfer_pct_diagonal"] < 1.0
    assert metrics["sfm"]["registered"] >= 0.9 * 48
    assert metrics["sfm"]["rotation_error_deg"]["max"] < 2.0
    html = _linked_files_exist(out / "report.html")
    assert "rotation_error_deg.max" in html
    printed = capsys.readouterr().out
    for name in ("report.html", "metrics.json", "cameras_top.png", "views.png", "mesh.ply"):
        assert name in printed
