"""``fields3d synth MESH --out DIR``: render a posed synthetic capture of a mesh on the CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass
class Synth:
    """Render a mesh into a posed capture: RGB (a seeded procedural surface texture, Lambert shading,
    optionally a glossy reflection), foreground masks, z-depth (16-bit PNG, millimetres of the
    normalised frame), world normals, transforms.json (cameras around the object) and the normalised
    ground-truth mesh (mesh_gt.ply, in the cameras' frame); previews/contact_sheet.png shows a few views.
    Runs on the CPU (open3d ray casting).  Works with open, non-manifold and one-sided meshes."""

    mesh: tyro.conf.Positional[Annotated[Path, tyro.conf.arg(metavar="MESH")]]
    """Mesh to render (.obj, .off, .ply, .glb, .gltf, .stl)."""
    out: Path
    """Output folder (created; a previous capture there is replaced)."""
    views: int = 48
    """Number of views (cameras on a Fibonacci spiral around the object)."""
    res: int = 128
    """Image width and height in pixels."""
    material: Literal["diffuse", "glossy"] = "diffuse"
    """diffuse: textured Lambert; glossy: adds a view-dependent reflection of an environment map."""
    seed: int = 0
    """Seed of the camera placement, the texture and the environment."""
    background: Literal["black", "white"] = "black"
    """Colour of pixels that see no surface."""
    up: Literal["x", "y", "z"] = "y"
    """World axis of the mesh that points up in the images."""
    fov_deg: float = 40.0
    """Field of view in degrees."""
    camera_path: Literal["orbit", "walkthrough"] = "orbit"
    """orbit: cameras around the object; walkthrough: inside the mesh (a room), walking and panning."""

    def config(self):
        from fields3d.data.synthetic import SynthConfig

        return SynthConfig(
            views=self.views,
            resolution=self.res,
            material=self.material,
            seed=self.seed,
            background=self.background,
            up=self.up,
            fov_deg=self.fov_deg,
            camera_path=self.camera_path,
        )

    def run(self) -> None:
        from fields3d.data.synthetic import render_capture

        capture = render_capture(self.mesh, self.out, self.config())
        print_capture(capture)


def print_capture(capture) -> None:
    """Print where a synthetic capture's outputs went."""
    out = capture.out
    h, w = capture.cameras.image_size(0)
    print(f"rendered {len(capture.image_paths)} views of {w}x{h} to {out}")
    print(f"  images       {out / 'images'}/ (RGB)")
    print(f"  masks        {out / 'masks'}/")
    print(f"  depth        {out / 'depth'}/ (16-bit PNG, z-depth in mm of the normalised frame)")
    print(f"  normals      {out / 'normals'}/ (world normals as (n + 1) / 2)")
    print(f"  cameras      {capture.transforms}")
    print(
        f"  mesh         {capture.mesh} (normalised: scale {capture.mesh_normalization.scale:.6g} x original)"
    )
    print(f"  preview      {capture.contact_sheet}")
