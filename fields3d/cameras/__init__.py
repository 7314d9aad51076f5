"""Cameras and rays in fields3d's one convention (OpenCV axes, corner-origin pixels; see ``conventions``)."""

from fields3d.cameras.conventions import focal_from_fov, opencv_to_opengl, opengl_projection, opengl_to_opencv
from fields3d.cameras.distortion import distort, undistort
from fields3d.cameras.pinhole import Cameras, undistort_image
from fields3d.cameras.rays import RayBundle

__all__ = [
    "Cameras",
    "RayBundle",
    "distort",
    "focal_from_fov",
    "opencv_to_opengl",
    "opengl_projection",
    "opengl_to_opencv",
    "undistort",
    "undistort_image",
]
