"""Tiny procedural shapes and a tiny fitted tri-plane dataset shared by the tri-plane tests."""

from __future__ import annotations

import pytest


def tiny_fit_config(**overrides):
    from fields3d.triplane.field_batch import TriplaneFieldConfig
    from fields3d.triplane.fit_dataset import DatasetFitConfig
    from fields3d.triplane.fit_quality import QualityConfig
    from fields3d.triplane.fitting import FitConfig
    from fields3d.triplane.supervision import SupervisionConfig

    kw = dict(
        planes=TriplaneFieldConfig(channels=4, resolution=8, hidden=16, hidden_layers=1, backend="torch"),
        fit=FitConfig(steps=30, points_per_step=256),
        supervision=SupervisionConfig(samples=2048),
        quality=QualityConfig(resolution=20, samples=1000, iou_points=2000),
        surface_points=128,
        shard_size=4,
        checkpoint_every=10,
    )
    kw.update(overrides)
    return DatasetFitConfig(**kw)


@pytest.fixture(scope="session")
def tiny_shapes(tmp_path_factory):
    """2 shapes each of table, mug, snowman (coarse meshes): (folder, labels.csv)."""
    from fields3d.triplane.procedural_shapes import write_shape_set

    out = tmp_path_factory.mktemp("shapes")
    labels = write_shape_set(
        out,
        2,
        seed=3,
        classes=["table", "mug", "snowman"],
        test_fraction=0.5,
        resolution=32,
        target_faces=600,
        progress=False,
    )
    return out, labels


@pytest.fixture(scope="session")
def tiny_dataset(tiny_shapes, tmp_path_factory):
    """The 6 tiny shapes fitted (sdf, 4 x 8 x 8 planes, 30 steps) into a dataset folder."""
    from fields3d.triplane.fit_dataset import fit_dataset
    from fields3d.triplane.sources import list_sources

    folder, labels = tiny_shapes
    out = tmp_path_factory.mktemp("dataset")
    fit_dataset(list_sources(folder / "meshes", labels), out, tiny_fit_config(), device="cpu", progress=False)
    return out


@pytest.fixture(scope="session")
def fit_config():
    """The tiny fit settings as a callable: ``fit_config(**overrides) -> DatasetFitConfig``."""
    return tiny_fit_config
