"""``fields3d synth`` and ``fields3d sfm`` from the command line: outputs, printed paths, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fields3d.cli.main import main


@pytest.fixture(scope="module")
def box_mesh(tmp_path_factory):
    import trimesh

    from fields3d.io.mesh import write_mesh

    box = trimesh.creation.box(extents=(1.0, 0.6, 0.4))
    return write_mesh(tmp_path_factory.mktemp("mesh") / "box.obj", box.vertices, box.faces)


def test_synth_cli_writes_and_prints(box_mesh, tmp_path, capsys):
    out = tmp_path / "cap"
    assert (
        main(["synth", str(box_mesh), "--out", str(out), "--views", "4", "--res", "24", "--seed", "3"]) == 0
    )
    printed = capsys.readouterr().out
    assert "rendered 4 views of 24x24" in printed
    for path in (out / "transforms.json", out / "mesh_gt.ply", out / "previews" / "contact_sheet.png"):
        assert path.is_file() and str(path) in printed
    assert len(list((out / "images").glob("*.png"))) == 4
    assert (
        main(
            [
                "synth",
                str(box_mesh),
                "--out",
                str(tmp_path / "g"),
                "--views",
                "2",
                "--res",
                "16",
                "--material",
                "glossy",
                "--background",
                "white",
            ]
        )
        == 0
    )


@pytest.mark.parametrize("case", ["missing", "no_faces", "bad_views"])
def test_synth_cli_bad_input_exits_2_with_one_line(case, box_mesh, tmp_path, capsys):
    if case == "missing":
        args = ["synth", str(tmp_path / "nope.obj"), "--out", str(tmp_path / "o")]
        expected = "mesh file not found"
    elif case == "no_faces":
        mesh = tmp_path / "points.off"
        mesh.write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
        args = ["synth", str(mesh), "--out", str(tmp_path / "o")]
        expected = "no faces"
    else:
        args = ["synth", str(box_mesh), "--out", str(tmp_path / "o"), "--views", "0"]
        expected = "expected views >= 1"
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]


def test_sfm_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    from fields3d.io.images import write_image

    assert main(["sfm", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    folder = tmp_path / "imgs"
    write_image(folder / "a.png", np.zeros((16, 16, 3), np.float32))
    assert main(["sfm", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected at least 2 images" in err[0]
    write_image(folder / "b.png", np.zeros((16, 20, 3), np.float32))
    assert main(["sfm", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b.png" in err[0] and "16x16" in err[0] and "20x16" in err[0]
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise"
    for i in range(3):
        write_image(noise / f"{i}.png", rng.random((48, 48, 3)).astype(np.float32))
    assert main(["sfm", str(noise), "--out", str(tmp_path / "o2"), "--min-registered", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "images to register" in err[0]
