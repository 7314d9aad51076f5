"""Entry point of the ``fields3d`` console script."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Union

from fields3d.errors import Fields3dError


def _command_type():
    import tyro

    from fields3d.cli.info import Info

    commands = {
        "info": Info,
        "eval-mesh": __import__("fields3d.cli.eval_mesh", fromlist=["EvalMesh"]).EvalMesh,
        "synth": __import__("fields3d.cli.synth", fromlist=["Synth"]).Synth,
        "sfm": __import__("fields3d.cli.sfm", fromlist=["Sfm"]).Sfm,
        "demo": __import__("fields3d.cli.demo", fromlist=["Demo"]).Demo,
        "reconstruct": __import__("fields3d.cli.reconstruct", fromlist=["Reconstruct"]).Reconstruct,
        "extract": __import__("fields3d.cli.extract", fromlist=["Extract"]).Extract,
        "triplane": __import__("fields3d.cli.triplane", fromlist=["Triplane"]).Triplane,
        "gshell": __import__("fields3d.cli.gshell", fromlist=["GShell"]).GShell,
        "frozenrecon": __import__("fields3d.cli.frozenrecon", fromlist=["FrozenRecon"]).FrozenRecon,
    }
    return Union[tuple(Annotated[cls, tyro.conf.subcommand(name)] for name, cls in commands.items())]  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return the exit status.

    Errors a user can cause print as one line ``error: ...`` with exit status 2; set
    ``FIELDS3D_DEBUG=1`` to see their tracebacks.
    """
    import tyro

    try:
        command = tyro.cli(_command_type(), args=argv, prog="fields3d", config=(tyro.conf.OmitSubcommandPrefixes,))
        command.run()
    except Fields3dError as e:
        if os.environ.get("FIELDS3D_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def console() -> None:
    """Console-script entry: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    console()
