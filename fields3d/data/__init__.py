"""Captures: parsers (transforms.json, COLMAP, NeuS npz, LLFF, RGB-D), SceneData, synthetic captures, SfM.

Entry point: :func:`load_scene` (format detected by :func:`detect_format`) returns a :class:`SceneData`
with cameras in original world units and the normalisation into the unit sphere.
"""

from fields3d.data.colmap import read_colmap
from fields3d.data.detect import FORMATS, detect_format, load_scene
from fields3d.data.llff import read_llff
from fields3d.data.neus_npz import read_neus_npz
from fields3d.data.normalization import BoundingSphere, sphere_from_camera_views, sphere_from_points
from fields3d.data.rgbd import read_rgbd_folder
from fields3d.data.scene import SceneData
from fields3d.data.transforms_json import read_transforms_json, write_transforms_json

__all__ = [
    "FORMATS",
    "BoundingSphere",
    "SceneData",
    "detect_format",
    "load_scene",
    "read_colmap",
    "read_llff",
    "read_neus_npz",
    "read_rgbd_folder",
    "read_transforms_json",
    "sphere_from_camera_views",
    "sphere_from_points",
    "write_transforms_json",
]
