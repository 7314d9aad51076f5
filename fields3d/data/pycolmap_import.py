"""Importing pycolmap safely.

pycolmap 4.2.1 wheels bring their own zlib; when pycolmap is imported before Pillow's ``_imaging``
module, a later PNG save in the same process aborts in ``deflateEnd`` (``free(): invalid pointer``).
Loading Pillow first avoids it, so every fields3d module imports pycolmap through :func:`import_pycolmap`.
"""

from __future__ import annotations

from fields3d.errors import MissingDependencyError


def import_pycolmap(feature: str = "structure from motion"):
    """Return the pycolmap module (Pillow loaded first); raises MissingDependencyError naming ``feature``."""
    import PIL.Image  # noqa: F401  (must precede pycolmap, see the module docstring)

    try:
        import pycolmap
    except ImportError as e:
        raise MissingDependencyError("pycolmap", feature, "pip install pycolmap") from e
    return pycolmap
