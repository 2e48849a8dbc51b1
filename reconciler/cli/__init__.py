"""Command line: click options only; the only package that prints or exits.

`app` holds the group and the error choke point; each command group has its own module, loaded
when the command runs."""

from reconciler.cli.app import main

__all__ = ["main"]
