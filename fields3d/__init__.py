"""fields3d: a toolkit for 3D neural fields and meshes.

Importing this package is cheap and never fails because an optional dependency (open3d, pycolmap,
nvdiffrast, tinycudann, pytorch3d) is missing; each feature imports what it needs when used.
"""

__version__ = "0.1.0"

from fields3d.errors import Fields3dError, InputError  # noqa: E402

__all__ = ["Fields3dError", "InputError", "__version__"]
