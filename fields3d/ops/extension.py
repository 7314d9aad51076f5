"""Building and loading ``fields3d._C`` from the sources in ``cuda_ext/``.

(Placeholder until the encodings issue lands the kernels: reports that no extension is built.)
"""

from __future__ import annotations

from fields3d.ops.availability import Availability


def status() -> Availability:
    return Availability(False, "fields3d's CUDA kernels are not part of this build yet")
