import csv

import numpy as np

from fields3d.triplane.procedural_shapes import CLASSES, PART_NAMES, generate_shape
from fields3d.triplane.shapes import mesh_is_closed


def test_every_class_gives_a_closed_mesh_labelled_with_its_own_parts():
    assert len(CLASSES) >= 10
    for name in CLASSES:
        m = generate_shape(name, seed=1, resolution=40, target_faces=800)
        assert mesh_is_closed(m.vertices, m.faces), name
        tri = m.vertices[m.faces]
        assert np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() > 0  # outward
        parts = {PART_NAMES[p] for p in np.unique(m.face_labels)}
        assert all(p.startswith(name + "/") for p in parts), (name, parts)
        assert len(parts) >= 2, name


def test_shapes_are_seeded_and_vary():
    a = generate_shape("chair", 5, resolution=32, target_faces=None)
    b = generate_shape("chair", 5, resolution=32, target_faces=None)
    c = generate_shape("chair", 6, resolution=32, target_faces=None)
    assert np.array_equal(a.faces, b.faces) and np.allclose(a.vertices, b.vertices)
    assert a.vertices.shape != c.vertices.shape or not np.allclose(a.vertices, c.vertices)


def test_written_set_lists_files_classes_and_splits(tiny_shapes):
    folder, labels = tiny_shapes
    rows = list(csv.DictReader(open(labels)))
    assert len(rows) == 6 and {r["split"] for r in rows} == {"train", "test"}
    for r in rows:
        assert (folder / r["file"]).is_file() and (folder / r["seg"]).is_file()
    assert (folder / "parts.csv").read_text().splitlines()[1] == f"0,{PART_NAMES[0]}"
