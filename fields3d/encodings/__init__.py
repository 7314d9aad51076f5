"""Input encodings: hash grid, tri-plane, frequency, spherical harmonics, integrated directional encoding.

Each encoding is an ``nn.Module`` configured by a dataclass (``XConfig``); see :class:`Encoding`.
"""

from fields3d.encodings.base import Encoding
from fields3d.encodings.directional import (
    IntegratedDirectionalEncoding,
    IntegratedDirectionalEncodingConfig,
    integrated_directional_encoding,
)
from fields3d.encodings.frequency import FrequencyEncoding, FrequencyEncodingConfig
from fields3d.encodings.hashgrid import HashGridEncoding, HashGridEncodingConfig
from fields3d.encodings.spherical_harmonics import (
    SphericalHarmonicsEncoding,
    SphericalHarmonicsEncodingConfig,
    spherical_harmonics,
)
from fields3d.encodings.triplane import BatchedTriplaneEncoding, TriplaneEncoding, TriplaneEncodingConfig

__all__ = [
    "BatchedTriplaneEncoding",
    "Encoding",
    "FrequencyEncoding",
    "FrequencyEncodingConfig",
    "HashGridEncoding",
    "HashGridEncodingConfig",
    "IntegratedDirectionalEncoding",
    "IntegratedDirectionalEncodingConfig",
    "SphericalHarmonicsEncoding",
    "SphericalHarmonicsEncodingConfig",
    "TriplaneEncoding",
    "TriplaneEncodingConfig",
    "integrated_directional_encoding",
    "spherical_harmonics",
]
