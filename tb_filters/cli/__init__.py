"""`tb-filters`: the command line (interpret, demo), model and data loading, progress."""

from tb_filters.cli.commands import main

__all__ = ["main"]
