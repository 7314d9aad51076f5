"""gshell fit: open and closed meshes -> G-Shell -> mesh, boundary loops kept, CLI outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh

from fields3d.recon.gshell_fit import GShellFitConfig, fit_mesh
from fields3d.recon.gshell_targets import MeshShellTargets


def _open_tube():
    tube = trimesh.creation.cylinder(radius=0.3, height=1.0, sections=32)
    normals = tube.face_normals
    keep = np.abs(normals[:, 2]) < 0.5  # drop the two caps
    return trimesh.Trimesh(tube.vertices, tube.faces[keep], process=True)


def test_targets_of_a_plane_patch_extend_it_and_cut_past_its_edge():
    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    t = MeshShellTargets(v, f)
    q = np.array([[0.0, 0.0, 0.3], [0.0, 0.0, -0.2], [1.5, 0.0, 0.1], [0.5, 0.2, 0.0], [1.2, 0.3, -0.05]])
    r = t.query(q, shell=0.5)
    # inside the patch: signed distance to the plane, mSDF = distance to the edge capped by the shell
    assert r.sdf[:2] == pytest.approx([0.3, -0.2], abs=1e-6)
    assert r.msdf[3] == pytest.approx(0.5, abs=1e-6)  # min(distance to the edge 0.5, shell - 0)
    # past the edge: distance to the extended plane, negative mSDF = -(tangential distance past the edge)
    assert r.sdf[2] == pytest.approx(0.1, abs=1e-6) and r.on_boundary[2]
    assert r.msdf[2] == pytest.approx(-0.5, abs=1e-6)
    assert r.sdf[4] == pytest.approx(-0.05, abs=1e-6) and r.msdf[4] == pytest.approx(-0.2, abs=1e-6)


@pytest.mark.parametrize(
    "mesh_fn, loops",
    [(_open_tube, 2), (lambda: trimesh.creation.icosphere(subdivisions=3, radius=0.5), 0)],
    ids=["open tube", "closed sphere"],
)
def test_fit_keeps_openings_open_and_closed_meshes_closed(mesh_fn, loops):
    mesh = mesh_fn()
    result = fit_mesh(
        mesh.vertices,
        mesh.faces,
        GShellFitConfig(resolution=24, steps=3, samples=2000, eval_samples=20000),
        progress=False,
        log=None,
    )
    m = result.metrics
    assert m["boundary_loops"] == loops == m["source_boundary_loops"]
    assert m["components"] == 1 and m["nonmanifold_edges"] == 0
    assert m["chamfer_pct_diagonal"] < 0.5
    assert m["template_watertight"]
    assert m["watertight"] == (loops == 0)


def test_fit_plane_from_the_shared_data_through_the_cli(shared_data, tmp_path):
    from fields3d.cli.main import main

    plane = shared_data("reference_meshes/planexy.off")
    out = tmp_path / "run"
    args = [
        "gshell",
        "fit",
        str(plane),
        "--out",
        str(out),
        "--resolution",
        "24",
        "--steps",
        "2",
        "--samples",
        "2000",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    for name in (
        "mesh.ply",
        "template.ply",
        "gshell.pt",
        "metrics.json",
        "config.json",
        "report.html",
        "previews/turntable.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["boundary_loops"] == 1 == metrics["source_boundary_loops"]
    assert metrics["chamfer_pct_diagonal"] < 0.5
    # the saved G-Shell extracts the same surface
    assert main(["gshell", "extract", str(out), "--out", str(tmp_path / "again.ply")]) == 0
    again = trimesh.load(tmp_path / "again.ply", process=False)
    written = trimesh.load(out / "mesh.ply", process=False)
    assert len(again.faces) == len(written.faces)
    assert main(["gshell", "fit", str(tmp_path / "missing.obj"), "--out", str(out)]) == 2


def test_fit_a_garment_keeps_its_openings(shared_data):
    path = shared_data("garments_snug/shorts.obj")
    source = trimesh.load(path, process=False)
    result = fit_mesh(
        source.vertices,
        source.faces,
        GShellFitConfig(resolution=40, steps=0, eval_samples=20000),
        progress=False,
        log=None,
    )
    m = result.metrics
    assert m["source_boundary_loops"] == 3
    assert m["boundary_loops"] == 3 and m["components"] == 1
    assert m["chamfer_pct_diagonal"] < 0.5


def test_optimisation_lowers_the_exact_surface_error():
    mesh = _open_tube()
    config = GShellFitConfig(resolution=16, steps=15, samples=4000, eval_samples=20000)
    torch.manual_seed(0)
    result = fit_mesh(mesh.vertices, mesh.faces, config, progress=False, log=None)
    first, last = result.history[0], result.history[-1]
    assert last["accuracy"] + last["completeness"] < 0.9 * (first["accuracy"] + first["completeness"])
    assert result.metrics["boundary_loops"] == 2


def test_bad_config_and_degenerate_mesh_are_refused():
    from fields3d.errors import InputError

    with pytest.raises(InputError, match="expected --resolution >= 8"):
        GShellFitConfig(resolution=4).validate()
    with pytest.raises(InputError, match="nonzero extent"):
        MeshShellTargets(np.zeros((3, 3)), np.array([[0, 1, 2]]))
