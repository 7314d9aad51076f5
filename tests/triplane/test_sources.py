import pytest

from fields3d.errors import InputError
from fields3d.triplane.sources import assign_splits, list_sources, read_face_labels, read_labels_csv


def _mesh(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
    return path


def test_labels_csv_columns_and_relative_paths(tmp_path):
    _mesh(tmp_path / "off" / "a.off")
    _mesh(tmp_path / "off" / "b.off")
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "a.seg").write_text("0\n1\n1\n0\n")
    (tmp_path / "labels.csv").write_text(
        "model_id,Category,off_file,seg_file\n1,cup,off/a.off,seg/a.seg\n2,vase,off/b.off,\n"
    )
    sources = read_labels_csv(tmp_path / "labels.csv")
    assert [s.class_name for s in sources] == ["cup", "vase"]
    assert sources[0].seg_path == tmp_path / "seg" / "a.seg" and sources[1].seg_path is None
    assert sources[0].group == "1"
    assert read_face_labels(sources[0].seg_path, 4).tolist() == [0, 1, 1, 0]
    with pytest.raises(InputError, match="expected 5 labels"):
        read_face_labels(sources[0].seg_path, 5)


def test_labels_csv_errors_name_the_file(tmp_path):
    (tmp_path / "labels.csv").write_text("name,class\nx,cup\n")
    with pytest.raises(InputError, match="file column"):
        read_labels_csv(tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("file,class\nmissing.off,cup\n")
    with pytest.raises(InputError, match="missing.off"):
        read_labels_csv(tmp_path / "labels.csv")


def test_list_sources_folder_and_filter(tmp_path):
    _mesh(tmp_path / "m" / "b.off")
    _mesh(tmp_path / "m" / "sub" / "a.off")
    (tmp_path / "m" / "notes.txt").write_text("x")
    assert [s.path.name for s in list_sources(tmp_path / "m")] == ["b.off", "a.off"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="expected shape files"):
        list_sources(tmp_path / "empty")


def test_splits_keep_groups_together_and_cover_each_class():
    from pathlib import Path

    from fields3d.triplane.sources import ShapeSource

    sources = [
        ShapeSource(Path(f"{c}{g}_{k}.off"), c, group=f"{c}{g}")
        for c in "ab"
        for g in range(5)
        for k in range(3)
    ]
    splits = assign_splits(sources, 0.2, seed=0)
    by_group = {}
    for s, sp in zip(sources, splits, strict=True):
        by_group.setdefault(s.group, set()).add(sp)
    assert all(len(v) == 1 for v in by_group.values())
    for c in "ab":
        assert sum(1 for g, v in by_group.items() if g.startswith(c) and v == {"test"}) == 1
    assert assign_splits(sources, 0.2, seed=0) == splits
