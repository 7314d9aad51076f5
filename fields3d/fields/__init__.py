"""Fields: SDF fields, colour heads (view, reflection, blended), tri-plane fields.

- :class:`SDFField` — signed distance on a hash grid, geometry features, predicted normals.
- :class:`ColorHeads` — UniSDF's camera-view and reflection colour branches and their blend weight W(x).
- :class:`MLP` — the small networks they use.
"""

from fields3d.fields.color_heads import ColorHeads, ColorHeadsConfig, ColorOutput, reflect
from fields3d.fields.mlp import MLP, MLPConfig
from fields3d.fields.sdf_field import GeometryOutput, SDFField, SDFFieldConfig

__all__ = [
    "MLP",
    "ColorHeads",
    "ColorHeadsConfig",
    "ColorOutput",
    "GeometryOutput",
    "MLPConfig",
    "SDFField",
    "SDFFieldConfig",
    "reflect",
]
