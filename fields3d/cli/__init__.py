"""The ``fields3d`` console script: one subcommand per module, each a dataclass with ``run()``.

Command modules stay light at import time (heavy libraries are imported inside ``run``) so that
``fields3d --help`` is quick.
"""
