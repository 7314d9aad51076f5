"""Entry point of the ``fields3d`` console script."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Union

from fields3d.errors import Fields3dError

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("fields3d.cli.info", "Info"),
    "demo": ("fields3d.cli.demo", "Demo"),
    "synth": ("fields3d.cli.synth", "Synth"),
    "sfm": ("fields3d.cli.sfm", "Sfm"),
    "reconstruct": ("fields3d.cli.reconstruct", "Reconstruct"),
    "extract": ("fields3d.cli.extract", "Extract"),
    "eval-mesh": ("fields3d.cli.eval_mesh", "EvalMesh"),
    "gshell": ("fields3d.cli.gshell", "GShell"),
    "frozenrecon": ("fields3d.cli.frozenrecon", "FrozenRecon"),
    "triplane": ("fields3d.cli.triplane", "Triplane"),
}
"""Command name -> (module, dataclass).  Each module imports its heavy dependencies inside ``run``."""


def _command_type():
    import importlib

    import tyro

    classes = {
        name: getattr(importlib.import_module(module), cls) for name, (module, cls) in COMMANDS.items()
    }
    options = tuple(Annotated[cls, tyro.conf.subcommand(name)] for name, cls in classes.items())
    return Union[options]  # noqa: UP007  (a Union built from a tuple at run time)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return the exit status.

    Errors a user can cause print as one line ``error: ...`` with exit status 2; set
    ``FIELDS3D_DEBUG=1`` to see their tracebacks.
    """
    import tyro

    try:
        command = tyro.cli(
            _command_type(), args=argv, prog="fields3d", config=(tyro.conf.OmitSubcommandPrefixes,)
        )
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
