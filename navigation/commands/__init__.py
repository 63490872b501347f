"""One module per ``igcs`` sub-command: ``add_arguments(parser)`` and ``run(args) -> int``."""
