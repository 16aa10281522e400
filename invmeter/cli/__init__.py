"""The ``invmeter`` command line: parse options, call :mod:`invmeter.api`, render. No measurement logic lives here.

Importing it imports click and nothing heavy: each command imports the API when it runs, so ``invmeter --help`` and
shell completion do not load PyTorch. One module per family of commands, each registered on the one group.
"""

from invmeter.cli import catalog, measure, training  # noqa: F401 - registers the commands on the group
from invmeter.cli.base import cli

__all__ = ["cli"]
